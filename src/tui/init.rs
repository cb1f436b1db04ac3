//! `/init`: a first AGENTS.md for the repository, drafted from what is on disk — the
//! top-level layout, the languages by file extension, the build files, the test command the
//! agent would run, and the formatter and editor settings found — with no model, so the same
//! repository always gets the same draft. It is proposed as a diff through the session's
//! approval prompt; nothing is written until the user says yes, and an AGENTS.md changed in
//! the meantime is not overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The approval id of `/init`'s proposal (agent calls never carry it).
pub const APPROVAL_ID: &str = "lode-init";
/// The file `/init` drafts.
pub const FILE: &str = "AGENTS.md";

/// What the draft replaces, kept until the user answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub path: PathBuf,
    /// The file as the diff showed it (`None`: there was none).
    pub before: Option<String>,
    pub draft: String,
}

impl Proposal {
    /// Writes the draft, unless the file changed since the diff was shown.
    pub fn write(&self) -> Result<(), String> {
        let now = read_existing(&self.path)?;
        if now != self.before {
            return Err(format!(
                "{FILE} changed since /init drafted it; nothing was written (run /init again)"
            ));
        }
        crate::files::write_whole(&self.path, self.draft.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

/// The current AGENTS.md; `None` when there is none. A file lode should not replace (a
/// directory, a device, a huge file) is an error.
pub fn read_existing(path: &Path) -> Result<Option<String>, String> {
    let shown = path.display().to_string();
    match crate::tools::regular::read_regular(path, &shown, 1024 * 1024) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("{shown} is not UTF-8 text; /init leaves it alone")),
        Err(e) => Err(e.to_string()),
    }
}

/// Languages by extension, for the "Languages" line.
const LANGUAGES: &[(&str, &str)] = &[
    ("rs", "Rust"),
    ("py", "Python"),
    ("ts", "TypeScript"),
    ("tsx", "TypeScript"),
    ("js", "JavaScript"),
    ("jsx", "JavaScript"),
    ("go", "Go"),
    ("java", "Java"),
    ("kt", "Kotlin"),
    ("c", "C"),
    ("h", "C"),
    ("cc", "C++"),
    ("cpp", "C++"),
    ("hpp", "C++"),
    ("rb", "Ruby"),
    ("swift", "Swift"),
    ("cs", "C#"),
    ("php", "PHP"),
    ("sh", "Shell"),
    ("lua", "Lua"),
    ("zig", "Zig"),
];

/// Build and package files worth naming.
const BUILD_FILES: &[&str] = &[
    "Cargo.toml",
    "pyproject.toml",
    "setup.py",
    "requirements.txt",
    "package.json",
    "go.mod",
    "Makefile",
    "CMakeLists.txt",
    "build.gradle",
    "build.gradle.kts",
    "pom.xml",
    "Gemfile",
    "justfile",
];

/// Formatter and style settings, with what they mean for a change.
const CONVENTIONS: &[(&str, &str)] = &[
    (
        "rustfmt.toml",
        "Rust is formatted with rustfmt (`cargo fmt`) using `rustfmt.toml`.",
    ),
    (
        ".rustfmt.toml",
        "Rust is formatted with rustfmt (`cargo fmt`) using `.rustfmt.toml`.",
    ),
    (
        "clippy.toml",
        "Clippy lints are configured in `clippy.toml`; keep `cargo clippy` clean.",
    ),
    (
        ".editorconfig",
        "Indentation and line endings follow `.editorconfig`.",
    ),
    (
        ".prettierrc",
        "JavaScript/TypeScript is formatted with Prettier (`.prettierrc`).",
    ),
    (
        ".prettierrc.json",
        "JavaScript/TypeScript is formatted with Prettier (`.prettierrc.json`).",
    ),
    (".eslintrc.json", "ESLint rules are in `.eslintrc.json`."),
    (
        "eslint.config.js",
        "ESLint rules are in `eslint.config.js`.",
    ),
    (".flake8", "Python is linted with flake8 (`.flake8`)."),
    (
        "ruff.toml",
        "Python is linted and formatted with Ruff (`ruff.toml`).",
    ),
    (
        ".golangci.yml",
        "Go is linted with golangci-lint (`.golangci.yml`).",
    ),
    (
        ".pre-commit-config.yaml",
        "pre-commit hooks run on each commit (`.pre-commit-config.yaml`).",
    ),
    (
        "CONTRIBUTING.md",
        "Read `CONTRIBUTING.md` for the contribution rules.",
    ),
];

/// The draft for the repository at `root`; `test_command` is the one the agent would run.
pub fn draft(root: &Path, test_command: Option<&str>) -> String {
    let paths = crate::tui::files::list(root);
    let mut out = String::from(
        "# AGENTS.md\n\nInstructions for coding agents working in this repository. Drafted by \
         lode's /init from the files on disk: check it, and add what a newcomer must know.\n",
    );

    out.push_str("\n## Layout\n\n");
    let mut dirs: BTreeMap<&str, usize> = BTreeMap::new();
    let mut top_files = Vec::new();
    for path in &paths {
        match path.split_once('/') {
            Some((top, rest)) if !rest.is_empty() && !rest.ends_with('/') => {
                *dirs.entry(top).or_default() += 1;
            }
            Some((top, "")) => {
                dirs.entry(top).or_default();
            }
            Some(_) => {}
            // The file being drafted is not part of what it describes.
            None if path == FILE => {}
            None => top_files.push(path.as_str()),
        }
    }
    if dirs.is_empty() && top_files.is_empty() {
        out.push_str("- (no files yet)\n");
    }
    for (dir, files) in &dirs {
        let noun = if *files == 1 { "file" } else { "files" };
        out.push_str(&format!("- `{dir}/` — {files} {noun}\n"));
    }
    if !top_files.is_empty() {
        let shown: Vec<String> = top_files
            .iter()
            .take(12)
            .map(|f| format!("`{f}`"))
            .collect();
        let more = top_files.len().saturating_sub(12);
        out.push_str(&format!("- top level: {}", shown.join(", ")));
        if more > 0 {
            out.push_str(&format!(" and {more} more"));
        }
        out.push('\n');
    }

    let mut languages: BTreeMap<&str, usize> = BTreeMap::new();
    for path in &paths {
        let ext = Path::new(path).extension().and_then(|e| e.to_str());
        if let Some((_, language)) = LANGUAGES.iter().find(|(e, _)| Some(*e) == ext) {
            *languages.entry(language).or_default() += 1;
        }
    }
    if !languages.is_empty() {
        let mut ranked: Vec<(&str, usize)> = languages.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let listed: Vec<String> = ranked
            .iter()
            .map(|(language, n)| format!("{language} ({n})"))
            .collect();
        out.push_str(&format!("\nLanguages (files): {}.\n", listed.join(", ")));
    }

    out.push_str("\n## Build and test\n\n");
    let builds: Vec<String> = BUILD_FILES
        .iter()
        .filter(|f| root.join(f).is_file())
        .map(|f| format!("`{f}`"))
        .collect();
    if !builds.is_empty() {
        out.push_str(&format!("- Build files: {}.\n", builds.join(", ")));
    }
    match test_command {
        Some(command) => out.push_str(&format!(
            "- Run the tests with `{command}`; a change is done when they pass.\n"
        )),
        None => out.push_str("- No test command was found: say here how to run the tests.\n"),
    }

    let conventions: Vec<&str> = CONVENTIONS
        .iter()
        .filter(|(file, _)| root.join(file).is_file())
        .map(|(_, rule)| *rule)
        .collect();
    out.push_str("\n## Conventions\n\n");
    if conventions.is_empty() {
        out.push_str(
            "- No formatter or style settings were found: describe the house style here.\n",
        );
    }
    for rule in conventions {
        out.push_str(&format!("- {rule}\n"));
    }
    out.push_str("- Keep changes small and focused; match the style of the code around them.\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("Cargo.toml", "[package]\nname = \"x\"\n");
        write("src/lib.rs", "");
        write("src/util.rs", "");
        write("tests/it.py", "");
        write("rustfmt.toml", "");
        write(".editorconfig", "");
        dir
    }

