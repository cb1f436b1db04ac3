//! `lode models`: the GGUF files on this machine, wherever they live (`list`), one more from
//! the Hugging Face hub (`pull`, in `pull.rs`), and which one lode uses (`use`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{ListArgs, ModelsArgs, ModelsCommandRef, UseArgs};
use crate::commands::CommandError;
use crate::config::Config;
use crate::discovery::{self, ModelEntry, ScanRoots};

/// Runs `lode models` and its subcommands.
pub fn run(args: &ModelsArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    match args.command() {
        ModelsCommandRef::List(list) => run_list(list, config, out),
        ModelsCommandRef::Pull(pull) => crate::commands::pull::run(pull, config, out),
        ModelsCommandRef::Use(choice) => run_use(choice, config, out),
    }
}

fn run_list(args: &ListArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let mut dirs = vec![config.models.dir.clone()];
    dirs.extend(args.dir.iter().cloned());
    let roots = ScanRoots::discover(dirs);
    let entries = discovery::scan(&roots);
    if args.json {
        let text = serde_json::to_string_pretty(&entries).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")?;
    } else if entries.is_empty() {
        write!(out, "{}", discovery::render_empty(&roots))?;
    } else {
        write!(out, "{}", discovery::render_table(&entries))?;
    }
    Ok(())
}

fn run_use(args: &UseArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let path = resolve(&args.model, config)?;
    let line = remember(config, &path).map_err(CommandError::Models)?;
    writeln!(out, "{line}")?;
    Ok(())
}

/// A path that exists, else a name `lode models` lists (exactly, or as the only name ending
/// in it, so `q4_k_m.gguf` finds `org/repo/x-q4_k_m.gguf`).
fn resolve(model: &str, config: &Config) -> Result<PathBuf, CommandError> {
    let as_path = Path::new(model);
    if as_path.is_file() {
        return std::path::absolute(as_path).map_err(CommandError::Output);
    }
    let entries = discovery::scan(&ScanRoots::discover(vec![config.models.dir.clone()]));
    let usable: Vec<&ModelEntry> = entries.iter().filter(|e| e.error.is_none()).collect();
    let exact: Vec<&&ModelEntry> = usable.iter().filter(|e| e.name == model).collect();
    let found: Vec<&&ModelEntry> = if exact.is_empty() {
        usable
            .iter()
            .filter(|e| e.name.ends_with(model) && !model.is_empty())
            .collect()
    } else {
        exact
    };
    match found.as_slice() {
        [one] => Ok(one.path.clone()),
        [] => Err(CommandError::Models(format!(
            "`{model}` is neither a file nor a model `lode models` lists; run `lode models` to see the names"
        ))),
        many => Err(CommandError::Models(format!(
            "`{model}` matches {} models: {}; give the whole name",
            many.len(),
            many.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Writes `[models.large] path` into the user's config file; returns what to tell the user.
/// Shared by `lode models use` and the session's confirmation of a model it picked.
pub fn remember(config: &Config, path: &Path) -> Result<String, String> {
    let file = config.dirs.config.join("config.toml");
    let text = path.to_str().ok_or_else(|| {
        format!(
            "`{}` is not UTF-8, so it cannot go into a TOML file",
            path.display()
        )
    })?;
    let mut body = toml::Table::new();
    body.insert("path".into(), toml::Value::String(text.into()));
    crate::config_edit::upsert_table(&file, "models.large", &body)
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(format!(
        "lode now uses {} ([models.large] path in {})",
        path.display(),
        file.display()
    ))
}
