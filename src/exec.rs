//! `lode run`: the one-shot front end. Progress goes to stderr, the final answer to stdout;
//! with `--json` every `AgentEvent` is printed as one JSON line on stdout instead.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::agent::{
    Agent, AgentCommand, AgentEvent, AgentOptions, Decision, Outcome, PermissionMode,
};
use crate::cancel::CancelFlag;
use crate::compose::backend::{open, BackendFlags, OpenError};
use crate::compose::routing::open_routing;
use crate::config::Config;
use crate::tools::Workspace;

mod saved;

/// The version of `lode run --json`'s line format, in its header line.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Exit statuses of `lode run` (documented in the README).
pub mod exit {
    /// The task is done and the tests pass.
    pub const DONE: u8 = 0;
    /// The task was not achieved (the model gave up, the budget ran out, tests still fail).
    pub const NOT_ACHIEVED: u8 = 1;
    /// Bad usage or configuration.
    pub const USAGE: u8 = 2;
    /// No model available.
    pub const NO_MODEL: u8 = 3;
    /// Interrupted (Ctrl-C).
    pub const INTERRUPTED: u8 = 130;
}

/// Everything `lode run` needs besides the configuration.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub task: Option<String>,
    pub backend: BackendFlags,
    pub mode: PermissionMode,
    pub max_turns: Option<u32>,
    pub test_command: Option<String>,
    pub cwd: Option<PathBuf>,
    pub json: bool,
    /// Read piped standard input and append it to the task.
    pub read_stdin: bool,
    /// Continue this saved session (a `lode run` or an interactive one).
    pub resume: Option<String>,
    /// A JSON schema file the final answer must match.
    pub output_schema: Option<PathBuf>,
}

/// Runs one task; returns the process exit status. Errors are printed to stderr here.
pub fn run(options: &RunOptions, config: &Config) -> u8 {
    match run_inner(options, config) {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("lode: {message}");
            code
        }
    }
}

