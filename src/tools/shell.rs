//! `shell`: run a command line in the workspace root. Also the process runner `run_tests`
//! shares: every command runs confined (`tools/confine.rs`), and when it ends, times out or
//! is cancelled everything it started is killed — a test runner's workers, a `sleep &`, a
//! `setsid` daemon — not just the `sh`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::cancel::CancelFlag;
use crate::tools::confine::Confinement;
use crate::tools::{
    arg_str, cap_output, opt_u64, Permission, Tool, ToolContext, ToolError, ToolFuture, ToolOutput,
    ToolSpec,
};

const DEFAULT_TIMEOUT_S: u64 = 120;
const MAX_TIMEOUT_S: u64 = 1800;
/// How often the cancel flag and the deadline are checked.
const POLL: Duration = Duration::from_millis(50);
/// After the shell exits, how long background processes may keep our pipes open before they
/// are killed; without a limit `cmd &` would hold the tool call until the deadline.
const LINGER: Duration = Duration::from_millis(500);
/// Output kept in memory: the first and the last this many bytes.
const CAPTURE_HALF: usize = 2 * 1024 * 1024;

/// The `shell` tool.
pub struct Shell;

impl Tool for Shell {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "shell",
            description: "Run a shell command (`sh -c`) in the workspace root and return its \
                combined stdout and stderr with the exit code. Stdin is empty, so interactive \
                commands fail instead of waiting. The command and everything it starts are killed \
                after `timeout_s` seconds (default 120, at most 1800). Use run_tests for the \
                project's tests and read_file/search to look at files.",
            short_description: "Run a shell command in the workspace root.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line, run with `sh -c`."},
                    "timeout_s": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_S, "description": "Seconds before the command is killed (default 120)."}
                },
                "required": ["command"],
                "additionalProperties": false
            }),
            permission: Permission::Exec,
        }
    }

    fn run<'a>(&'a self, args: Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let command = arg_str(&args, "command")?;
            if command.trim().is_empty() {
                return Err(ToolError::BadArgs("`command` is empty".into()));
            }
            let timeout_s = opt_u64(&args, "timeout_s")?
                .unwrap_or(DEFAULT_TIMEOUT_S)
                .clamp(1, MAX_TIMEOUT_S);
            let run = run_command(
                command,
                ctx.workspace.root(),
                Duration::from_secs(timeout_s),
                &ctx.cancel,
                &ctx.confine,
            )
            .await?;
            let body = if run.output.is_empty() {
                "(no output)".to_string()
            } else {
                cap_output(&run.output, ctx.output_limit)
            };
            Ok(ToolOutput {
                content: format!("{}\n{}", body.trim_end_matches('\n'), run.status_line()),
                diff: None,
                changed: Vec::new(),
                data: Some(
                    json!({"exit_code": run.exit_code, "timed_out": run.end == RunEnd::TimedOut}),
                ),
            })
        })
    }
}

/// How a command run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// The shell exited by itself.
    Exited,
    /// The shell exited but background processes kept its output open; they were killed.
    ExitedKilledLeftovers,
    TimedOut,
}

/// What a confined command reads, and how its output is kept.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CommandIo<'a> {
    /// Bytes written to its stdin, which then ends; `None`: stdin is empty (`/dev/null`).
    pub stdin: Option<&'a [u8]>,
    pub streams: Streams,
}

/// Whether stderr is kept apart from stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Streams {
    /// One text in arrival order: what the model reads of `shell` and `run_tests`.
    #[default]
    Interleaved,
    /// Stdout in `output`, stderr in `stderr`: hooks answer on stdout and explain on stderr.
    Separate,
}

/// The result of `run_command`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CommandRun {
    /// Stdout and stderr, interleaved in arrival order (lossy UTF-8); stdout alone with
    /// `Streams::Separate`.
    pub output: String,
    /// Stderr with `Streams::Separate`; `None` when it is interleaved into `output`.
    pub stderr: Option<String>,
    pub exit_code: Option<i32>,
    /// The signal that ended the shell, where it did not exit by itself.
    pub signal: Option<i32>,
    pub end: RunEnd,
    pub timeout: Duration,
}

impl CommandRun {
    /// One line for the model saying how the command ended.
    pub fn status_line(&self) -> String {
        match (self.end, self.exit_code, self.signal) {
            (RunEnd::TimedOut, ..) => format!(
                "[timed out after {} s: the command and every process it started were killed; \
                 allow more time with timeout_s or run something quicker]",
                self.timeout.as_secs()
            ),
            (end, code, signal) => {
                let base = match (code, signal) {
                    (Some(code), _) => format!("[exit code {code}"),
                    (None, Some(signal)) => format!("[killed by signal {signal}"),
                    (None, None) => "[exit status unknown".to_string(),
                };
                if end == RunEnd::ExitedKilledLeftovers {
                    format!("{base}; background processes still holding its output were killed]")
                } else {
                    format!("{base}]")
                }
            }
        }
    }
}

/// Runs `command` with `sh -c` in `cwd` under `confine`; it and everything it started are
/// killed when it ends, on timeout, on cancel, or when this future is dropped. Cancellation
/// is `Err(Cancelled)`.
pub(crate) async fn run_command(
    command: &str,
    cwd: &Path,
    timeout: Duration,
    cancel: &CancelFlag,
    confine: &Confinement,
) -> Result<CommandRun, ToolError> {
    run_command_io(command, cwd, timeout, cancel, confine, CommandIo::default()).await
}

