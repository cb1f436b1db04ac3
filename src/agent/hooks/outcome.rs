//! Running one hook and reading its answer. The command runs through the same runner as
//! `shell` (sandbox, supervisor, filtered environment, cancellation), with its input on
//! stdin; the exit code says what it meant: 0 is success (stdout is context, or a JSON
//! decision), 2 blocks with stderr as the reason, anything else — a timeout included — is an
//! error the user sees while the task goes on.

use std::path::Path;

use serde_json::Value;

use super::Hook;
use crate::cancel::CancelFlag;
use crate::tools::confine::Confinement;
use crate::tools::shell::{run_command_io, CommandIo, CommandRun, RunEnd, Streams};
use crate::tools::ToolError;

/// Most of a hook's stdout or stderr kept for the model or the user.
const KEEP: usize = 4000;

/// What one hook said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HookOutcome {
    /// It exited 0. `context` is what it adds to the prompt (its stdout, or the JSON
    /// answer's `additionalContext`); empty when it added nothing.
    Success { context: String },
    /// Exit 2, or `{"decision": "block"}`: the reason goes to the model (or, for a prompt,
    /// to the user).
    Blocked { reason: String },
    /// Any other end: it could not start, exited otherwise, or ran out of time. The task
    /// goes on; the message is for the user.
    Failed { message: String },
}

/// Runs `hook` in `root` with `input` on stdin. `None`: cancelled (what it started is killed).
pub(crate) async fn run_hook(
    hook: &Hook,
    input: &Value,
    root: &Path,
    cancel: &CancelFlag,
    confine: &Confinement,
) -> Option<HookOutcome> {
    let stdin = input.to_string();
    let io = CommandIo {
        stdin: Some(stdin.as_bytes()),
        streams: Streams::Separate,
    };
    match run_command_io(&hook.command, root, hook.timeout(), cancel, confine, io).await {
        Ok(run) => Some(read(&run)),
        Err(ToolError::Cancelled) => None,
        Err(err) => Some(HookOutcome::Failed {
            message: err.to_string(),
        }),
    }
}

/// What a finished run means.
fn read(run: &CommandRun) -> HookOutcome {
    let stderr = clip(run.stderr.as_deref().unwrap_or_default());
    match (run.end, run.exit_code) {
        (RunEnd::TimedOut, _) => HookOutcome::Failed {
            message: format!(
                "timed out after {} s and was killed; raise its `timeout` or make it quicker",
                run.timeout.as_secs()
            ),
        },
        (_, Some(0)) => answer(&run.output),
        (_, Some(2)) => HookOutcome::Blocked {
            reason: if stderr.is_empty() {
                "(the hook exited 2 and gave no reason on stderr)".to_string()
            } else {
                stderr
            },
        },
        (_, Some(code)) => HookOutcome::Failed {
            message: with_detail(format!("exited with code {code}"), &stderr),
        },
        (_, None) => HookOutcome::Failed {
            message: with_detail(
                match run.signal {
                    Some(signal) => format!("was killed by signal {signal}"),
                    None => "ended with an unknown status".to_string(),
                },
                &stderr,
            ),
        },
    }
}

