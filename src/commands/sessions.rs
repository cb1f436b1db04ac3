//! `lode sessions list` and `lode sessions export`: the saved sessions outside the session.

use std::io::Write;

use crate::cli::sessions::{SessionsArgs, SessionsCommand};
use crate::commands::CommandError;
use crate::config::Config;
use crate::exec::repo_root;
use crate::sessions::export::{self, Existing, WriteError};
use crate::sessions::{age, unix_now, SessionStore};

/// Runs `lode sessions …`.
pub fn run(args: &SessionsArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    // Sessions are filed under the absolute root, as the session and `lode run` see it.
    let cwd_of = |dir: &Option<std::path::PathBuf>| {
        let dir = match dir {
            Some(dir) => std::fs::canonicalize(dir)
                .map_err(|e| format!("cannot use --cwd {}: {e}", dir.display())),
            None => std::env::current_dir()
                .map_err(|e| format!("cannot read the current directory: {e}")),
        };
        dir.map_err(CommandError::Sessions)
    };
    match &args.command {
        SessionsCommand::List(list) => {
            let store = SessionStore::new(&config.dirs.data, &repo_root(&cwd_of(&list.cwd)?));
            let sessions = store.list()?;
            if sessions.is_empty() {
                writeln!(out, "no saved sessions for this repository")?;
            }
            let now = unix_now();
            for s in sessions {
                writeln!(
                    out,
                    "{}  {:>8}  {}",
                    s.id,
                    age(now, s.modified_unix),
                    s.title
                )?;
            }
        }
        SessionsCommand::Export(export_args) => {
            let store =
                SessionStore::new(&config.dirs.data, &repo_root(&cwd_of(&export_args.cwd)?));
            let saved = store
                .load(&export_args.id)
                .map_err(|e| CommandError::Sessions(e.to_string()))?;
            let text = export::render(&saved, export_args.format.format());
            match &export_args.output {
                Some(path) => {
                    let existing = if export_args.force {
                        Existing::Replace
                    } else {
                        Existing::Keep
                    };
                    export::write(path, &text, existing).map_err(|e| {
                        CommandError::Sessions(match e {
                            WriteError::Exists { .. } => format!("{e}, or pass --force"),
                            WriteError::Io { .. } => e.to_string(),
                        })
                    })?;
                    writeln!(out, "wrote {}", path.display())?;
                }
                None => out.write_all(text.as_bytes())?,
            }
        }
    }
    Ok(())
}