fn run_inner(options: &RunOptions, config: &Config) -> Result<u8, (u8, String)> {
    let cwd = match &options.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|e| (exit::USAGE, e.to_string()))?,
    };
    let root = repo_root(&cwd);
    let workspace = Workspace::new(&root).map_err(|e| {
        (
            exit::USAGE,
            format!("cannot use `{}` as the workspace: {e}", root.display()),
        )
    })?;
    if let Some(notice) = config.untrusted_notice() {
        eprintln!("lode: {notice}");
    }
    let task = read_task(options)?;
    let _one_run = crate::tools::run_lock::RunLock::acquire(
        &config.dirs.data,
        &root,
        crate::tools::run_lock::Holder::Run,
    )
    .map_err(|e| (exit::USAGE, e.to_string()))?;
    let answer_schema = match &options.output_schema {
        Some(path) => Some(read_schema(path).map_err(|e| (exit::USAGE, e))?),
        None => None,
    };
    let (backend, routing) = open_models(options, config)?;
    let journal = crate::tools::journal::Journal::begin(&config.dirs.data, &workspace)
        .map_err(|e| (exit::USAGE, format!("cannot open the undo journal: {e}")))?;
    let cancel = CancelFlag::new();
    let ctx = crate::compose::agent::tool_context(
        config,
        workspace,
        crate::compose::agent::ToolSetup {
            test_command: options.test_command.clone(),
            journal: Some(journal),
            output_limit: 16 * 1024,
            cancel: cancel.clone(),
        },
    );
    for notice in crate::compose::agent::start_notices(&ctx, backend.as_ref()) {
        eprintln!("lode: {notice}");
    }
    // `--ask` in a terminal asks there; anywhere else nobody can answer, so nothing is asked.
    let interactive = options.mode == PermissionMode::Ask
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal();
    let agent_options = AgentOptions {
        mode: options.mode,
        max_turns: options.max_turns.unwrap_or(config.agent.max_turns).max(1),
        max_tokens: 4096,
        temperature: 0.0,
        interactive,
        cwd,
        system_prompt: None,
        answer_schema: answer_schema.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| (exit::USAGE, format!("cannot start the async runtime: {e}")))?;
    let store = crate::sessions::SessionStore::new(&config.dirs.data, ctx.workspace.root());
    let (mut saved, restored) =
        saved::SavedRun::open(&store, options.resume.as_deref()).map_err(|e| (exit::USAGE, e))?;
    let session_id = saved.id().to_string();
    if options.json {
        println!(
            "{}",
            header(&session_id, options.resume.is_some(), backend.as_ref())
        );
    }
    saved.task(&task);
    let json = options.json;
    let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let received = Arc::clone(&signal);
    let outcome = runtime.block_on(async move {
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let (commands_tx, mut commands_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut agent = Agent::new(
            Arc::clone(&backend),
            crate::tools::all(),
            ctx,
            agent_options,
            events_tx,
        )
        .with_routing(routing);
        if !restored.is_empty() {
            agent.restore(restored);
        }
        let approvals = interactive.then(|| commands_tx.clone());
        let printer = tokio::spawn(print_events(json, saved, events_rx, approvals));
        // Ctrl-C, SIGTERM and SIGHUP all end the turn the same way: the running command and
        // everything it started are killed, the conversation and the journal stay whole.
        let interrupt = tokio::spawn(async move {
            let signal = termination_signal().await;
            received.store(signal, std::sync::atomic::Ordering::SeqCst);
            let _ = commands_tx.send(AgentCommand::Cancel);
            cancel.cancel();
        });
        let mut outcome = agent.run_task(&task, &mut commands_rx).await;
        let messages = agent.messages().to_vec();
        if let (Outcome::Done, Some(schema)) = (outcome, &answer_schema) {
            if let Err(problem) = check_final_answer(&messages, schema) {
                eprintln!("lode: the final answer does not match --output-schema: {problem}");
                outcome = Outcome::NotAchieved;
            }
        }
        drop(agent);
        interrupt.abort();
        if let Ok(mut saved) = printer.await {
            saved.finish(messages);
        }
        outcome
    });
    if !json {
        eprintln!("lode: session {session_id} (continue it: lode run --resume {session_id} \"…\")");
    }
    // A prompt still waiting on the terminal must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(status(
        outcome,
        signal.load(std::sync::atomic::Ordering::SeqCst),
    ))
}

/// Prints and saves every event; where someone can answer, asks at the terminal for each
/// approval. Returns the session file when the agent is gone.
async fn print_events(
    json: bool,
    mut saved: saved::SavedRun,
    mut events: tokio::sync::mpsc::UnboundedReceiver<AgentEvent>,
    approvals: Option<tokio::sync::mpsc::UnboundedSender<AgentCommand>>,
) -> saved::SavedRun {
    let mut printer = Printer::new(json);
    while let Some(event) = events.recv().await {
        printer.print(&event);
        saved.event(&event);
        if let (AgentEvent::ApprovalNeeded { id, .. }, Some(tx)) = (&event, &approvals) {
            let decision = tokio::task::spawn_blocking(read_decision)
                .await
                .unwrap_or(Decision::Reject);
            let _ = tx.send(AgentCommand::Approval {
                id: id.clone(),
                decision,
            });
        }
    }
    saved
}

/// The model (with its fallback) and the router, with a progress bar while the model loads.
fn open_models(
    options: &RunOptions,
    config: &Config,
) -> Result<(Arc<dyn crate::backend::ModelBackend>, crate::agent::Routing), (u8, String)> {
    let progress = crate::commands::progress_bar("loading model");
    let backend = open(&options.backend, config, progress).map_err(|e| match e {
        OpenError::NoModel(m) => (exit::NO_MODEL, m),
        OpenError::Config(m) => (exit::USAGE, m),
    })?;
    let flags = &options.backend;
    let (routing, note) = open_routing(
        flags.route,
        flags.small_model.as_deref(),
        config,
        flags.threads,
        Arc::clone(&backend),
    );
    if let Some(note) = note {
        eprintln!("lode: {note}");
    }
    Ok((backend, routing))
}

