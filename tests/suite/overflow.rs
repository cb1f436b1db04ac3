//! A context too small for the conversation, against a server that replays what the real
//! llama-server answered (`fixtures/remote/llama-server/`, recorded from our llama.cpp
//! revision with `-c 2048`): both wires report it as an overflow with its numbers, and
//! `lode run` compacts, lowers `max_tokens` and retries the turn once — then, if the context
//! is still full, ends the task with what to do, without switching to the fallback.

use std::path::PathBuf;

use lode::backend::anthropic::{AnthropicBackend, AnthropicConfig};
use lode::backend::openai::{OpenAiBackend, OpenAiConfig};
use lode::backend::{BackendError, ChatRequest, Message, ModelBackend};
use lode::cancel::CancelFlag;
use serde_json::{json, Value};

use super::common::{lode, of_type, output, run_json_remote};
use super::openai::finish_chunk;
use super::openai::server::{Reply, Server};

const OVERFLOW_CHAT: &str = "fixtures/remote/llama-server/overflow-chat-stream.json";
const OVERFLOW_MESSAGES: &str = "fixtures/remote/llama-server/overflow-messages-stream.json";
const ANSWER: &str = "fixtures/remote/llama-server/answer-chat-stream.json";
/// What the recorded answer says.
const ANSWERED: &str =
    "Hello! I'm here to help with any programming or coding-related tasks. What can I help you with?";

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("Be brief."),
            Message::user("hello ".repeat(3000)),
        ],
        tools: Vec::new(),
        temperature: 0.0,
        seed: None,
        max_tokens: 256,
        stable_prefix_messages: 1,
        answer_schema: None,
        answer_now: false,
        task_turn: 0,
    }
}

async fn turn(backend: &dyn ModelBackend) -> Result<lode::backend::Completion, BackendError> {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    backend.complete(request(), tx, CancelFlag::new()).await
}

fn assert_recorded_overflow(result: Result<lode::backend::Completion, BackendError>) {
    match result {
        Err(BackendError::ContextOverflow(overflow)) => {
            assert_eq!(
                (
                    overflow.prompt_tokens,
                    overflow.context,
                    overflow.output_tokens
                ),
                (Some(3018), Some(2048), None)
            );
            assert_eq!(
                overflow.message,
                "request (3018 tokens) exceeds the available context size (2048 tokens), try increasing it"
            );
        }
        other => panic!("not an overflow: {other:?}"),
    }
}

#[tokio::test]
async fn both_wires_report_llama_servers_overflow_with_its_numbers() {
    let server = Server::start(vec![Reply::recorded(OVERFLOW_CHAT)]).await;
    let openai = OpenAiBackend::new(OpenAiConfig {
        base_url: server.base_url(),
        model: "m".into(),
        api_key: None,
        timeout_s: 5,
        context_length: None,
    })
    .unwrap();
    assert_recorded_overflow(turn(&openai).await);

    let server = Server::start(vec![Reply::recorded(OVERFLOW_MESSAGES)]).await;
    let anthropic = AnthropicBackend::new(AnthropicConfig {
        base_url: server.base_url(),
        model: "m".into(),
        api_key: None,
        timeout_s: 5,
        max_tokens_default: 4096,
        context_length: None,
    })
    .unwrap();
    assert_recorded_overflow(turn(&anthropic).await);
}

fn read_call(id: &str, path: &str) -> Reply {
    let call = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": id, "type": "function",
        "function": {"name": "read_file", "arguments": json!({"path": path}).to_string()}}]}, "finish_reason": null}]});
    Reply::sse(&[call, finish_chunk("tool_calls")])
}

/// A repository with four long files, and a home whose config names a scripted fallback
/// (which must never be used) and no context length (the overflow answer tells it).
struct Setup {
    home: tempfile::TempDir,
    repo: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let repo = home.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        for i in 0..4 {
            let line = format!("line of part {i} that fills the context\n");
            std::fs::write(repo.join(format!("part{i}.txt")), line.repeat(120)).unwrap();
        }
        let script = home.path().join("fallback.json");
        std::fs::write(
            &script,
            json!({"turns": [{"say": "FALLBACK ANSWERED"}]}).to_string(),
        )
        .unwrap();
        std::fs::create_dir_all(home.path().join("config")).unwrap();
        std::fs::write(
            home.path().join("config/config.toml"),
            format!(
                "[remote]\ntimeout_s = 5\nmodel = \"m\"\n[fallback]\nbackend = \"scripted:{}\"\nretry_s = 0\n",
                script.display()
            ),
        )
        .unwrap();
        Self { home, repo }
    }

    /// `lode run --json` against `url`: the exit code, the events and stderr.
    async fn run(&self, url: String) -> (i32, Vec<Value>, String) {
        run_json_remote(
            self.home.path(),
            &self.repo,
            url,
            &[],
            "what do the parts say?",
        )
        .await
    }
}

/// Four turns read the parts; the fifth request is answered with `fifth`, the sixth with
/// `sixth`.
fn four_reads_then(fifth: Reply, sixth: Reply) -> Vec<Reply> {
    let mut replies: Vec<Reply> = (0..4)
        .map(|i| read_call(&format!("call_{i}"), &format!("part{i}.txt")))
        .collect();
    replies.push(fifth);
    replies.push(sixth);
    replies
}

fn tokens_asked(request: &Value) -> u64 {
    request["max_tokens"].as_u64().unwrap()
}

