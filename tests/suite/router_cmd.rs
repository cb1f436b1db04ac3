//! The router asked directly: `lode route` decides one request the way a session would,
//! `lode bench --router` scores the rules (and a small model, when there is one) on the label
//! set, and `lode doctor` says how routing is set up.

use std::path::Path;
use std::process::Command;

use pretty_assertions::assert_eq;
use serde_json::{json, Value};

use super::common::{llama_lock, lode, output};

/// `lode` in `home`, with no routing mode from the environment.
fn lode_here(home: &Path) -> Command {
    let mut cmd = lode(home);
    cmd.env_remove("LODE_ROUTE");
    cmd
}

fn json_of(cmd: &mut Command) -> Value {
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `lode route --json`, with `elapsed_ms` checked to be a time and taken out, so the rest
/// compares as a whole.
fn route_json(home: &Path, args: &[&str]) -> (Value, f64) {
    let mut decision = json_of(lode_here(home).args(["route", "--json"]).args(args));
    let elapsed = decision
        .as_object_mut()
        .unwrap()
        .remove("elapsed_ms")
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("no elapsed_ms"));
    assert!(elapsed >= 0.0, "{elapsed}");
    (decision, elapsed)
}

#[test]
fn route_answers_run_the_tests_by_rule_with_the_call() {
    let home = tempfile::tempdir().unwrap();
    let (decision, _) = route_json(home.path(), &["run the tests"]);
    assert_eq!(
        decision,
        json!({
            "lane": "direct",
            "tier": "rules",
            "reason": "one `run_tests` call answers it (rule `run-tests`)",
            "action": {"tool": "run_tests", "args": {}},
        })
    );
}