/// `run_command` with input on stdin and, where asked, stderr kept apart.
pub(crate) async fn run_command_io(
    command: &str,
    cwd: &Path,
    timeout: Duration,
    cancel: &CancelFlag,
    confine: &Confinement,
    io: CommandIo<'_>,
) -> Result<CommandRun, ToolError> {
    if cancel.is_cancelled() {
        return Err(ToolError::Cancelled);
    }
    let mut cmd = confine
        .command(command)
        .map_err(|e| ToolError::Failed(format!("cannot confine the command: {e}")))?;
    cmd.current_dir(cwd)
        .stdin(if io.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| ToolError::Failed(format!("cannot start `sh`: {e}")))?;
    let mut group = GroupGuard {
        pid: child.id().and_then(|id| i32::try_from(id).ok()),
    };
    // Written from a task of its own: a command that never reads its stdin must not stall
    // the loop below; a write it refuses (it exited) is no error of ours.
    let _feeder = match (io.stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => {
            let bytes = bytes.to_vec();
            Some(AbortOnDrop(tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
            })))
        }
        _ => None,
    };
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut capture = Capture::default();
    let mut err_capture = Capture::default();
    let deadline = Instant::now() + timeout;
    let mut linger_until: Option<Instant> = None;
    let mut status = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let end = loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break RunEnd::Exited;
        }
        tokio::select! {
            n = read_some(&mut stdout, &mut out_buf) => match n {
                Some(n) => capture.push(&out_buf[..n]),
                None => stdout = None,
            },
            n = read_some(&mut stderr, &mut err_buf) => match n {
                Some(n) if io.streams == Streams::Separate => err_capture.push(&err_buf[..n]),
                Some(n) => capture.push(&err_buf[..n]),
                None => stderr = None,
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited.map_err(|e| ToolError::Failed(format!("waiting for the command failed: {e}")))?);
                group.reaped();
                linger_until = Some(Instant::now() + LINGER);
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if cancel.is_cancelled() {
                    group.kill();
                    reap(&mut child, &mut group).await;
                    return Err(ToolError::Cancelled);
                }
                if linger_until.is_some_and(|t| now >= t) {
                    group.kill();
                    break RunEnd::ExitedKilledLeftovers;
                }
                if status.is_none() && now >= deadline {
                    group.kill();
                    break RunEnd::TimedOut;
                }
            }
        }
    };
    let status = match status {
        Some(status) => status,
        None => reap(&mut child, &mut group)
            .await
            .ok_or_else(|| ToolError::Failed("waiting for the command failed".into()))?,
    };
    // Whatever is left of the command's group (only where no supervisor did it already).
    group.kill();
    Ok(CommandRun {
        output: capture.text(),
        stderr: (io.streams == Streams::Separate).then(|| err_capture.text()),
        exit_code: status.code(),
        signal: exit_signal(&status),
        end,
        timeout,
    })
}

/// Stops the stdin feeder with the run, however the run ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads one chunk; `None` at end of stream (or on error). An absent pipe never resolves, so
/// `select!` simply stops polling it.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(reader) => match reader.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
fn exit_signal(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn exit_signal(_status: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// Waits for a command that was told to die; if it has not within a grace period, kills its
/// process group outright.
async fn reap(
    child: &mut tokio::process::Child,
    group: &mut GroupGuard,
) -> Option<std::process::ExitStatus> {
    let status = match tokio::time::timeout(KILL_GRACE, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            group.force();
            child.wait().await.ok()
        }
    };
    group.reaped();
    status
}

/// How long a supervisor may take to kill what its command started before lode kills its
/// group itself.
const KILL_GRACE: Duration = Duration::from_secs(3);

/// Ends the command when asked, or when dropped (the tool future was dropped mid-run), so no
/// process outlives a cancelled turn. On Linux it asks the supervisor, which kills every
/// descendant; elsewhere it kills the command's process group.
struct GroupGuard {
    pid: Option<i32>,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pid) = self.pid {
            end_command(pid);
        }
    }

    /// The child was waited for: its pid may now be reused, so it is never signalled again.
    /// A process group outlives its leader, so elsewhere the group is still killed at the end.
    fn reaped(&mut self) {
        if cfg!(target_os = "linux") {
            self.pid = None;
        }
    }

    /// The supervisor did not answer: kill its group (the command's own group and any
    /// process that left it may survive this; see the README's Safety section).
    fn force(&mut self) {
        if let Some(pid) = self.pid.take() {
            kill_group(pid);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(target_os = "linux")]
fn end_command(supervisor: i32) {
    if supervisor > 1 {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(supervisor, libc::SIGTERM);
        }
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn end_command(pgid: i32) {
    kill_group(pgid);
}

#[cfg(not(unix))]
fn end_command(_pid: i32) {}

#[cfg(unix)]
fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions; the pgid is our child's own group
        // (process_group(0) made the child its leader), never 0 or 1, which would hit us or init.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: i32) {}

/// The head and the tail of a possibly huge output; the middle is dropped and counted.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: Vec<u8>,
    dropped: usize,
}

impl Capture {
    fn push(&mut self, bytes: &[u8]) {
        let room = CAPTURE_HALF
            .saturating_sub(self.head.len())
            .min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        self.tail.extend_from_slice(&bytes[room..]);
        // Trim in batches so the copy cost stays linear in the output size.
        if self.tail.len() > 2 * CAPTURE_HALF {
            let cut = self.tail.len() - CAPTURE_HALF;
            self.tail.drain(..cut);
            self.dropped += cut;
        }
    }

    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[… {} bytes of output dropped …]\n",
                self.dropped
            ));
        }
        text.push_str(&String::from_utf8_lossy(&self.tail));
        text
    }
}

#[cfg(test)]
mod tests;
