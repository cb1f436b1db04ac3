//! One review, start to verdict: read the change, open the model, let it look around with
//! the read-only tools inside a time budget, check its findings against the diff, print
//! them, and pick the exit status. A review never blocks a commit for the wrong reason: no
//! model, a failing model or a spent budget pass (with a notice), only findings fail.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::{Agent, AgentCommand, AgentEvent, AgentOptions, Outcome, PermissionMode};
use crate::backend::ModelBackend;
use crate::cancel::CancelFlag;
use crate::compose::backend::{open, BackendFlags};
use crate::config::Config;
use crate::review::changes::{self, FileChange, Scope};
use crate::review::findings::{self, FailOn, Finding};
use crate::review::report::{self, Report};
use crate::review::{prompt, snapshot};
use crate::tools::{ToolContext, Workspace};

/// Exit statuses of `lode review` (documented in the README).
pub mod exit {
    /// No finding at or above `--fail-on`, or nothing could be reviewed (with a notice).
    pub const PASS: u8 = 0;
    /// A finding at or above `--fail-on`.
    pub const FINDINGS: u8 = 1;
    /// Bad usage: not a repository, a bad range, a bad setting.
    pub const USAGE: u8 = 2;
    /// `--strict` only: no model, or the model failed before it could answer.
    pub const NO_REVIEW: u8 = 3;
    /// Interrupted (Ctrl-C).
    pub const INTERRUPTED: u8 = 130;
}

/// How the findings are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `path:line: severity: title` lines on stdout, a summary on stderr.
    Text,
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

/// Everything one review needs besides the configuration.
#[derive(Clone, Debug)]
pub struct ReviewOptions {
    pub scope: Scope,
    pub backend: BackendFlags,
    pub format: Format,
    pub fail_on: FailOn,
    pub budget: Duration,
    pub strict: bool,
    pub max_turns: u32,
    pub cwd: Option<PathBuf>,
    /// Run by the pre-commit hook: a refusal says how to commit anyway.
    pub hook: bool,
}

/// Tokens one answer may take: a findings list, not an essay.
const MAX_ANSWER_TOKENS: u32 = 2048;

/// Context assumed when the backend does not say (remote servers, scripts).
const DEFAULT_CONTEXT: u32 = 32_768;

/// Whether `LODE_SKIP` asks to skip the review.
pub fn skip_requested() -> bool {
    std::env::var("LODE_SKIP")
        .map(|v| !matches!(v.trim(), "" | "0" | "false" | "no"))
        .unwrap_or(false)
}

/// Runs one review; returns the process exit status.
pub fn run(options: &ReviewOptions, config: &Config) -> u8 {
    if skip_requested() {
        eprintln!("lode review: skipped (LODE_SKIP is set)");
        return exit::PASS;
    }
    let started = Instant::now();
    let cwd = match &options.cwd {
        Some(dir) => dir.clone(),
        None => match std::env::current_dir() {
            Ok(dir) => dir,
            Err(e) => return usage(&e.to_string()),
        },
    };
    let repo = match changes::open_repo(&cwd) {
        Ok(repo) => repo,
        Err(e) => return usage(&e.to_string()),
    };
    let files = match changes::collect(&repo, &options.scope) {
        Ok(files) => files,
        Err(e) => return usage(&e.to_string()),
    };
    let mut report = Report {
        scope: options.scope.describe(),
        files: files.iter().map(|f| f.path.clone()).collect(),
        skipped: Vec::new(),
        findings: Vec::new(),
        dropped: Vec::new(),
        complete: true,
        notices: Vec::new(),
        model: String::new(),
        elapsed_ms: 0,
        turns: Vec::new(),
    };
    if files.is_empty() {
        report.notices.push(format!(
            "nothing to review: no {}",
            options.scope.describe()
        ));
        return finish(options, report, started, false);
    }

    let backend = match open(&options.backend, config, None) {
        Ok(backend) => backend,
        Err(e) => {
            return not_reviewed(options, report, started, e);
        }
    };
    report.model = backend.model_name();

    let snapshot_dir = config
        .dirs
        .cache
        .join("review")
        .join(crate::sessions::workspace_id(repo.path()));
    let snapshot = match snapshot::materialize(&repo, &options.scope, &snapshot_dir) {
        Ok(snapshot) => snapshot,
        Err(e) => {
            return not_reviewed(options, report, started, e);
        }
    };
    let root = match (&snapshot, repo.workdir()) {
        (Some(snapshot), _) => snapshot.root().to_path_buf(),
        (None, Some(workdir)) => workdir.to_path_buf(),
        (None, None) => return usage(&changes::ChangeError::Bare.to_string()),
    };
    let workspace = match Workspace::new(&root) {
        Ok(ws) => ws,
        Err(e) => return usage(&format!("cannot read `{}`: {e}", root.display())),
    };
    drop(repo);

    // The budget counts from the start: loading the model and writing the snapshot spend it too.
    let deadline = started + options.budget;
    let outcome = review(options, backend, workspace, &files, deadline, &mut report);
    drop(snapshot);
    match outcome {
        Reviewed::Answered => finish(options, report, started, false),
        Reviewed::NoAnswer => finish(options, report, started, true),
        Reviewed::Interrupted => {
            eprintln!("lode review: interrupted");
            exit::INTERRUPTED
        }
    }
}

