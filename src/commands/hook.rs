//! `lode hook install|uninstall`: the pre-commit hook that runs `lode review`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{HookAction, HookArgs};
use crate::commands::CommandError;
use crate::review::hook::{self, Uninstalled};

/// Runs `lode hook`.
pub fn run(args: &HookArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let here = |cwd: &Option<PathBuf>| -> Result<PathBuf, CommandError> {
        Ok(match cwd {
            Some(dir) => dir.clone(),
            None => std::env::current_dir()?,
        })
    };
    let failed = |e: hook::HookError| CommandError::Hook(e.to_string());
    match &args.action {
        HookAction::Install { cwd } => {
            let exe = std::env::current_exe()?;
            let done = hook::install(&here(cwd)?, &exe).map_err(failed)?;
            if done.already {
                writeln!(
                    out,
                    "lode's hook is already installed: {}",
                    shown(&done.hook)
                )?;
                return Ok(());
            }
            writeln!(out, "installed {}", shown(&done.hook))?;
            if let (Some(chained), Some(backup)) = (&done.chained, &done.backup) {
                writeln!(
                    out,
                    "the existing hook runs first, from {} (a copy is in {})",
                    shown(chained),
                    shown(backup)
                )?;
            }
            writeln!(
                out,
                "every `git commit` now runs `lode review` on the staged changes; LODE_SKIP=1 skips it once, `lode hook uninstall` removes it"
            )?;
        }
        HookAction::Uninstall { cwd } => match hook::uninstall(&here(cwd)?).map_err(failed)? {
            Uninstalled::Restored { hook, previous } => {
                writeln!(out, "removed lode's hook from {}", shown(&hook))?;
                if previous {
                    writeln!(out, "the hook that was there before is back")?;
                }
            }
            Uninstalled::NotInstalled { hook } => {
                writeln!(
                    out,
                    "lode's hook is not installed ({}): nothing changed",
                    shown(&hook)
                )?;
            }
        },
    }
    Ok(())
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}
