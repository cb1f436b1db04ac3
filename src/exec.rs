//! `lode run`: the one-shot front end. It drives the hosted agent with `Op`s like every front
//! end does, prints its events (`printer`), saves its session (`sessions::Recorder`) and
//! reports how the run ended; `main` turns that into the exit status.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::agent::events::ConversationChange;
use crate::agent::{AgentEvent, Op, Outcome, PermissionMode};
use crate::backend::{Message, ModelBackend};
use crate::compose::agent::{coding_agent, CodingSetup};
use crate::compose::backend::{open, BackendFlags, OpenError};
use crate::compose::routing::open_routing;
use crate::config::Config;
use crate::sessions::{Record, Recorder, SessionStore, SessionWriter};
use crate::tools::Workspace;

mod custom;
mod printer;

use printer::{read_decision, Printer};

/// The version of `lode run --json`'s line format, in its header line.
pub const JSON_SCHEMA_VERSION: u32 = 1;

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

/// How a run that started ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ran {
    pub outcome: Outcome,
    /// The signal that cancelled it (2 for Ctrl-C), 0 when none did.
    pub signal: i32,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad usage or configuration.
    #[error("{0}")]
    Usage(String),
    /// No model available.
    #[error("{0}")]
    NoModel(String),
}

/// Runs one task. Progress and the answer are printed as the run goes; why it could not
/// start is returned for `main` to print.
pub fn run(options: &RunOptions, config: &Config) -> Result<Ran, RunError> {
    let usage = RunError::Usage;
    let cwd = match &options.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|e| usage(e.to_string()))?,
    };
    let root = repo_root(&cwd);
    let workspace = Workspace::new(&root).map_err(|e| {
        usage(format!(
            "cannot use `{}` as the workspace: {e}",
            root.display()
        ))
    })?;
    if let Some(notice) = config.untrusted_notice() {
        eprintln!("lode: {notice}");
    }
    let task =
        custom::expand_task(read_task(options)?, &root, &config.dirs.config).map_err(usage)?;
    let _one_run = crate::tools::run_lock::RunLock::acquire(
        &config.dirs.data,
        &root,
        crate::tools::run_lock::Holder::Run,
    )
    .map_err(|e| usage(e.to_string()))?;
    let answer_schema = match &options.output_schema {
        Some(path) => Some(read_schema(path).map_err(usage)?),
        None => None,
    };
    let store = SessionStore::new(&config.dirs.data, workspace.root());
    let (writer, restored) = open_session(&store, options.resume.as_deref()).map_err(usage)?;
    let (backend, routing, note) = open_models(options, config)?;
    // `--ask` in a terminal asks there; anywhere else nobody can answer, so nothing is asked.
    let interactive = options.mode == PermissionMode::Ask
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    let mcp = {
        let _in_runtime = runtime.enter();
        crate::compose::agent::mcp_hub(config, &workspace)
    };
    let (events_tx, events) = unbounded_channel();
    let (agent, notices) = coding_agent(
        config,
        workspace,
        Arc::clone(&backend),
        CodingSetup {
            mode: options.mode,
            max_turns: options.max_turns,
            test_command: options.test_command.clone(),
            interactive,
            cwd,
            answer_schema: answer_schema.clone(),
            mcp,
            session_id: Some(writer.id().to_string()),
        },
        events_tx,
    );
    for notice in notices.iter().chain(note.iter()) {
        eprintln!("lode: {notice}");
    }
    let session_id = writer.id().to_string();
    if options.json {
        println!(
            "{}",
            header(&session_id, options.resume.is_some(), backend.as_ref())
        );
    }
    let journals = Some(config.dirs.data.clone());
    let drive = Drive {
        json: options.json,
        interactive,
        writer,
    };
    let ran = runtime.block_on(async move {
        let (ops, ops_rx) = unbounded_channel();
        let host = tokio::spawn(crate::agent::host::serve(
            agent.with_routing(routing),
            ops_rx,
            journals,
        ));
        if !restored.is_empty() {
            let _ = ops.send(Op::Restore(restored));
        }
        let ran = drive.task(task, ops, events, answer_schema.as_ref()).await;
        let _ = host.await;
        ran
    });
    if !options.json {
        eprintln!("lode: session {session_id} (continue it: lode run --resume {session_id} \"…\")");
    }
    // A prompt still waiting on the terminal must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(ran)
}

/// One task through the host: print and save every event, answer approvals at the
/// terminal, pass signals on as a cancel.
struct Drive {
    json: bool,
    interactive: bool,
    writer: SessionWriter,
}

