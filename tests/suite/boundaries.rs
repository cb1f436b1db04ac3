//! The layer rules of DESIGN.md and docs/ARCHITECTURE.md, checked by scanning the source so
//! they cannot drift: internal modules use only lower layers;
//! only `src/engine/` talks to llama.cpp, only `src/tui/` to the terminal, only the git tool
//! and the reviewer to libgit2.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file under `src/`, as (path relative to the crate root with `/`, text).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|file| {
            let rel = file
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&file).unwrap())
        })
        .collect()
}

fn offenders(names: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        if allowed(&rel) {
            continue;
        }
        for name in names {
            if text.contains(name) {
                found.push(format!("{rel} names {name}"));
            }
        }
    }
    found
}

#[test]
fn only_the_engine_talks_to_llama_cpp() {
    let found = offenders(&["llama_cpp_2", "llama_cpp_sys_2"], |f| {
        f.starts_with("src/engine/")
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_tui_talks_to_the_terminal() {
    let found = offenders(&["ratatui", "crossterm"], |f| f.starts_with("src/tui/"));
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_git_tool_and_reviewer_talk_to_libgit2() {
    let found = offenders(&["git2::"], |f| {
        f == "src/tools/git.rs" || f.starts_with("src/review/")
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_mcp_client_talks_mcp() {
    let found = offenders(&["rmcp::"], |f| f.starts_with("src/tools/mcp/"));
    assert!(found.is_empty(), "{found:#?}");
}

/// The internal layers, lowest first (docs/ARCHITECTURE.md). A module may use modules of
/// lower layers only; the front ends (the last layer) may also use each other.
const LAYERS: &[&[&str]] = &[
    &["stats", "cancel", "files", "gguf", "config_edit"],
    &["engine", "discovery", "hf_hub"],
    &["tools"],
    &["backend"],
    &["router"],
    &["agent"],
    &["config"],
    &["compose", "sessions"],
    &["review"],
    &["exec", "tui", "commands", "cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `crate::MODULE` a file names outside comments, as (file, its module, named module).
fn internal_imports() -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (path, text) in sources() {
        let rel = path.trim_start_matches("src/").to_string();
        if rel == "main.rs" || rel == "lib.rs" {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (i, _) in code.match_indices("crate::") {
                let named: String = code[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !named.is_empty() && named != module {
                    found.push((rel.clone(), module.clone(), named));
                }
            }
        }
    }
    found
}

#[test]
fn every_module_has_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "give these a layer in LAYERS and docs/ARCHITECTURE.md: {missing:?}"
    );
}

#[test]
fn modules_use_only_lower_layers() {
    let front = LAYERS.len() - 1;
    let mut upward: Vec<String> = internal_imports()
        .into_iter()
        .filter(|(_, from, to)| {
            let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) else {
                return true;
            };
            b > a || (a == b && a != front)
        })
        .map(|(file, _, to)| format!("src/{file} uses crate::{to}"))
        .collect();
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "imports against the layers:\n{}",
        upward.join("\n")
    );
}
