//! The real binary in a real terminal: tmux runs `lode` on a copy of a fixture repository
//! with the scripted backend, and the test types, reads the screen and approves like a
//! person — then checks the files, `/undo`, and that quitting gives the shell back its
//! terminal (cooked mode, normal screen).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::common::lode;

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(command: &str, width: u16, height: u16) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let session = format!("lode-e2e-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args(["-f", "/dev/null", "new-session", "-d", "-s", &session])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .unwrap();
        assert!(status.success(), "tmux could not start");
        Self { session }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Types text literally (no key-name interpretation).
    fn type_text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alternate_screen(&self) -> bool {
        let out = Command::new("tmux")
            .args([
                "display-message",
                "-p",
                "-t",
                &self.session,
                "#{alternate_on}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Waits until the screen shows `text`; fails with the screen after `timeout`.
    fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {text:?}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

fn tmux_available() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok();
    // CI installs tmux; there a missing tmux is a failure, not a skip.
    assert!(
        found || std::env::var_os("CI").is_none(),
        "tmux is required in CI (.ci/run installs it)"
    );
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A copy of the rust-calc fixture outside the source tree (a git repository), and the
/// script that fixes it.
fn fixture() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("calc");
    copy_dir(&fixtures.join("repos/rust-calc"), &repo);
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    (home, repo, fixtures.join("scripts/rust-calc-fix.json"))
}

/// Waits for the shell's line after lode exits (`exited` names the status expected), then
/// checks cooked mode is back (stty prints `icanon`, not `-icanon`) and the normal screen.
fn assert_restored(tmux: &Tmux, exited: &str, timeout: Duration) {
    let screen = tmux.wait_for(exited, timeout);
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "terminal still raw:\n{screen}"
    );
    assert!(!tmux.alternate_screen(), "the alternate screen was left");
}

/// A shell command line that runs `lode` on `repo` with `script` as the model, in the
/// environment the test process would give it, then reports the exit status and whether
/// the terminal is back in cooked mode.
fn session_command(home: &Path, script: &Path, repo: &Path) -> String {
    let cmd = lode(home);
    let mut line = String::from("env");
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            line.push_str(&format!(
                " {}={}",
                key.to_string_lossy(),
                shell_quote(&value.to_string_lossy())
            ));
        }
    }
    line.push_str(&format!(
        " TERM=xterm-256color {} --backend scripted:{} --cwd {}; code=$?; \
         stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon; echo LODE-EXITED-$code; sleep 60",
        shell_quote(env!("CARGO_BIN_EXE_lode")),
        shell_quote(&script.to_string_lossy()),
        shell_quote(&repo.to_string_lossy()),
    ));
    line
}

#[test]
fn a_person_fixes_a_bug_approves_the_diff_undoes_it_and_quits() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let (home, repo, script) = fixture();

    let line = session_command(home.path(), &script, &repo);
    let tmux = Tmux::start(&line, 100, 30);
    let wait = Duration::from_secs(60);

    tmux.wait_for("ask lode to do something", wait);
    assert!(
        tmux.alternate_screen(),
        "the session uses the alternate screen"
    );
    tmux.type_text("fix the failing test");
    tmux.keys(&["Enter"]);

    // The first test run asks; `a` allows commands for the rest of the session.
    let screen = tmux.wait_for("Run this command?", wait);
    assert!(screen.contains("$ cargo test"), "{screen}");
    tmux.keys(&["a"]);

    let screen = tmux.wait_for("Apply this edit to src/lib.rs?", wait);
    assert!(screen.contains("+    a + b"), "{screen}");
    assert!(screen.contains("-    a - b"), "{screen}");
    tmux.keys(&["y"]);

    let screen = tmux.wait_for("✓ done", Duration::from_secs(180));
    assert!(
        screen.contains("tests pass: 2 passed, 0 failed"),
        "{screen}"
    );
    let source = std::fs::read_to_string(repo.join("src/lib.rs")).unwrap();
    assert!(source.contains("a + b"), "the edit was applied");

    tmux.type_text("/undo");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Undone", wait);
    let source = std::fs::read_to_string(repo.join("src/lib.rs")).unwrap();
    assert!(source.contains("a - b"), "/undo restored the file");

    tmux.keys(&["C-c"]);
    tmux.wait_for("Press Ctrl-C again to quit", wait);
    tmux.keys(&["C-c"]);
    assert_restored(&tmux, "LODE-EXITED-0", wait);
}

