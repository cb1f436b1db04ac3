//! `lode review` and `lode hook` through the real binary and real git: fixture repositories
//! built in temp dirs with git's configuration sandboxed, reviewers played by scripts.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::common::{lode, output};

/// A scratch repository with one commit of `src/lib.rs`, and a sandboxed home.
pub(super) struct Repo {
    home: tempfile::TempDir,
    dir: PathBuf,
}

pub(super) const LIB: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\npub fn mean(values: &[i32]) -> i32 {\n    values.iter().sum::<i32>() / values.len() as i32\n}\n";

impl Repo {
    pub(super) fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("repo");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let repo = Self { home, dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write("src/lib.rs", LIB);
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "init"]);
        repo
    }

    /// git with no user or system configuration.
    fn git_cmd(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.dir)
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_GLOBAL", self.home.path().join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE");
        cmd
    }

    pub(super) fn git(&self, args: &[&str]) -> String {
        let (code, out, err) = output(self.git_cmd().args(args));
        assert_eq!(code, 0, "git {args:?}: {err}");
        out
    }

    pub(super) fn write(&self, path: &str, text: &str) {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A reviewer script whose last turn answers with `findings`.
    fn script(&self, name: &str, turns: Value) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, json!({ "turns": turns }).to_string()).unwrap();
        path
    }

    fn answering(&self, findings: Value) -> PathBuf {
        let say = json!({ "findings": findings }).to_string();
        self.script("reviewer.json", json!([{ "say": say }]))
    }

    /// `lode review ARGS` in the repository, with `script` as the model.
    pub(super) fn review(&self, script: Option<&Path>, args: &[&str]) -> (i32, String, String) {
        let mut cmd = lode(self.home.path());
        cmd.current_dir(&self.dir).arg("review").args(args);
        if let Some(script) = script {
            cmd.env("LODE_BACKEND", format!("scripted:{}", script.display()));
        }
        output(&mut cmd)
    }

    /// The sandboxed home: lode's config, cache and data dirs are under it.
    pub(super) fn home(&self) -> &Path {
        self.home.path()
    }

    /// Installs lode's pre-commit hook in the repository.
    pub(super) fn install_hook(&self) {
        let mut install = lode(self.home.path());
        install.current_dir(&self.dir).args(["hook", "install"]);
        let (code, _, err) = output(&mut install);
        assert_eq!(code, 0, "{err}");
    }

    /// `git commit ARGS` with lode's directories sandboxed, ready for more env.
    pub(super) fn commit(&self, args: &[&str]) -> Command {
        let mut cmd = self.git_cmd();
        cmd.arg("commit")
            .args(args)
            .env("LODE_CONFIG_DIR", self.home.path().join("config"))
            .env("LODE_CACHE_DIR", self.home.path().join("cache"))
            .env("LODE_DATA_DIR", self.home.path().join("data"))
            .env("LODE_THREADS", "1")
            .env_remove("LODE_MODEL");
        cmd
    }

    /// Stages a division-by-zero fix candidate: line 6 of src/lib.rs changes.
    pub(super) fn stage_change(&self) {
        self.write(
            "src/lib.rs",
            &LIB.replace(
                "    values.iter().sum::<i32>() / values.len() as i32",
                "    let total: i32 = values.iter().sum();\n    total / values.len() as i32",
            ),
        );
        self.git(&["add", "src/lib.rs"]);
    }
}

fn finding(path: &str, line: u32, severity: &str, title: &str) -> Value {
    json!({"path": path, "line": line, "severity": severity, "title": title,
           "detail": "values can be empty", "suggestion": "return 0 for an empty slice"})
}

#[test]
fn an_error_finding_fails_with_its_path_and_line() {
    let repo = Repo::new();
    repo.stage_change();
    let script = repo.answering(json!([finding(
        "src/lib.rs",
        7,
        "error",
        "division by zero on an empty slice"
    )]));
    let (code, out, err) = repo.review(Some(&script), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("src/lib.rs:7: error: division by zero on an empty slice\n    values can be empty\n    suggestion: return 0 for an empty slice\n"),
        "{out}"
    );
    assert!(err.contains("1 error"), "{err}");
}

