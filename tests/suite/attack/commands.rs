//! Commands the model asks for: what runs without approval, what it sees, what it can reach.
