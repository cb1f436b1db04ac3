//! The `lode` binary: parse flags, load configuration, dispatch, and turn how each command
//! ended into its exit status (the tables below are the README's; nothing else in lode
//! picks a status).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use lode::cli::{Cli, Command};
use lode::commands;
use lode::config::{Config, ProcessEnv};
use lode::review::supervise;

/// Exit statuses of `lode run` (documented in the README).
mod run_status {
    /// The task is done and the tests pass.
    pub const DONE: u8 = 0;
    /// The task was not achieved (the model gave up, the budget ran out, tests still fail).
    pub const NOT_ACHIEVED: u8 = 1;
    /// Bad usage or configuration (also for the session and `lode demo`).
    pub const USAGE: u8 = 2;
    /// No model available.
    pub const NO_MODEL: u8 = 3;
    /// Interrupted (Ctrl-C); another signal gives 128 + its number.
    pub const INTERRUPTED: u8 = 130;
}

/// Exit statuses of `lode review` (documented in the README).
mod review_status {
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
    /// Every status `lode review` ends with; the hook's child ending otherwise crashed.
    pub const ALL: &[u8] = &[PASS, FINDINGS, USAGE, NO_REVIEW, INTERRUPTED];
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Run(args)) => return ExitCode::from(run_agent(args)),
        None => return ExitCode::from(session(&cli.session)),
        Some(Command::Demo(args)) => {
            return ExitCode::from(with_config(None, |config| {
                session_status(commands::demo::run(args, config))
            }))
        }
        Some(Command::Review(args)) => return ExitCode::from(review(args)),
        Some(_) => {}
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = std::io::stdout().flush();
            eprintln!("lode: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let cwd = std::env::current_dir()?;
    let Some(command) = &cli.command else {
        return Ok(());
    };
    // `synth` needs no configuration, so a broken config file cannot stop it.
    if let Command::Synth(args) = command {
        return Ok(commands::synth::run(args, &mut out)?);
    }
    if let Command::Hook(args) = command {
        return Ok(commands::hook::run(args, &mut out)?);
    }
    // Neither reads the configuration: they describe the command line itself.
    if let Command::Completions(args) = command {
        let mut cli = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(args.shell, &mut cli, "lode", &mut out);
        return Ok(());
    }
    if let Command::Man = command {
        clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
        return Ok(());
    }
    let config = Config::load(&cwd, &ProcessEnv)?;
    match command {
        Command::Gen(args) => commands::gen::run(args, &config, &mut out)?,
        Command::Models(args) => commands::models::run(args, &config, &mut out)?,
        Command::Mcp(args) => commands::mcp::run(args, &config, &mut out)?,
        Command::Doctor(args) => commands::doctor::run(args.json, &config, &mut out)?,
        Command::Bench(args) => commands::bench::run(args, &config, &mut out)?,
        Command::Route(args) => commands::route::run(args, &config, &mut out)?,
        Command::Undo(args) => commands::undo::run(args, &config, &mut out)?,
        Command::Trust(args) => commands::trust::run(args, &config, &mut out)?,
        Command::Sessions(args) => commands::sessions::run(args, &config, &mut out)?,
        Command::Synth(_)
        | Command::Run(_)
        | Command::Demo(_)
        | Command::Review(_)
        | Command::Hook(_)
        | Command::Completions(_)
        | Command::Man => {}
    }
    Ok(())
}

/// Loads the configuration for `dir` (default: the current directory) and runs `f` with
/// it; a configuration error is a usage error (status 2).
fn with_config(dir: Option<&std::path::Path>, f: impl FnOnce(Config) -> u8) -> u8 {
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            eprintln!("lode: {e}");
            return run_status::USAGE;
        }
    };
    match Config::load(dir.unwrap_or(&cwd), &ProcessEnv) {
        Ok(config) => f(config),
        Err(e) => {
            eprintln!("lode: {e}");
            run_status::USAGE
        }
    }
}

