//! With no model configured, the session and `lode run` use one found on this machine.
//!
//! [`crate::discovery::rank`] decides, from names, sizes and headers; this module adds the
//! one check that needs the file (`gguf::validate`, so the pick never aborts in llama.cpp)
//! and the front-end part: saying which and why, and for the session asking before the
//! choice is written into the user's config (`lode models use` writes it the same way).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use crate::compose::backend::{needs_local_model, BackendFlags};
use crate::config::Config;
use crate::discovery::{self, Memory, ScanRoots};

/// The model picked, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Picked {
    pub path: PathBuf,
    /// Its name in `lode models`.
    pub name: String,
    pub reason: String,
}

/// What to download when nothing here will do.
const SUGGESTION: &str = "lode models pull hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M";

/// The best usable model on this machine, or why there is none.
pub fn pick(config: &Config) -> Result<Picked, String> {
    let entries = discovery::scan(&ScanRoots::discover(vec![config.models.dir.clone()]));
    let memory = Memory::of_this_machine();
    let ranked = discovery::rank(&entries, memory);
    let considered = ranked.len();
    ranked
        .into_iter()
        .find(|c| {
            crate::gguf::read(&c.entry.path)
                .is_ok_and(|file| crate::gguf::validate(&file).is_ok())
        })
        .map(|c| Picked {
            path: c.entry.path.clone(),
            name: c.entry.name.clone(),
            reason: c.reason,
        })
        .ok_or_else(|| {
            let memory = match memory {
                Memory::Available(_) => "fits in available memory",
                Memory::Unknown => "is usable",
            };
            format!(
                "no model configured, and none of the {} GGUF files found here {memory} with a context of at least {} tokens ({considered} passed the memory and context checks); `{SUGGESTION}` downloads one",
                entries.len(),
                discovery::MIN_CONTEXT,
            )
        })
}

/// `lode run`: with no model configured, use the best found for this run and say how to
/// keep it. Prints on `err`; leaves `config` alone when nothing fits (the run then fails
/// with its own "no model" message).
pub fn for_run(flags: &BackendFlags, config: &mut Config, err: &mut dyn Write) {
    if !needs_local_model(flags, config) {
        return;
    }
    match pick(config) {
        Ok(picked) => {
            let _ = writeln!(
                err,
                "lode: no model configured; using {}: {}\nlode: to keep it: lode models use {}",
                picked.name,
                picked.reason,
                picked.path.display()
            );
            config.models.large = Some(picked.path);
        }
        Err(why) => {
            let _ = writeln!(err, "lode: {why}");
        }
    }
}

/// The session's answer to "use the model found?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Remember,
    Once,
    No,
}

fn answer(line: &str) -> Option<Answer> {
    match line.trim().to_ascii_lowercase().as_str() {
        "" | "y" | "yes" => Some(Answer::Remember),
        "o" | "once" => Some(Answer::Once),
        "n" | "no" => Some(Answer::No),
        _ => None,
    }
}

/// The session: with no model configured, offer the best found before the screen opens.
/// Yes writes it into the user's config; once uses it this time; no opens the session
/// without a model (where `/model` lists and loads them).
pub fn for_session(
    flags: &BackendFlags,
    config: &mut Config,
    input: &mut dyn BufRead,
    err: &mut dyn Write,
) {
    if !needs_local_model(flags, config) {
        return;
    }
    match pick(config) {
        Ok(picked) => confirm(picked, config, input, err),
        Err(why) => {
            let _ = writeln!(err, "lode: {why}");
        }
    }
}

/// Asks whether to use `picked`, and remembers it when told to.
fn confirm(picked: Picked, config: &mut Config, input: &mut dyn BufRead, err: &mut dyn Write) {
    let file = config.dirs.config.join("config.toml");
    let _ = writeln!(
        err,
        "lode: no model configured. Found {}: {}",
        picked.name, picked.reason
    );
    let choice = loop {
        let _ = write!(
            err,
            "Use it and remember it in {}? [Y]es / [o]nce / [n]o: ",
            file.display()
        );
        let _ = err.flush();
        let mut line = String::new();
        match input.read_line(&mut line) {
            // End of input: nobody confirmed, so nothing is written.
            Ok(0) | Err(_) => break Answer::Once,
            Ok(_) => {}
        }
        if let Some(choice) = answer(&line) {
            break choice;
        }
    };
    match choice {
        Answer::Remember => match crate::commands::models::remember(config, &picked.path) {
            Ok(line) => {
                let _ = writeln!(err, "{line}");
                config.models.large = Some(picked.path);
            }
            Err(why) => {
                let _ = writeln!(err, "lode: {why}; using it for this session only");
                config.models.large = Some(picked.path);
            }
        },
        Answer::Once => config.models.large = Some(picked.path),
        Answer::No => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Env;
    use pretty_assertions::assert_eq;

    /// lode's three directories under one temporary root, and nothing else set.
    struct Dirs(PathBuf);
    impl Env for Dirs {
        fn var(&self, name: &str) -> Option<String> {
            let sub = match name {
                "LODE_CONFIG_DIR" => "config",
                "LODE_CACHE_DIR" => "cache",
                "LODE_DATA_DIR" => "data",
                _ => return None,
            };
            Some(self.0.join(sub).display().to_string())
        }
    }

    fn session_with(answers: &str) -> (tempfile::TempDir, Config, String) {
        let root = tempfile::tempdir().unwrap();
        let mut config = Config::load(root.path(), &Dirs(root.path().to_path_buf())).unwrap();
        let picked = Picked {
            path: root.path().join("m-instruct.gguf"),
            name: "m-instruct.gguf".into(),
            reason: "an instruct/chat model".into(),
        };
        let mut err = Vec::new();
        confirm(picked, &mut config, &mut answers.as_bytes(), &mut err);
        (root, config, String::from_utf8(err).unwrap())
    }

    #[test]
    fn yes_remembers_in_the_user_config_after_asking_again_on_nonsense() {
        let (root, config, err) = session_with("maybe\ny\n");
        let path = root.path().join("m-instruct.gguf");
        assert_eq!(config.models.large.as_deref(), Some(path.as_path()));
        let written = std::fs::read_to_string(root.path().join("config/config.toml")).unwrap();
        let table: toml::Table = toml::from_str(&written).unwrap();
        assert_eq!(
            table["models"]["large"]["path"].as_str(),
            Some(path.to_str().unwrap())
        );
        assert_eq!(err.matches("[Y]es / [o]nce / [n]o").count(), 2, "{err}");
        assert!(
            err.contains("Found m-instruct.gguf: an instruct/chat model"),
            "{err}"
        );
    }

    #[test]
    fn once_and_no_write_nothing() {
        let (root, config, _) = session_with("o\n");
        assert!(config.models.large.is_some());
        assert!(!root.path().join("config/config.toml").exists());
        let (root, config, _) = session_with("n\n");
        assert_eq!(config.models.large, None);
        assert!(!root.path().join("config/config.toml").exists());
        let (root, config, _) = session_with("");
        assert!(config.models.large.is_some());
        assert!(!root.path().join("config/config.toml").exists());
    }

    #[test]
    fn answers() {
        assert_eq!(answer("\n"), Some(Answer::Remember));
        assert_eq!(answer("Y\n"), Some(Answer::Remember));
        assert_eq!(answer(" once "), Some(Answer::Once));
        assert_eq!(answer("n"), Some(Answer::No));
        assert_eq!(answer("maybe"), None);
    }
}
