//! `lode demo`: the interactive session on a bundled example repository, driven by a
//! bundled script instead of a model, so a new user sees plan → edit → test without
//! downloading anything. The repository is a real crate and the tests really run.

use std::path::{Path, PathBuf};

use crate::agent::PermissionMode;
use crate::cli::DemoArgs;
use crate::compose::backend::BackendFlags;
use crate::config::{BackendChoice, Config};
use crate::tui::{Resume, SessionOptions};

/// The example crate: `add` subtracts, one test fails.
const FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../fixtures/repos/rust-calc/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../fixtures/repos/rust-calc/src/lib.rs"),
    ),
    (".gitignore", "/target\n"),
];
/// What the "model" does, at a readable pace.
const SCRIPT: &str = include_str!("../../fixtures/demo/script.json");
/// The task waiting in the prompt.
const TASK: &str = "The tests fail. Find the bug and fix it.";

/// Writes the example repository and its script into `dir` (which must be empty or
/// absent); returns the script's path.
pub fn prepare(dir: &Path) -> std::io::Result<PathBuf> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "`{}` is not empty; pick a new directory with --dir",
                dir.display()
            ),
        ));
    }
    for (path, text) in FILES {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    crate::tools::git::init_with_commit(dir, "The example as it came")
        .map_err(std::io::Error::other)?;
    // Under .git/ so it is neither one of the workspace's files nor part of `/diff`.
    let script = dir.join(".git").join("lode-demo-script.json");
    std::fs::write(&script, SCRIPT)?;
    Ok(script)
}

/// The session options the demo runs with.
pub fn options(dir: &Path, script: PathBuf) -> SessionOptions {
    SessionOptions {
        backend: BackendFlags {
            backend: Some(BackendChoice::Scripted(script)),
            ..BackendFlags::default()
        },
        mode: PermissionMode::Ask,
        max_turns: None,
        test_command: None,
        cwd: dir.to_path_buf(),
        resume: Resume::No,
        prefill: Some(TASK.to_string()),
    }
}

/// Runs `lode demo`.
pub fn run(args: &DemoArgs, config: Config) -> Result<(), crate::tui::SessionFailure> {
    let dir = args.dir.clone().unwrap_or_else(|| {
        let stamp = crate::sessions::unix_now();
        std::env::temp_dir().join(format!("lode-demo-{stamp}-{}", std::process::id()))
    });
    let script = prepare(&dir).map_err(|e| {
        crate::tui::SessionFailure::Usage(format!("cannot create the example repository: {e}"))
    })?;
    let status = crate::tui::run(options(&dir, script), config);
    eprintln!(
        "The demo repository stays at {} (delete it when you are done).",
        dir.display()
    );
    status
}
