//! Saved sessions (being written by a helper).
