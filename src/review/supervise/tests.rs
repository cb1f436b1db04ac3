#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use pretty_assertions::assert_eq;

use super::*;

/// The statuses the tests call the reviewer's own.
const OWN: &[u8] = &[0, 1, 2, 3, 130];

/// How a child that runs `script` in sh ends.
fn ended(script: &str) -> ChildEnd {
    ending(
        Command::new("sh").args(["-c", script]).status().unwrap(),
        OWN,
    )
}

#[test]
fn the_reviewers_own_statuses_pass_through() {
    for code in [0, 1, 2, 3, 130] {
        assert_eq!(ended(&format!("exit {code}")), ChildEnd::Status(code));
    }
}

#[cfg(unix)]
#[test]
fn an_abort_a_segfault_or_a_panic_is_a_crash() {
    for script in ["kill -ABRT $$", "kill -SEGV $$", "exit 101", "exit 42"] {
        assert!(
            matches!(ended(script), ChildEnd::Crashed(_)),
            "{script} is a crash"
        );
    }
}

#[cfg(unix)]
#[test]
fn crashes_are_described_and_ctrl_c_is_an_interruption() {
    assert_eq!(
        ended("kill -ABRT $$"),
        ChildEnd::Crashed(
            "the reviewer was killed by signal 6 (SIGABRT: llama.cpp or the model file aborted it)"
                .to_string()
        )
    );
    assert_eq!(
        ended("exit 101"),
        ChildEnd::Crashed("the reviewer panicked (exit status 101); please report it".to_string())
    );
    assert_eq!(ended("kill -INT $$"), ChildEnd::Interrupted);
}
