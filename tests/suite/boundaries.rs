//! The layer rules of DESIGN.md, checked by scanning the source so they cannot drift:
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

fn offenders(names: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if allowed(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
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
