//! The `lode` binary: parse flags, load configuration, dispatch. Nothing else.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use lode::cli::{Cli, Command};
use lode::commands;
use lode::config::{Config, ProcessEnv};
use lode::review::supervise;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Run(args)) => return ExitCode::from(run_agent(args)),
        None => return ExitCode::from(session(&cli.session)),
        Some(Command::Demo(args)) => {
            return ExitCode::from(with_config(None, |config| {
                commands::demo::run(args, config)
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
    let config = Config::load(&cwd, &ProcessEnv)?;
    match command {
        Command::Gen(args) => commands::gen::run(args, &config, &mut out)?,
        Command::Models(args) => commands::models::run(args, &config, &mut out)?,
        Command::Doctor(args) => commands::doctor::run(args.json, &config, &mut out)?,
        Command::Bench(args) => commands::bench::run(args, &config, &mut out)?,
        Command::Route(args) => commands::route::run(args, &config, &mut out)?,
        Command::Undo(args) => commands::undo::run(args, &config, &mut out)?,
        Command::Trust(args) => commands::trust::run(args, &config, &mut out)?,
        Command::Synth(_)
        | Command::Run(_)
        | Command::Demo(_)
        | Command::Review(_)
        | Command::Hook(_) => {}
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
            return lode::exec::exit::USAGE;
        }
    };
    match Config::load(dir.unwrap_or(&cwd), &ProcessEnv) {
        Ok(config) => f(config),
        Err(e) => {
            eprintln!("lode: {e}");
            lode::exec::exit::USAGE
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
                return lode::exec::exit::USAGE;
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
        lode::tui::run(options, config)
    })
}

/// `lode run` has its own exit statuses (see `lode::exec::exit`).
fn run_agent(args: &lode::cli::RunArgs) -> u8 {
    with_config(args.agent.cwd.as_deref(), |mut config| {
        args.agent.override_config(&mut config);
        lode::exec::run(&args.options(), &config)
    })
}

/// `lode review` has its own exit statuses (see `lode::review::exit`). Under the hook, a
/// broken configuration or a crashing review must not block commits: they pass with a notice.
fn review(args: &lode::cli::ReviewArgs) -> u8 {
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().unwrap_or_default(),
    };
    let config = match Config::load(&cwd, &ProcessEnv) {
        Ok(config) => config,
        Err(e) if args.hook && !args.strict => {
            eprintln!("lode review: not reviewed: {e}");
            return lode::review::exit::PASS;
        }
        Err(e) => {
            eprintln!("lode review: {e}");
            return lode::review::exit::USAGE;
        }
    };
    if let Some(notice) = config.untrusted_notice() {
        eprintln!("lode review: {notice}");
    }
    match args.options(&config) {
        // Under the hook, a crash of the review must not be the commit's: it runs in a
        // child, whose abnormal end is "not reviewed".
        Ok(options) if options.hook && !supervise::is_child() => {
            supervise::review_in_child(options.strict)
                .unwrap_or_else(|| lode::review::run(&options, &config))
        }
        Ok(options) => lode::review::run(&options, &config),
        Err(e) => {
            eprintln!("lode review: {e}");
            lode::review::exit::USAGE
        }
    }
}
