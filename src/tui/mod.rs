//! The interactive session: `lode` with no subcommand. A ratatui front end that consumes
//! `AgentEvent`s and sends `AgentCommand`s; the only module that names ratatui or crossterm.

pub mod actions;
pub mod app;
pub mod controller;
pub mod diff;
pub mod editor;
pub mod files;
pub mod frame;
pub mod highlight;
pub mod history;
pub mod init;
pub mod input;
pub mod markdown;
pub mod reader;
pub mod slash;
pub mod status;
pub mod terminal;
pub mod theme;
pub mod transcript;
pub mod view;
pub mod wrap;

use std::io::IsTerminal;

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::unbounded_channel;

pub use controller::{Resume, SessionOptions};

use crate::config::Config;
use crate::tools::run_lock::{Holder, RunLock};
use controller::{Controller, UiMsg};

/// Why the session could not run, or ended on an error.
#[derive(Debug, thiserror::Error)]
pub enum SessionFailure {
    /// It cannot start here: no terminal, another session holds the repository.
    #[error("{0}")]
    Usage(String),
    /// The terminal or the runtime failed.
    #[error("{0}")]
    Failed(String),
}

/// Runs the interactive session until the user quits.
pub fn run(options: SessionOptions, config: Config) -> Result<(), SessionFailure> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(SessionFailure::Usage(
            "the interactive session needs a terminal; for scripts and pipes use `lode run \"task\"`".into(),
        ));
    }
    let root = crate::exec::repo_root(&options.cwd);
    let _one_session = RunLock::acquire(&config.dirs.data, &root, Holder::Session)
        .map_err(|e| SessionFailure::Usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| SessionFailure::Failed(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(async move {
        let mut controller = Controller::new(options, config).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot use this directory as the workspace: {e}"),
            )
        })?;
        let (terminal, guard) = terminal::enter()?;
        let terminal = Arc::new(Mutex::new(terminal));
        let (term_tx, term_rx) = unbounded_channel();
        let reader = reader::Reader::spawn(term_tx);
        controller.set_editor(editor_in(Arc::clone(&terminal), reader));
        forward_signals(controller.ui_sender());
        let outcome = controller
            .run(term_rx, |app, now| {
                let mut terminal = terminal
                    .lock()
                    .map_err(|_| std::io::Error::other("the terminal's lock was poisoned"))?;
                terminal
                    .draw(|frame| view::draw(frame, app, now))
                    .map(|_| ())
            })
            .await;
        drop(guard);
        outcome
    });
    // A tool still running (a test command) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result.map_err(|e| SessionFailure::Failed(e.to_string()))
}

/// Ctrl+G's editor: the reader lets go of the terminal, the shell's modes come back, the
/// editor runs, and the session takes the terminal back and redraws it whole.
fn editor_in(
    terminal: Arc<Mutex<ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>>>,
    reader: reader::Reader,
) -> controller::Editor {
    Box::new(move |text: &str| {
        reader.pause();
        terminal::suspend();
        let command =
            editor::editor_command(std::env::var("VISUAL").ok(), std::env::var("EDITOR").ok());
        let edited = editor::edit(&command, text);
        let back = terminal::resume();
        if let Ok(mut terminal) = terminal.lock() {
            let _ = terminal.clear();
        }
        reader.resume();
        back.map_err(|e| format!("cannot take the terminal back from the editor: {e}"))?;
        edited
    })
}

/// SIGTERM and SIGHUP end the session the way /quit does, so the terminal is restored.
fn forward_signals(ui: tokio::sync::mpsc::UnboundedSender<UiMsg>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        for kind in [SignalKind::terminate(), SignalKind::hangup()] {
            let ui = ui.clone();
            if let Ok(mut stream) = signal(kind) {
                tokio::spawn(async move {
                    if stream.recv().await.is_some() {
                        let _ = ui.send(UiMsg::Terminate);
                    }
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ui;
}
