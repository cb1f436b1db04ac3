//! Cloud first, local when the cloud is down: `lode run` against a real HTTP server that
//! fails in each way an outage shows, with a scripted backend (or the real engine) as the
//! fallback. The run finishes on the fallback with the same transcript; errors that are the
//! request's fault are reported, not fallen back from.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::common::{lode, of_type, output, run_json_remote};
use super::openai::server::{event, Part, Reply, Server};
use super::openai::{finish_chunk, text_chunk};

fn tool_call(id: &str, name: &str, args: &Value) -> Value {
    json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": id, "type": "function",
        "function": {"name": name, "arguments": args.to_string()}}]}, "finish_reason": null}]})
}

/// A repository with a notes file, a home with config, and a fallback script.
struct Setup {
    home: tempfile::TempDir,
    repo: PathBuf,
}

impl Setup {
    fn new(config: &str, fallback_turns: &Value) -> Self {
        let home = tempfile::tempdir().unwrap();
        let repo = home.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("notes.txt"), "the launch code is 0000\n").unwrap();
        let script = home.path().join("fallback.json");
        std::fs::write(&script, json!({ "turns": fallback_turns }).to_string()).unwrap();
        std::fs::create_dir_all(home.path().join("config")).unwrap();
        std::fs::write(
            home.path().join("config/config.toml"),
            format!(
                "[remote]\ntimeout_s = 2\nmodel = \"cloud-model\"\n[fallback]\nbackend = \"scripted:{}\"\nretry_s = 0\n{config}",
                script.display()
            ),
        )
        .unwrap();
        Self { home, repo }
    }

    /// `lode run --json` against `url`; returns the exit code, the events and stderr.
    async fn run(&self, url: String, extra: &[&str]) -> (i32, Vec<Value>, String) {
        run_json_remote(
            self.home.path(),
            &self.repo,
            url,
            extra,
            "what do the notes say?",
        )
        .await
    }
}

/// The fallback's one turn: it must see the tool result the remote's turn produced.
fn fallback_answers() -> Value {
    json!([{"expect": ["the launch code is 0000"], "say": "The notes give the launch code: 0000."}])
}

/// Turn 1 on the remote reads the notes; turn 2 starts answering and then the remote fails
/// with `failure`.
fn remote_then(failure: Reply) -> Vec<Reply> {
    vec![
        Reply::sse(&[
            tool_call("call_1", "read_file", &json!({"path": "notes.txt"})),
            finish_chunk("tool_calls"),
        ]),
        failure,
    ]
}