#[test]
fn sigterm_ends_the_session_and_restores_the_terminal() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let (home, repo, script) = fixture();
    let tmux = Tmux::start(&session_command(home.path(), &script, &repo), 80, 24);
    tmux.wait_for("ask lode to do something", Duration::from_secs(60));
    // The pane runs a shell; lode is its child.
    let shell = Command::new("tmux")
        .args(["display-message", "-p", "-t", &tmux.session, "#{pane_pid}"])
        .output()
        .unwrap();
    let shell = String::from_utf8_lossy(&shell.stdout).trim().to_string();
    let status = Command::new("pkill")
        .args(["-TERM", "-P", &shell, "-x", "lode"])
        .status()
        .unwrap();
    assert!(status.success(), "no lode process under the pane's shell");
    assert_restored(&tmux, "LODE-EXITED-", Duration::from_secs(30));
}

/// A shell script at `path` that `$EDITOR` runs on the message file: it appends " from the
/// editor" to the message, and fails (changing the file first) when the message says `fail`.
fn editor_script(path: &Path) {
    std::fs::write(
        path,
        "#!/bin/sh\nif grep -q fail \"$1\"; then echo garbage > \"$1\"; exit 1; fi\n\
         sed -i 's/$/ from the editor/' \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_custom_command_written_in_the_editor_runs_and_init_drafts_agents_md() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    // No build files: no test command, so the task is one answer.
    let repo = home.path().join("notes");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("docs")).unwrap();
    std::fs::write(repo.join("docs/guide.md"), "# Guide\n").unwrap();
    std::fs::create_dir_all(repo.join(".lode/commands")).unwrap();
    std::fs::write(
        repo.join(".lode/commands/greet.md"),
        "---\ndescription: Say hello to someone\n---\nSay hello to $ARGUMENTS.\n",
    )
    .unwrap();
    let script = home.path().join("greet.json");
    std::fs::write(
        &script,
        serde_json::json!({"turns": [
            {"say": "hello Ada", "expect": ["Say hello to Ada from the editor."]}
        ]})
        .to_string(),
    )
    .unwrap();
    let editor = home.path().join("editor.sh");
    editor_script(&editor);
    let line = session_command(home.path(), &script, &repo).replacen(
        "env",
        &format!(
            "env -u VISUAL EDITOR={}",
            shell_quote(&editor.to_string_lossy())
        ),
        1,
    );
    let tmux = Tmux::start(&line, 100, 30);
    let wait = Duration::from_secs(60);
    tmux.wait_for("ask lode to do something", wait);

    tmux.type_text("/help");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Say hello to someone (project)", wait);
    assert!(screen.contains("/greet"), "{screen}");

    // An editor that fails leaves the message as it was.
    tmux.type_text("fail me");
    tmux.keys(&["C-g"]);
    let screen = tmux.wait_for("failed", wait);
    assert!(screen.contains("fail me"), "{screen}");
    assert!(!screen.contains("garbage"), "{screen}");
    for _ in 0.."fail me".len() {
        tmux.keys(&["BSpace"]);
    }

    tmux.type_text("/greet Ada");
    tmux.keys(&["C-g"]);
    tmux.wait_for("/greet Ada from the editor", wait);
    tmux.keys(&["Enter"]);
    tmux.wait_for("hello Ada", wait);

    tmux.type_text("/init");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Apply this edit to AGENTS.md?", wait);
    assert!(screen.contains("+# AGENTS.md"), "{screen}");
    assert!(
        !repo.join("AGENTS.md").exists(),
        "nothing before the answer"
    );
    tmux.keys(&["y"]);
    tmux.wait_for("sessions started from now on read it", wait);
    let written = std::fs::read_to_string(repo.join("AGENTS.md")).unwrap();
    assert!(written.contains("- `docs/` — 1 file"), "{written}");

    tmux.type_text("/quit");
    tmux.keys(&["Enter"]);
    assert_restored(&tmux, "LODE-EXITED-0", wait);
}