/// A successful hook's stdout: plain text is context; a JSON object may decide instead.
fn answer(stdout: &str) -> HookOutcome {
    let trimmed = stdout.trim();
    let json = trimmed
        .starts_with('{')
        .then(|| serde_json::from_str::<Value>(trimmed).ok())
        .flatten();
    let Some(json) = json else {
        return HookOutcome::Success {
            context: clip(trimmed),
        };
    };
    if json["decision"] == "block" {
        let reason = json["reason"].as_str().unwrap_or_default().trim();
        return HookOutcome::Blocked {
            reason: if reason.is_empty() {
                "(the hook blocked this and gave no reason)".to_string()
            } else {
                clip(reason)
            },
        };
    }
    let context = json["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap_or_default();
    HookOutcome::Success {
        context: clip(context.trim()),
    }
}

fn with_detail(what: String, stderr: &str) -> String {
    match stderr.lines().next() {
        Some(line) => format!("{what}: {line}"),
        None => what,
    }
}

/// At most `KEEP` bytes of `text`, trimmed, with a mark where it was cut.
fn clip(text: &str) -> String {
    let text = text.trim();
    if text.len() <= KEEP {
        return text.to_string();
    }
    let mut end = KEEP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[… cut at {KEEP} bytes]", &text[..end])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::agent::hooks::{HookEvent, HookOrigin};
    use pretty_assertions::assert_eq;
    use std::time::Duration;

    fn run(code: Option<i32>, stdout: &str, stderr: &str) -> CommandRun {
        CommandRun {
            output: stdout.to_string(),
            stderr: Some(stderr.to_string()),
            exit_code: code,
            signal: code.is_none().then_some(9),
            end: RunEnd::Exited,
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn exit_codes_mean_what_claude_codes_protocol_says() {
        assert_eq!(
            read(&run(Some(0), "use tabs\n", "ignored")),
            HookOutcome::Success {
                context: "use tabs".into()
            }
        );
        assert_eq!(
            read(&run(Some(2), "ignored", "no rm -rf here\n")),
            HookOutcome::Blocked {
                reason: "no rm -rf here".into()
            }
        );
        assert_eq!(
            read(&run(Some(2), "", "")),
            HookOutcome::Blocked {
                reason: "(the hook exited 2 and gave no reason on stderr)".into()
            }
        );
        assert_eq!(
            read(&run(Some(1), "", "fmt: parse error\nmore\n")),
            HookOutcome::Failed {
                message: "exited with code 1: fmt: parse error".into()
            }
        );
        assert_eq!(
            read(&run(None, "", "")),
            HookOutcome::Failed {
                message: "was killed by signal 9".into()
            }
        );
        let mut timed_out = run(None, "", "");
        timed_out.end = RunEnd::TimedOut;
        assert_eq!(
            read(&timed_out),
            HookOutcome::Failed {
                message:
                    "timed out after 60 s and was killed; raise its `timeout` or make it quicker"
                        .into()
            }
        );
    }

    #[test]
    fn a_json_answer_may_block_or_add_context() {
        assert_eq!(
            answer(r#"{"decision": "block", "reason": "tests first"}"#),
            HookOutcome::Blocked {
                reason: "tests first".into()
            }
        );
        assert_eq!(
            answer(
                r#"{"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "branch: main"}}"#
            ),
            HookOutcome::Success {
                context: "branch: main".into()
            }
        );
        // Not JSON after all: plain context.
        assert_eq!(
            answer("{not json"),
            HookOutcome::Success {
                context: "{not json".into()
            }
        );
        assert_eq!(
            answer(r#"{"decision": "approve"}"#),
            HookOutcome::Success {
                context: String::new()
            }
        );
    }

    #[test]
    fn long_output_is_cut_with_a_mark() {
        let long = "é".repeat(KEEP);
        let kept = clip(&long);
        assert!(
            kept.ends_with("[… cut at 4000 bytes]"),
            "{}",
            &kept[kept.len() - 40..]
        );
        assert!(kept.len() < KEEP + 40);
    }

    #[tokio::test]
    async fn a_hook_reads_its_input_and_a_hanging_one_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let confine = Confinement::default_for(dir.path());
        let cancel = CancelFlag::new();
        let input = serde_json::json!({"hook_event_name": "Stop"});
        let echo = Hook::new(
            HookEvent::Stop,
            None,
            "cat >&2; exit 2",
            None,
            HookOrigin::User,
        )
        .unwrap();
        assert_eq!(
            run_hook(&echo, &input, dir.path(), &cancel, &confine).await,
            Some(HookOutcome::Blocked {
                reason: r#"{"hook_event_name":"Stop"}"#.into()
            })
        );
        let hang = Hook::new(HookEvent::Stop, None, "sleep 30", Some(1), HookOrigin::User).unwrap();
        let started = std::time::Instant::now();
        let outcome = run_hook(&hang, &input, dir.path(), &cancel, &confine).await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(&outcome, Some(HookOutcome::Failed { message }) if message.starts_with("timed out after 1 s")),
            "{outcome:?}"
        );
        cancel.cancel();
        assert_eq!(
            run_hook(&echo, &input, dir.path(), &cancel, &confine).await,
            None
        );
    }
}
