//! The palette. Only the eight standard ANSI colors, the terminal's default colors and text
//! modifiers are used — never RGB, never a fixed background — so the session reads the same on
//! light and dark terminal themes (the terminal decides what "red" and "dim" look like).

use ratatui::style::{Color, Modifier, Style};

/// Ordinary text: the terminal's own foreground.
pub fn text() -> Style {
    Style::default()
}

/// Secondary text (timings, hints, tool output): dimmed, not gray, so it stays readable on
/// both themes.
pub fn dim() -> Style {
    Style::default().add_modifier(Modifier::DIM)
}

pub fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// lode's own accent: prompts, headings, the status bar's labels.
pub fn accent() -> Style {
    Style::default().fg(Color::Cyan)
}

/// What the user typed.
pub fn user() -> Style {
    Style::default()
        .fg(Color::Magenta)
        .add_modifier(Modifier::BOLD)
}

pub fn success() -> Style {
    Style::default().fg(Color::Green)
}

pub fn failure() -> Style {
    Style::default().fg(Color::Red)
}

pub fn warning() -> Style {
    Style::default().fg(Color::Yellow)
}

/// Added lines of a diff.
pub fn added() -> Style {
    Style::default().fg(Color::Green)
}

/// Removed lines of a diff.
pub fn removed() -> Style {
    Style::default().fg(Color::Red)
}

/// Hunk headers and other diff structure.
pub fn hunk() -> Style {
    Style::default().fg(Color::Cyan).add_modifier(Modifier::DIM)
}

/// Inline code and code without a known language.
pub fn code() -> Style {
    Style::default().fg(Color::Yellow)
}

/// Selected rows of a list: reversed video works on every theme.
pub fn selected() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

/// Tool names in the transcript.
pub fn tool() -> Style {
    Style::default()
        .fg(Color::Blue)
        .add_modifier(Modifier::BOLD)
}