#[test]
fn route_reads_the_request_from_stdin_and_shows_undo_as_an_action() {
    let home = tempfile::tempdir().unwrap();
    let mut child = lode_here(home.path())
        .args(["route", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"undo that\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    decision.as_object_mut().unwrap().remove("elapsed_ms");
    assert_eq!(
        decision,
        json!({
            "lane": "direct",
            "tier": "rules",
            "reason": "one undo answers it (rule `undo`)",
            "action": {"undo": true},
        })
    );
}

#[test]
fn route_sends_a_redesign_to_the_large_model_without_a_small_model() {
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        output(lode_here(home.path()).args(["route", "redesign the storage layer"]));
    assert_eq!(code, 0, "{stderr}");
    let (line, time) = stdout.trim().rsplit_once(" (fixed, ").unwrap();
    assert_eq!(
        line,
        "large: no small model is configured ([models.small] path), and no rule answers it"
    );
    assert!(time.ends_with(" ms)"), "{stdout}");
    // Nothing was configured, so there is no note about a small model to print.
    assert_eq!(stderr, "");
}

#[test]
fn route_small_without_a_small_model_is_large_and_says_why() {
    let home = tempfile::tempdir().unwrap();
    let (decision, _) = route_json(
        home.path(),
        &["--route", "small", "rename foo to bar in parser.rs"],
    );
    assert_eq!(
        decision,
        json!({
            "lane": "large",
            "tier": "fixed",
            "reason": "--route small, but no small model is configured ([models.small] path)",
        })
    );
}

#[test]
fn route_decides_show_the_diff_well_within_a_second() {
    let home = tempfile::tempdir().unwrap();
    let (decision, elapsed) = route_json(home.path(), &["show the diff"]);
    assert_eq!(decision["lane"], "direct", "{decision}");
    // A sanity bound on a rule match, not a performance claim.
    assert!(elapsed < 1000.0, "{elapsed}");
}

#[test]
fn route_with_a_small_model_that_does_not_load_says_so_and_goes_large() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = output(lode_here(home.path()).args([
        "route",
        "--small-model",
        "missing.gguf",
        "redesign the storage layer",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("large: "), "{stdout}");
    assert!(
        stderr.starts_with("lode route: the small model `missing.gguf` did not load"),
        "{stderr}"
    );
}

#[test]
fn bench_router_scores_the_rules_and_reports_no_tier1_without_a_small_model() {
    let home = tempfile::tempdir().unwrap();
    let report = json_of(lode_here(home.path()).args(["bench", "--router", "--json"]));
    let tier0 = &report["tier0"];
    assert_eq!(tier0["precision"], 1.0, "{tier0}");
    assert_eq!(tier0["wrong_catches"], json!([]));
    let coverage = tier0["coverage"].as_f64().unwrap();
    assert!(coverage >= 0.7, "{coverage}");
    let missed = tier0["missed"].as_array().unwrap().len() as u64;
    assert_eq!(
        tier0["caught_direct"].as_u64().unwrap() + missed,
        report["labeled_direct"].as_u64().unwrap()
    );
    assert_eq!(tier0["passes"], 100);
    assert!(tier0["mean_us"].as_f64().unwrap() > 0.0, "{tier0}");
    assert_eq!(report["tier1"], Value::Null);
    let reason = report["tier1_reason"].as_str().unwrap();
    assert!(reason.contains("[models.small]"), "{reason}");
}

#[test]
fn bench_router_measures_tier1_on_a_tiny_small_model() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let (code, _, stderr) = output(lode(home).args(["synth", "--arch", "qwen2", "t.gguf"]));
    assert_eq!(code, 0, "{stderr}");
    let report =
        json_of(lode_here(home).args(["bench", "--router", "--json", "--small-model", "t.gguf"]));
    let tier1 = &report["tier1"];
    let held = lode::router::labels::bundled()
        .unwrap()
        .into_iter()
        .filter(|l| {
            l.split == lode::router::labels::Split::HeldOut
                && lode::router::rules::match_request(&l.request).is_none()
        })
        .count() as u64;
    let requests = tier1["requests"].as_u64().unwrap();
    assert_eq!(requests, held, "scored on held-out lines only");
    let candidates = tier1["candidates"].as_array().unwrap();
    let names: Vec<&str> = candidates
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "verdict",
        "label_tokens",
        "probe_last",
        "probe_mean",
        "probe_both",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    // The tiny model has two blocks; lode routes with the mean over the first.
    assert_eq!(tier1["chosen"], "probe_mean@1/2");
    assert!(names.contains(&"probe_mean@1/2"), "{names:?}");
    for c in candidates {
        let accuracy = c["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy), "{c}");
        let counted: u64 = ["direct", "small", "large"]
            .iter()
            .flat_map(|label| {
                ["small", "large", "failed"]
                    .map(|said| c["confusion"][label][said].as_u64().unwrap())
            })
            .sum();
        assert_eq!(counted, requests, "{c}");
        let wrong = c["wrong"].as_array().unwrap().len() as f64;
        assert!(
            (accuracy - (1.0 - wrong / requests as f64)).abs() < 1e-9,
            "{c}"
        );
        for key in ["cold", "warm"] {
            assert!(c[key]["wall_ms"].as_f64().unwrap() > 0.0, "{c}");
        }
        // The prefix is computed once: later requests find it cached.
        assert_eq!(c["cold"]["cached_tokens"], 0.0, "{c}");
        assert!(c["warm"]["cached_tokens"].as_f64().unwrap() > 0.0, "{c}");
    }
    assert!(
        tier1["from_disk"]["disk_cached_tokens"].as_f64().unwrap() > 0.0,
        "{tier1}"
    );
    let share = tier1["overhead_estimate"]["share"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&share), "{share}");
}

#[test]
fn doctor_json_reports_the_router_without_and_with_a_small_model() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let report = json_of(lode_here(home).args(["doctor", "--json"]));
    let mut router = report["router"].clone();
    router.as_object_mut().unwrap().remove("free_bytes");
    assert_eq!(
        router,
        json!({
            "mode": "auto",
            "small_model": null,
            "exists": false,
            "size_bytes": null,
            "fits": null,
            "note": "no small model configured ([models.small] path): routing answers one-call \
                     requests by rules and sends everything else to the large model",
        })
    );

    let missing = home.join("small.gguf");
    let config = home.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("[models.small]\npath = {:?}\n", missing.to_str().unwrap()),
    )
    .unwrap();
    let report = json_of(lode_here(home).args(["doctor", "--json"]));
    assert_eq!(report["router"]["exists"], false);
    let note = report["router"]["note"].as_str().unwrap();
    assert!(note.contains("does not exist"), "{note}");

    let (code, _, stderr) = output(lode(home).args(["synth", "--arch", "qwen2", "small.gguf"]));
    assert_eq!(code, 0, "{stderr}");
    let report = json_of(lode_here(home).args(["doctor", "--json"]));
    let router = &report["router"];
    assert_eq!(router["exists"], true, "{router}");
    assert_eq!(
        router["size_bytes"].as_u64(),
        Some(std::fs::metadata(&missing).unwrap().len())
    );
    if router["free_bytes"].is_u64() {
        assert_eq!(router["fits"], true, "{router}");
    }
}

#[test]
fn route_lets_a_small_model_classify_what_no_rule_answers() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let (code, _, stderr) = output(lode(home).args(["synth", "--arch", "qwen2", "t.gguf"]));
    assert_eq!(code, 0, "{stderr}");
    let (decision, _) = route_json(
        home,
        &["--small-model", "t.gguf", "redesign the storage layer"],
    );
    assert_eq!(decision["tier"], "model", "{decision}");
    assert!(["small", "large"].contains(&decision["lane"].as_str().unwrap()));
    let confidence = decision["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence), "{confidence}");
    assert_eq!(decision.get("action"), None);
}

#[test]
fn route_does_not_load_the_small_model_for_a_request_a_rule_answers() {
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = output(lode_here(home.path()).args([
        "route",
        "--small-model",
        "missing.gguf",
        "git status",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("direct: "), "{stdout}");
    assert_eq!(stderr, "");
}