    #[test]
    fn the_draft_names_layout_languages_tests_and_conventions() {
        let dir = repo();
        let text = draft(dir.path(), Some("cargo test"));
        assert_eq!(
            text,
            "# AGENTS.md\n\nInstructions for coding agents working in this repository. Drafted \
             by lode's /init from the files on disk: check it, and add what a newcomer must \
             know.\n\
             \n## Layout\n\n\
             - `src/` — 2 files\n\
             - `tests/` — 1 file\n\
             - top level: `Cargo.toml`, `rustfmt.toml`\n\
             \nLanguages (files): Rust (2), Python (1).\n\
             \n## Build and test\n\n\
             - Build files: `Cargo.toml`.\n\
             - Run the tests with `cargo test`; a change is done when they pass.\n\
             \n## Conventions\n\n\
             - Rust is formatted with rustfmt (`cargo fmt`) using `rustfmt.toml`.\n\
             - Indentation and line endings follow `.editorconfig`.\n\
             - Keep changes small and focused; match the style of the code around them.\n"
        );
        assert_eq!(text, draft(dir.path(), Some("cargo test")), "deterministic");
    }

    #[test]
    fn nothing_is_written_over_a_file_changed_since_the_diff() {
        let dir = repo();
        let path = dir.path().join(FILE);
        std::fs::write(&path, "mine\n").unwrap();
        let proposal = Proposal {
            path: path.clone(),
            before: read_existing(&path).unwrap(),
            draft: "draft\n".into(),
        };
        std::fs::write(&path, "mine, edited\n").unwrap();
        assert!(proposal.write().unwrap_err().contains("changed since"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine, edited\n");
        std::fs::write(&path, "mine\n").unwrap();
        proposal.write().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "draft\n");
    }
}
