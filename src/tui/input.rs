//! The prompt editor: the multiline box the user types into. It only edits text and reports
//! what a key did; what a submit, a history step or a completion means is the app's business,
//! so the editor can be driven and tested without a terminal or an agent.

use crate::tui::wrap;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// A tab is typed or pasted as this many spaces: a tab's width depends on the column it lands
/// in, which would make the box's layout disagree with what the model sees.
const TAB: &str = "    ";

/// What a key did to the editor; the app decides what Submit/History*/Complete mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputAction {
    /// Enter: the app should take the text and send it. The buffer is left as it was.
    Submit,
    /// The text changed (the cursor may have moved too).
    Changed,
    /// Only the cursor moved.
    Moved,
    /// The key did nothing: unbound, a key release, or a move or edit with nowhere to go.
    Ignored,
    /// Up on the first line: the app may recall the previous prompt. The cursor did not move.
    HistoryPrev,
    /// Down on the last line: the app may recall the next prompt. The cursor did not move.
    HistoryNext,
    /// Tab: the app may complete the `@path` under the cursor (see [`Input::completion_query`]).
    Complete,
}

/// The editor's text and cursor. There is always at least one line; `col` counts chars, not
/// bytes or cells, so a cursor can never land inside a multibyte character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    lines: Vec<String>,
    row: usize,
    col: usize,
}

impl Default for Input {
    fn default() -> Self {
        Self {
            lines: vec![String::new()],
            row: 0,
            col: 0,
        }
    }
}

impl Input {
    pub fn new() -> Self {
        Self::default()
    }

    /// The lines joined with '\n'.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Replaces the text (normalized as by [`Input::insert_str`]) and puts the cursor at the end.
    pub fn set_text(&mut self, text: &str) {
        self.clear();
        self.insert_str(text);
    }

