//! Hooks: the user's own commands, run at fixed points of the loop — before a tool call runs
//! (`PreToolUse`), after it ran (`PostToolUse`), when a prompt is submitted
//! (`UserPromptSubmit`) and when the model says it is done (`Stop`) — with Claude Code's
//! protocol: a JSON object on stdin, exit code 2 to block with stderr as the reason.
//!
//! The agent cannot read configuration (it is a higher layer), so the definitions live here
//! and `config` parses into them; `compose` hands them to the agent. Running one hook and
//! reading its answer is `outcome`; where the loop calls them is `runner/hooks.rs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

mod outcome;
pub(crate) use outcome::{run_hook, HookOutcome};

/// The longest a hook may be given, as for `shell`.
pub const MAX_TIMEOUT_S: u64 = 1800;
/// A hook's time when its definition names none (Claude Code's default).
pub const DEFAULT_TIMEOUT_S: u64 = 60;

/// Where in the loop a hook runs. The names are Claude Code's, also in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookEvent {
    /// After a call is validated and approved, before it runs; blocking refuses the call.
    PreToolUse,
    /// After a call ran without error; blocking adds the reason to its result.
    PostToolUse,
    /// Before a task's prompt reaches the model; blocking refuses the prompt.
    UserPromptSubmit,
    /// When the model says it is done and the tests agree; blocking makes it continue.
    Stop,
}

impl HookEvent {
    pub const ALL: [HookEvent; 4] = [
        Self::PreToolUse,
        Self::PostToolUse,
        Self::UserPromptSubmit,
        Self::Stop,
    ];

    /// The name in the configuration and in `hook_event_name`.
    pub fn name(self) -> &'static str {
        match self {
            Self::PreToolUse => "PreToolUse",
            Self::PostToolUse => "PostToolUse",
            Self::UserPromptSubmit => "UserPromptSubmit",
            Self::Stop => "Stop",
        }
    }

    /// Whether hooks of this event are chosen by tool name.
    pub fn has_tool(self) -> bool {
        matches!(self, Self::PreToolUse | Self::PostToolUse)
    }
}

impl std::fmt::Display for HookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which tools a hook is for: a regular expression that must match the whole tool name;
/// empty or `*` is every tool.
#[derive(Clone, Debug)]
pub struct Matcher {
    source: String,
    /// `None`: every tool.
    regex: Option<regex::Regex>,
}

impl Matcher {
    /// # Errors
    /// `source` is not a regular expression; the message says so.
    pub fn new(source: &str) -> Result<Self, String> {
        let trimmed = source.trim();
        let regex = if trimmed.is_empty() || trimmed == "*" {
            None
        } else {
            // Anchored, as in Claude Code: `edit_file` is that tool, not every name holding it.
            Some(regex::Regex::new(&format!("^(?:{trimmed})$")).map_err(|e| {
                format!("matcher `{source}` is not a valid regular expression: {e}")
            })?)
        };
        Ok(Self {
            source: source.to_string(),
            regex,
        })
    }

    /// A matcher for every tool.
    pub fn any() -> Self {
        Self {
            source: String::new(),
            regex: None,
        }
    }

    pub fn matches(&self, tool: &str) -> bool {
        self.regex.as_ref().is_none_or(|r| r.is_match(tool))
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// Whose file defined a hook (the user's own, or a trusted repository's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookOrigin {
    User,
    Repository,
}

/// One hook: a command line for one event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hook {
    pub event: HookEvent,
    /// Only `PreToolUse` and `PostToolUse` hooks are chosen by it.
    pub matcher: Matcher,
    /// Run with `sh -c` in the workspace root, confined like `shell`.
    pub command: String,
    pub timeout_s: u64,
    pub origin: HookOrigin,
}

