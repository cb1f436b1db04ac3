//! `lode run` end to end: the scripted backend, the real tools, the real test runners, on
//! copies of the fixture repositories. Exit status and the repo's own tests decide.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;

use super::common::{lode, output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Copies a fixture repository into a fresh temp dir (and makes it a git repo).
pub(super) fn repo(name: &str) -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let dest = home.path().join("repo");
    copy_dir(&fixture(&format!("repos/{name}")), &dest);
    std::fs::create_dir_all(dest.join(".git")).unwrap();
    (home, dest)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" && entry.file_name() != "__pycache__" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// An agent over `dir` whose model is the script at `script`, in `mode`.
fn scripted_agent(
    dir: &Path,
    script: &Path,
    mode: lode::agent::PermissionMode,
    max_turns: u32,
) -> lode::agent::Agent {
    use lode::agent::{Agent, AgentOptions};
    use lode::backend::scripted::ScriptedBackend;
    use lode::tools::{ToolContext, Workspace};

    let backend = ScriptedBackend::load(script).unwrap();
    let ctx = ToolContext::new(Workspace::new(dir).unwrap());
    let options = AgentOptions {
        mode,
        max_turns,
        max_tokens: 256,
        temperature: 0.0,
        interactive: false,
        cwd: dir.to_path_buf(),
        system_prompt: None,
        user_instructions: None,
        answer_schema: None,
    };
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    Agent::new(
        std::sync::Arc::new(backend),
        lode::tools::all(),
        ctx,
        options,
        events,
    )
}

fn run_script(home: &Path, repo: &Path, script: &str, extra: &[&str]) -> (i32, String, String) {
    let backend = format!(
        "scripted:{}",
        fixture(&format!("scripts/{script}")).display()
    );
    output(
        lode(home)
            .args(["run", "--backend", &backend, "--cwd"])
            .arg(repo)
            .args(extra)
            .arg("fix the failing test"),
    )
}

fn run_in(repo: &Path, program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .current_dir(repo)
        .env("CARGO_TARGET_DIR", repo.join("target"))
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn rust_fixture_is_fixed_tests_pass_and_undo_restores_it() {
    let (home, repo) = repo("rust-calc");
    let original = std::fs::read(repo.join("src/lib.rs")).unwrap();
    assert!(
        !run_in(&repo, "cargo", &["test", "--quiet"]),
        "the fixture must start red"
    );
    let (code, stdout, stderr) = run_script(home.path(), &repo, "rust-calc-fix.json", &[]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("All tests pass"), "{stdout}");
    assert!(stderr.contains("edited src/lib.rs"), "{stderr}");
    assert!(run_in(&repo, "cargo", &["test", "--quiet"]));

    let (code, stdout, stderr) = output(lode(home.path()).args(["undo", "--cwd"]).arg(&repo));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("restored src/lib.rs"), "{stdout}");
    assert_eq!(std::fs::read(repo.join("src/lib.rs")).unwrap(), original);
}

#[test]
fn python_fixture_is_fixed_and_pytest_passes() {
    let (home, repo) = repo("py-slug");
    assert!(
        run_in(&repo, "python3", &["-m", "pytest", "--version"]),
        "pytest is needed: python3 -m pip install pytest"
    );
    assert!(!run_in(&repo, "python3", &["-m", "pytest", "-q"]));
    let (code, stdout, stderr) = run_script(home.path(), &repo, "py-slug-fix.json", &[]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(run_in(&repo, "python3", &["-m", "pytest", "-q"]));
}

#[test]
fn an_edit_that_cannot_apply_exits_1_with_a_clear_report() {
    let (home, repo) = repo("rust-calc");
    let original = std::fs::read(repo.join("src/lib.rs")).unwrap();
    let (code, _stdout, stderr) = run_script(home.path(), &repo, "rust-calc-bad-edit.json", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("✗ edit_file"), "{stderr}");
    assert!(
        stderr.contains("not done:") && stderr.contains("tests fail"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(repo.join("src/lib.rs")).unwrap(), original);
}

#[test]
fn read_only_run_never_writes() {
    let (home, repo) = repo("rust-calc");
    let before = snapshot(&repo);
    let (_code, _stdout, stderr) =
        run_script(home.path(), &repo, "rust-calc-fix.json", &["--read-only"]);
    assert!(
        stderr.contains("✗ edit_file: error: `edit_file` is not available in read-only mode"),
        "{stderr}"
    );
    assert_eq!(snapshot(&repo), before);
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                files.push((entry.path(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn json_output_is_one_event_per_line_ending_with_finished() {
    let (home, repo) = repo("rust-calc");
    let (code, stdout, stderr) = run_script(home.path(), &repo, "rust-calc-fix.json", &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in [
        "turn_started",
        "plan_updated",
        "tool_started",
        "tool_finished",
        "diff_proposed",
        "test_result",
        "turn_stats",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    assert_eq!(events.last().unwrap()["type"], "finished");
    assert_eq!(events.last().unwrap()["outcome"], "done");
}

#[test]
fn no_model_available_exits_3_and_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    // Nothing to pick either: no model dir, and none of this machine's stores.
    let (code, _, stderr) = output(
        lode(home.path())
            .env("HOME", home.path())
            .env("OLLAMA_MODELS", home.path().join("none"))
            .env("HF_HUB_CACHE", home.path().join("none"))
            .args(["run", "do something"]),
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("--model"), "{stderr}");
    let (code, _, stderr) =
        output(lode(home.path()).args(["run", "--backend", "scripted:/no/such.json", "x"]));
    assert_eq!(code, 3, "{stderr}");
    let (code, _, _) = output(lode(home.path()).args(["run", "--backend", "cloud", "x"]));
    assert_eq!(code, 2);
    let (code, _, stderr) = output(
        lode(home.path())
            .args(["run", "--backend", "scripted:x.json"])
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(code, 2, "{stderr}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_exits_130_and_kills_the_running_command() {
    let (home, repo) = repo("rust-calc");
    let backend = format!(
        "scripted:{}",
        fixture("scripts/slow-command.json").display()
    );
    let mut child = lode(home.path())
        .args(["run", "--yolo", "--backend", &backend, "--cwd"])
        .arg(&repo)
        .arg("run the slow thing")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = repo.join("sleeper.pid");
    let started = std::time::Instant::now();
    let sleeper: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let lode_pid = i32::try_from(child.id()).unwrap();
    // SAFETY: plain signal delivery to our own child process.
    assert_eq!(unsafe { libc::kill(lode_pid, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed().as_secs() < 20, "interrupt took too long");
    // The command's process group was killed with it (a zombie awaiting its parent counts).
    let gone = (0..100).any(|_| {
        let alive = unsafe { libc::kill(sleeper, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{sleeper}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        if alive {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        !alive
    });
    assert!(gone, "the sleeping command survived the interrupt");
}

/// In `--ask` mode an edit waits for the user with its diff; a rejection leaves the file alone
/// and tells the model; an approval applies it.
#[test]
fn ask_mode_shows_the_diff_and_obeys_the_answer() {
    use lode::agent::{Agent, AgentCommand, AgentEvent, AgentOptions, Decision, PermissionMode};
    use lode::backend::scripted::ScriptedBackend;
    use lode::tools::{ToolContext, Workspace};

    let (_home, repo) = repo("rust-calc");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.json");
    let edit = serde_json::json!({"tool": "edit_file", "args": {"path": "src/lib.rs", "old": "    a - b", "new": "    a + b"}});
    std::fs::write(
        &script,
        serde_json::json!({"turns": [{"calls": [edit]}, {"calls": [edit]}, {"say": "ok"}]})
            .to_string(),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let original = std::fs::read(repo.join("src/lib.rs")).unwrap();
    runtime.block_on(async {
        let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (commands_tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
        let options = AgentOptions {
            mode: PermissionMode::Ask,
            max_turns: 3,
            max_tokens: 100,
            temperature: 0.0,
            interactive: true,
            cwd: repo.clone(),
            system_prompt: None,
            user_instructions: None,
            answer_schema: None,
        };
        let backend = std::sync::Arc::new(ScriptedBackend::load(&script).unwrap());
        let mut agent = Agent::new(backend, lode::tools::all(), ToolContext::new(Workspace::new(&repo).unwrap()), options, events);
        let answers = tokio::spawn(async move {
            let mut decisions = vec![Decision::Approve, Decision::Reject];
            let mut seen = Vec::new();
            while let Some(event) = rx.recv().await {
                if let AgentEvent::ApprovalNeeded { id, diff, tool, .. } = &event {
                    // The end-of-run test command is asked for too (then declined here).
                    let decision = if tool == "run_tests" {
                        Decision::Reject
                    } else {
                        assert!(diff.as_deref().unwrap().contains("+    a + b"), "{diff:?}");
                        decisions.pop().unwrap()
                    };
                    commands_tx.send(AgentCommand::Approval { id: id.clone(), decision }).unwrap();
                }
                seen.push(event);
            }
            seen
        });
        let outcome = agent.run_task("fix add", &mut commands).await;
        drop(agent);
        let seen = answers.await.unwrap();
        let declined = seen.iter().any(|e| matches!(e, AgentEvent::ToolFinished { ok: false, output, .. } if output.contains("declined")));
        assert!(declined);
        let asked_tests = seen.iter().any(|e| matches!(e, AgentEvent::ApprovalNeeded { tool, .. } if tool == "run_tests"));
        assert!(asked_tests, "--ask ran the test command without asking");
        // Tests declined: the task is not shown done.
        assert_eq!(outcome, lode::agent::Outcome::NotAchieved);
    });
    // The first (rejected) edit changed nothing; the second (approved) one applied.
    assert_ne!(std::fs::read(repo.join("src/lib.rs")).unwrap(), original);
    assert!(std::fs::read_to_string(repo.join("src/lib.rs"))
        .unwrap()
        .contains("    a + b"));
}

/// The small model fails to edit twice; the large one takes over with the whole transcript
/// (its script checks that it sees the small model's failed edits and the file it read) and
/// finishes the task.
#[test]
fn a_struggling_small_model_escalates_to_the_large_one_with_the_transcript() {
    let (home, repo) = repo("rust-calc");
    let script = |name: &str| format!("scripted:{}", fixture(&format!("scripts/{name}")).display());
    let (code, stdout, stderr) = output(
        lode(home.path())
            .args(["run", "--json", "--route", "small", "--small-model"])
            .arg(script("rust-calc-small-struggles.json"))
            .args([
                "--backend",
                &script("rust-calc-large-takes-over.json"),
                "--cwd",
            ])
            .arg(&repo)
            .arg("fix the failing test"),
    );
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kind = |e: &serde_json::Value| e["type"].as_str().unwrap_or_default().to_string();
    let routed: Vec<_> = events.iter().filter(|e| kind(e) == "routed").collect();
    assert_eq!(routed.len(), 1, "{stdout}");
    assert_eq!(routed[0]["lane"], "small");
    let escalated: Vec<_> = events.iter().filter(|e| kind(e) == "escalated").collect();
    assert_eq!(escalated.len(), 1, "{stdout}");
    assert!(
        escalated[0]["reason"]
            .as_str()
            .unwrap()
            .contains("edits that would not apply 2 times"),
        "{}",
        escalated[0]
    );
    assert_eq!(escalated[0]["from"], "rust-calc-small-struggles.json");
    assert_eq!(escalated[0]["to"], "rust-calc-large-takes-over.json");
    assert!(stdout.contains("All tests pass"), "{stdout}");
    assert!(run_in(&repo, "cargo", &["test", "--quiet"]));
}

/// `lode run --json` on `repo` with a request tier 0 answers (the scripted model is there only
/// in case a model turn runs, which these tests check it does not).
fn direct_request(
    home: &Path,
    repo: &Path,
    extra: &[&str],
    request: &str,
) -> (i32, String, String) {
    let backend = format!(
        "scripted:{}",
        fixture("scripts/rust-calc-fix.json").display()
    );
    output(
        lode(home)
            .args(["run", "--json", "--backend", &backend, "--cwd"])
            .arg(repo)
            .args(extra)
            .arg(request),
    )
}

/// "run the tests" is one tool call: tier 0 answers it and no model turn runs.
#[test]
fn a_one_call_request_runs_the_tool_with_no_model_turn() {
    let (home, repo) = repo("rust-calc");
    let (code, stdout, stderr) =
        direct_request(home.path(), &repo, &["--yolo"], "please run the tests");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    // After the header line, the routing decision.
    assert_eq!(events[0]["type"], "header", "{stdout}\n{stderr}");
    assert_eq!(events[1]["lane"], "direct", "{stdout}\n{stderr}");
    assert_eq!(events[1]["tier"], "rules");
    assert!(!kinds.contains(&"turn_started"), "{kinds:?}");
    assert!(kinds.contains(&"test_result"), "{kinds:?}");
    // The fixture starts red: the tests ran, failed, and the run says so.
    assert_eq!(code, 1, "{stdout}\n{stderr}");
}

/// A task cancelled while a tool runs leaves a conversation that can go on: every call the
/// model made has a result (servers refuse a call without one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_tool_call_still_gets_a_result_in_the_conversation() {
    use lode::agent::{AgentCommand, Outcome, PermissionMode};
    use lode::backend::Role;

    let dir = tempfile::tempdir().unwrap();
    let mut agent = scripted_agent(
        dir.path(),
        &fixture("scripts/slow-command.json"),
        PermissionMode::Yolo,
        4,
    );
    let (commands_tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let _ = commands_tx.send(AgentCommand::Cancel);
    });
    let outcome = agent.run_task("run the slow thing", &mut commands).await;
    canceller.await.unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    let messages = agent.messages();
    let last = messages.last().unwrap();
    assert_eq!(last.role, Role::Tool, "{messages:#?}");
    let call = &messages[messages.len() - 2].tool_calls[0];
    assert_eq!(last.tool_call_id.as_deref(), Some(call.id.as_str()));
    assert_eq!(last.content, "cancelled by the user");
}

/// Small real models repeat one call turn after turn (SmolLM2-135M called `git_status` eight
/// times); the second identical call's result says so, and a different call's does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_repeated_word_for_word_is_pointed_out_to_the_model() {
    use lode::agent::{PermissionMode, REPEATED_CALL};
    use lode::backend::Role;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "alpha\n").unwrap();
    let read = |path: &str| serde_json::json!({"tool": "read_file", "args": {"path": path}});
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        serde_json::json!({"turns": [
            {"calls": [read("a.txt")]},
            {"calls": [read("a.txt")]},
            {"calls": [read("./a.txt")]},
            {"say": "done"}
        ]})
        .to_string(),
    )
    .unwrap();
    let mut agent = scripted_agent(dir.path(), &script, PermissionMode::ReadOnly, 6);
    let (_commands_tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
    agent.run_task("read a.txt", &mut commands).await;
    let results: Vec<bool> = agent
        .messages()
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.ends_with(REPEATED_CALL))
        .collect();
    assert_eq!(results, [false, true, false], "{:#?}", agent.messages());
}

/// "run cargo test tests::multiplies" narrows the project's own test command; a passing
/// narrowed run answers the request (it does not prove a task done, but none was asked).
#[test]
fn a_narrowed_test_request_that_passes_is_done() {
    let (home, repo) = repo("rust-calc");
    let (code, stdout, stderr) =
        direct_request(home.path(), &repo, &[], "run cargo test tests::multiplies");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(r#""command":"cargo test 'tests::multiplies'""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""lane":"direct""#), "{stdout}");
    assert!(
        !stdout.contains("turn_started"),
        "a model turn ran: {stdout}"
    );
}
