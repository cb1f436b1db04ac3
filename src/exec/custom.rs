//! `lode run /name args`: a task that names a custom command is that command's prompt. A
//! task that merely starts with a path (`/etc/hosts is wrong`) stays a message, the same
//! rule as the session's prompt.

use std::path::Path;

use crate::compose::commands::{CustomCommands, Sources};

/// The task to run: `task` itself, or the prompt of the custom command it names.
pub fn expand_task(task: String, repo_root: &Path, config_dir: &Path) -> Result<String, String> {
    let Some((name, args)) = command_name(&task) else {
        return Ok(task);
    };
    let commands = CustomCommands::load(&Sources {
        repo_root,
        config_dir,
        reserved: crate::tui::slash::RESERVED,
    });
    for skipped in &commands.skipped {
        eprintln!("lode: custom command skipped: {skipped}");
    }
    match commands.find(name) {
        Some(command) => command.expand(args),
        None if crate::tui::slash::RESERVED.contains(&name) => Err(format!(
            "`/{name}` is a session command (start `lode` for it); custom commands: {}",
            commands.names()
        )),
        None => Err(format!(
            "unknown command `/{name}`; custom commands: {}",
            commands.names()
        )),
    }
}

/// `("name", "args")` when `task` starts with `/name`; `None` when it is a message.
fn command_name(task: &str) -> Option<(&str, &str)> {
    let rest = task.trim_start().strip_prefix('/')?;
    let (name, args) = rest
        .split_once(char::is_whitespace)
        .unwrap_or((rest.trim_end(), ""));
    let looks_like_a_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '?'));
    looks_like_a_name.then_some((name, args))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn paths_and_plain_messages_are_not_commands() {
        assert_eq!(command_name("/etc/hosts is wrong"), None);
        assert_eq!(command_name("fix /x"), None);
        assert_eq!(command_name("/fix-issue 42 x"), Some(("fix-issue", "42 x")));
        assert_eq!(command_name("/a:b"), Some(("a:b", "")));
    }

    #[test]
    fn a_named_command_is_expanded_and_an_unknown_one_is_refused() {
        let (repo, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dir = repo.path().join(".lode/commands");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("fix-issue.md"), "Fix issue #$1.").unwrap();
        let expand = |task: &str| expand_task(task.to_string(), repo.path(), config.path());
        assert_eq!(expand("/fix-issue 42").unwrap(), "Fix issue #42.");
        assert_eq!(
            expand("/etc/hosts is wrong").unwrap(),
            "/etc/hosts is wrong"
        );
        let unknown = expand("/fix 42").unwrap_err();
        assert_eq!(
            unknown,
            "unknown command `/fix`; custom commands: /fix-issue"
        );
        assert!(expand("/undo").unwrap_err().contains("session command"));
    }
}
