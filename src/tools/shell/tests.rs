use super::*;
use crate::tools::Workspace;
use pretty_assertions::assert_eq;
use std::fs;
use std::time::Instant as StdInstant;

fn ctx(root: &Path) -> ToolContext {
    ToolContext::new(Workspace::new(root).unwrap())
}

async fn shell(ctx: &ToolContext, args: Value) -> Result<ToolOutput, ToolError> {
    Shell.run(args, ctx).await
}

/// Alive and not a zombie: a killed process whose parent died may linger as a zombie until
/// some reaper collects it, which is dead for our purposes.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence; no signal is delivered.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => cfg!(not(target_os = "linux")),
    }
}

fn wait_dead(pid: i32) -> bool {
    let start = StdInstant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn runs_in_the_workspace_root_and_reports_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path());
    let out = shell(&ctx, json!({"command": "pwd; echo oops >&2; exit 3"}))
        .await
        .unwrap();
    let root = ctx.workspace.root().display().to_string();
    // stdout and stderr are separate pipes: their relative order is not guaranteed.
    assert!(
        out.content.lines().any(|line| line == root),
        "{}",
        out.content
    );
    assert!(out.content.contains("oops\n"), "{}", out.content);
    assert!(out.content.ends_with("\n[exit code 3]"), "{}", out.content);
    assert_eq!(out.data, Some(json!({"exit_code": 3, "timed_out": false})));
}

#[tokio::test]
async fn stdin_is_empty_and_silence_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(&ctx(dir.path()), json!({"command": "cat"}))
        .await
        .unwrap();
    assert_eq!(out.content, "(no output)\n[exit code 0]");
}

#[tokio::test]
async fn timeout_kills_the_whole_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path());
    let started = StdInstant::now();
    let out = shell(
        &ctx,
        json!({"command": "sleep 30 & echo $! > bg.pid; echo started; sleep 30", "timeout_s": 1}),
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out.content.starts_with("started\n[timed out after 1 s"),
        "{}",
        out.content
    );
    assert_eq!(
        out.data,
        Some(json!({"exit_code": null, "timed_out": true}))
    );
    assert!(
        wait_dead(read_pid(&dir.path().join("bg.pid"))),
        "the background sleep survived"
    );
}

#[tokio::test]
async fn cancel_kills_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path());
    let cancel = ctx.cancel.clone();
    let pid_file = dir.path().join("bg.pid");
    let watcher = {
        let pid_file = pid_file.clone();
        tokio::spawn(async move {
            while !pid_file.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        })
    };
    let started = StdInstant::now();
    let err = shell(
        &ctx,
        json!({"command": "sleep 30 & echo $! > bg.pid; sleep 30"}),
    )
    .await
    .unwrap_err();
    watcher.await.unwrap();
    assert_eq!(err, ToolError::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        wait_dead(read_pid(&pid_file)),
        "the background sleep survived"
    );
}

#[tokio::test]
async fn background_process_holding_the_output_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let started = StdInstant::now();
    let out = shell(
        &ctx(dir.path()),
        json!({"command": "echo hi; sleep 30 & echo $! > bg.pid"}),
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // The supervisor kills what the shell left behind the moment it exits (elsewhere the
    // shell's pipes held open are what gives the leftovers away).
    if cfg!(target_os = "linux") {
        assert_eq!(out.content, "hi\n[exit code 0]");
    } else {
        assert_eq!(
            out.content,
            "hi\n[exit code 0; background processes still holding its output were killed]"
        );
    }
    assert!(
        wait_dead(read_pid(&dir.path().join("bg.pid"))),
        "the background sleep survived"
    );
}

#[tokio::test]
async fn long_output_is_capped_with_a_mark() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = ctx(dir.path());
    ctx.output_limit = 100;
    let out = shell(
        &ctx,
        json!({"command": "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done"}),
    )
    .await
    .unwrap();
    assert!(
        out.content.starts_with("line 0\nline 1\n"),
        "{}",
        out.content
    );
    assert!(
        out.content.contains("[… output truncated: "),
        "{}",
        out.content
    );
    assert!(out.content.ends_with("[exit code 0]"), "{}", out.content);
}

