//! `[[hooks.<Event>]]` tables: lode's TOML spelling of Claude Code's `hooks` settings, one
//! table per hook, read into the agent's own `Hook` type. Hooks add up across files (the
//! user's run first, then a trusted repository's) instead of replacing each other.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use crate::agent::hooks::{Hook, HookEvent, HookOrigin};

/// The `hooks` table of one file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HooksLayer {
    #[serde(rename = "PreToolUse", default)]
    pre_tool_use: Vec<HookEntry>,
    #[serde(rename = "PostToolUse", default)]
    post_tool_use: Vec<HookEntry>,
    #[serde(rename = "UserPromptSubmit", default)]
    user_prompt_submit: Vec<HookEntry>,
    #[serde(rename = "Stop", default)]
    stop: Vec<HookEntry>,
}

/// One `[[hooks.<Event>]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookEntry {
    /// A regular expression the whole tool name must match; empty or `*`: every tool.
    matcher: Option<String>,
    command: String,
    /// Seconds; 60 when left out.
    timeout: Option<u64>,
}

impl HooksLayer {
    fn entries(&self) -> [(HookEvent, &Vec<HookEntry>); 4] {
        [
            (HookEvent::PreToolUse, &self.pre_tool_use),
            (HookEvent::PostToolUse, &self.post_tool_use),
            (HookEvent::UserPromptSubmit, &self.user_prompt_submit),
            (HookEvent::Stop, &self.stop),
        ]
    }

    /// The keys this layer sets (`hooks.PreToolUse`, …), for the untrusted notice.
    pub(super) fn keys(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(event, _)| format!("hooks.{event}"))
            .collect()
    }

    /// The checked hooks of the file at `path`, in event order and then file order.
    ///
    /// # Errors
    /// A hook that cannot run as written, named by its table and position.
    pub(super) fn hooks(&self, origin: HookOrigin, path: &Path) -> Result<Vec<Hook>, ConfigError> {
        let mut hooks = Vec::new();
        for (event, list) in self.entries() {
            for (i, entry) in list.iter().enumerate() {
                let hook = Hook::new(
                    event,
                    entry.matcher.as_deref(),
                    &entry.command,
                    entry.timeout,
                    origin,
                )
                .map_err(|problem| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: format!(
                        "hooks.{event} (hook {} of {}): {problem}",
                        i + 1,
                        list.len()
                    ),
                })?;
                hooks.push(hook);
            }
        }
        Ok(hooks)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn layer(text: &str) -> HooksLayer {
        #[derive(Deserialize)]
        struct File {
            hooks: HooksLayer,
        }
        toml::from_str::<File>(text).unwrap().hooks
    }

    #[test]
    fn tables_become_hooks_in_order_with_defaults() {
        let l = layer(
            "[[hooks.PostToolUse]]\nmatcher = \"edit_file|write_file\"\ncommand = \"cargo fmt\"\n\
             [[hooks.PostToolUse]]\ncommand = \"git add -N .\"\ntimeout = 5\n\
             [[hooks.Stop]]\ncommand = \"make check\"\n",
        );
        assert_eq!(l.keys(), ["hooks.PostToolUse", "hooks.Stop"]);
        let hooks = l.hooks(HookOrigin::User, Path::new("c.toml")).unwrap();
        let summary: Vec<(HookEvent, &str, &str, u64)> = hooks
            .iter()
            .map(|h| (h.event, h.matcher.as_str(), h.command.as_str(), h.timeout_s))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    HookEvent::PostToolUse,
                    "edit_file|write_file",
                    "cargo fmt",
                    60
                ),
                (HookEvent::PostToolUse, "", "git add -N .", 5),
                (HookEvent::Stop, "", "make check", 60),
            ]
        );
    }

    #[test]
    fn a_bad_hook_is_an_error_naming_the_file_and_the_table() {
        let l = layer("[[hooks.PreToolUse]]\nmatcher = \"(shell\"\ncommand = \"x\"\n");
        let err = l
            .hooks(HookOrigin::User, Path::new("/home/u/config.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config file `/home/u/config.toml` is not valid: hooks.PreToolUse (hook 1 of 1): matcher `(shell` is not a valid regular expression"),
            "{err}"
        );
    }
}
