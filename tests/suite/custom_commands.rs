//! Custom commands, the user's instructions and session export, through the real binary:
//! `lode run /name args` sends the command's prompt, the user's `AGENTS.md` reaches the
//! model's system message, and `lode sessions export` writes what was saved.

use std::path::Path;

use crate::suite::agent_run::repo;
use crate::suite::common::{lode, output};

/// A script whose one turn checks the conversation holds `expect`, then answers.
fn script(home: &Path, expect: &[&str]) -> String {
    let path = home.join("s.json");
    std::fs::write(
        &path,
        serde_json::json!({"turns": [{"say": "on it", "expect": expect}]}).to_string(),
    )
    .unwrap();
    format!("scripted:{}", path.display())
}

fn run(home: &Path, repo: &Path, backend: &str, task: &str) -> (i32, String, String) {
    output(
        lode(home)
            .args(["run", "--json", "--test-cmd", "true", "--route", "large"])
            .args(["--backend", backend, "--cwd"])
            .arg(repo)
            .arg(task),
    )
}

fn session_id(stdout: &str) -> String {
    let header: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    header["session"].as_str().unwrap().to_string()
}

#[test]
fn a_project_command_becomes_the_prompt_of_a_run() {
    let (home, repo) = repo("rust-calc");
    let commands = repo.join(".lode/commands");
    std::fs::create_dir_all(&commands).unwrap();
    std::fs::write(
        commands.join("fix-issue.md"),
        "---\ndescription: Fix an issue\n---\nFix issue #$1 in $2, then say so.\n",
    )
    .unwrap();
    let backend = script(home.path(), &["Fix issue #42 in src/lib.rs, then say so."]);
    let (code, stdout, stderr) = run(home.path(), &repo, &backend, "/fix-issue 42 src/lib.rs");
    assert_eq!(code, 0, "{stderr}");

    // The saved session holds the expanded prompt, and export writes it out.
    let id = session_id(&stdout);
    let (code, markdown, stderr) = output(
        lode(home.path())
            .args(["sessions", "export", &id, "--cwd"])
            .arg(&repo),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        markdown.contains("## You\n\nFix issue #42 in src/lib.rs, then say so.\n"),
        "{markdown}"
    );
    assert!(markdown.contains("## lode\n\non it\n"), "{markdown}");
}

#[test]
fn an_unknown_command_is_refused_and_a_path_stays_a_message() {
    let (home, repo) = repo("rust-calc");
    std::fs::create_dir_all(home.path().join("config/commands")).unwrap();
    std::fs::write(home.path().join("config/commands/review.md"), "Review it.").unwrap();
    let backend = script(home.path(), &[]);
    let (code, stdout, stderr) = run(home.path(), &repo, &backend, "/reveiw");
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("unknown command `/reveiw`; custom commands: /review"),
        "{stderr}"
    );

    let backend = script(home.path(), &["/etc/hosts is wrong"]);
    let (code, _, stderr) = run(home.path(), &repo, &backend, "/etc/hosts is wrong");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn the_users_instructions_reach_the_model_before_the_projects() {
    let (home, repo) = repo("rust-calc");
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/AGENTS.md"),
        "Always answer in British English.\n",
    )
    .unwrap();
    std::fs::write(repo.join("AGENTS.md"), "Project rule.\n").unwrap();
    let backend = script(
        home.path(),
        &[
            "# User instructions (",
            "Always answer in British English.\n\n# Project instructions (AGENTS.md)\n\nProject rule.",
        ],
    );
    let (code, _, stderr) = run(home.path(), &repo, &backend, "say hello");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn export_never_replaces_a_file_without_force() {
    let (home, repo) = repo("rust-calc");
    let backend = script(home.path(), &[]);
    let (code, stdout, stderr) = run(home.path(), &repo, &backend, "say hello");
    assert_eq!(code, 0, "{stderr}");
    let id = session_id(&stdout);
    let target = home.path().join("out.json");
    std::fs::write(&target, "mine").unwrap();
    let export = |force: bool| {
        let mut cmd = lode(home.path());
        cmd.args(["sessions", "export", &id, "--format", "json", "-o"])
            .arg(&target)
            .arg("--cwd")
            .arg(&repo);
        if force {
            cmd.arg("--force");
        }
        output(&mut cmd)
    };
    let (code, _, stderr) = export(false);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("exists; choose another file, or pass --force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine");

    let (code, _, stderr) = export(true);
    assert_eq!(code, 0, "{stderr}");
    let records: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert_eq!(records[0]["kind"], "header");
    assert_eq!(records[0]["id"], id.as_str());
    assert_eq!(
        records[1],
        serde_json::json!({"kind": "user", "text": "say hello"})
    );

    let (code, listed, _) = output(
        lode(home.path())
            .args(["sessions", "list", "--cwd"])
            .arg(&repo),
    );
    assert_eq!(code, 0);
    assert!(
        listed.starts_with(&id) && listed.contains("say hello"),
        "{listed}"
    );
}