/// The exit status of a run that ended with `outcome`; `signal` is the one that cancelled it.
fn status(outcome: Outcome, signal: i32) -> u8 {
    match outcome {
        Outcome::Done => exit::DONE,
        Outcome::NotAchieved => exit::NOT_ACHIEVED,
        Outcome::Cancelled => match signal {
            0 | 2 => exit::INTERRUPTED,
            // 128 + the signal, as a shell reports a process it ended.
            other => u8::try_from(128 + other).unwrap_or(exit::INTERRUPTED),
        },
    }
}

/// The task: the argument, with piped standard input appended.
fn read_task(options: &RunOptions) -> Result<String, (u8, String)> {
    let mut task = options.task.clone().unwrap_or_default();
    if options.read_stdin && !std::io::stdin().is_terminal() {
        let mut piped = String::new();
        let _ = std::io::stdin().read_to_string(&mut piped);
        if !piped.trim().is_empty() {
            task = if task.is_empty() {
                piped
            } else {
                format!("{task}\n\n{piped}")
            };
        }
    }
    if task.trim().is_empty() {
        return Err((
            exit::USAGE,
            "no task given: `lode run \"what to do\"` (or pipe it on stdin)".into(),
        ));
    }
    Ok(task)
}

/// The first line of `--json` output.
fn header(session: &str, resumed: bool, backend: &dyn crate::backend::ModelBackend) -> String {
    serde_json::json!({
        "type": "header",
        "schema": JSON_SCHEMA_VERSION,
        "session": session,
        "resumed": resumed,
        "backend": backend.kind(),
        "model": backend.model_name(),
    })
    .to_string()
}

/// The last answer held to `--output-schema`: a remote model is not held by grammar, so its
/// answer is checked here.
fn check_final_answer(
    messages: &[crate::backend::Message],
    schema: &serde_json::Value,
) -> Result<(), String> {
    let answer = messages
        .iter()
        .rev()
        .find(|m| m.role == crate::backend::Role::Assistant)
        .map(|m| m.content.as_str())
        .unwrap_or_default();
    crate::backend::toolcall::check_answer(answer, schema).map(|_| ())
}

/// The JSON schema in `path`, checked to be one the grammar converter accepts.
fn read_schema(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --output-schema {}: {e}", path.display()))?;
    let schema: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("--output-schema {} is not JSON: {e}", path.display()))?;
    crate::engine::json_schema_gbnf(&schema).map_err(|e| {
        format!(
            "--output-schema {} is not a schema lode can hold a model to: {e}",
            path.display()
        )
    })?;
    Ok(schema)
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP; returns the signal's number.
async fn termination_signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return 2;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => 2,
            _ = term.recv() => 15,
            _ = hup.recv() => 1,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        2
    }
}

/// The repository root containing `dir` (nearest ancestor with `.git`), else `dir` itself.
pub fn repo_root(dir: &std::path::Path) -> PathBuf {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(dir)
        .to_path_buf()
}

/// Prints events: human progress on stderr and the answer on stdout, or JSON Lines.
struct Printer {
    json: bool,
    streamed: String,
}

impl Printer {
    fn new(json: bool) -> Self {
        Self {
            json,
            streamed: String::new(),
        }
    }

