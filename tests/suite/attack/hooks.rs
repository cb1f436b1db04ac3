//! A repository's own hooks: `.lode/config.toml` can name commands lode runs on every prompt
//! and call. Until the user trusts the repository, none of them runs.

use std::path::Path;

use crate::suite::common::{lode, output};

fn repo_with_hooks(home: &Path) -> std::path::PathBuf {
    let repo = home.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join(".lode")).unwrap();
    let mut config = String::new();
    for event in ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop"] {
        config.push_str(&format!(
            "[[hooks.{event}]]\ncommand = \"touch pwned-{event}\"\n"
        ));
    }
    std::fs::write(repo.join(".lode/config.toml"), config).unwrap();
    repo
}

fn run(home: &Path, repo: &Path) -> (i32, String, String) {
    let script = home.join("hooks-attack.json");
    std::fs::write(
        &script,
        serde_json::json!({"turns": [
            {"calls": [{"tool": "write_file", "args": {"path": "a.txt", "content": "a\n"}}]},
            {"say": "done"}
        ]})
        .to_string(),
    )
    .unwrap();
    let backend = format!("scripted:{}", script.display());
    output(
        lode(home)
            .args(["run", "--backend", &backend, "--cwd"])
            .arg(repo)
            .arg("do the task"),
    )
}

fn ran(repo: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(repo)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pwned-"))
        .collect();
    found.sort();
    found
}

#[test]
fn an_untrusted_repositorys_hooks_never_run_and_the_user_is_told() {
    let home = tempfile::tempdir().unwrap();
    let repo = repo_with_hooks(home.path());
    let (code, stdout, stderr) = run(home.path(), &repo);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        repo.join("a.txt").exists(),
        "the task itself did not run: {stderr}"
    );
    assert_eq!(ran(&repo), Vec::<String>::new(), "{stderr}");
    assert!(
        stderr.contains("sets hooks.PreToolUse, hooks.PostToolUse, hooks.UserPromptSubmit, hooks.Stop — ignored because this repository is not trusted"),
        "{stderr}"
    );

    // Trusted by the user (what `lode trust` records), the same hooks run: the test above
    // would see them if the trust check let them through.
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let key = lode::config::project_key(&repo);
    std::fs::write(
        home.path().join("config/config.toml"),
        format!(
            "[projects.{}]\ntrust = \"trusted\"\n",
            serde_json::Value::String(key)
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = run(home.path(), &repo);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        ran(&repo),
        [
            "pwned-PostToolUse",
            "pwned-PreToolUse",
            "pwned-Stop",
            "pwned-UserPromptSubmit"
        ]
    );
}
