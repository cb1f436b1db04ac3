//! A remote's context length and base URL, end to end: the real `lode` binary against
//! responses recorded from a real llama-server (and Ollama's documented ones), replayed
//! byte for byte by the test server. The context comes from the server where it says so,
//! a configured number is capped by a smaller server, URLs work with or without `/v1`, and
//! the official clients' variables are read below lode's own settings.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{llama_lock, lode, output};
use super::openai::server::{Recorded, Route, Server};

const LLAMA_SERVER: &[Route] = &[
    Route {
        method: "GET",
        path: "/props",
        fixture: "llama-server/GET_props.http",
    },
    Route {
        method: "GET",
        path: "/v1/models",
        fixture: "llama-server/GET_v1_models.http",
    },
    Route {
        method: "GET",
        path: "/health",
        fixture: "llama-server/GET_health.http",
    },
    Route {
        method: "POST",
        path: "/v1/chat/completions",
        fixture: "llama-server/POST_v1_chat_completions.http",
    },
    Route {
        method: "POST",
        path: "/v1/messages",
        fixture: "llama-server/POST_v1_messages.http",
    },
];

/// A home and an empty repository to run in.
fn home(config: &str) -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(home.path().join("config/config.toml"), config).unwrap();
    (home, repo)
}

/// `lode run --json --fallback none` with `args` and `env`; the code, the events, stderr.
async fn run(config: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>, String) {
    let (home, repo) = home(config);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let mut cmd = lode(home.path());
        cmd.args(["run", "--json", "--fallback", "none", "--cwd"])
            .arg(&repo)
            .args(&args)
            .envs(env)
            .arg("What is the capital of France?");
        output(&mut cmd)
    })
    .await
    .unwrap();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
        .collect();
    (code, events, stderr)
}

fn finished(events: &[Value]) -> &Value {
    events.iter().find(|e| e["type"] == "finished").unwrap()
}

fn paths(requests: &[Recorded]) -> Vec<(String, String)> {
    requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect()
}