    fn print(&mut self, event: &AgentEvent) {
        if self.json {
            if let Ok(line) = serde_json::to_string(event) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            return;
        }
        let mut err = std::io::stderr().lock();
        // Streamed model text ends where anything else begins.
        if !matches!(event, AgentEvent::TokenStream { .. })
            && !self.streamed.is_empty()
            && !self.streamed.ends_with('\n')
        {
            self.streamed.push('\n');
            let _ = writeln!(err);
        }
        let _ = match event {
            AgentEvent::TurnStarted { .. } => {
                self.streamed.clear();
                Ok(())
            }

            AgentEvent::TokenStream { text } => {
                self.streamed.push_str(text);
                write!(err, "{text}").and_then(|()| err.flush())
            }
            AgentEvent::PlanUpdated { steps } => {
                let lines: Vec<String> = steps
                    .iter()
                    .map(|s| {
                        let mark = match s.status.as_str() {
                            "done" => "[x]",
                            "in_progress" => "[~]",
                            _ => "[ ]",
                        };
                        format!("  {mark} {}", s.text)
                    })
                    .collect();
                writeln!(err, "plan:\n{}", lines.join("\n"))
            }
            AgentEvent::ToolStarted { tool, args, .. } => {
                writeln!(err, "→ {tool} {}", brief(args))
            }
            AgentEvent::ToolFinished {
                ok: false,
                output,
                tool,
                ..
            } => {
                writeln!(err, "  ✗ {tool}: {}", first_line(output))
            }
            AgentEvent::ToolFinished { .. } => Ok(()),
            AgentEvent::DiffProposed { path, diff, .. } => {
                let changed = diff
                    .lines()
                    .filter(|l| {
                        (l.starts_with('+') || l.starts_with('-'))
                            && !l.starts_with("+++")
                            && !l.starts_with("---")
                    })
                    .count();
                writeln!(err, "  edited {path} ({changed} lines changed)")
            }
            AgentEvent::TestResult {
                command,
                passed,
                failed,
                success,
            } => writeln!(
                err,
                "  tests {}: {passed} passed, {failed} failed ({command})",
                if *success { "pass" } else { "fail" }
            ),
            AgentEvent::ApprovalNeeded { summary, diff, .. } => {
                if let Some(diff) = diff {
                    let _ = writeln!(err, "{}", diff.trim_end());
                }
                write!(
                    err,
                    "  {summary}\n  allow? [y]es / [n]o / [a]lways this session: "
                )
                .and_then(|()| err.flush())
            }
            AgentEvent::TurnStats { .. } => Ok(()),
            AgentEvent::Routed {
                lane,
                reason,
                elapsed_ms,
                ..
            } => writeln!(err, "  route: {lane} ({elapsed_ms:.0} ms): {reason}"),
            AgentEvent::BackendSwitched { from, to, reason } => {
                if !self.streamed.is_empty() {
                    self.streamed.clear();
                    let _ = writeln!(err);
                }
                writeln!(err, "  switched {from} → {to}: {reason}")
            }
            AgentEvent::Escalated { from, to, reason } => {
                writeln!(err, "  escalated {from} → {to}: {reason}")
            }
            AgentEvent::Error { message } => writeln!(err, "error: {message}"),
            AgentEvent::Finished { outcome, message } => match outcome {
                Outcome::Done => {
                    // In a terminal the answer was just streamed above; print it again only
                    // where stdout goes somewhere else (a pipe, a file).
                    let same_screen = std::io::stdout().is_terminal()
                        && std::io::stderr().is_terminal()
                        && self.streamed.trim() == message.trim();
                    if !same_screen {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "{}", message.trim());
                    }
                    Ok(())
                }
                Outcome::NotAchieved => writeln!(err, "not done: {message}"),
                Outcome::Cancelled => writeln!(err, "interrupted"),
            },
        };
    }
}

/// One answer from the terminal; anything but yes/always is a no.
fn read_decision() -> Decision {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return Decision::Reject;
    }
    match line.trim().to_lowercase().as_str() {
        "y" | "yes" => Decision::Approve,
        "a" | "always" => Decision::AlwaysThisSession,
        _ => Decision::Reject,
    }
}

fn brief(args: &serde_json::Value) -> String {
    let text = match args
        .get("path")
        .or_else(|| args.get("command"))
        .or_else(|| args.get("pattern"))
    {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    first_line(&text).chars().take(100).collect()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