/// How the model part of a review ended.
enum Reviewed {
    /// Findings were read (perhaps only some of them: `report.complete` says).
    Answered,
    /// The model failed before giving any answer.
    NoAnswer,
    Interrupted,
}

/// Asks the model and fills `report` with anchored findings.
fn review(
    options: &ReviewOptions,
    backend: Arc<dyn ModelBackend>,
    workspace: Workspace,
    files: &[FileChange],
    deadline: Instant,
    report: &mut Report,
) -> Reviewed {
    let system = prompt::system_message(&workspace);
    let context = backend.context_length().unwrap_or(DEFAULT_CONTEXT);
    // Room for the instructions, tool schemas, a few tool results and the answer (at most a
    // quarter of the context, as the agent allows); the rest is diff, at about 3 bytes per
    // token.
    let specs: Vec<_> = review_tools().iter().map(|t| t.spec()).collect();
    let reserved = crate::agent::context::estimate_tokens(
        &[crate::backend::Message::system(system.clone())],
        &specs,
    ) + (context / 8).min(3_000)
        + (context / 4).min(MAX_ANSWER_TOKENS);
    let budget_bytes = (context.saturating_sub(reserved) as usize * 3).max(4 * 1024);
    let input = prompt::user_message(&options.scope, files, budget_bytes);
    report.skipped = input.skipped.clone();
    if input.sampled {
        report.notices.push(format!(
            "the change is too large to review whole: {} of {} files were shown in part or not at all",
            input.skipped.len(),
            files.len()
        ));
    }
    let paths: Vec<String> = input
        .shown
        .iter()
        .filter(|f| !f.submodule)
        .map(|f| f.path.clone())
        .collect();
    let cancel = CancelFlag::new();
    let mut ctx = ToolContext::new(workspace);
    ctx.output_limit = 12 * 1024;
    ctx.cancel = cancel.clone();
    ctx.confine.mode = crate::tools::confine::SandboxMode::ReadOnly;
    let agent_options = AgentOptions {
        mode: PermissionMode::ReadOnly,
        max_turns: options.max_turns.max(1),
        max_tokens: MAX_ANSWER_TOKENS,
        temperature: 0.0,
        interactive: false,
        cwd: ctx.workspace.root().to_path_buf(),
        system_prompt: Some(system),
        answer_schema: Some(findings::answer_schema(&paths)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            report
                .notices
                .push(format!("cannot start the async runtime: {e}"));
            return Reviewed::NoAnswer;
        }
    };
    // Someone is waiting at a terminal (a commit): say what is happening while it happens.
    let progress = std::io::stderr().is_terminal() && options.format == Format::Text;
    if progress {
        eprintln!(
            "lode review: reviewing {} with {}…",
            match files.len() {
                1 => "1 file".to_string(),
                n => format!("{n} files"),
            },
            report.model
        );
    }
    let answer = runtime.block_on(async move {
        let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
        let (commands_tx, mut commands_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut agent = Agent::new(backend, review_tools(), ctx, agent_options, events_tx);
        let listener = tokio::spawn(async move {
            let mut last_turn = String::new();
            let mut final_message = None;
            let mut turns = Vec::new();
            while let Some(event) = events_rx.recv().await {
                match event {
                    AgentEvent::TurnStarted { .. } => last_turn.clear(),
                    AgentEvent::TokenStream { text } => last_turn.push_str(&text),
                    AgentEvent::ToolStarted { tool, args, .. } if progress => {
                        let what = args["path"]
                            .as_str()
                            .or_else(|| args["pattern"].as_str())
                            .unwrap_or_default();
                        eprintln!("lode review: {tool} {what}");
                    }
                    AgentEvent::Finished { message, .. } => final_message = Some(message),
                    AgentEvent::TurnStats { stats } => turns.push(stats),
                    _ => {}
                }
            }
            (last_turn, final_message, turns)
        });
        let timed_out = Arc::new(AtomicBool::new(false));
        let timer = {
            let timed_out = Arc::clone(&timed_out);
            let commands = commands_tx.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(deadline.into()).await;
                timed_out.store(true, Ordering::SeqCst);
                let _ = commands.send(AgentCommand::Cancel);
                cancel.cancel();
            })
        };
        let interrupt = {
            let commands = commands_tx.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    let _ = commands.send(AgentCommand::Cancel);
                    cancel.cancel();
                }
            })
        };
        let mut outcome = agent.run_task(&input.message, &mut commands_rx).await;
        let mut text = agent.messages().last().map(|m| m.content.clone());
        // One more chance for an answer that is not the JSON object (a remote model, which
        // no grammar holds to the schema).
        if outcome == Outcome::Done {
            let answer = text.clone().unwrap_or_default();
            if let Err(problem) = findings::parse_answer(&answer) {
                if deadline > Instant::now() + Duration::from_secs(1) {
                    outcome = agent
                        .run_task(
                            &format!("Your answer could not be read: {problem}. Answer again with only the JSON object {{\"findings\": [...]}}."),
                            &mut commands_rx,
                        )
                        .await;
                    text = agent.messages().last().map(|m| m.content.clone());
                }
            }
        }
        drop(agent);
        timer.abort();
        interrupt.abort();
        let (last_turn, final_message, turns) = listener.await.unwrap_or_default();
        Answer {
            outcome,
            text: text.unwrap_or_default(),
            last_turn,
            final_message,
            turns,
            timed_out: timed_out.load(Ordering::SeqCst),
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    report.turns = answer.turns.clone();
    let found = match interpret(&answer, options.budget, report) {
        Some(found) => found,
        None if answer.outcome == Outcome::Cancelled && !answer.timed_out => {
            return Reviewed::Interrupted
        }
        None => return Reviewed::NoAnswer,
    };
    let anchored = findings::anchor(found, &input.shown);
    report.findings = anchored.kept;
    report.dropped = anchored.dropped;
    Reviewed::Answered
}

