//! `lode bench --spec` on synthetic models: it measures the verify costs, sweeps every
//! configuration of the model's drafter with output identical to plain decoding, and
//! `--save` writes a policy the config loader reads back, without disturbing the file.

use std::path::Path;

use pretty_assertions::assert_eq;
use serde_json::Value;

use super::common::{llama_lock, lode, output};

fn synth(home: &Path, args: &[&str]) {
    let (code, _, stderr) = output(lode(home).arg("synth").args(args));
    assert_eq!(code, 0, "{stderr}");
}

fn bench(home: &Path, args: &[&str]) -> Value {
    let (code, stdout, stderr) = output(
        lode(home)
            .args(["bench", "--spec", "--json", "--decode-tokens", "32"])
            .args(args),
    );
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The configurations measured, in order (each runs on every workload).
fn labels(report: &Value) -> Vec<&str> {
    let all = configurations(report);
    let workloads: Vec<&str> = all
        .iter()
        .map(|c| c["workload"].as_str().unwrap())
        .collect();
    assert!(
        workloads.contains(&"code") && workloads.contains(&"copy"),
        "{workloads:?}"
    );
    all.iter()
        .filter(|c| c["workload"] == "code")
        .map(|c| c["label"].as_str().unwrap())
        .collect()
}

fn configurations(report: &Value) -> &Vec<Value> {
    report["configurations"].as_array().unwrap()
}

fn assert_costs_measured(report: &Value) {
    let verify: Vec<f64> = report["calibration"]["costs"]["verify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(verify.len(), 33, "{verify:?}");
    assert_eq!(verify[0], 1.0);
    assert!(verify.windows(2).all(|w| w[0] <= w[1]), "{verify:?}");
}

#[test]
fn mtp_sweep_matches_plain_output_and_saves_a_policy_config_can_read() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    synth(
        home,
        &["--arch", "qwen35", "--mtp", "--weights", "bigram", "m.gguf"],
    );
    let config = home.join("config").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let mine = "# my settings\n[engine]\nthreads = 1 # keep\n";
    std::fs::write(&config, mine).unwrap();

    let report = bench(home, &["--model", "m.gguf", "--save"]);
    assert_costs_measured(&report);
    assert_eq!(report["calibration"]["drafter"], "mtp");
    assert_eq!(
        labels(&report),
        [
            "off",
            "mtp k=1",
            "mtp k=2",
            "mtp k=3",
            "mtp k=4",
            "mtp adaptive ≤4",
            "ngram k=32",
            "ngram adaptive ≤32"
        ]
    );
    for c in configurations(&report) {
        assert_eq!(c["same_output"], true, "{c}");
        let proposed = c["draft_proposed"].as_f64().unwrap();
        let accepted = c["draft_accepted"].as_f64().unwrap();
        match c["mode"].as_str().unwrap() {
            "off" => assert_eq!(proposed, 0.0),
            "ngram" => {}
            // The bigram MTP head predicts what the trunk does.
            _ if c["adaptive"] == false => {
                assert!(proposed > 0.0 && accepted / proposed >= 0.9, "{c}");
            }
            _ => assert!(proposed == 0.0 || accepted / proposed >= 0.9, "{c}"),
        }
    }
    let best = report["best"].as_str().unwrap();
    assert!(labels(&report).contains(&best), "{best}");
    assert_eq!(report["saved"].as_str(), config.to_str());

    // A second save replaces the table rather than adding a twin.
    bench(home, &["--model", "m.gguf", "--save"]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with(&format!("{mine}\n[speculation.models.")),
        "{text}"
    );
    assert_eq!(text.matches("[speculation.models.").count(), 1, "{text}");
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let key = std::fs::canonicalize(home.join("m.gguf")).unwrap();
    let policy = &parsed["speculation"]["models"][key.to_str().unwrap()];
    assert_eq!(policy["draft_max"].as_integer(), Some(4));
    assert_eq!(policy["verify"].as_array().map(Vec::len), Some(33));
    let (code, _, stderr) = output(lode(home).args(["doctor", "--json"]));
    assert_eq!(code, 0, "the saved config does not load: {stderr}");
}

#[test]
fn draft_model_sweep_matches_plain_output() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    synth(home, &["--arch", "qwen2", "--seed", "1", "t.gguf"]);
    synth(home, &["--arch", "qwen2", "--seed", "2", "d.gguf"]);
    let report = bench(home, &["--model", "t.gguf", "--draft-model", "d.gguf"]);
    assert_costs_measured(&report);
    assert_eq!(report["calibration"]["drafter"], "draft");
    assert_eq!(
        labels(&report),
        [
            "off",
            "draft k=1",
            "draft k=2",
            "draft k=3",
            "draft k=4",
            "draft adaptive ≤4",
            "ngram k=32",
            "ngram adaptive ≤32"
        ]
    );
    for c in configurations(&report) {
        assert_eq!(c["same_output"], true, "{c}");
    }
    assert_eq!(report["saved"], Value::Null);
    assert!(!home.join("config").join("config.toml").exists());
}

#[test]
fn a_model_without_a_model_drafter_measures_ngram_lookup() {
    let _guard = llama_lock();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    synth(home, &["--arch", "qwen2", "t.gguf"]);
    let report = bench(home, &["--model", "t.gguf"]);
    assert_costs_measured(&report);
    assert_eq!(labels(&report), ["off", "ngram k=32", "ngram adaptive ≤32"]);
    for c in configurations(&report) {
        assert_eq!(c["same_output"], true, "{c}");
    }
    assert!(labels(&report).contains(&report["best"].as_str().unwrap()));

    let (code, stdout, stderr) = output(lode(home).args([
        "bench",
        "--spec",
        "--decode-tokens",
        "32",
        "--model",
        "t.gguf",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "no model drafter: this model has no MTP layers; pass --draft-model PATH to measure \
             a draft model"
        ),
        "{stdout}"
    );
    assert!(!home.join("config").join("config.toml").exists());
}
