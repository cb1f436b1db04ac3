//! `lode models`: the GGUF files on this machine, wherever they live.

use std::io::Write;

use crate::cli::ModelsArgs;
use crate::commands::CommandError;
use crate::config::Config;
use crate::discovery::{self, ScanRoots};

/// Runs `lode models`.
pub fn run(args: &ModelsArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
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