/// What the agent left behind.
struct Answer {
    outcome: Outcome,
    /// The last message of the conversation (the answer, when the model finished).
    text: String,
    /// Text streamed in the last model turn (what a cut-off answer got to).
    last_turn: String,
    /// The agent's closing message (why it stopped, when it did not finish).
    final_message: Option<String>,
    turns: Vec<crate::stats::TurnStats>,
    timed_out: bool,
}

/// The findings in `answer`, with notices for anything short of a full answer; `None` when
/// there is no answer at all.
fn interpret(answer: &Answer, budget: Duration, report: &mut Report) -> Option<Vec<Finding>> {
    if answer.timed_out {
        report.complete = false;
        report.notices.push(format!(
            "the review stopped at its {} s budget; findings may be incomplete (raise --budget or [review] budget_s)",
            budget.as_secs()
        ));
        return Some(findings::salvage(&answer.last_turn));
    }
    match answer.outcome {
        Outcome::Done => match findings::parse_answer(&answer.text) {
            Ok(found) => Some(found),
            Err(problem) => {
                report.complete = false;
                report.notices.push(format!(
                    "the model's answer could not be read ({problem}); nothing was reported"
                ));
                Some(findings::salvage(&answer.text))
            }
        },
        Outcome::Cancelled => None,
        Outcome::NotAchieved => {
            report.complete = false;
            let why = answer.final_message.clone().unwrap_or_default();
            report
                .notices
                .push(format!("the model gave no answer: {why}"));
            let salvaged = findings::salvage(&answer.last_turn);
            (!salvaged.is_empty()).then_some(salvaged)
        }
    }
}

/// The reviewer may look, never touch: read_file, search, outline.
fn review_tools() -> Vec<Box<dyn crate::tools::Tool>> {
    use crate::tools::{outline, read, search};
    vec![
        Box::new(read::ReadFile),
        Box::new(search::Search),
        Box::new(outline::Outline),
    ]
}

/// Ends a review that could not ask the model: says why, and passes (unless `--strict`).
fn not_reviewed(
    options: &ReviewOptions,
    mut report: Report,
    started: Instant,
    why: impl std::fmt::Display,
) -> u8 {
    report.complete = false;
    report
        .notices
        .push(format!("the change was not reviewed: {why}"));
    finish(options, report, started, true)
}

/// Prints the report and picks the exit status. `failed`: nothing could be reviewed (exit
/// 3 under `--strict`, else a pass).
fn finish(options: &ReviewOptions, mut report: Report, started: Instant, failed: bool) -> u8 {
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    let stdout = match options.format {
        Format::Text => report::text(&report),
        Format::Json => pretty(&report::json(&report)),
        Format::Sarif => pretty(&report::sarif(&report, env!("CARGO_PKG_VERSION"))),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(stdout.as_bytes());
    let _ = out.flush();
    let mut err = std::io::stderr().lock();
    for notice in &report.notices {
        let _ = writeln!(err, "lode review: {notice}");
    }
    for dropped in &report.dropped {
        let _ = writeln!(
            err,
            "lode review: dropped a finding ({}): {}",
            dropped.finding.title, dropped.reason
        );
    }
    if failed {
        return if options.strict {
            exit::NO_REVIEW
        } else {
            exit::PASS
        };
    }
    if !report.files.is_empty() {
        let _ = writeln!(err, "{}", report::summary(&report));
    }
    if options.fail_on.fails(&report.findings) {
        if options.hook {
            let _ = writeln!(
                err,
                "lode review: commit refused. Fix the findings above, or commit anyway with `LODE_SKIP=1 git commit …` (`git commit --no-verify` skips every hook)."
            );
        }
        exit::FINDINGS
    } else {
        exit::PASS
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn usage(message: &str) -> u8 {
    eprintln!("lode review: {message}");
    exit::USAGE
}