#[tokio::test]
async fn bad_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path());
    assert!(matches!(
        shell(&ctx, json!({})).await,
        Err(ToolError::BadArgs(_))
    ));
    assert!(matches!(
        shell(&ctx, json!({"command": "  "})).await,
        Err(ToolError::BadArgs(_))
    ));
    assert!(matches!(
        shell(&ctx, json!({"command": "true", "timeout_s": -1})).await,
        Err(ToolError::BadArgs(_))
    ));
}

#[test]
fn capture_keeps_head_and_tail() {
    let mut capture = Capture::default();
    let chunk = vec![b'a'; CAPTURE_HALF];
    capture.push(&chunk);
    for _ in 0..3 {
        capture.push(&vec![b'b'; CAPTURE_HALF]);
    }
    capture.push(b"END");
    let text = capture.text();
    assert!(text.starts_with("aaaa"));
    assert!(text.ends_with("bbbEND"));
    assert!(text.contains("bytes of output dropped"));
    assert!(text.len() < 5 * CAPTURE_HALF);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn detached_processes_die_with_their_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell(
        &ctx(dir.path()),
        json!({"command": "setsid sleep 30 > /dev/null 2>&1 < /dev/null & echo $! > a.pid; nohup sh -c 'sleep 30' > /dev/null 2>&1 & echo $! > b.pid; echo done"}),
    )
    .await
    .unwrap();
    assert_eq!(out.content, "done\n[exit code 0]");
    for file in ["a.pid", "b.pid"] {
        assert!(
            wait_dead(read_pid(&dir.path().join(file))),
            "{file}: a detached process outlived its command"
        );
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn commands_write_only_inside_the_sandbox_and_see_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let support = crate::tools::confine::Confinement::default_for(dir.path())
        .enforcement()
        .unwrap();
    // Outside every writable root: the home directory itself (only its caches are writable;
    // the checkout and the temp dirs may well be).
    let home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let outside = home.join(format!(".lode-sandbox-probe-{}", std::process::id()));
    assert!(
        !crate::tools::confine::Confinement::default_for(dir.path()).allows_write(&outside),
        "HOME ({}) is inside a writable root; this test needs a place commands may not write",
        home.display()
    );
    let mut ctx = ctx(dir.path());
    ctx.confine
        .env
        .push(("LODE_PROBE_SECRET".into(), "hunter2".into()));
    ctx.confine.env = crate::tools::confine::command_env(ctx.confine.env.clone(), &[], &[]);
    let out = shell(
        &ctx,
        json!({"command": format!("echo in > inside.txt; echo out > '{}'; echo secret=$LODE_PROBE_SECRET", outside.display())}),
    )
    .await
    .unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("inside.txt")).unwrap(),
        "in\n"
    );
    assert!(out.content.contains("secret=\n"), "{}", out.content);
    let escaped = outside.exists();
    let _ = fs::remove_file(&outside);
    assert_eq!(escaped, !support.files, "{}", out.content);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn commands_cannot_connect_out() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path());
    let Some(support) = ctx.confine.enforcement() else {
        panic!("the default policy asks for confinement");
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = shell(
        &ctx,
        json!({"command": format!("python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')\"")}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.content.contains("connected\n"),
        !support.network,
        "{}",
        out.content
    );
}

#[tokio::test]
async fn input_reaches_stdin_and_stderr_can_be_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path());
    let io = CommandIo {
        stdin: Some(b"{\"tool\":\"shell\"}"),
        streams: Streams::Separate,
    };
    let run = run_command_io(
        "cat; echo; echo to-stderr >&2; exit 2",
        ctx.workspace.root(),
        Duration::from_secs(10),
        &ctx.cancel,
        &ctx.confine,
        io,
    )
    .await
    .unwrap();
    assert_eq!(run.output, "{\"tool\":\"shell\"}\n");
    assert_eq!(run.stderr.as_deref(), Some("to-stderr\n"));
    assert_eq!(run.exit_code, Some(2));
    // A command that never reads a large input still ends, and is not held by the writer.
    let big = vec![b'x'; 1 << 20];
    let io = CommandIo {
        stdin: Some(&big),
        streams: Streams::Separate,
    };
    let run = run_command_io(
        "exit 0",
        ctx.workspace.root(),
        Duration::from_secs(10),
        &ctx.cancel,
        &ctx.confine,
        io,
    )
    .await
    .unwrap();
    assert_eq!((run.exit_code, run.end), (Some(0), RunEnd::Exited));
}
