//! Hooks end to end: the real `lode run` with the scripted backend, hooks from the user's
//! config, the real tools and the file system. Each scripted turn's `expect` checks what the
//! model was sent, so a hook's reason reaching the model is seen in the request itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;

use super::common::{lode, output};

/// A temp home with an empty repository in it, and the user's config holding `config`.
fn setup(config: &str) -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(home.path().join("config/config.toml"), config).unwrap();
    (home, repo)
}

fn script(home: &Path, turns: serde_json::Value) -> PathBuf {
    let path = home.join("hooks-script.json");
    std::fs::write(&path, serde_json::json!({ "turns": turns }).to_string()).unwrap();
    path
}

fn run(home: &Path, repo: &Path, script: &Path, extra: &[&str]) -> (i32, String, String) {
    let backend = format!("scripted:{}", script.display());
    output(
        lode(home)
            .args(["run", "--backend", &backend, "--cwd"])
            .arg(repo)
            .args(extra)
            .arg("tidy the notes")
            .env("MY_SERVICE_TOKEN", "hook-secret-value"),
    )
}

/// The `hook_ran` events of a `--json` run, as (event, result, output).
fn hook_events(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "hook_ran")
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["result"].as_str().unwrap().to_string(),
                e["output"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_post_tool_use_hook_formats_the_file_after_every_edit() {
    // The "formatter" upper-cases the file the call wrote, reading its path from stdin.
    let (home, repo) = setup(
        "[[hooks.PostToolUse]]\nmatcher = \"edit_file|write_file\"\n\
         command = \"cat > hook-input.json; env > hook-env.txt; tr a-z A-Z < notes.txt > notes.tmp && mv notes.tmp notes.txt\"\n",
    );
    let s = script(
        home.path(),
        serde_json::json!([
            {"calls": [{"tool": "write_file", "args": {"path": "notes.txt", "content": "buy milk\n"}}]},
            {"expect": ["[a PostToolUse hook changed notes.txt after this call; read it again before editing it]"],
             "calls": [{"tool": "read_file", "args": {"path": "notes.txt"}}]},
            {"expect": ["BUY MILK"], "say": "The notes are tidy."}
        ]),
    );
    let (code, stdout, stderr) = run(home.path(), &repo, &s, &[]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        std::fs::read_to_string(repo.join("notes.txt")).unwrap(),
        "BUY MILK\n"
    );
    // read_file matched no hook: it ran once, for the write.
    assert_eq!(stderr.matches("hook PostToolUse").count(), 1, "{stderr}");
    assert!(
        stderr.contains("hook PostToolUse `cat > hook-input.json;"),
        "{stderr}"
    );
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("hook-input.json")).unwrap())
            .unwrap();
    let root = repo.canonicalize().unwrap().display().to_string();
    assert_eq!(input["hook_event_name"], "PostToolUse");
    assert_eq!(input["cwd"], root.as_str());
    assert_eq!(input["tool_name"], "write_file");
    assert_eq!(
        input["tool_input"],
        serde_json::json!({"path": "notes.txt", "content": "buy milk\n"})
    );
    assert_eq!(
        input["tool_response"]["changed"],
        serde_json::json!(["notes.txt"])
    );
    assert!(!input["session_id"].as_str().unwrap().is_empty(), "{input}");
    // The hook ran like `shell`: secret-looking variables are not in its environment.
    let env = std::fs::read_to_string(repo.join("hook-env.txt")).unwrap();
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains("hook-secret-value"), "{env}");
}

