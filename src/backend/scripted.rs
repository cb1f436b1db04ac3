//! Replays recorded model turns from a JSON file: how tests, `lode demo` and anyone who
//! wants a reproducible run drive the real loop, the real tools and the real file system.
//!
//! Format: `{"turns": [{"say": "text", "calls": [{"tool": "read_file", "args": {...}}]}]}`.
//! Each model request consumes the next turn; after the last one the model has nothing more
//! to say (an empty answer without calls, which ends the agent's loop). `args` may also be a
//! string, which is passed on verbatim: a script can reproduce a malformed call. An optional
//! top-level `"pace_ms": N` streams each `say` word by word, N ms apart, the way a model
//! would (`lode demo` uses it; a cancel stops the stream between words). A turn may list
//! `"expect": ["text", …]`: strings the conversation must contain by then, so a replay that
//! has diverged from the recording fails loudly instead of answering a different situation.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::backend::{
    BackendError, BackendFuture, ChatRequest, Completion, ModelBackend, ModelEvent, StopReason,
    ToolCall,
};
use crate::cancel::CancelFlag;
use crate::stats::TurnStats;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    turns: Vec<Turn>,
    #[serde(default)]
    pace_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    #[serde(default)]
    say: String,
    #[serde(default)]
    calls: Vec<Call>,
    #[serde(default)]
    expect: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Call {
    tool: String,
    #[serde(default)]
    args: serde_json::Value,
}

/// Errors loading a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read script `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("script `{}` is not valid: {message} (expected {{\"turns\": [{{\"say\": \"…\", \"calls\": [{{\"tool\": \"read_file\", \"args\": {{…}}}}]}}]}})", path.display())]
    Parse { path: PathBuf, message: String },
}

/// A backend that plays a script.
pub struct ScriptedBackend {
    name: String,
    turns: Vec<Turn>,
    /// Delay between streamed words (zero: each answer arrives whole).
    pace: std::time::Duration,
    next: Mutex<usize>,
}

impl ScriptedBackend {
    /// Loads a script file.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let script: Script = serde_json::from_str(&text).map_err(|e| ScriptError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "script".to_string()),
            turns: script.turns,
            pace: std::time::Duration::from_millis(script.pace_ms),
            next: Mutex::new(0),
        })
    }

    /// Turns not yet played.
    pub fn remaining(&self) -> usize {
        let next = *self.next.lock().unwrap_or_else(|p| p.into_inner());
        self.turns.len().saturating_sub(next)
    }

    fn take_turn(&self) -> Option<(usize, Turn)> {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let turn = self.turns.get(*next).cloned()?;
        *next += 1;
        Some((*next - 1, turn))
    }
}

impl ModelBackend for ScriptedBackend {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    fn model_name(&self) -> String {
        self.name.clone()
    }

    fn context_length(&self) -> Option<u32> {
        None
    }

    fn complete<'a>(
        &'a self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> BackendFuture<'a> {
        Box::pin(async move {
            if cancel.is_cancelled() {
                return Err(BackendError::Cancelled);
            }
            let stats = TurnStats {
                backend: "scripted".to_string(),
                model: self.name.clone(),
                ..TurnStats::default()
            };
            let Some((index, turn)) = self.take_turn() else {
                return Ok(Completion {
                    text: String::new(),
                    tool_calls: Vec::new(),
                    malformed: Vec::new(),
                    stop: StopReason::Stop,
                    stats,
                });
            };
            if let Some(missing) = turn.expect.iter().find(|text| {
                !request
                    .messages
                    .iter()
                    .any(|m| m.content.contains(text.as_str()))
            }) {
                return Err(BackendError::Unavailable(format!(
                    "script `{}` diverged: turn {} expects the conversation to contain {missing:?}",
                    self.name,
                    index + 1
                )));
            }
            if self.pace.is_zero() {
                if !turn.say.is_empty() {
                    let _ = events.send(ModelEvent::Token {
                        text: turn.say.clone(),
                    });
                }
            } else {
                for word in turn.say.split_inclusive(char::is_whitespace) {
                    if cancel.is_cancelled() {
                        return Err(BackendError::Cancelled);
                    }
                    let _ = events.send(ModelEvent::Token {
                        text: word.to_string(),
                    });
                    tokio::time::sleep(self.pace).await;
                }
            }
            let tool_calls = turn
                .calls
                .iter()
                .enumerate()
                .map(|(i, call)| ToolCall {
                    id: format!("call_{index}_{i}"),
                    name: call.tool.clone(),
                    arguments: match &call.args {
                        serde_json::Value::String(raw) => raw.clone(),
                        serde_json::Value::Null => "{}".to_string(),
                        other => other.to_string(),
                    },
                })
                .collect();
            Ok(Completion {
                text: turn.say,
                tool_calls,
                malformed: Vec::new(),
                stop: StopReason::Stop,
                stats,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ChatRequest {
        ChatRequest {
            messages: Vec::new(),
            tools: Vec::new(),
            temperature: 0.0,
            seed: None,
            max_tokens: 100,
            stable_prefix_messages: 1,
            answer_schema: None,
            answer_now: false,
            task_turn: 0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_paced_script_streams_word_by_word() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"pace_ms": 20, "turns": [{"say": "one two three"}]}"#,
        )
        .unwrap();
        let backend = ScriptedBackend::load(&path).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let started = tokio::time::Instant::now();
        let done = backend
            .complete(request(), tx, CancelFlag::new())
            .await
            .unwrap();
        assert_eq!(done.text, "one two three");
        let mut words = Vec::new();
        while let Ok(ModelEvent::Token { text }) = rx.try_recv() {
            words.push(text);
        }
        assert_eq!(words, vec!["one ", "two ", "three"]);
        assert_eq!(started.elapsed(), std::time::Duration::from_millis(60));
    }

    #[tokio::test]
    async fn plays_turns_in_order_then_has_nothing_more_to_say() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"turns": [
                {"say": "looking", "calls": [{"tool": "read_file", "args": {"path": "a.rs"}}]},
                {"calls": [{"tool": "edit_file", "args": "{not json"}]}
            ]}"#,
        )
        .unwrap();
        let backend = ScriptedBackend::load(&path).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let first = backend
            .complete(request(), tx.clone(), CancelFlag::new())
            .await
            .unwrap();
        assert_eq!(first.text, "looking");
        assert_eq!(first.tool_calls[0].name, "read_file");
        assert_eq!(first.tool_calls[0].arguments, r#"{"path":"a.rs"}"#);
        assert_eq!(
            rx.try_recv().unwrap(),
            ModelEvent::Token {
                text: "looking".into()
            }
        );
        let second = backend
            .complete(request(), tx.clone(), CancelFlag::new())
            .await
            .unwrap();
        assert_eq!(second.tool_calls[0].arguments, "{not json");
        let done = backend
            .complete(request(), tx, CancelFlag::new())
            .await
            .unwrap();
        assert!(done.text.is_empty() && done.tool_calls.is_empty());
        assert_eq!(backend.remaining(), 0);
    }

    #[test]
    fn bad_script_names_the_file_and_the_expected_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, r#"{"turns": [{"said": "x"}]}"#).unwrap();
        let err = ScriptedBackend::load(&path).err().unwrap().to_string();
        assert!(
            err.contains("bad.json") && err.contains("\"turns\""),
            "{err}"
        );
    }
}
