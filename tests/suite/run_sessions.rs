//! `lode run` saves its session and continues one: the `--json` header names it, and a run
//! with `--resume ID` starts from the conversation the first left.

use crate::suite::agent_run::repo;
use crate::suite::common::{lode, output};

fn lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_run_is_saved_and_can_be_continued_by_id() {
    let (home, repo) = repo("rust-calc");
    let script = home.path().join("s.json");
    std::fs::write(
        &script,
        serde_json::json!({"turns": [
            {"calls": [{"tool": "read_file", "args": {"path": "src/lib.rs"}}]},
            {"say": "read it"}
        ]})
        .to_string(),
    )
    .unwrap();
    let backend = format!("scripted:{}", script.display());
    let run = |extra: &[&str], task: &str| {
        let mut cmd = lode(home.path());
        cmd.args([
            "run",
            "--json",
            "--test-cmd",
            "true",
            "--backend",
            &backend,
            "--cwd",
        ])
        .arg(&repo)
        .args(extra)
        .arg(task);
        output(&mut cmd)
    };
    let (code, stdout, stderr) = run(&[], "read the library");
    assert_eq!(code, 0, "{stderr}");
    let events = lines(&stdout);
    let header = &events[0];
    assert_eq!(header["type"], "header", "{stdout}");
    assert_eq!(header["schema"], 1);
    assert_eq!(header["resumed"], false);
    assert_eq!(header["backend"], "scripted");
    let id = header["session"].as_str().unwrap().to_string();
    let first_prompt = events.iter().find(|e| e["type"] == "turn_stats").unwrap()["stats"]
        ["prompt_messages"]
        .as_u64()
        .unwrap();

    let (code, stdout, stderr) = run(&["--resume", &id], "and again");
    assert_eq!(code, 0, "{stderr}");
    let events = lines(&stdout);
    assert_eq!(events[0]["session"], id.as_str());
    assert_eq!(events[0]["resumed"], true);
    let resumed_prompt = events.iter().find(|e| e["type"] == "turn_stats").unwrap()["stats"]
        ["prompt_messages"]
        .as_u64()
        .unwrap();
    // The first run's task, call, result and answer come back before the new task.
    assert!(
        resumed_prompt >= first_prompt + 4,
        "{first_prompt} then {resumed_prompt}"
    );

    let (code, _stdout, stderr) = run(&["--resume", "no-such-session"], "x");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no saved session `no-such-session`"),
        "{stderr}"
    );
}

#[test]
fn output_schema_holds_the_final_answer() {
    let (home, repo) = repo("rust-calc");
    let schema = home.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type": "object", "properties": {"verdict": {"type": "string", "enum": ["ok", "broken"]}}, "required": ["verdict"], "additionalProperties": false}"#,
    )
    .unwrap();
    let run = |answer: &str, schema: &std::path::Path| {
        let script = home.path().join("answer.json");
        std::fs::write(
            &script,
            serde_json::json!({"turns": [{"say": answer}]}).to_string(),
        )
        .unwrap();
        let backend = format!("scripted:{}", script.display());
        let mut cmd = lode(home.path());
        cmd.args([
            "run",
            "--test-cmd",
            "true",
            "--backend",
            &backend,
            "--output-schema",
        ])
        .arg(schema)
        .arg("--cwd")
        .arg(&repo)
        .arg("is it broken?");
        output(&mut cmd)
    };
    let (code, stdout, stderr) = run(r#"{"verdict": "broken"}"#, &schema);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), r#"{"verdict": "broken"}"#);
    let (code, _stdout, stderr) = run(r#"{"verdict": "maybe"}"#, &schema);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("does not match --output-schema: `answer.verdict` must be one of"),
        "{stderr}"
    );
    let (code, _stdout, stderr) = run("It is broken.", &schema);
    assert_eq!(code, 1);
    assert!(stderr.contains("not one JSON value"), "{stderr}");
    let bad = home.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let (code, _stdout, stderr) = run("{}", &bad);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not JSON"), "{stderr}");
}
