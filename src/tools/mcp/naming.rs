//! The names and texts the model sees for a server's tools.
//!
//! Names follow Claude Code's `mcp__<server>__<tool>`. Model APIs accept only ASCII letters,
//! digits, `_` and `-` in tool names, at most 64 of them, so other characters become `_` and a
//! name that would be longer is cut and given a hash of the full name (still unique, still
//! stable across runs, so the cached prompt prefix survives).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// The longest tool name OpenAI-style APIs accept.
const MAX_NAME: usize = 64;

/// The name the model calls `tool` of `server` by.
pub fn model_name(server: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let full = format!("mcp__{server}__{clean}");
    if full.len() <= MAX_NAME && clean == tool {
        return full;
    }
    // Cleaning can make two names equal (`a.b` and `a_b`): the hash of the original keeps
    // them apart.
    let hash = blake3::hash(format!("{server}\0{tool}").as_bytes()).to_hex();
    let keep = MAX_NAME.min(full.len() + 9) - 9;
    format!("{}_{}", &full[..keep], &hash[..8])
}

/// `text` as a `&'static str`, stored once per distinct text.
///
/// `ToolSpec` holds static strings because the built-in tools' are compiled in. A server's
/// names and descriptions live as long as the process may offer them, and a server that
/// lists the same tools again gets the same strings back, so what is kept is bounded by the
/// distinct texts servers ever sent.
pub fn intern(text: &str) -> &'static str {
    static STORE: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut store = STORE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(kept) = store.get(text) {
        return kept;
    }
    let kept: &'static str = Box::leak(text.to_string().into_boxed_str());
    store.insert(kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        name.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn plain_names_follow_claude_codes_convention() {
        assert_eq!(model_name("git", "git_status"), "mcp__git__git_status");
        assert_eq!(model_name("every", "get-sum"), "mcp__every__get-sum");
    }

    #[test]
    fn odd_and_long_names_stay_valid_distinct_and_stable() {
        let dotted = model_name("fs", "read.file");
        let underscored = model_name("fs", "read_file");
        assert!(valid(&dotted), "{dotted}");
        assert_ne!(dotted, underscored);
        let long = "x".repeat(100);
        let a = model_name("server", &long);
        let b = model_name("server", &format!("{long}y"));
        assert!(valid(&a) && valid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, model_name("server", &long));
    }

    #[test]
    fn interning_returns_the_same_text_once_stored() {
        let a = intern("a tool that reads");
        let b = intern(&String::from("a tool that reads"));
        assert!(std::ptr::eq(a, b));
    }
}