/// `lode` alone: the interactive session.
fn session(args: &lode::cli::SessionArgs) -> u8 {
    let agent = &args.agent;
    let cwd = match &agent.cwd {
        Some(dir) => dir.clone(),
        None => match std::env::current_dir() {
            Ok(cwd) => cwd,
            Err(e) => {
                eprintln!("lode: {e}");
                return run_status::USAGE;
            }
        },
    };
    let resume = match args.resume.as_deref() {
        None => lode::tui::Resume::No,
        Some("") => lode::tui::Resume::Pick,
        Some(id) => lode::tui::Resume::Id(id.to_string()),
    };
    let options = lode::tui::SessionOptions {
        backend: agent.backend.flags(Some(&agent.routing)),
        mode: agent.permissions.mode(lode::agent::PermissionMode::Ask),
        max_turns: agent.max_turns,
        test_command: agent.test_cmd.clone(),
        cwd: cwd.clone(),
        resume,
        prefill: None,
    };
    with_config(Some(&cwd), |mut config| {
        agent.override_config(&mut config);
        // Asking needs a person at a terminal; without one the session refuses to start.
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            commands::pick::for_session(
                &options.backend,
                &mut config,
                &mut std::io::stdin().lock(),
                &mut std::io::stderr(),
            );
        }
        session_status(lode::tui::run(options, config))
    })
}

fn session_status(result: Result<(), lode::tui::SessionFailure>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("lode: {e}");
            match e {
                lode::tui::SessionFailure::Usage(_) => run_status::USAGE,
                lode::tui::SessionFailure::Failed(_) => 1,
            }
        }
    }
}

/// `lode run` has its own exit statuses (`run_status`).
fn run_agent(args: &lode::cli::RunArgs) -> u8 {
    use lode::agent::Outcome;
    use lode::exec::RunError;
    with_config(args.agent.cwd.as_deref(), |mut config| {
        args.agent.override_config(&mut config);
        let options = args.options();
        commands::pick::for_run(&options.backend, &mut config, &mut std::io::stderr());
        match lode::exec::run(&options, &config) {
            Ok(ran) => match ran.outcome {
                Outcome::Done => run_status::DONE,
                Outcome::NotAchieved => run_status::NOT_ACHIEVED,
                Outcome::Cancelled => match ran.signal {
                    0 | 2 => run_status::INTERRUPTED,
                    // 128 + the signal, as a shell reports a process it ended.
                    other => u8::try_from(128 + other).unwrap_or(run_status::INTERRUPTED),
                },
            },
            Err(e) => {
                eprintln!("lode: {e}");
                match e {
                    RunError::Usage(_) => run_status::USAGE,
                    RunError::NoModel(_) => run_status::NO_MODEL,
                }
            }
        }
    })
}

/// `lode review` has its own exit statuses (`review_status`). Under the hook, a broken
/// configuration or a crashing review must not block commits: they pass with a notice.
fn review(args: &lode::cli::ReviewArgs) -> u8 {
    use lode::review::supervise::ChildEnd;
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().unwrap_or_default(),
    };
    // `strict` comes from the flag until the configuration (which may also set it) is read.
    let not_reviewed = |why: &dyn std::fmt::Display, strict: bool| {
        eprintln!("lode review: not reviewed: {why}");
        if strict {
            review_status::NO_REVIEW
        } else {
            review_status::PASS
        }
    };
    let config = match Config::load(&cwd, &ProcessEnv) {
        Ok(config) => config,
        Err(e) if args.hook && !args.strict => return not_reviewed(&e, false),
        Err(e) => {
            eprintln!("lode review: {e}");
            return review_status::USAGE;
        }
    };
    if let Some(notice) = config.untrusted_notice() {
        eprintln!("lode review: {notice}");
    }
    let options = match args.options(&config) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("lode review: {e}");
            return review_status::USAGE;
        }
    };
    // Under the hook, a crash of the review must not be the commit's: it runs in a child,
    // whose abnormal end is "not reviewed".
    if options.hook && !supervise::is_child() {
        match supervise::review_in_child(review_status::ALL) {
            Some(ChildEnd::Status(code)) => return code,
            Some(ChildEnd::Interrupted) => return review_status::INTERRUPTED,
            Some(ChildEnd::Crashed(why)) => return not_reviewed(&why, options.strict),
            None => {}
        }
    }
    review_verdict(lode::review::run(&options, &config), options.strict)
}

fn review_verdict(verdict: lode::review::Verdict, strict: bool) -> u8 {
    use lode::review::Verdict;
    match verdict {
        Verdict::Pass => review_status::PASS,
        Verdict::Findings => review_status::FINDINGS,
        Verdict::NotReviewed if strict => review_status::NO_REVIEW,
        Verdict::NotReviewed => review_status::PASS,
        Verdict::Skipped => {
            eprintln!("lode review: skipped (LODE_SKIP is set)");
            review_status::PASS
        }
        Verdict::Interrupted => {
            eprintln!("lode review: interrupted");
            review_status::INTERRUPTED
        }
        Verdict::Usage(message) => {
            eprintln!("lode review: {message}");
            review_status::USAGE
        }
    }
}