#[test]
fn a_pre_tool_use_hook_that_exits_2_blocks_the_call_and_the_model_reads_why() {
    let (home, repo) = setup(
        "[[hooks.PreToolUse]]\nmatcher = \"shell\"\n\
         command = \"cat > /dev/null; echo 'shell is off limits here' >&2; exit 2\"\n",
    );
    let s = script(
        home.path(),
        serde_json::json!([
            {"calls": [{"tool": "shell", "args": {"command": "touch ran.txt"}}]},
            {"expect": ["error: a PreToolUse hook blocked this call: shell is off limits here"],
             "calls": [{"tool": "write_file", "args": {"path": "ok.txt", "content": "x\n"}}]},
            {"say": "I used write_file instead."}
        ]),
    );
    let (code, stdout, stderr) = run(home.path(), &repo, &s, &["--yolo", "--json"]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(!repo.join("ran.txt").exists(), "the blocked command ran");
    assert!(
        repo.join("ok.txt").exists(),
        "a call the matcher skips was blocked"
    );
    assert_eq!(
        hook_events(&stdout),
        [(
            "PreToolUse".to_string(),
            "blocked".to_string(),
            "shell is off limits here".to_string()
        )]
    );
}

#[test]
fn a_user_prompt_submit_hook_adds_context_or_refuses_the_prompt() {
    let (home, repo) = setup(
        "[[hooks.UserPromptSubmit]]\ncommand = \"grep -q '\\\"prompt\\\":\\\"tidy the notes\\\"' && echo 'context: the build uses make'\"\n",
    );
    let s = script(
        home.path(),
        serde_json::json!([{"expect": ["tidy the notes\n\ncontext: the build uses make"], "say": "Noted."}]),
    );
    let (code, stdout, stderr) = run(home.path(), &repo, &s, &[]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("Noted."), "{stdout}");

    // A refusing hook: the model is never asked (its only turn would fail the run).
    std::fs::write(
        home.path().join("config/config.toml"),
        "[[hooks.UserPromptSubmit]]\ncommand = \"echo 'no tasks on Fridays' >&2; exit 2\"\n",
    )
    .unwrap();
    let s = script(
        home.path(),
        serde_json::json!([{"expect": ["the model must not be asked"], "say": "?"}]),
    );
    let (code, stdout, stderr) = run(home.path(), &repo, &s, &[]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr
            .contains("not done: a UserPromptSubmit hook refused this prompt: no tasks on Fridays"),
        "{stderr}"
    );
    assert!(!stderr.contains("diverged"), "{stderr}");
}

#[test]
fn a_stop_hook_sends_the_model_back_once_and_lets_it_stop_when_active() {
    let (home, repo) = setup(
        "[[hooks.Stop]]\n\
         command = \"grep -q '\\\"stop_hook_active\\\":true' && exit 0; echo 'write the changelog first' >&2; exit 2\"\n",
    );
    let s = script(
        home.path(),
        serde_json::json!([
            {"say": "All done."},
            {"expect": ["A Stop hook does not let you stop yet: write the changelog first"],
             "calls": [{"tool": "write_file", "args": {"path": "CHANGELOG.md", "content": "- tidied\n"}}]},
            {"say": "Changelog written; done."}
        ]),
    );
    let (code, stdout, stderr) = run(home.path(), &repo, &s, &["--json"]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(repo.join("CHANGELOG.md").exists());
    let results: Vec<String> = hook_events(&stdout).into_iter().map(|e| e.1).collect();
    assert_eq!(results, ["blocked", "ok"]);
    assert!(stdout.contains("Changelog written; done."), "{stdout}");
}

#[test]
fn a_stop_hook_that_always_blocks_ends_the_task_not_done_instead_of_looping() {
    let (home, repo) = setup("[[hooks.Stop]]\ncommand = \"echo 'never satisfied' >&2; exit 2\"\n");
    let turns: Vec<serde_json::Value> = (0..10)
        .map(|_| serde_json::json!({"say": "done"}))
        .collect();
    let s = script(home.path(), serde_json::Value::Array(turns));
    let (code, stdout, stderr) = run(home.path(), &repo, &s, &[]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stderr.matches("hook Stop").count(), 4, "{stderr}");
    assert!(
        stderr.contains(
            "not done: Stop hooks sent the model back 3 times and still object: never satisfied"
        ),
        "{stderr}"
    );
}

#[test]
fn a_hanging_hook_is_killed_at_its_timeout_and_the_task_goes_on() {
    let (home, repo) = setup(
        "[[hooks.UserPromptSubmit]]\ncommand = \"sleep 60\"\ntimeout = 1\n\
         [[hooks.PostToolUse]]\ncommand = \"exit 7\"\n",
    );
    let s = script(
        home.path(),
        serde_json::json!([
            {"calls": [{"tool": "write_file", "args": {"path": "a.txt", "content": "a\n"}}]},
            {"say": "Done."}
        ]),
    );
    let started = Instant::now();
    let (code, stdout, stderr) = run(home.path(), &repo, &s, &[]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(
            "hook UserPromptSubmit `sleep 60` failed: timed out after 1 s and was killed"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hook PostToolUse `exit 7` failed: exited with code 7"),
        "{stderr}"
    );
    assert!(repo.join("a.txt").exists());
}

#[test]
fn a_bad_hook_definition_is_a_configuration_error_naming_it() {
    let (home, repo) = setup("[[hooks.PreToolUse]]\nmatcher = \"(shell\"\ncommand = \"true\"\n");
    let s = script(home.path(), serde_json::json!([]));
    let (code, _stdout, stderr) = run(home.path(), &repo, &s, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "hooks.PreToolUse (hook 1 of 1): matcher `(shell` is not a valid regular expression"
        ),
        "{stderr}"
    );
    std::fs::write(
        home.path().join("config/config.toml"),
        "[[hooks.PreToolUze]]\ncommand = \"true\"\n",
    )
    .unwrap();
    let (code, _stdout, stderr) = run(home.path(), &repo, &s, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("PreToolUze"), "{stderr}");
}
