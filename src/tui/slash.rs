//! Slash commands: what the prompt accepts besides a message to the model. The built-in
//! ones, and the custom prompt files (`compose::commands`), which never replace a built-in.

use crate::compose::commands::CustomCommands;

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
    /// `/export` writes the session as Markdown; `/export PATH` chooses where (`.json`: the
    /// records as saved).
    Export(Option<String>),
    /// `/init` drafts an AGENTS.md for the repository and proposes it as a diff.
    Init,
    /// The MCP servers: their state and tools.
    Mcp,
    Quit,
    /// A custom command with everything typed after its name.
    Custom {
        name: String,
        args: String,
    },
}

/// Every built-in name and alias; a custom command may not take one.
pub const RESERVED: &[&str] = &[
    "help", "?", "model", "models", "route", "undo", "diff", "clear", "new", "compact", "resume",
    "stats", "trust", "export", "init", "mcp", "quit", "exit", "q",
];

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
        "let this repository's .lode/config.toml choose models, commands, MCP servers and hooks",
    ),
    (
        "export",
        "save this session as Markdown; /export FILE.json saves its records",
    ),
    (
        "init",
        "draft an AGENTS.md for this repository, shown as a diff to approve",
    ),
    (
        "mcp",
        "the MCP servers: their state and the tools they offer",
    ),
    ("quit", "leave lode (also Ctrl-C twice)"),
];

/// Reads `input` as a slash command. `None`: not a command (a message, including one that
/// merely starts with a path such as `/etc/hosts is wrong`). `Some(Err)`: looks like a
/// command but is not one; the message says what exists.
pub fn parse(input: &str, custom: &CustomCommands) -> Option<Result<Slash, String>> {
    let input = input.trim();
    let rest = input.strip_prefix('/')?;
    let (name, raw_arg) = match rest.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (rest, ""),
    };
    let arg = Some(raw_arg.to_string()).filter(|a| !a.is_empty());
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
        "mcp" => Slash::Mcp,
        "export" => Slash::Export(arg),
        "init" => Slash::Init,
        "quit" | "exit" | "q" => Slash::Quit,
        _ if custom.find(name).is_some() => Slash::Custom {
            name: name.to_string(),
            args: raw_arg.to_string(),
        },
        _ => {
            let known: Vec<String> = COMMANDS.iter().map(|(c, _)| format!("/{c}")).collect();
            let mut message = format!(
                "unknown command `/{name}`; commands: {} (type /help)",
                known.join(" ")
            );
            if !custom.commands.is_empty() {
                message.push_str(&format!("; custom: {}", custom.names()));
            }
            return Some(Err(message));
        }
    };
    Some(Ok(command))
}

/// Commands starting with what was typed after `/`, for the completion menu: the built-in
/// ones, then the custom ones.
pub fn matching(prefix: &str, custom: &CustomCommands) -> Vec<(String, String)> {
    let built_in = COMMANDS
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, about)| (name.to_string(), about.to_string()));
    let custom = custom
        .commands
        .iter()
        .filter(|c| c.name.starts_with(prefix))
        .map(|c| (c.name.clone(), c.about()));
    built_in.chain(custom).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::commands::{CustomCommand, Origin};

    fn none() -> CustomCommands {
        CustomCommands::default()
    }

    fn one_custom() -> CustomCommands {
        CustomCommands {
            commands: vec![CustomCommand {
                name: "fix-issue".into(),
                description: "Fix an issue".into(),
                argument_hint: None,
                body: "Fix $1".into(),
                origin: Origin::Project,
                path: "x.md".into(),
            }],
            skipped: Vec::new(),
        }
    }

    #[test]
    fn commands_and_arguments() {
        assert_eq!(parse("/help", &none()), Some(Ok(Slash::Help)));
        assert_eq!(parse("  /model  ", &none()), Some(Ok(Slash::Model(None))));
        assert_eq!(
            parse("/model qwen.gguf", &none()),
            Some(Ok(Slash::Model(Some("qwen.gguf".into()))))
        );
        assert_eq!(
            parse("/resume 2026", &none()),
            Some(Ok(Slash::Resume(Some("2026".into()))))
        );
        assert_eq!(parse("/exit", &none()), Some(Ok(Slash::Quit)));
    }

    #[test]
    fn messages_are_not_commands() {
        assert_eq!(parse("fix the bug", &none()), None);
        assert_eq!(parse("/etc/hosts is wrong", &one_custom()), None);
    }

    #[test]
    fn unknown_commands_say_what_exists() {
        let Some(Err(message)) = parse("/hlep", &none()) else {
            panic!("expected an error")
        };
        assert!(message.contains("/help"), "{message}");
    }

    #[test]
    fn completion_matches_prefixes() {
        let names: Vec<String> = matching("c", &none()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["clear", "compact"]);
        let custom = matching("f", &one_custom());
        assert_eq!(
            custom,
            vec![(
                "fix-issue".to_string(),
                "Fix an issue (project)".to_string()
            )]
        );
    }

    #[test]
    fn custom_commands_parse_with_their_arguments() {
        assert_eq!(
            parse("/fix-issue  42 'a b' ", &one_custom()),
            Some(Ok(Slash::Custom {
                name: "fix-issue".into(),
                args: "42 'a b'".into()
            }))
        );
        let Some(Err(message)) = parse("/fix-isue", &one_custom()) else {
            panic!("expected an error")
        };
        assert!(message.ends_with("custom: /fix-issue"), "{message}");
    }

    #[test]
    fn every_listed_command_is_reserved() {
        for (name, _) in COMMANDS {
            assert!(RESERVED.contains(name), "{name}");
        }
        for name in RESERVED {
            assert!(
                !matches!(parse(&format!("/{name}"), &none()), Some(Err(_))),
                "{name}"
            );
        }
    }
}
