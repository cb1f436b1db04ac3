//! Ctrl+G: the message written in the user's own editor. The prompt's text goes into a
//! private temporary file, `$VISUAL` (else `$EDITOR`, else `vi`) edits it with the terminal
//! handed over, and what it saved comes back into the prompt. An editor that fails or cannot
//! start changes nothing: the prompt keeps what it held, and a one-line error says why.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The editor command: `$VISUAL`, then `$EDITOR`, then `vi`. It may carry arguments
/// (`code --wait`), split like a shell would.
pub fn editor_command(visual: Option<String>, editor: Option<String>) -> String {
    [visual, editor]
        .into_iter()
        .flatten()
        .find(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

/// Runs `command` on a file holding `text`; the file's text afterwards, without the final
/// newline editors add. `Err` is the one line to show.
pub fn edit(command: &str, text: &str) -> Result<String, String> {
    let words = crate::compose::commands::split_words(command)
        .map_err(|e| format!("cannot read the editor command `{command}`: {e}"))?;
    let Some((program, args)) = words.split_first() else {
        return Err("no editor: set $VISUAL or $EDITOR".to_string());
    };
    let file = TempMessage::create(text)
        .map_err(|e| format!("cannot make a temporary file for the editor: {e}"))?;
    let status = std::process::Command::new(program)
        .args(args)
        .arg(file.path())
        .status()
        .map_err(|e| {
            format!("cannot start the editor `{program}`: {e}; set $VISUAL or $EDITOR (the message is unchanged)")
        })?;
    if !status.success() {
        return Err(format!(
            "the editor `{program}` failed ({status}); the message is unchanged"
        ));
    }
    let edited = std::fs::read_to_string(file.path())
        .map_err(|e| format!("cannot read what the editor saved: {e}; the message is unchanged"))?;
    Ok(edited
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&edited)
        .to_string())
}

/// A file only the user can read, removed when dropped.
struct TempMessage {
    path: PathBuf,
}

impl TempMessage {
    fn create(text: &str) -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("lode-message-{}-{nanos}.md", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path)?;
        let made = Self { path };
        file.write_all(text.as_bytes())?;
        Ok(made)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempMessage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// An editor script that appends a line to the file it is given.
    fn script(dir: &Path, body: &str) -> String {
        let path = dir.join("ed.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn the_editor_saves_the_new_message() {
        let dir = tempfile::tempdir().unwrap();
        let editor = script(dir.path(), r#"printf '\nsecond line\n' >> "$1""#);
        assert_eq!(edit(&editor, "first").unwrap(), "first\nsecond line");
    }

    #[test]
    fn arguments_in_the_command_are_passed_first() {
        let dir = tempfile::tempdir().unwrap();
        let editor = script(dir.path(), r#"printf '%s' "$1" > "$2""#);
        assert_eq!(edit(&format!("{editor} --wait"), "x").unwrap(), "--wait");
    }

    #[test]
    fn a_failing_or_missing_editor_is_one_line_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let editor = script(dir.path(), r#"echo changed > "$1"; exit 3"#);
        let failed = edit(&editor, "keep").unwrap_err();
        assert!(
            failed.contains("failed") && !failed.contains('\n'),
            "{failed}"
        );
        let missing = edit("/no/such/editor", "keep").unwrap_err();
        assert!(missing.contains("cannot start"), "{missing}");
    }

    #[test]
    fn visual_comes_before_editor_then_vi() {
        assert_eq!(
            editor_command(Some("code -w".into()), Some("nano".into())),
            "code -w"
        );
        assert_eq!(
            editor_command(Some(" ".into()), Some("nano".into())),
            "nano"
        );
        assert_eq!(editor_command(None, None), "vi");
    }
}
