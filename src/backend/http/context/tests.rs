#![allow(clippy::unwrap_used, clippy::expect_used)]

use pretty_assertions::assert_eq;
use serde_json::{json, Value};

use super::*;

/// The JSON body of a recorded response (`fixtures/remote/<server>/<file>`).
fn body(server: &str, file: &str) -> Value {
    let path = format!(
        "{}/fixtures/remote/{server}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    serde_json::from_slice(&raw[at + 4..]).unwrap()
}

#[test]
fn llama_server_props_give_the_context_it_runs_with() {
    // Recorded from llama-server run with `-c 8192`.
    let props = body("llama-server", "GET_props.http");
    assert_eq!(props_n_ctx(&props), Some(8192));
    // Its model list states the training length instead, which lode does not read.
    let models = body("llama-server", "GET_v1_models.http");
    assert_eq!(max_model_len(&models, "anything"), None);
}

#[test]
fn props_without_a_context_say_nothing() {
    for props in [
        json!({}),
        json!({"default_generation_settings": {"n_ctx": 0}}),
        json!({"default_generation_settings": {"n_ctx": "8192"}}),
        json!({"n_ctx": -1}),
        json!({"n_ctx": 1_u64 << 40}),
    ] {
        assert_eq!(props_n_ctx(&props), None, "{props}");
    }
    assert_eq!(props_n_ctx(&json!({"n_ctx": 4096})), Some(4096));
}

#[test]
fn vllm_lists_max_model_len_per_model() {
    // The shape of vLLM's `/v1/models` (`ModelCard` in its OpenAI server).
    let list = json!({"object": "list", "data": [
        {"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model", "owned_by": "vllm", "max_model_len": 32768},
        {"id": "lora-a", "object": "model", "owned_by": "vllm", "max_model_len": 16384}
    ]});
    assert_eq!(max_model_len(&list, "lora-a"), Some(16384));
    assert_eq!(
        max_model_len(&list, "Qwen/Qwen2.5-7B-Instruct"),
        Some(32768)
    );
    // An unknown name among several is not guessed.
    assert_eq!(max_model_len(&list, "other"), None);
    let one = json!({"data": [{"id": "m", "max_model_len": 8192}]});
    assert_eq!(max_model_len(&one, ""), Some(8192));
}

#[test]
fn ollama_ps_gives_the_loaded_models_window() {
    let ps = body("ollama", "GET_api_ps.http");
    assert_eq!(ollama_loaded_context(&ps, "mistral"), Some(4096));
    assert_eq!(ollama_loaded_context(&ps, "mistral:latest"), Some(4096));
    assert_eq!(ollama_loaded_context(&ps, "mistral:7b"), None);
    assert_eq!(ollama_loaded_context(&ps, "llama3.2"), None);
}

#[test]
fn ollama_show_gives_num_ctx_only_where_the_model_sets_it() {
    let plain = body("ollama", "POST_api_show.http");
    assert_eq!(ollama_num_ctx(&plain), None);
    // The trained length is what the model allows, not what Ollama serves.
    assert_eq!(ollama_trained_context(&plain), Some(8192));
    let set = body("ollama", "POST_api_show-num_ctx.http");
    assert_eq!(ollama_num_ctx(&set), Some(16384));
}

#[test]
fn a_configured_length_wins_unless_the_server_holds_less() {
    let from = |n, source| Discovery {
        found: Some((n, source)),
        hint: None,
    };
    assert_eq!(
        settle(Some(4096), from(8192, ContextSource::ServerProps)),
        ContextWindow {
            tokens: Some(4096),
            source: ContextSource::Config,
            note: None
        }
    );
    assert_eq!(
        settle(Some(32768), from(8192, ContextSource::ServerProps)),
        ContextWindow {
            tokens: Some(8192),
            source: ContextSource::ServerProps,
            note: Some(
                "[remote] context_length = 32768 is more than the server's 8192; using 8192".into()
            )
        }
    );
    assert_eq!(
        settle(None, from(4096, ContextSource::OllamaPs)),
        ContextWindow {
            tokens: Some(4096),
            source: ContextSource::OllamaPs,
            note: None
        }
    );
    assert_eq!(
        settle(Some(2048), Discovery::none()),
        ContextWindow::configured(Some(2048))
    );
    let hinted = Discovery {
        found: None,
        hint: Some("set it".into()),
    };
    assert_eq!(
        settle(None, hinted),
        ContextWindow {
            tokens: None,
            source: ContextSource::Unknown,
            note: Some("set it".into())
        }
    );
}

#[test]
fn described_for_a_person() {
    assert_eq!(
        ContextWindow {
            tokens: Some(8192),
            source: ContextSource::ServerProps,
            note: None
        }
        .describe(),
        "8192 tokens (server /props)"
    );
    assert_eq!(
        ContextWindow::configured(None).describe(),
        "unknown (set [remote] context_length)"
    );
}

#[test]
fn the_cloud_apis_are_not_asked() {
    assert!(is_silent_host("https://api.openai.com/v1"));
    assert!(is_silent_host("https://api.anthropic.com/v1"));
    assert!(!is_silent_host("http://127.0.0.1:8080/v1"));
    assert!(!is_silent_host("https://api.openai.com.example/v1"));
}
