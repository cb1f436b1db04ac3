#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use pretty_assertions::assert_eq;

use super::*;

/// How a child that runs `script` in sh ends.
fn ended(script: &str) -> ExitStatus {
    Command::new("sh").args(["-c", script]).status().unwrap()
}

#[test]
fn the_reviewers_own_statuses_pass_through() {
    for code in [0, 1, 2, 3, 130] {
        assert_eq!(verdict(ended(&format!("exit {code}")), true), code);
    }
}

#[cfg(unix)]
#[test]
fn an_abort_a_segfault_or_a_panic_is_not_reviewed_and_strict_says_so() {
    let crashes = ["kill -ABRT $$", "kill -SEGV $$", "exit 101", "exit 42"];
    let lenient: Vec<u8> = crashes.iter().map(|s| verdict(ended(s), false)).collect();
    let strict: Vec<u8> = crashes.iter().map(|s| verdict(ended(s), true)).collect();
    assert_eq!(lenient, vec![exit::PASS; 4]);
    assert_eq!(strict, vec![exit::NO_REVIEW; 4]);
}

#[cfg(unix)]
#[test]
fn crashes_are_described_and_ctrl_c_is_an_interruption() {
    assert_eq!(
        ending(ended("kill -ABRT $$")),
        Err(
            "the reviewer was killed by signal 6 (SIGABRT: llama.cpp or the model file aborted it)"
                .to_string()
        )
    );
    assert_eq!(
        ending(ended("exit 101")),
        Err("the reviewer panicked (exit status 101); please report it".to_string())
    );
    assert_eq!(ending(ended("kill -INT $$")), Ok(exit::INTERRUPTED));
}