impl Hook {
    /// A checked hook: a command that is not blank, a timeout within 1..=1800 s (default
    /// 60), and a matcher only where the event has a tool.
    ///
    /// # Errors
    /// What is wrong, in a sentence that says how to fix it.
    pub fn new(
        event: HookEvent,
        matcher: Option<&str>,
        command: &str,
        timeout_s: Option<u64>,
        origin: HookOrigin,
    ) -> Result<Self, String> {
        if command.trim().is_empty() {
            return Err("`command` is empty; give the command line the hook runs".to_string());
        }
        let timeout_s = timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
        if !(1..=MAX_TIMEOUT_S).contains(&timeout_s) {
            return Err(format!(
                "`timeout = {timeout_s}` is out of range; give 1 to {MAX_TIMEOUT_S} seconds"
            ));
        }
        let matcher = match matcher {
            Some(m) if !event.has_tool() && !m.trim().is_empty() => {
                return Err(format!(
                    "`matcher` chooses tools and {event} hooks have none; remove it"
                ))
            }
            Some(m) => Matcher::new(m)?,
            None => Matcher::any(),
        };
        Ok(Self {
            event,
            matcher,
            command: command.to_string(),
            timeout_s,
            origin,
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s)
    }
}

/// Every hook of one agent, in the order they run (the user's, then the repository's), and
/// the session id they are told.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hooks {
    list: Vec<Hook>,
    session_id: String,
}

impl Hooks {
    pub fn new(list: Vec<Hook>, session_id: String) -> Self {
        Self { list, session_id }
    }

    /// The hooks of `event` for `tool` (`None` for the events without one), in order.
    pub fn matching<'a>(
        &'a self,
        event: HookEvent,
        tool: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Hook> + 'a {
        self.list
            .iter()
            .filter(move |h| h.event == event && tool.is_none_or(|tool| h.matcher.matches(tool)))
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn hook(event: HookEvent, matcher: Option<&str>, command: &str) -> Hook {
        Hook::new(event, matcher, command, None, HookOrigin::User).unwrap()
    }

    #[test]
    fn a_matcher_matches_whole_tool_names_and_empty_or_star_is_every_tool() {
        let m = Matcher::new("edit_file|write_file").unwrap();
        assert!(m.matches("edit_file") && m.matches("write_file"));
        assert!(!m.matches("edit") && !m.matches("shell") && !m.matches("xedit_file"));
        assert!(Matcher::new(".*_file").unwrap().matches("read_file"));
        for every in ["", "*", "  "] {
            assert!(Matcher::new(every).unwrap().matches("shell"), "{every:?}");
        }
        let err = Matcher::new("(edit").unwrap_err();
        assert!(
            err.starts_with("matcher `(edit` is not a valid regular expression"),
            "{err}"
        );
    }

    #[test]
    fn hooks_are_chosen_by_event_and_tool_in_order() {
        let hooks = Hooks::new(
            vec![
                hook(HookEvent::PostToolUse, Some("edit_file"), "fmt"),
                hook(HookEvent::PreToolUse, Some("shell"), "guard"),
                hook(HookEvent::PostToolUse, None, "log"),
                hook(HookEvent::Stop, None, "check"),
            ],
            "s1".into(),
        );
        let names = |event, tool| -> Vec<String> {
            hooks
                .matching(event, tool)
                .map(|h| h.command.clone())
                .collect()
        };
        assert_eq!(
            names(HookEvent::PostToolUse, Some("edit_file")),
            ["fmt", "log"]
        );
        assert_eq!(names(HookEvent::PostToolUse, Some("shell")), ["log"]);
        assert_eq!(
            names(HookEvent::PreToolUse, Some("edit_file")),
            Vec::<String>::new()
        );
        assert_eq!(names(HookEvent::Stop, None), ["check"]);
        assert_eq!(
            names(HookEvent::UserPromptSubmit, None),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_definitions_say_what_to_fix() {
        let err = |event, matcher, command, timeout| {
            Hook::new(event, matcher, command, timeout, HookOrigin::User).unwrap_err()
        };
        assert!(err(HookEvent::Stop, None, " ", None).contains("`command` is empty"));
        assert!(err(HookEvent::Stop, None, "x", Some(0)).contains("1 to 1800 seconds"));
        assert!(err(HookEvent::Stop, Some("shell"), "x", None).contains("remove it"));
        assert!(err(HookEvent::PreToolUse, Some("["), "x", None).contains("regular expression"));
        let ok = Hook::new(HookEvent::Stop, Some(""), "x", Some(5), HookOrigin::User).unwrap();
        assert_eq!(ok.timeout(), Duration::from_secs(5));
    }
}