impl Drive {
    async fn task(
        mut self,
        task: String,
        ops: UnboundedSender<Op>,
        mut events: UnboundedReceiver<AgentEvent>,
        schema: Option<&serde_json::Value>,
    ) -> Ran {
        // A failing disk does not stop the run: the run is what matters.
        let _ = self.writer.append(&Record::User { text: task.clone() });
        let _ = ops.send(Op::Task(task));
        // Ctrl-C, SIGTERM and SIGHUP all end the task the same way: the running command and
        // everything it started are killed, the conversation and the journal stay whole.
        let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let interrupt = {
            let (ops, received) = (ops.clone(), Arc::clone(&signal));
            tokio::spawn(async move {
                let signal = termination_signal().await;
                received.store(signal, std::sync::atomic::Ordering::SeqCst);
                let _ = ops.send(Op::Cancel);
            })
        };
        let mut printer = Printer::new(self.json);
        let mut recorder = Recorder::default();
        let mut outcome = Outcome::NotAchieved;
        while let Some(event) = events.recv().await {
            printer.print(&event);
            for record in recorder.records(&event) {
                let _ = self.writer.append(&record);
            }
            match &event {
                AgentEvent::ApprovalNeeded { id, .. } if self.interactive => {
                    let decision = tokio::task::spawn_blocking(read_decision)
                        .await
                        .unwrap_or(crate::agent::Decision::Reject);
                    let id = id.clone();
                    let _ = ops.send(Op::Approval { id, decision });
                }
                AgentEvent::Finished { outcome: ended, .. } => outcome = *ended,
                // The task's last event.
                AgentEvent::Conversation {
                    change: ConversationChange::Appended(added),
                } => {
                    if let (Outcome::Done, Some(schema)) = (outcome, schema) {
                        if let Err(problem) = check_final_answer(added, schema) {
                            eprintln!(
                                "lode: the final answer does not match --output-schema: {problem}"
                            );
                            outcome = Outcome::NotAchieved;
                        }
                    }
                    break;
                }
                _ => {}
            }
        }
        interrupt.abort();
        Ran {
            outcome,
            signal: signal.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}

/// A new session file, or the one `resume` names with the conversation it holds.
fn open_session(
    store: &SessionStore,
    resume: Option<&str>,
) -> Result<(SessionWriter, Vec<Message>), String> {
    match resume {
        Some(id) => {
            let saved = store.load(id).map_err(|e| e.to_string())?;
            let writer = store.append_to(&saved.id).map_err(|e| e.to_string())?;
            Ok((writer, saved.messages()))
        }
        None => {
            let writer = store.create().map_err(|e| {
                format!("cannot save the session in {}: {e}", store.dir().display())
            })?;
            Ok((writer, Vec::new()))
        }
    }
}

/// The model (with its fallback), the router, and why there is no small model when there is
/// none.
type Models = (Arc<dyn ModelBackend>, crate::agent::Routing, Option<String>);

/// Opens the models, with a progress bar while the model loads.
fn open_models(options: &RunOptions, config: &Config) -> Result<Models, RunError> {
    let progress = crate::commands::progress_bar("loading model");
    let backend = open(&options.backend, config, progress).map_err(|e| match e {
        OpenError::NoModel(m) => RunError::NoModel(m),
        OpenError::Config(m) => RunError::Usage(m),
    })?;
    let flags = &options.backend;
    let (routing, note) = open_routing(
        flags.route,
        flags.small_model.as_deref(),
        config,
        flags.threads,
        Arc::clone(&backend),
    );
    Ok((backend, routing, note))
}

/// The task: the argument, with piped standard input appended.
fn read_task(options: &RunOptions) -> Result<String, RunError> {
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
        return Err(RunError::Usage(
            "no task given: `lode run \"what to do\"` (or pipe it on stdin)".into(),
        ));
    }
    Ok(task)
}

/// The first line of `--json` output.
fn header(session: &str, resumed: bool, backend: &dyn ModelBackend) -> String {
    serde_json::json!({
        "type": "header",
        "schema": JSON_SCHEMA_VERSION,
        "session": session,
        "resumed": resumed,
        "backend": backend.kind(),
        "model": backend.model_name(),
        "context_length": backend.context_length(),
    })
    .to_string()
}

/// The last answer held to `--output-schema`: a remote model is not held by grammar, so its
/// answer is checked here.
fn check_final_answer(messages: &[Message], schema: &serde_json::Value) -> Result<(), String> {
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
