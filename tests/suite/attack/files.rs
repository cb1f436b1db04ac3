//! Files that would hang or flood lode: FIFOs, devices, huge and sparse files.

use std::time::{Duration, Instant};

use crate::suite::agent_run::repo;
use crate::suite::common::{lode, output};

fn run_script(
    home: &std::path::Path,
    repo: &std::path::Path,
    turns: serde_json::Value,
) -> (i32, String, String, Duration) {
    let script = home.join("files-script.json");
    std::fs::write(&script, serde_json::json!({ "turns": turns }).to_string()).unwrap();
    let backend = format!("scripted:{}", script.display());
    let started = Instant::now();
    let (code, out, err) = output(
        lode(home)
            .args(["run", "--json", "--backend", &backend, "--cwd"])
            .arg(repo)
            .arg("look"),
    );
    (code, out, err, started.elapsed())
}

#[test]
fn a_fifo_is_refused_at_once() {
    let (home, repo) = repo("rust-calc");
    let fifo = std::ffi::CString::new(repo.join("pipe").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (_code, out, _err, took) = run_script(
        home.path(),
        &repo,
        serde_json::json!([
            {"calls": [{"tool": "read_file", "args": {"path": "pipe"}}]},
            {"calls": [{"tool": "edit_file", "args": {"path": "pipe", "old": "a", "new": "b"}}]},
            {"say": ""}
        ]),
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(out.matches("not a regular file").count(), 2, "{out}");
}

#[test]
fn rewriting_a_huge_file_sends_no_huge_event() {
    let (home, repo) = repo("rust-calc");
    // Sparse: 1.5 GB on paper, nothing on disk.
    let big = std::fs::File::create(repo.join("big.bin")).unwrap();
    big.set_len(1_500_000_000).unwrap();
    // 12 MiB on one line: under the file cap, over the diff input cap.
    std::fs::write(repo.join("line.txt"), "x".repeat(12 * 1024 * 1024)).unwrap();
    let (_code, out, _err, _took) = run_script(
        home.path(),
        &repo,
        serde_json::json!([
            {"calls": [{"tool": "write_file", "args": {"path": "big.bin", "content": "small\n"}}]},
            {"calls": [{"tool": "write_file", "args": {"path": "line.txt", "content": "y\n"}}]},
            {"say": ""}
        ]),
    );
    let longest = out.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 64 * 1024, "a {longest}-byte event line");
    assert!(out.contains("1500000000 bytes"), "{out}");
    assert!(out.contains("diff not computed"), "{out}");
    // The sparse file was refused, not rewritten; the one-line file was rewritten.
    assert_eq!(
        std::fs::metadata(repo.join("big.bin")).unwrap().len(),
        1_500_000_000
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("line.txt")).unwrap(),
        "y\n"
    );
}
