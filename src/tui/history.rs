//! Input history of one repository, so the up arrow brings back what was typed in earlier
//! runs in the same place (prompts are repository-specific: "run the parser tests" means
//! nothing elsewhere). Persisted in `<data_dir>/history/<workspace id>.jsonl`, one JSON
//! string per line, oldest first: JSON keeps multi-line entries on one line, and appending
//! one line per entry means a crash never loses more than the entry being written.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::sessions::{open_for_append, workspace_id};
use crate::tools::fsutil::atomic_write;

/// Entries kept in memory and after a rewrite.
const KEEP: usize = 1000;
/// The file is allowed to grow to this many lines before it is cut back to [`KEEP`], so the
/// rewrite happens once per thousand inputs, not on every one.
const REWRITE_AFTER: usize = 2000;

/// The input history of one repository, with up/down navigation.
#[derive(Debug, Default)]
pub struct History {
    entries: Vec<String>,
    /// `None` for a history that is never saved.
    path: Option<PathBuf>,
    /// Lines in the file as far as this process knows (other sessions may append too).
    file_lines: usize,
    nav: Option<Navigation>,
}

/// Where up/down browsing stands.
#[derive(Debug)]
struct Navigation {
    /// Index into `entries` of the entry shown.
    index: usize,
    /// The unsent input that was there before browsing started, given back at the end.
    draft: String,
}

impl History {
    /// Loads the history of the repository at `workspace_root` (a missing or unreadable file
    /// is an empty history; bad lines are skipped). Keeps the last 1000 entries.
    pub fn load(data_dir: &Path, workspace_root: &Path) -> Self {
        let path = history_path(data_dir, workspace_root);
        let (entries, file_lines) = read_entries(&path);
        Self {
            entries: last(entries, KEEP),
            path: Some(path),
            file_lines,
            nav: None,
        }
    }

    /// A history that is never saved.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Records a submitted input. Whitespace-only input and a repeat of the newest entry are
    /// not recorded. Ends any navigation. An `Err` means the entry is in memory but could not
    /// be saved; the caller shows it as a warning.
    pub fn push(&mut self, entry: &str) -> io::Result<()> {
        self.nav = None;
        if entry.trim().is_empty() || self.entries.last().is_some_and(|e| e == entry) {
            return Ok(());
        }
        self.entries.push(entry.to_string());
        if self.entries.len() > KEEP {
            self.entries.drain(..self.entries.len() - KEEP);
        }
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut line = serde_json::to_string(entry)?;
        line.push('\n');
        open_for_append(path)?.write_all(line.as_bytes())?;
        self.file_lines += 1;
        if self.file_lines > REWRITE_AFTER {
            // Re-read rather than write `self.entries`: another session of the same
            // repository may have appended since this one loaded.
            let (entries, _) = read_entries(path);
            let kept = last(entries, KEEP);
            let mut text = String::new();
            for entry in &kept {
                text.push_str(&serde_json::to_string(entry)?);
                text.push('\n');
            }
            atomic_write(path, text.as_bytes())?;
            self.file_lines = kept.len();
        }
        Ok(())
    }

    /// Up arrow: the next older entry. The first call remembers `current` (the unsent draft).
    /// `None` when there is nothing older.
    pub fn prev(&mut self, current: &str) -> Option<String> {
        let index = match &self.nav {
            None => self.entries.len().checked_sub(1)?,
            Some(nav) => nav.index.checked_sub(1)?,
        };
        match &mut self.nav {
            Some(nav) => nav.index = index,
            None => {
                self.nav = Some(Navigation {
                    index,
                    draft: current.to_string(),
                })
            }
        }
        self.entries.get(index).cloned()
    }

    /// Down arrow: the next newer entry; moving past the newest gives back the draft and ends
    /// navigation. `None` when not navigating.
    // Named for the arrow key it serves; a history is not an iterator.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<String> {
        let nav = self.nav.as_mut()?;
        if nav.index + 1 < self.entries.len() {
            nav.index += 1;
            return self.entries.get(nav.index).cloned();
        }
        self.nav.take().map(|nav| nav.draft)
    }

    /// Whether up/down browsing is in progress (the input shows a history entry).
    pub fn is_navigating(&self) -> bool {
        self.nav.is_some()
    }

    /// Oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

fn history_path(data_dir: &Path, workspace_root: &Path) -> PathBuf {
    data_dir
        .join("history")
        .join(format!("{}.jsonl", workspace_id(workspace_root)))
}

/// Every parsable entry of the file and its number of lines; nothing for an unreadable file.
fn read_entries(path: &Path) -> (Vec<String>, usize) {
    let Ok(bytes) = fs::read(path) else {
        return (Vec::new(), 0);
    };
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let entries = lines
        .iter()
        .filter_map(|line| serde_json::from_slice::<String>(line).ok())
        .collect();
    (entries, lines.len())
}

