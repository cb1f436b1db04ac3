//! `lode completions SHELL` and `lode man`: generated from the command line itself, so they
//! name every subcommand and flag, and they work with no configuration at all.

use super::common::{lode, output};

#[test]
fn bash_completion_completes_subcommands_and_their_flags() {
    let home = tempfile::tempdir().unwrap();
    let (code, script, stderr) = output(lode(home.path()).args(["completions", "bash"]));
    assert_eq!(code, 0, "{stderr}");
    let path = home.path().join("lode.bash");
    std::fs::write(&path, &script).unwrap();
    // As bash calls a completion function: the words so far, the index of the one being
    // completed, and arguments (command, current word, previous word).
    let complete = |words: &str, cword: usize| {
        let list: Vec<&str> = words.split(' ').collect();
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; _lode lode {} {}; echo \"${{COMPREPLY[@]}}\"",
            path.display(),
            list[cword],
            list[cword - 1]
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &probe])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(complete("lode rou", 1)
        .split_whitespace()
        .any(|w| w == "route"));
    let flags = complete("lode route --sm", 2);
    assert!(
        flags.split_whitespace().any(|w| w == "--small-model"),
        "{flags}"
    );
}

#[test]
fn every_shell_gets_a_script_that_names_the_subcommands() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, script, stderr) = output(lode(home.path()).args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {stderr}");
        for sub in ["review", "bench", "completions"] {
            assert!(script.contains(sub), "{shell} script lacks {sub}");
        }
    }
    let (code, _, stderr) = output(lode(home.path()).args(["completions", "tcsh"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("possible values"), "{stderr}");
}

#[test]
fn the_man_page_is_roff_and_documents_the_subcommands() {
    let home = tempfile::tempdir().unwrap();
    // A broken config file cannot stop it: it reads none.
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "not = [valid").unwrap();
    let (code, page, stderr) = output(lode(home.path()).arg("man"));
    assert_eq!(code, 0, "{stderr}");
    assert!(page.contains(".TH lode 1"), "{page}");
    for sub in ["review", "route", "completions"] {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
}