    /// Returns the text and clears the editor.
    pub fn take(&mut self) -> String {
        let text = self.text();
        self.clear();
        text
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// No characters at all (a lone newline is a character).
    pub fn is_empty(&self) -> bool {
        self.lines.len() == 1 && self.lines[0].is_empty()
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// The cursor as (line, column in chars).
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// Inserts text at the cursor (typing or a bracketed paste): "\r\n" and "\r" become "\n",
    /// tabs become 4 spaces, other control characters are dropped.
    pub fn insert_str(&mut self, text: &str) {
        self.insert(text);
    }

    /// Applies one key press (or repeat) and says what it did; releases are ignored.
    pub fn handle_key(&mut self, key: KeyEvent) -> InputAction {
        if key.kind == KeyEventKind::Release {
            return InputAction::Ignored;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            // Windows reports AltGr (how many keyboards type '@', '\' or '{') as Ctrl+Alt.
            KeyCode::Char(c) if ctrl && alt => self.insert(c.encode_utf8(&mut [0; 4])),
            KeyCode::Char(c) if ctrl => self.control(c),
            KeyCode::Char(c) if alt => self.meta(c),
            KeyCode::Char(c) if (key.modifiers - KeyModifiers::SHIFT).is_empty() => {
                self.insert(c.encode_utf8(&mut [0; 4]))
            }
            KeyCode::Char(_) => InputAction::Ignored,
            KeyCode::Enter if shift || alt => self.insert("\n"),
            // The line-continuation habit from shells, for terminals that cannot tell
            // Shift+Enter from Enter.
            KeyCode::Enter if self.char_before() == Some('\\') => {
                self.replace(self.before(), self.cursor(), "\n")
            }
            KeyCode::Enter => InputAction::Submit,
            KeyCode::Tab if !ctrl && !alt => InputAction::Complete,
            KeyCode::Backspace if ctrl || alt => self.replace(self.word_left(), self.cursor(), ""),
            KeyCode::Backspace => self.replace(self.before(), self.cursor(), ""),
            KeyCode::Delete => self.replace(self.cursor(), self.after(), ""),
            KeyCode::Left if ctrl || alt => self.move_to(self.word_left()),
            KeyCode::Right if ctrl || alt => self.move_to(self.word_right()),
            KeyCode::Left => self.move_to(self.before()),
            KeyCode::Right => self.move_to(self.after()),
            KeyCode::Home => self.move_to((self.row, 0)),
            KeyCode::End => self.move_to((self.row, self.line_len(self.row))),
            KeyCode::Up => self.up(),
            KeyCode::Down => self.down(),
            _ => InputAction::Ignored,
        }
    }

    /// The editor laid out at `width` cells with `prompt` before the first line and blank
    /// padding of the same width before the others (continuation rows included); lines are
    /// wrapped by character (hard wrap) so every line is ≤ width. Returns the lines and the
    /// cursor's (x, y) cell within them.
    ///
    /// A line whose last row is full gets an empty row after it, where a cursor at its end
    /// sits; the row is there wherever the cursor is, so the box's height does not change as
    /// the cursor moves. A prompt as wide as `width` is dropped to leave room for text. The one
    /// overflow allowed is a double-width character when only one cell is left for text.
    pub fn render(
        &self,
        width: usize,
        prompt: &[Span<'static>],
    ) -> (Vec<Line<'static>>, (u16, u16)) {
        let width = width.max(1);
        let prompt_width: usize = prompt.iter().map(|s| wrap::width(&s.content)).sum();
        let (prompt, prompt_width) = if prompt_width < width {
            (prompt, prompt_width)
        } else {
            (&[][..], 0)
        };
        let area = width - prompt_width;
        let padding = " ".repeat(prompt_width);
        let mut out: Vec<Line<'static>> = Vec::new();
        let mut cursor = (0, 0);
        for (row, line) in self.lines.iter().enumerate() {
            let pieces = hard_wrap(line, area);
            if row == self.row {
                // A cursor on a boundary belongs to the row that starts there.
                let index = pieces
                    .iter()
                    .rposition(|p| p.start <= self.col)
                    .unwrap_or(0);
                let piece = &pieces[index];
                let before: usize = piece
                    .text
                    .chars()
                    .take(self.col - piece.start)
                    .map(|c| c.width().unwrap_or(0))
                    .sum();
                // Only a cursor between a full row's last character and a zero-width mark
                // after it, or a wide character squeezed into a one-cell area, needs the clamp.
                let x = (prompt_width + before).min(width - 1);
                cursor = (x, out.len() + index);
            }
            for piece in pieces {
                let mut spans = if out.is_empty() {
                    prompt.to_vec()
                } else if prompt_width > 0 {
                    vec![Span::raw(padding.clone())]
                } else {
                    Vec::new()
                };
                if !piece.text.is_empty() {
                    spans.push(Span::raw(piece.text));
                }
                out.push(Line::from(spans));
            }
        }
        let cell = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        (out, (cell(cursor.0), cell(cursor.1)))
    }

    /// When the cursor sits right after `@partial` (partial has no whitespace, the '@' is at
    /// line start or after whitespace), the partial path (may be empty). A cursor inside a
    /// word (`@sr|c`) gives none: completing there would leave the word's tail dangling.
    pub fn completion_query(&self) -> Option<String> {
        self.completion_token().map(|(_, partial)| partial)
    }

    /// Replaces that `@partial` with `@{path}` followed by a space (no trailing space if path
    /// ends with '/', so the user can keep completing a directory). A space already after the
    /// cursor is stepped over rather than doubled. Does nothing without a `@partial`.
    pub fn apply_completion(&mut self, path: &str) {
        let Some((start, _)) = self.completion_token() else {
            return;
        };
        self.replace((self.row, start), self.cursor(), &format!("@{path}"));
        if !path.ends_with('/') {
            if self.char_after() == Some(' ') {
                self.col += 1;
            } else {
                self.insert(" ");
            }
        }
    }

    /// The column of the '@' and the partial after it, when the cursor ends an `@partial`.
    fn completion_token(&self) -> Option<(usize, String)> {
        let chars: Vec<char> = self.lines[self.row].chars().collect();
        if chars.get(self.col).is_some_and(|c| !c.is_whitespace()) {
            return None;
        }
        let start = chars[..self.col]
            .iter()
            .rposition(|c| c.is_whitespace())
            .map_or(0, |i| i + 1);
        if start >= self.col || chars[start] != '@' {
            return None;
        }
        Some((start, chars[start + 1..self.col].iter().collect()))
    }

    /// Ctrl+letter bindings, readline's where readline has one.
    fn control(&mut self, c: char) -> InputAction {
        let here = self.cursor();
        let end = (self.row, self.line_len(self.row));
        match c.to_ascii_lowercase() {
            'a' => self.move_to((self.row, 0)),
            'e' => self.move_to(end),
            'j' => self.insert("\n"),
            // Terminals that send ^H for Backspace (and for Ctrl+Backspace) report Ctrl+H.
            'h' => self.replace(self.before(), here, ""),
            'w' => self.replace(self.word_left(), here, ""),
            // At a line's start Ctrl+U joins the line above and at its end Ctrl+K joins the
            // next, so repeated presses keep erasing instead of stopping dead.
            'u' if self.col == 0 => self.replace(self.before(), here, ""),
            'u' => self.replace((self.row, 0), here, ""),
            'k' if here == end => self.replace(here, self.after(), ""),
            'k' => self.replace(here, end, ""),
            _ => InputAction::Ignored,
        }
    }

    /// Alt+letter bindings (what macOS terminals send for Option+Left/Right).
    fn meta(&mut self, c: char) -> InputAction {
        match c {
            'b' => self.move_to(self.word_left()),
            'f' => self.move_to(self.word_right()),
            _ => InputAction::Ignored,
        }
    }

    fn insert(&mut self, text: &str) -> InputAction {
        let here = self.cursor();
        self.replace(here, here, &normalize(text))
    }

    /// Replaces the text from `from` to `to` (positions, `from` first) with `text`, which has
    /// no '\r' or control characters but may have '\n', and puts the cursor after it. Every
    /// edit goes through here, so line joins and splits have one implementation.
    fn replace(&mut self, from: (usize, usize), to: (usize, usize), text: &str) -> InputAction {
        if from == to && text.is_empty() {
            return InputAction::Ignored;
        }
        let first = &self.lines[from.0];
        let last = &self.lines[to.0];
        let head = format!("{}{text}", &first[..byte_index(first, from.1)]);
        let joined = format!("{head}{}", &last[byte_index(last, to.1)..]);
        self.row = from.0 + head.matches('\n').count();
        self.col = head.rsplit('\n').next().map_or(0, |l| l.chars().count());
        self.lines
            .splice(from.0..=to.0, joined.split('\n').map(String::from));
        InputAction::Changed
    }

    /// The position one character before the cursor, a line break counting as one.
    fn before(&self) -> (usize, usize) {
        match (self.row, self.col) {
            (0, 0) => (0, 0),
            (row, 0) => (row - 1, self.line_len(row - 1)),
            (row, col) => (row, col - 1),
        }
    }

    /// The position one character after the cursor, a line break counting as one.
    fn after(&self) -> (usize, usize) {
        if self.col < self.line_len(self.row) {
            (self.row, self.col + 1)
        } else if self.row + 1 < self.lines.len() {
            (self.row + 1, 0)
        } else {
            self.cursor()
        }
    }

    fn up(&mut self) -> InputAction {
        if self.row == 0 {
            return InputAction::HistoryPrev;
        }
        self.move_to((self.row - 1, self.col.min(self.line_len(self.row - 1))))
    }

    fn down(&mut self) -> InputAction {
        if self.row + 1 == self.lines.len() {
            return InputAction::HistoryNext;
        }
        self.move_to((self.row + 1, self.col.min(self.line_len(self.row + 1))))
    }

    fn move_to(&mut self, (row, col): (usize, usize)) -> InputAction {
        if (row, col) == (self.row, self.col) {
            return InputAction::Ignored;
        }
        (self.row, self.col) = (row, col);
        InputAction::Moved
    }

    /// Start of the word before the cursor: whitespace (line breaks included) is skipped, then
    /// everything up to the previous whitespace, as readline's Ctrl+W does — a path is one word.
    fn word_left(&self) -> (usize, usize) {
        let chars: Vec<char> = self.text().chars().collect();
        let mut pos = self.flat((self.row, self.col));
        while pos > 0 && chars[pos - 1].is_whitespace() {
            pos -= 1;
        }
        while pos > 0 && !chars[pos - 1].is_whitespace() {
            pos -= 1;
        }
        self.unflat(pos)
    }

    /// End of the word after the cursor, by the same notion of a word as [`Input::word_left`].
    fn word_right(&self) -> (usize, usize) {
        let chars: Vec<char> = self.text().chars().collect();
        let mut pos = self.flat((self.row, self.col));
        while pos < chars.len() && chars[pos].is_whitespace() {
            pos += 1;
        }
        while pos < chars.len() && !chars[pos].is_whitespace() {
            pos += 1;
        }
        self.unflat(pos)
    }

    /// A (row, col) as a char index into [`Input::text`]: word motions cross line breaks, and
    /// are simplest over the flat text.
    fn flat(&self, (row, col): (usize, usize)) -> usize {
        self.lines[..row]
            .iter()
            .map(|l| l.chars().count() + 1)
            .sum::<usize>()
            + col
    }

    fn unflat(&self, mut pos: usize) -> (usize, usize) {
        for (row, line) in self.lines.iter().enumerate() {
            let len = line.chars().count();
            if pos <= len {
                return (row, pos);
            }
            pos -= len + 1;
        }
        let last = self.lines.len() - 1;
        (last, self.line_len(last))
    }

    fn line_len(&self, row: usize) -> usize {
        self.lines[row].chars().count()
    }

    fn char_before(&self) -> Option<char> {
        let col = self.col.checked_sub(1)?;
        self.lines[self.row].chars().nth(col)
    }

    fn char_after(&self) -> Option<char> {
        self.lines[self.row].chars().nth(self.col)
    }
}

/// Byte offset of char `col` in `s` (its length when `col` is at or past the end).
fn byte_index(s: &str, col: usize) -> usize {
    s.char_indices().nth(col).map_or(s.len(), |(i, _)| i)
}

fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' => out.push('\n'),
            '\t' => out.push_str(TAB),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// One screen row of a wrapped line: its text and the char column it starts at.
struct Piece {
    start: usize,
    text: String,
}

/// Breaks a line by character into rows of at most `area` cells (a double-width character
/// alone on a one-cell row is the exception), plus an empty row when the last one is full.
fn hard_wrap(line: &str, area: usize) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut current = Piece {
        start: 0,
        text: String::new(),
    };
    let mut used = 0;
    for (col, c) in line.chars().enumerate() {
        let w = c.width().unwrap_or(0);
        if used + w > area && used > 0 {
            let next = Piece {
                start: col,
                text: String::new(),
            };
            pieces.push(std::mem::replace(&mut current, next));
            used = 0;
        }
        current.text.push(c);
        used += w;
    }
    pieces.push(current);
    if used >= area {
        pieces.push(Piece {
            start: line.chars().count(),
            text: String::new(),
        });
    }
    pieces
}

#[cfg(test)]
mod tests;