fn last(mut entries: Vec<String>, n: usize) -> Vec<String> {
    if entries.len() > n {
        entries.drain(..entries.len() - n);
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const ROOT: &str = "/work/repo";

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn file(data: &Path) -> PathBuf {
        history_path(data, Path::new(ROOT))
    }

    #[test]
    fn entries_persist_across_loads_and_multi_line_entries_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let mut history = History::load(tmp.path(), Path::new(ROOT));
        assert_eq!(history.entries(), [] as [String; 0]);
        history.push("fix the parser").unwrap();
        history.push("explain\n  this \"quoted\"\ttext\n").unwrap();
        let again = History::load(tmp.path(), Path::new(ROOT));
        let expected = strings(&["fix the parser", "explain\n  this \"quoted\"\ttext\n"]);
        assert_eq!(again.entries(), expected);
        let other = History::load(tmp.path(), Path::new("/work/other"));
        assert_eq!(other.entries(), [] as [String; 0]);
    }

    #[test]
    fn navigation_walks_back_and_returns_the_draft() {
        let mut history = History::in_memory();
        assert_eq!(history.prev("draft"), None);
        assert!(!history.is_navigating());
        for entry in ["one", "two", "three"] {
            history.push(entry).unwrap();
        }
        assert_eq!(history.next(), None, "not navigating yet");
        let walk = [
            history.prev("draft"),
            history.prev("ignored: only the first call saves the draft"),
            history.next(),
            history.next(),
        ];
        let expected = [Some("three"), Some("two"), Some("three"), Some("draft")];
        assert_eq!(walk, expected.map(|s| s.map(String::from)));
        assert!(!history.is_navigating());
        assert_eq!(history.next(), None);
    }

    #[test]
    fn prev_stops_at_the_oldest_entry_and_push_ends_navigation() {
        let mut history = History::in_memory();
        history.push("one").unwrap();
        history.push("two").unwrap();
        assert_eq!(history.prev(""), Some("two".to_string()));
        assert_eq!(history.prev(""), Some("one".to_string()));
        assert_eq!(history.prev(""), None);
        assert!(history.is_navigating());
        assert_eq!(history.next(), Some("two".to_string()));
        history.push("three").unwrap();
        assert!(!history.is_navigating());
        assert_eq!(history.prev("x"), Some("three".to_string()));
    }

    #[test]
    fn repeats_of_the_newest_entry_and_blank_input_are_not_recorded() {
        let tmp = tempfile::tempdir().unwrap();
        let mut history = History::load(tmp.path(), Path::new(ROOT));
        for entry in ["a", "a", "  \n\t", "", "b", "a"] {
            history.push(entry).unwrap();
        }
        assert_eq!(history.entries(), strings(&["a", "b", "a"]));
        let lines = fs::read_to_string(file(tmp.path())).unwrap();
        assert_eq!(lines, "\"a\"\n\"b\"\n\"a\"\n");
    }

    #[test]
    fn file_is_cut_back_to_the_last_thousand_after_two_thousand_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let path = file(tmp.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text: String = (0..1999).map(|i| format!("\"e{i}\"\n")).collect();
        fs::write(&path, text).unwrap();
        let mut history = History::load(tmp.path(), Path::new(ROOT));
        assert_eq!(history.entries().len(), KEEP);
        assert_eq!(history.entries()[0], "e999");

        history.push("e1999").unwrap();
        let count = |p: &Path| fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(count(&path), 2000, "not over the limit yet");
        history.push("e2000").unwrap();
        assert_eq!(count(&path), KEEP);
        let reloaded = History::load(tmp.path(), Path::new(ROOT));
        let expected: Vec<String> = (1001..=2000).map(|i| format!("e{i}")).collect();
        assert_eq!(reloaded.entries(), expected);
        assert_eq!(history.entries(), expected);
    }

    #[test]
    fn corrupt_lines_are_skipped_and_a_partial_last_line_is_not_glued_to_the_next() {
        let tmp = tempfile::tempdir().unwrap();
        let path = file(tmp.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "\"ok\"\nnot json\n42\n\"also ok\"\n\"trunc").unwrap();
        let mut history = History::load(tmp.path(), Path::new(ROOT));
        assert_eq!(history.entries(), strings(&["ok", "also ok"]));
        history.push("new").unwrap();
        let reloaded = History::load(tmp.path(), Path::new(ROOT));
        assert_eq!(reloaded.entries(), strings(&["ok", "also ok", "new"]));
    }

    #[test]
    fn an_unwritable_history_reports_the_error_but_keeps_the_entry() {
        let tmp = tempfile::tempdir().unwrap();
        // A file where the `history` directory should be.
        fs::write(tmp.path().join("history"), "").unwrap();
        let mut history = History::load(tmp.path(), Path::new(ROOT));
        assert!(history.push("kept").is_err());
        assert_eq!(history.entries(), strings(&["kept"]));
    }
}