fn assert_switched_once_and_finished(code: i32, events: &[Value], stderr: &str) {
    assert_eq!(code, 0, "{events:#?}\n{stderr}");
    let switched = of_type(events, "backend_switched");
    assert_eq!(switched.len(), 1, "{events:#?}");
    assert!(switched[0]["to"].as_str().unwrap().contains("scripted"));
    let finished = of_type(events, "finished");
    assert_eq!(finished[0]["outcome"], "done");
    assert_eq!(
        finished[0]["message"],
        "The notes give the launch code: 0000."
    );
    // The fallback's turn was given the whole transcript, tool result included.
    let last = of_type(events, "turn_stats").last().unwrap()["stats"].clone();
    assert_eq!(last["backend"], "scripted");
    assert_eq!(last["prompt_tool_results"], 1, "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_dies_mid_answer_finishes_on_the_fallback() {
    let setup = Setup::new("", &fallback_answers());
    let cut = Reply::stream(vec![
        event(&text_chunk("The notes say").to_string()),
        Part::Cut,
    ]);
    let server = Server::start(remote_then(cut)).await;
    let (code, events, stderr) = setup.run(server.base_url(), &[]).await;
    assert_switched_once_and_finished(code, &events, &stderr);
    // One answer per turn: the half-streamed text is discarded, the final answer is the
    // fallback's alone.
    assert_eq!(of_type(&events, "finished").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_overload_switch() {
    for status in [503, 529] {
        let setup = Setup::new("", &fallback_answers());
        let failure = Reply::json(status, &json!({"error": {"message": "overloaded"}}));
        let server = Server::start(remote_then(failure)).await;
        let (code, events, stderr) = setup.run(server.base_url(), &[]).await;
        assert_switched_once_and_finished(code, &events, &stderr);
        let reason = of_type(&events, "backend_switched")[0]["reason"].clone();
        assert!(
            reason.as_str().unwrap().contains(&status.to_string()),
            "{reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_switches() {
    let setup = Setup::new("", &fallback_answers());
    let stall = Reply::stream(vec![event(&text_chunk("Thinking").to_string()), Part::Hang]);
    let server = Server::start(remote_then(stall)).await;
    let (code, events, stderr) = setup.run(server.base_url(), &[]).await;
    assert_switched_once_and_finished(code, &events, &stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_host_switches_at_the_first_turn() {
    let setup = Setup::new(
        "",
        &json!([
            {"calls": [{"tool": "read_file", "args": {"path": "notes.txt"}}]},
            {"expect": ["the launch code is 0000"], "say": "The notes give the launch code: 0000."}
        ]),
    );
    let (code, events, stderr) = setup
        .run("http://lode-outage-test.invalid/v1".to_string(), &[])
        .await;
    assert_switched_once_and_finished(code, &events, &stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_server_rejects_are_reported_not_fallen_back_from() {
    for (status, said) in [(400, "bad request"), (401, "credentials")] {
        let setup = Setup::new("", &fallback_answers());
        let failure = Reply::json(status, &json!({"error": {"message": "bad request"}}));
        let server = Server::start(remote_then(failure)).await;
        let (code, events, stderr) = setup.run(server.base_url(), &[]).await;
        assert_ne!(code, 0, "{events:#?}\n{stderr}");
        assert!(
            of_type(&events, "backend_switched").is_empty(),
            "{events:#?}"
        );
        let error = of_type(&events, "error")[0]["message"].to_string();
        assert!(
            error.contains(&status.to_string()) && error.contains(said),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_takes_over_again_once_it_answers() {
    // Turn 1: 503, so the fallback reads the notes; turn 2: the remote is back and answers.
    let setup = Setup::new(
        "",
        &json!([{"calls": [{"tool": "read_file", "args": {"path": "notes.txt"}}]}]),
    );
    let server = Server::start(vec![
        Reply::json(503, &json!({"error": {"message": "down for maintenance"}})),
        Reply::sse(&[text_chunk("Back: the code is 0000."), finish_chunk("stop")]),
    ])
    .await;
    let (code, events, stderr) = setup.run(server.base_url(), &[]).await;
    assert_eq!(code, 0, "{events:#?}\n{stderr}");
    let switched = of_type(&events, "backend_switched");
    assert_eq!(switched.len(), 2, "{events:#?}");
    assert!(switched[0]["to"].as_str().unwrap().contains("scripted"));
    assert!(switched[1]["to"].as_str().unwrap().contains("cloud-model"));
    assert_eq!(
        of_type(&events, "finished")[0]["message"],
        "Back: the code is 0000."
    );
    // The remote's second request carries the fallback's tool call and its result.
    let body = &server.requests()[1].body;
    assert!(
        body.to_string().contains("the launch code is 0000"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sends_nothing_over_the_network() {
    let setup = Setup::new("[agent]\nbackend = \"scripted:SCRIPT\"\n", &json!([]));
    // The scripted "local" model for this run: the fallback script path is reused.
    let config = setup.home.path().join("config/config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "SCRIPT",
        &setup
            .home
            .path()
            .join("fallback.json")
            .display()
            .to_string(),
    );
    std::fs::write(&config, text).unwrap();
    let server = Server::start(vec![]).await;
    let (code, _events, stderr) = setup.run(server.base_url(), &["--offline"]).await;
    assert!(!stderr.contains("switched"), "{stderr}");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        server.requests().is_empty(),
        "{:?}",
        server.requests().len()
    );
}

#[test]
fn offline_refuses_an_explicit_remote() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = output(
        lode(home.path())
            .args(["run", "--offline", "--backend", "openai", "x"])
            .env("LODE_REMOTE_URL", "http://127.0.0.1:9/v1"),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--offline"), "{stderr}");
}

/// With the real engine as the fallback (a synthetic model), the local turn after the
/// switch is given the whole transcript: the stats count the earlier tool result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The guard serialises llama.cpp tests; the awaited run is exactly what it must cover.
#[allow(clippy::await_holding_lock)]
async fn the_local_engine_takes_over_with_every_earlier_tool_result() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("local.gguf");
    let (code, _, err) = output(
        lode(dir.path())
            .args(["synth", "--arch", "qwen2", "--ctx", "16384"])
            .arg(&model),
    );
    assert_eq!(code, 0, "{err}");
    let setup = Setup::new(
        &format!(
            "[models.large]\npath = \"{}\"\n[engine]\nctx_size = 12288\n",
            model.display()
        ),
        &json!([]),
    );
    // The fallback is the local model here, not the script.
    let config = setup.home.path().join("config/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.starts_with("backend = \"scripted:") {
                "backend = \"local\""
            } else {
                l
            }
        })
        .collect();
    std::fs::write(&config, text.join("\n")).unwrap();
    let cut = Reply::stream(vec![event(&text_chunk("The notes").to_string()), Part::Cut]);
    let server = Server::start(remote_then(cut)).await;
    let _guard = super::common::llama_lock();
    let (_code, events, stderr) = setup.run(server.base_url(), &["--max-turns", "2"]).await;
    let switched = of_type(&events, "backend_switched");
    assert_eq!(switched.len(), 1, "{events:#?}\n{stderr}");
    assert!(switched[0]["to"].as_str().unwrap().contains("(local)"));
    let local: Vec<_> = of_type(&events, "turn_stats")
        .into_iter()
        .filter(|e| e["stats"]["backend"] == "local")
        .collect();
    assert!(!local.is_empty(), "{events:#?}");
    assert_eq!(local[0]["stats"]["prompt_tool_results"], 1, "{}", local[0]);
    assert!(local[0]["stats"]["prompt_tokens"].as_u64().unwrap() > 100);
}
