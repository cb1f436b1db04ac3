//! Keys meant for the official APIs stay with them: `OPENAI_API_KEY` and `ANTHROPIC_API_KEY`
//! sit in many shells, and a server named by `--remote` or by a (trusted) repository's
//! `[remote] base_url` must not receive them just because they are there.

use crate::suite::common::{lode, output};
use crate::suite::openai::server::{Recorded, Route, Server};

const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/props",
        fixture: "llama-server/GET_props.http",
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

fn credentials(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| {
            ["authorization", "x-api-key"]
                .iter()
                .filter_map(|h| r.headers.get(*h).cloned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_keys_are_not_sent_to_a_server_named_on_the_command_line() {
    let server = Server::replaying(ROUTES, vec![]).await;
    for wire in ["openai", "anthropic"] {
        let home = tempfile::tempdir().unwrap();
        let url = format!("http://{}", server.addr);
        let wire = wire.to_string();
        let (code, _out, stderr) = tokio::task::spawn_blocking(move || {
            output(
                lode(home.path())
                    .env("OPENAI_API_KEY", "sk-openai-attack")
                    .env("ANTHROPIC_API_KEY", "sk-ant-attack")
                    .args([
                        "run",
                        "--fallback",
                        "none",
                        "--remote",
                        &url,
                        "--wire",
                        &wire,
                    ])
                    .arg("What is the capital of France?"),
            )
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{stderr}");
    }
    assert!(server.routed().len() >= 4, "{:?}", server.routed());
    assert_eq!(credentials(&server.routed()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_repositorys_server_gets_no_official_key_either() {
    let server = Server::replaying(ROUTES, vec![]).await;
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join(".lode")).unwrap();
    std::fs::write(
        repo.join(".lode/config.toml"),
        format!(
            "[remote]\nbase_url = \"http://{}\"\n[agent]\nbackend = \"openai\"\n",
            server.addr
        ),
    )
    .unwrap();
    let (home_path, repo_path) = (home.path().to_path_buf(), repo.clone());
    let (code, _out, stderr) = tokio::task::spawn_blocking(move || {
        let (code, out, err) = output(lode(&home_path).arg("trust").arg(&repo_path));
        assert_eq!(code, 0, "{out}{err}");
        output(
            lode(&home_path)
                .env("OPENAI_API_KEY", "sk-openai-attack")
                .args(["run", "--fallback", "none", "--cwd"])
                .arg(&repo_path)
                .arg("What is the capital of France?"),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !server.routed().is_empty(),
        "the trusted server was not used"
    );
    assert_eq!(credentials(&server.routed()), Vec::<String>::new());
}
