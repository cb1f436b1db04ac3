//! Slash commands: what the prompt accepts besides a message to the model.

/// A parsed slash command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slash {
    Help,
    /// `/model` lists models; `/model NAME|PATH` switches to one.
    Model(Option<String>),
    Route,
    Undo,
    Diff,
    Clear,
    Compact,
    /// `/resume` lists saved sessions; `/resume ID` restores one.
    Resume(Option<String>),
    Stats,
    /// Trust this repository's `.lode/config.toml` (from the next session on).
    Trust,
    Quit,
}

/// Every command with its one-line description, in the order `/help` and the completion
/// menu show them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("help", "keys and commands"),
    (
        "model",
        "show the model; /model NAME switches to another local model",
    ),
    ("route", "which model answers and why"),
    ("undo", "restore the files the last task changed"),
    ("diff", "uncommitted changes in the repository"),
    (
        "clear",
        "start a new conversation (the old one stays saved)",
    ),
    (
        "compact",
        "drop old tool output from the conversation to free context",
    ),
    ("resume", "continue a saved session"),
    ("stats", "token, cache and speed totals for this session"),
    (
        "trust",
        "let this repository's .lode/config.toml choose models and commands",
    ),
    ("quit", "leave lode (also Ctrl-C twice)"),
];

/// Reads `input` as a slash command. `None`: not a command (a message, including one that
/// merely starts with a path such as `/etc/hosts is wrong`). `Some(Err)`: looks like a
/// command but is not one; the message says what exists.
pub fn parse(input: &str) -> Option<Result<Slash, String>> {
    let input = input.trim();
    let rest = input.strip_prefix('/')?;
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, Some(arg.trim().to_string()).filter(|a| !a.is_empty())),
        None => (rest, None),
    };
    if name.contains('/') {
        return None;
    }
    let command = match name {
        "help" | "?" => Slash::Help,
        "model" | "models" => Slash::Model(arg),
        "route" => Slash::Route,
        "undo" => Slash::Undo,
        "diff" => Slash::Diff,
        "clear" | "new" => Slash::Clear,
        "compact" => Slash::Compact,
        "resume" => Slash::Resume(arg),
        "stats" => Slash::Stats,
        "trust" => Slash::Trust,
        "quit" | "exit" | "q" => Slash::Quit,
        _ => {
            let known: Vec<String> = COMMANDS.iter().map(|(c, _)| format!("/{c}")).collect();
            return Some(Err(format!(
                "unknown command `/{name}`; commands: {} (type /help)",
                known.join(" ")
            )));
        }
    };
    Some(Ok(command))
}

/// Commands starting with what was typed after `/`, for the completion menu.
pub fn matching(prefix: &str) -> Vec<(&'static str, &'static str)> {
    COMMANDS
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_arguments() {
        assert_eq!(parse("/help"), Some(Ok(Slash::Help)));
        assert_eq!(parse("  /model  "), Some(Ok(Slash::Model(None))));
        assert_eq!(
            parse("/model qwen.gguf"),
            Some(Ok(Slash::Model(Some("qwen.gguf".into()))))
        );
        assert_eq!(
            parse("/resume 2026"),
            Some(Ok(Slash::Resume(Some("2026".into()))))
        );
        assert_eq!(parse("/exit"), Some(Ok(Slash::Quit)));
    }

    #[test]
    fn messages_are_not_commands() {
        assert_eq!(parse("fix the bug"), None);
        assert_eq!(parse("/etc/hosts is wrong"), None);
    }

    #[test]
    fn unknown_commands_say_what_exists() {
        let Some(Err(message)) = parse("/hlep") else {
            panic!("expected an error")
        };
        assert!(message.contains("/help"), "{message}");
    }

    #[test]
    fn completion_matches_prefixes() {
        let names: Vec<&str> = matching("c").iter().map(|(n, _)| *n).collect();
        assert_eq!(names, vec!["clear", "compact"]);
    }
}