fn asked(server: &Server, method: &str, path: &str) -> bool {
    paths(&server.routed()).contains(&(method.to_string(), path.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_servers_context_comes_from_props_and_a_url_without_v1_works() {
    let server = Server::replaying(LLAMA_SERVER, vec![]).await;
    let url = format!("http://{}", server.addr);
    let (code, events, stderr) = run("", &["--remote", &url, "--wire", "openai"], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events[0]["type"], "header");
    assert_eq!(events[0]["context_length"], 8192, "{stderr}");
    assert!(
        stderr.contains("lode: openai: context 8192 tokens (server /props)"),
        "{stderr}"
    );
    assert_eq!(
        finished(&events)["message"],
        "The capital of France is Paris."
    );
    assert!(asked(&server, "GET", "/props"), "{:?}", server.routed());
    assert!(asked(&server, "POST", "/v1/chat/completions"));
    // Found at the first endpoint: nothing else was asked.
    assert_eq!(
        paths(&server.routed())
            .iter()
            .filter(|(m, _)| m == "GET")
            .count(),
        1,
        "{:?}",
        server.routed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_wire_takes_the_anthropic_base_url_convention() {
    // `ANTHROPIC_BASE_URL=http://host:port`, no `/v1`: the 404 on `/messages`.
    let server = Server::replaying(LLAMA_SERVER, vec![]).await;
    let url = format!("http://{}", server.addr);
    let (code, events, stderr) = run(
        "",
        &["--backend", "openai", "--wire", "anthropic"],
        &[("ANTHROPIC_BASE_URL", &url)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events[0]["backend"], "anthropic");
    assert_eq!(events[0]["context_length"], 8192, "{stderr}");
    assert_eq!(
        finished(&events)["message"],
        "The capital of France is Paris."
    );
    assert!(
        asked(&server, "POST", "/v1/messages"),
        "{:?}",
        server.routed()
    );
    assert!(!asked(&server, "POST", "/messages"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_of_writing_the_url_reaches_the_same_endpoints() {
    let server = Server::replaying(LLAMA_SERVER, vec![]).await;
    for (suffix, wire) in [("/", "openai"), ("/v1/", "openai"), ("/v1", "anthropic")] {
        let url = format!("http://{}{suffix}", server.addr);
        let (code, events, stderr) = run("", &["--remote", &url, "--wire", wire], &[]).await;
        assert_eq!(code, 0, "{url} {wire}: {stderr}");
        assert_eq!(events[0]["context_length"], 8192, "{url} {wire}: {stderr}");
    }
    let endpoints: Vec<_> = paths(&server.routed())
        .into_iter()
        .filter(|(m, _)| m == "POST")
        .collect();
    assert_eq!(
        endpoints,
        [
            ("POST".to_string(), "/v1/chat/completions".to_string()),
            ("POST".to_string(), "/v1/chat/completions".to_string()),
            ("POST".to_string(), "/v1/messages".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_length_is_capped_by_a_smaller_server_and_kept_below_it() {
    let server = Server::replaying(LLAMA_SERVER, vec![]).await;
    let url = format!("http://{}/v1", server.addr);
    let (code, events, stderr) = run(
        "[remote]\ncontext_length = 32768\n",
        &["--remote", &url],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events[0]["context_length"], 8192);
    assert!(
        stderr.contains(
            "context 8192 tokens (server /props); [remote] context_length = 32768 is more than the server's 8192; using 8192"
        ),
        "{stderr}"
    );
    let (code, events, stderr) = run(
        "[remote]\ncontext_length = 4096\n",
        &["--remote", &url],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events[0]["context_length"], 4096);
    assert!(stderr.contains("context 4096 tokens (config)"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_says_nothing_leaves_the_configured_length() {
    // Only the chat endpoint: `/props` and the rest answer llama-server's 404.
    let routes = [Route {
        method: "POST",
        path: "/v1/chat/completions",
        fixture: "llama-server/POST_v1_chat_completions.http",
    }];
    let server = Server::replaying(&routes, vec![]).await;
    let url = format!("http://{}/v1", server.addr);
    let (code, events, stderr) = run("", &["--remote", &url], &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events[0]["context_length"], Value::Null);
    assert!(
        stderr.contains("context unknown (set [remote] context_length)"),
        "{stderr}"
    );
    let (code, events, stderr) = run(
        "[remote]\ncontext_length = 6000\n",
        &["--remote", &url],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events[0]["context_length"], 6000);
}

/// `lode doctor --json` with `config` and `env`; its `remote` object.
async fn doctor_remote(config: &str, env: &[(&str, &str)]) -> Value {
    let (home, _repo) = home(config);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let _guard = llama_lock();
        output(lode(home.path()).args(["doctor", "--json"]).envs(env))
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    report["remote"].clone()
}

const OLLAMA: &[Route] = &[
    Route {
        method: "GET",
        path: "/api/version",
        fixture: "ollama/GET_api_version.http",
    },
    Route {
        method: "GET",
        path: "/api/ps",
        fixture: "ollama/GET_api_ps.http",
    },
    Route {
        method: "POST",
        path: "/api/show",
        fixture: "ollama/POST_api_show.http",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_reports_the_loaded_models_window_and_otherwise_what_to_set() {
    let server = Server::replaying(OLLAMA, vec![]).await;
    let url = format!("http://{}/v1", server.addr);
    let env = [("LODE_REMOTE_URL", url.as_str())];
    let loaded = doctor_remote("[remote]\nmodel = \"mistral\"\n", &env).await;
    assert_eq!(
        loaded["context"],
        serde_json::json!({"tokens": 4096, "source": "ollama_ps", "note": null})
    );
    assert_eq!(loaded["base_url"], url);
    // Not loaded, and no num_ctx in the model: Ollama's window is its own setting.
    let idle = doctor_remote("[remote]\nmodel = \"llama3\"\n", &env).await;
    assert_eq!(idle["context"]["tokens"], Value::Null);
    assert_eq!(idle["context"]["source"], "unknown");
    let note = idle["context"]["note"].as_str().unwrap();
    assert!(
        note.contains("OLLAMA_CONTEXT_LENGTH") && note.contains("the model allows 8192"),
        "{note}"
    );
    let show = server
        .routed()
        .into_iter()
        .find(|r| r.path == "/api/show")
        .unwrap();
    assert_eq!(show.body, serde_json::json!({"model": "llama3"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_models_that_set_num_ctx_are_read_from_api_show() {
    let routes = [
        Route {
            method: "GET",
            path: "/api/version",
            fixture: "ollama/GET_api_version.http",
        },
        Route {
            method: "POST",
            path: "/api/show",
            fixture: "ollama/POST_api_show-num_ctx.http",
        },
    ];
    let server = Server::replaying(&routes, vec![]).await;
    let url = format!("http://{}", server.addr);
    let remote = doctor_remote(
        "[remote]\nmodel = \"llama3\"\n",
        &[("LODE_REMOTE_URL", url.as_str())],
    )
    .await;
    assert_eq!(
        remote["context"],
        serde_json::json!({"tokens": 16384, "source": "ollama_show", "note": null})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_where_the_remote_and_its_key_came_from() {
    let server = Server::replaying(LLAMA_SERVER, vec![]).await;
    let url = format!("http://{}", server.addr);
    let remote = doctor_remote(
        "",
        &[
            ("OPENAI_BASE_URL", url.as_str()),
            ("OPENAI_API_KEY", "sk-doctor-1"),
        ],
    )
    .await;
    assert_eq!(
        remote,
        serde_json::json!({
            "wire": "openai",
            "base_url": format!("{url}/v1"),
            "origin": "official_env",
            "model": "",
            "key_from": "OPENAI_API_KEY",
            "context": {"tokens": 8192, "source": "server_props", "note": null}
        })
    );
    assert!(!remote.to_string().contains("sk-doctor-1"));
    // The key went with the probe, to the server it is meant for.
    let props = server
        .routed()
        .into_iter()
        .find(|r| r.path == "/props")
        .unwrap();
    assert_eq!(props.headers["authorization"], "Bearer sk-doctor-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lodes_own_url_ranks_above_openai_base_url() {
    let server = Server::replaying(LLAMA_SERVER, vec![]).await;
    let url = format!("http://{}", server.addr);
    // OPENAI_BASE_URL points nowhere; LODE_REMOTE_URL wins.
    let (code, events, stderr) = run(
        "",
        &["--backend", "openai"],
        &[
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("LODE_REMOTE_URL", &url),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        finished(&events)["message"],
        "The capital of France is Paris."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_delays_opening_by_the_budget_at_most() {
    use lode::backend::openai::{OpenAiBackend, OpenAiConfig};
    // Accepts connections and never answers a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let backend = OpenAiBackend::new(OpenAiConfig {
        base_url: format!("http://{addr}"),
        model: "m".into(),
        api_key: None,
        timeout_s: 60,
        context_length: Some(2048),
    })
    .unwrap();
    let started = Instant::now();
    let window = backend.discover_context().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(window, lode::backend::ContextWindow::configured(Some(2048)));
}