#[test]
fn a_clean_change_passes() {
    let repo = Repo::new();
    repo.stage_change();
    let (code, out, err) = repo.review(Some(&repo.answering(json!([]))), &[]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(
        err.contains("no findings in 1 file (staged changes"),
        "{err}"
    );
}

#[test]
fn warnings_pass_unless_fail_on_says_otherwise() {
    let repo = Repo::new();
    repo.stage_change();
    let script = repo.answering(json!([finding(
        "src/lib.rs",
        6,
        "warning",
        "name `total` shadows nothing"
    )]));
    assert_eq!(repo.review(Some(&script), &[]).0, 0);
    assert_eq!(repo.review(Some(&script), &["--fail-on", "warning"]).0, 1);
    assert_eq!(repo.review(Some(&script), &["--fail-on", "never"]).0, 0);
    let (code, _, err) = repo.review(Some(&script), &["--fail-on", "sometimes"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn the_staged_blob_is_reviewed_not_a_later_edit() {
    let repo = Repo::new();
    repo.stage_change();
    // Edited again after staging: the commit would not contain this.
    repo.write("src/lib.rs", "// rewritten in the working tree\n");
    // The reviewer reads the file, then points at line 7, which exists only as staged.
    let script = repo.script(
        "reads.json",
        json!([
            {"calls": [{"tool": "read_file", "args": {"path": "src/lib.rs"}}]},
            {"say": json!({"findings": [finding("src/lib.rs", 7, "error", "divides by len")]}).to_string()}
        ]),
    );
    let (code, out, err) = repo.review(Some(&script), &["--json"]);
    assert_eq!(code, 1, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["findings"][0]["line"], 7, "{report}");
    assert_eq!(report["dropped"], json!([]));
    // The snapshot the tools read holds the staged version.
    let snapshot = std::fs::read_dir(repo.home.path().join("cache/review"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("tree/src/lib.rs");
    let seen = std::fs::read_to_string(snapshot).unwrap();
    assert!(seen.contains("let total: i32"), "{seen}");
    assert_eq!(
        std::fs::read_to_string(repo.dir.join("src/lib.rs")).unwrap(),
        "// rewritten in the working tree\n",
        "the working tree is untouched"
    );
}

#[test]
fn a_finding_outside_the_diff_is_dropped_not_printed_wrong() {
    let repo = Repo::new();
    repo.stage_change();
    let script = repo.answering(json!([
        finding("src/lib.rs", 400, "error", "imaginary bug"),
        finding("src/other.rs", 3, "error", "not in this change"),
        finding("src/lib.rs", 7, "note", "real note"),
    ]));
    let (code, out, err) = repo.review(Some(&script), &[]);
    assert_eq!(code, 0, "the errors were dropped: {out}{err}");
    assert!(out.starts_with("src/lib.rs:7: note: real note\n"), "{out}");
    assert!(
        !out.contains("imaginary") && !out.contains("other.rs"),
        "{out}"
    );
    assert!(
        err.contains("dropped a finding (imaginary bug): line 400"),
        "{err}"
    );
    assert!(
        err.contains("dropped a finding (not in this change)"),
        "{err}"
    );
}

#[test]
fn no_model_passes_with_a_notice_and_strict_fails() {
    let repo = Repo::new();
    repo.stage_change();
    let (code, out, err) = repo.review(None, &[]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("not reviewed") && err.contains("no model"),
        "{err}"
    );
    assert_eq!(repo.review(None, &["--strict"]).0, 3);
    let missing = repo.home.path().join("missing.gguf");
    let (code, _, err) = repo.review(None, &["--model", missing.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn lode_skip_skips() {
    let repo = Repo::new();
    repo.stage_change();
    let script = repo.answering(json!([finding("src/lib.rs", 7, "error", "x")]));
    let mut cmd = lode(repo.home.path());
    cmd.current_dir(&repo.dir)
        .args(["review"])
        .env("LODE_BACKEND", format!("scripted:{}", script.display()))
        .env("LODE_SKIP", "1");
    let (code, out, err) = output(&mut cmd);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(err.contains("skipped"), "{err}");
}

#[test]
fn nothing_staged_is_nothing_to_review() {
    let repo = Repo::new();
    let (code, out, err) = repo.review(None, &["--strict"]);
    assert_eq!(
        (code, out.as_str()),
        (0, ""),
        "no model is loaded for an empty change"
    );
    assert!(err.contains("nothing to review"), "{err}");
}

#[test]
fn sarif_output_validates_against_the_sarif_schema() {
    let repo = Repo::new();
    repo.stage_change();
    let script = repo.answering(json!([
        finding("src/lib.rs", 7, "error", "division by zero"),
        finding("src/lib.rs", 0, "note", "consider tests"),
    ]));
    let (code, out, err) = repo.review(Some(&script), &["--sarif"]);
    assert_eq!(code, 1, "{err}");
    let log: Value = serde_json::from_str(&out).unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sarif-schema-2.1.0.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    // Sorted by line, the file-level finding first.
    assert_eq!(results[0]["level"], "note");
    assert!(results[0]["locations"][0]["physicalLocation"]["region"].is_null());
    assert_eq!(results[1]["level"], "error");
    assert_eq!(
        results[1]["locations"][0]["physicalLocation"]["region"]["startLine"],
        7
    );
}

#[test]
fn ranges_and_uncommitted_changes_are_reviewed_too() {
    let repo = Repo::new();
    repo.stage_change();
    repo.git(&["commit", "-q", "-m", "mean"]);
    let script = repo.answering(json!([finding("src/lib.rs", 7, "error", "divides by len")]));
    let (code, out, _) = repo.review(Some(&script), &["--range", "HEAD~1..HEAD"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("src/lib.rs:7: error"), "{out}");
    assert_eq!(repo.review(Some(&script), &["--range", "HEAD"]).0, 1);
    let (code, _, err) = repo.review(Some(&script), &["--range", "nope..HEAD"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot resolve `nope..HEAD`"), "{err}");

    repo.write(
        "src/lib.rs",
        &format!("{LIB}\npub fn one() -> i32 {{\n    1\n}}\n"),
    );
    let script = repo.answering(json!([finding("src/lib.rs", 10, "warning", "untested")]));
    let (code, out, err) = repo.review(Some(&script), &["--uncommitted", "--fail-on", "warning"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with("src/lib.rs:10: warning: untested"), "{out}");
}

#[test]
fn the_hook_refuses_a_commit_with_an_error_and_lets_notes_through() {
    let repo = Repo::new();
    let mut install = lode(repo.home.path());
    install.current_dir(&repo.dir).args(["hook", "install"]);
    let (code, out, err) = output(&mut install);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("installed"), "{out}");

    repo.stage_change();
    let refuse = repo.answering(json!([finding(
        "src/lib.rs",
        7,
        "error",
        "division by zero"
    )]));
    let commit = |script: &Path| {
        let mut cmd = repo.git_cmd();
        cmd.args(["commit", "-q", "-m", "mean"])
            .env("LODE_BACKEND", format!("scripted:{}", script.display()))
            .env("LODE_CONFIG_DIR", repo.home.path().join("config"))
            .env("LODE_CACHE_DIR", repo.home.path().join("cache"))
            .env("LODE_DATA_DIR", repo.home.path().join("data"));
        output(&mut cmd)
    };
    let (code, _, err) = commit(&refuse);
    assert_ne!(code, 0, "the commit must be refused: {err}");
    assert!(
        err.contains("src/lib.rs:7: error: division by zero") || err.contains("division by zero"),
        "{err}"
    );
    assert!(err.contains("commit refused"), "{err}");
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]).trim(), "1");

    let notes = repo.answering(json!([finding(
        "src/lib.rs",
        6,
        "note",
        "could use checked_div"
    )]));
    let (code, _, err) = commit(&notes);
    assert_eq!(code, 0, "{err}");
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]).trim(), "2");

    // `git commit -a` reviews git's temporary index: the change it is about to commit.
    repo.write(
        "src/lib.rs",
        &format!("{LIB}\npub fn two() -> i32 {{\n    2\n}}\n"),
    );
    let refuse = repo.answering(json!([finding("src/lib.rs", 11, "error", "two is wrong")]));
    let mut cmd = repo.git_cmd();
    cmd.args(["commit", "-q", "-a", "-m", "two"])
        .env("LODE_BACKEND", format!("scripted:{}", refuse.display()))
        .env("LODE_CACHE_DIR", repo.home.path().join("cache"));
    let (code, _, err) = output(&mut cmd);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("src/lib.rs:11: error: two is wrong"), "{err}");
}

#[test]
fn a_spent_budget_reports_what_the_model_had_said_and_says_so() {
    let repo = Repo::new();
    repo.stage_change();
    // The answer streams a word every 100 ms: the first finding arrives whole, then the
    // budget runs out in the middle of the second.
    let first = json!({"path": "src/lib.rs", "line": 7, "severity": "error",
                       "title": "division-by-zero", "detail": "len-can-be-0"})
    .to_string();
    let words = vec!["padding"; 40].join(" ");
    let say = format!(
        r#"{{"findings":[{first}, {{"path":"src/lib.rs","line":6,"severity":"error","title":"never finished","detail":"{words}"}}]}}"#
    );
    let path = repo.home.path().join("slow.json");
    std::fs::write(
        &path,
        json!({"pace_ms": 100, "turns": [{"say": say}]}).to_string(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (code, out, err) = repo.review(Some(&path), &["--budget", "1"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "it stopped at the budget"
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("src/lib.rs:7: error: division-by-zero\n"),
        "{out}"
    );
    assert!(!out.contains("never finished"), "{out}");
    assert!(err.contains("stopped at its 1 s budget"), "{err}");
}

/// Against a recording OpenAI-compatible server: the model is shown the staged diff, reads
/// the staged file through its tool, is offered only the read-only tools, and must answer on
/// its last turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_sees_the_staged_change_and_only_read_only_tools() {
    use super::openai::server::{Reply, Server};
    use super::openai::{finish_chunk, text_chunk};
    let call = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
        "function": {"name": "read_file", "arguments": "{\"path\": \"src/lib.rs\"}"}}]}, "finish_reason": null}]});
    let answer =
        json!({"findings": [finding("src/lib.rs", 7, "warning", "divides by len")]}).to_string();
    let server = Server::start(vec![
        Reply::sse(&[call, finish_chunk("tool_calls")]),
        Reply::sse(&[text_chunk(&answer), finish_chunk("stop")]),
    ])
    .await;
    let repo = Repo::new();
    repo.stage_change();
    repo.write("src/lib.rs", "// a later edit, not staged\n");
    let url = server.base_url();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let mut cmd = lode(repo.home.path());
        cmd.current_dir(&repo.dir)
            .env("LODE_BACKEND", "openai")
            .env("LODE_REMOTE_URL", url)
            .env("LODE_MODEL", "test-model")
            .args(["review", "--max-turns", "2", "--fail-on", "warning"]);
        let result = output(&mut cmd);
        drop(repo);
        result
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("src/lib.rs:7: warning: divides by len"),
        "{out}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0].body;
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["read_file", "search", "outline"]);
    assert!(first.get("tool_choice").is_none(), "{first}");
    let messages = first["messages"].as_array().unwrap();
    assert!(messages[0]["content"]
        .as_str()
        .unwrap()
        .starts_with("You are lode's code reviewer."));
    let diff = messages[1]["content"].as_str().unwrap();
    assert!(
        diff.contains("+    let total: i32 = values.iter().sum();"),
        "{diff}"
    );
    assert!(!diff.contains("a later edit"), "{diff}");
    let second = &requests[1].body;
    assert_eq!(second["tool_choice"], "none", "the last turn must answer");
    let read = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    let content = read["content"].as_str().unwrap();
    assert!(content.contains("let total: i32"), "{content}");
    assert!(!content.contains("a later edit"), "{content}");
}

