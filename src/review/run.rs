//! One review, start to verdict: read the change, open the model, let it look around with
//! the read-only tools inside a time budget, check its findings against the diff, print
//! them, and pick the exit status. A review never blocks a commit for the wrong reason: no
//! model, a failing model or a spent budget pass (with a notice), only findings fail.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::events::ConversationChange;
use crate::agent::{AgentEvent, Op, Outcome};
use crate::backend::ModelBackend;
use crate::compose::agent::{review_agent, ReviewSetup};
use crate::compose::backend::{open, BackendFlags};
use crate::config::Config;
use crate::review::changes::{self, FileChange, Scope};
use crate::review::findings::{self, FailOn, Finding};
use crate::review::report::{self, Report};
use crate::review::{prompt, snapshot};
use crate::tools::Workspace;

/// How a review ended; `main` turns it into the exit status (documented in the README).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No finding at or above `--fail-on`, or nothing to review.
    Pass,
    /// A finding at or above `--fail-on`.
    Findings,
    /// Nothing could be reviewed (no model, a model that failed before answering); a pass
    /// unless `--strict`. The report says why.
    NotReviewed,
    Interrupted,
    /// `LODE_SKIP` asked to skip it.
    Skipped,
    /// Bad usage: not a repository, a bad range, a bad setting.
    Usage(String),
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

/// Runs one review and prints its report (stdout) and notices (stderr).
pub fn run(options: &ReviewOptions, config: &Config) -> Verdict {
    if skip_requested() {
        return Verdict::Skipped;
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
        Reviewed::Interrupted => Verdict::Interrupted,
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
    let specs: Vec<_> = crate::tools::read_only().iter().map(|t| t.spec()).collect();
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
    let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
    let agent = review_agent(
        workspace,
        backend,
        ReviewSetup {
            system_prompt: system,
            answer_schema: findings::answer_schema(&paths),
            max_turns: options.max_turns,
            answer_tokens: MAX_ANSWER_TOKENS,
        },
        events_tx,
    );
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
    let answer = runtime.block_on(ask(
        agent,
        input.message.clone(),
        events,
        deadline,
        progress,
    ));
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

/// Runs the review task on the hosted agent within `deadline`, and once more when the answer
/// is not the JSON object (a remote model, which no grammar holds to the schema).
async fn ask(
    agent: crate::agent::Agent,
    message: String,
    mut events: tokio::sync::mpsc::UnboundedReceiver<AgentEvent>,
    deadline: Instant,
    progress: bool,
) -> Answer {
    let (ops, ops_rx) = tokio::sync::mpsc::unbounded_channel();
    let host = tokio::spawn(crate::agent::host::serve(agent, ops_rx, None));
    let timed_out = Arc::new(AtomicBool::new(false));
    let timer = {
        let (timed_out, ops) = (Arc::clone(&timed_out), ops.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline.into()).await;
            timed_out.store(true, Ordering::SeqCst);
            let _ = ops.send(Op::Cancel);
        })
    };
    let interrupt = {
        let ops = ops.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = ops.send(Op::Cancel);
            }
        })
    };
    let _ = ops.send(Op::Task(message));
    let mut answer = Answer {
        outcome: Outcome::NotAchieved,
        text: String::new(),
        last_turn: String::new(),
        final_message: None,
        turns: Vec::new(),
        timed_out: false,
    };
    let mut retried = false;
    while let Some(event) = events.recv().await {
        match event {
            AgentEvent::TurnStarted { .. } => answer.last_turn.clear(),
            AgentEvent::TokenStream { text, .. } => answer.last_turn.push_str(&text),
            AgentEvent::ToolStarted { tool, args, .. } if progress => {
                let what = args["path"]
                    .as_str()
                    .or_else(|| args["pattern"].as_str())
                    .unwrap_or_default();
                eprintln!("lode review: {tool} {what}");
            }
            AgentEvent::Finished { outcome, message } => {
                answer.outcome = outcome;
                answer.final_message = Some(message);
            }
            AgentEvent::TurnStats { stats } => answer.turns.push(stats),
            AgentEvent::Conversation {
                change: ConversationChange::Appended(added),
            } => {
                if let Some(last) = added.last() {
                    answer.text = last.content.clone();
                }
                let unreadable = findings::parse_answer(&answer.text).err();
                match unreadable {
                    Some(problem)
                        if answer.outcome == Outcome::Done
                            && !retried
                            && deadline > Instant::now() + Duration::from_secs(1) =>
                    {
                        retried = true;
                        let _ = ops.send(Op::Task(format!(
                            "Your answer could not be read: {problem}. Answer again with only the JSON object {{\"findings\": [...]}}."
                        )));
                    }
                    _ => break,
                }
            }
            _ => {}
        }
    }
    timer.abort();
    interrupt.abort();
    drop(ops);
    let _ = host.await;
    answer.timed_out = timed_out.load(Ordering::SeqCst);
    answer
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

/// Ends a review that could not ask the model: says why, and passes (unless `--strict`).
fn not_reviewed(
    options: &ReviewOptions,
    mut report: Report,
    started: Instant,
    why: impl std::fmt::Display,
) -> Verdict {
    report.complete = false;
    report
        .notices
        .push(format!("the change was not reviewed: {why}"));
    finish(options, report, started, true)
}

/// Prints the report and says how the review ended. `failed`: nothing could be reviewed.
fn finish(options: &ReviewOptions, mut report: Report, started: Instant, failed: bool) -> Verdict {
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
        return Verdict::NotReviewed;
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
        Verdict::Findings
    } else {
        Verdict::Pass
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn usage(message: &str) -> Verdict {
    Verdict::Usage(message.to_string())
}