fn elided_results(request: &Value) -> usize {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool" && m["content"].as_str().unwrap().contains("elided"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflow_compacts_the_conversation_and_the_turn_is_retried_smaller() {
    let setup = Setup::new();
    let server = Server::start(four_reads_then(
        Reply::recorded(OVERFLOW_CHAT),
        Reply::recorded(ANSWER),
    ))
    .await;
    let (code, events, stderr) = setup.run(server.base_url()).await;
    assert_eq!(code, 0, "{events:#?}\n{stderr}");
    let finished = of_type(&events, "finished");
    assert_eq!(finished[0]["outcome"], "done", "{events:#?}");
    assert_eq!(finished[0]["message"], ANSWERED);

    let requests = server.requests();
    assert_eq!(requests.len(), 6, "one retry, nothing more");
    let (overflowed, retried) = (&requests[4].body, &requests[5].body);
    // Without a context length every turn asked for the configured 4096; the retry is sized
    // by the 2048 tokens the server reported.
    assert_eq!(tokens_asked(overflowed), 4096);
    assert!(
        tokens_asked(retried) < 2048 / 4 + 1,
        "{}",
        tokens_asked(retried)
    );
    assert_eq!(elided_results(overflowed), 0);
    assert!(elided_results(retried) > 0, "{retried:#}");
    assert!(retried.to_string().len() < overflowed.to_string().len());

    let full = of_type(&events, "context_full");
    assert_eq!(full.len(), 1, "{events:#?}");
    assert_eq!(full[0]["context"], 2048);
    assert_eq!(full[0]["prompt_tokens"], 3018);
    assert_eq!(full[0]["max_tokens"].as_u64(), Some(tokens_asked(retried)));
    assert!(
        full[0]["after"].as_u64() < full[0]["before"].as_u64(),
        "{:#}",
        full[0]
    );
    let notice = full[0]["message"].as_str().unwrap();
    assert!(
        notice.starts_with("the server's context (2048 tokens) was full: compacted ")
            && notice.ends_with(" and retried"),
        "{notice}"
    );
    assert!(of_type(&events, "backend_switched").is_empty());
    assert!(of_type(&events, "error").is_empty(), "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflow_that_persists_ends_the_task_without_falling_back() {
    let setup = Setup::new();
    let server = Server::start(four_reads_then(
        Reply::recorded(OVERFLOW_CHAT),
        Reply::recorded(OVERFLOW_CHAT),
    ))
    .await;
    let (code, events, stderr) = setup.run(server.base_url()).await;
    assert_eq!(code, 1, "{events:#?}\n{stderr}");
    assert_eq!(server.requests().len(), 6, "one retry, nothing more");
    assert_eq!(of_type(&events, "context_full").len(), 1, "{events:#?}");
    assert!(
        of_type(&events, "backend_switched").is_empty(),
        "an overflow is no outage: {events:#?}"
    );
    let finished = of_type(&events, "finished");
    assert_eq!(finished[0]["outcome"], "not_achieved");
    let message = finished[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the server's context (2048 tokens) is too small for this conversation (still full after compacting: request (3018 tokens)")
            && message.contains("/clear")
            && message.contains("llama-server -c"),
        "{message}"
    );
    assert!(!events.iter().any(|e| e.to_string().contains("FALLBACK")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_too_long_with_nothing_to_compact_is_not_sent_again() {
    // The first turn: only the system message and the task, and the server counted 3018
    // tokens against its 2048, so neither compaction nor a smaller max_tokens can help.
    let setup = Setup::new();
    let server = Server::start(vec![
        Reply::recorded(OVERFLOW_CHAT),
        Reply::recorded(ANSWER),
    ])
    .await;
    let (code, events, stderr) = setup.run(server.base_url()).await;
    assert_eq!(code, 1, "{events:#?}\n{stderr}");
    assert_eq!(
        server.requests().len(),
        1,
        "a retry that cannot fit is not sent"
    );
    assert!(of_type(&events, "context_full").is_empty(), "{events:#?}");
    assert!(of_type(&events, "backend_switched").is_empty());
    let message = of_type(&events, "finished")[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the server's context (2048 tokens) is too small for this conversation (compacting frees nothing: request (3018 tokens)"),
        "{message}"
    );
}

#[test]
fn the_local_engine_reports_its_own_overflow_the_same_way() {
    // The engine refuses a prompt longer than its context; that is the same overflow as a
    // server's, with the same clear ending instead of "the model backend failed".
    let _llama = super::common::llama_lock();
    let model = super::real_models::real_model(super::real_models::SMOLLM2);
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    // Chosen, not measured at every load (`flash_auto` measures).
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        "[engine]\nflash_attention = \"off\"\n",
    )
    .unwrap();
    let task = format!(
        "Summarise: {}",
        "the deploy key rotates weekly. ".repeat(300)
    );
    let (code, stdout, stderr) = output(
        lode(home.path())
            .args([
                "run",
                "--json",
                "--ctx-size",
                "1024",
                "--threads",
                "2",
                "--model",
            ])
            .arg(&model)
            .arg("--cwd")
            .arg(&repo)
            .arg(task),
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let message = of_type(&events, "finished")[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the model's context (1024 tokens) is too small for this conversation (compacting frees nothing: the prompt has ")
            && message.ends_with("--ctx-size for the local model)"),
        "{message}"
    );
}
