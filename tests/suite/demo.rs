//! `lode demo`'s bundled repository and script: the script really fixes the repository
//! through the real loop and tools (run here without the TUI), and a demo never overwrites
//! a directory that holds something.

use super::common::{lode, output};

#[test]
fn the_bundled_script_fixes_the_bundled_repository() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("demo");
    let script = lode::commands::demo::prepare(&dir).unwrap();
    assert!(dir.join(".git").is_dir(), "the example is a git repository");
    let before = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(before.contains("a - b"));

    let (code, stdout, stderr) = output(
        lode(home.path())
            .arg("run")
            .arg("--yolo")
            .arg("--backend")
            .arg(format!("scripted:{}", script.display()))
            .arg("--cwd")
            .arg(&dir)
            .arg("The tests fail. Find the bug and fix it."),
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let after = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(after.contains("a + b"), "{after}");
}

#[test]
fn a_demo_never_writes_into_a_directory_with_files() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("mine.txt"), "keep me").unwrap();
    let err = lode::commands::demo::prepare(home.path()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(home.path().join("mine.txt")).unwrap(),
        "keep me"
    );
}