/// The in-process engine end to end: the answer is held to the findings shape, and a second
/// review in a fresh process — another commit — takes the reviewer's instructions and tool
/// schemas from the disk prompt cache and computes only its diff.
#[test]
fn a_second_commit_takes_the_reviewers_prefix_from_the_disk_cache() {
    use lode::engine::synth::{Arch, Weights};
    let model = super::common::tiny(Arch::Qwen2, Weights::Random, 7);
    let _guard = super::common::llama_lock();
    let repo = Repo::new();
    let review = |repo: &Repo| {
        let mut cmd = lode(repo.home.path());
        cmd.current_dir(&repo.dir)
            .env("LODE_MODEL", &model)
            .env("LODE_CTX_SIZE", "4096")
            .args(["review", "--json", "--max-turns", "1"]);
        let (code, out, err) = output(&mut cmd);
        assert!(code == 0 || code == 1, "{err}");
        let report: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        // A random model may ramble to its token limit; the cache is what is tested here.
        report["turns"][0].clone()
    };
    repo.stage_change();
    let first = review(&repo);
    repo.git(&["commit", "-q", "-m", "mean", "--no-verify"]);
    repo.write(
        "src/lib.rs",
        &format!("{LIB}\npub fn one() -> i32 {{\n    1\n}}\n"),
    );
    repo.git(&["add", "src/lib.rs"]);
    let second = review(&repo);
    assert_eq!(first["disk_cached_tokens"], 0, "{first}");
    let prefix = second["disk_cached_tokens"].as_u64().unwrap();
    let prompt = second["prompt_tokens"].as_u64().unwrap();
    assert!(prefix > 500 && prefix < prompt, "{second}");
}
