//! `lode models pull` against a local server that speaks the hub's two endpoints (model info
//! with LFS hashes, and `resolve` with a redirect and `Range`), run through the real binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pretty_assertions::assert_eq;
use serde_json::Value;
use sha2::{Digest, Sha256};

use lode::engine::synth::{Arch, Weights};

use super::common::{lode, output, tiny};

const REPO: &str = "org/tiny-GGUF";
const FILE: &str = "tiny-Q8_0.gguf";

/// One request the server saw.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
    auth: Option<String>,
}

#[derive(Default)]
struct State {
    /// What `resolve` serves, by file path.
    bytes: HashMap<String, Vec<u8>>,
    /// The model-info answer.
    info: Value,
    /// The next file body stops after this many bytes and the connection drops.
    cut_after: Option<usize>,
    seen: Vec<Seen>,
}

struct FakeHub {
    url: String,
    state: Arc<Mutex<State>>,
}

impl FakeHub {
    fn start(state: State) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeHub { url, state }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut state = state.lock().unwrap();
    let range = headers.get("range").cloned();
    state.seen.push(Seen {
        path: path.clone(),
        range: range.clone(),
        auth: headers.get("authorization").cloned(),
    });
    let info_path = format!("/api/models/{REPO}/revision/main?blobs=true");
    let resolve_prefix = format!("/{REPO}/resolve/main/");
    if path == info_path {
        let body = state.info.to_string();
        respond(
            &mut stream,
            "200 OK",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
    } else if let Some(file) = path.strip_prefix(&resolve_prefix) {
        // The hub redirects LFS files to its CDN.
        let location = format!("/cdn/{file}");
        respond(&mut stream, "302 Found", &[("Location", &location)], b"");
    } else if let Some(bytes) = path.strip_prefix("/cdn/").and_then(|f| state.bytes.get(f)) {
        let bytes = bytes.clone();
        let start: usize = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.trim_end_matches('-').parse().ok())
            .unwrap_or(0);
        let body = &bytes[start.min(bytes.len())..];
        let content_range = format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len());
        let (status, extra) = if range.is_some() {
            (
                "206 Partial Content",
                vec![("Content-Range", content_range.as_str())],
            )
        } else {
            ("200 OK", vec![])
        };
        match state.cut_after.take() {
            Some(cut) => {
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body[..cut.min(body.len())]);
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            None => respond(&mut stream, status, &extra, body),
        }
    } else {
        respond(&mut stream, "404 Not Found", &[], b"not found");
    }
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A repository with a real (synthetic) GGUF, a second quant, a projector and a README,
/// listed with the hashes of `model`.
fn repo_state(model: &[u8]) -> State {
    let other = b"another quant".to_vec();
    let sibling = |name: &str, bytes: &[u8]| serde_json::json!({"rfilename": name, "lfs": {"sha256": sha256(bytes), "size": bytes.len()}});
    State {
        bytes: HashMap::from([
            (FILE.to_string(), model.to_vec()),
            ("tiny-Q4_K_M.gguf".to_string(), other.clone()),
        ]),
        info: serde_json::json!({"id": REPO, "siblings": [
            {"rfilename": "README.md"},
            sibling(FILE, model),
            sibling("tiny-Q4_K_M.gguf", &other),
            sibling("mmproj-tiny-F16.gguf", &other),
        ]}),
        ..State::default()
    }
}

fn pull(home: &Path, hub: &FakeHub, spec: &str) -> (i32, String, String) {
    output(
        lode(home)
            .env("HF_ENDPOINT", &hub.url)
            .env("HF_TOKEN", "hf_secret")
            .env("LODE_MODEL_DIR", home.join("models"))
            .args(["models", "pull", spec]),
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn model_bytes() -> Vec<u8> {
    let path: PathBuf = tiny(Arch::Qwen2, Weights::Random, 11);
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 200_000, "the model should span many chunks");
    bytes
}

#[test]
fn an_interrupted_pull_resumes_with_a_range_and_ends_verified() {
    let home = tempfile::tempdir().unwrap();
    let model = model_bytes();
    let hub = FakeHub::start(State {
        cut_after: Some(100_000),
        ..repo_state(&model)
    });
    let models = home.path().join("models");

    let (code, _, stderr) = pull(home.path(), &hub, "hf:org/tiny-GGUF:q8_0");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("download of `{FILE}` interrupted at"))
            && stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert_eq!(files_in(&models), vec![format!("{FILE}.part")]);
    let part_len = std::fs::metadata(models.join(format!("{FILE}.part")))
        .unwrap()
        .len();
    assert!(part_len > 0 && part_len <= 100_000, "{part_len}");

    let (code, stdout, stderr) = pull(home.path(), &hub, "hf:org/tiny-GGUF:q8_0");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("resumed at byte {part_len}, SHA-256 verified")),
        "{stdout}"
    );
    assert_eq!(files_in(&models), vec![FILE.to_string()]);
    assert_eq!(std::fs::read(models.join(FILE)).unwrap(), model);

    let seen = hub.seen();
    let ranges: Vec<Option<String>> = seen
        .iter()
        .filter(|s| s.path.starts_with("/cdn/"))
        .map(|s| s.range.clone())
        .collect();
    assert_eq!(ranges, vec![None, Some(format!("bytes={part_len}-"))]);
    let info = seen.iter().find(|s| s.path.starts_with("/api/")).unwrap();
    assert_eq!(info.auth.as_deref(), Some("Bearer hf_secret"));

    // The pulled file is a model `lode models` lists from the model dir.
    let (code, stdout, stderr) = output(
        lode(home.path())
            .env("LODE_MODEL_DIR", &models)
            .env("HF_HUB_CACHE", home.path().join("no-hf"))
            .env("OLLAMA_MODELS", home.path().join("no-ollama"))
            .args(["models", "--json"]),
    );
    assert_eq!(code, 0, "{stderr}");
    let entries: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let entry = entries.iter().find(|e| e["name"] == FILE).unwrap();
    assert_eq!(
        (&entry["architecture"], &entry["error"]),
        (&Value::from("qwen2"), &Value::Null)
    );

    // A third pull finds it in place and downloads nothing.
    let before = hub.seen().len();
    let (code, stdout, stderr) = pull(home.path(), &hub, "hf:org/tiny-GGUF:Q8_0");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("already there, SHA-256 verified"),
        "{stdout}"
    );
    assert!(hub.seen()[before..]
        .iter()
        .all(|s| s.path.starts_with("/api/")));
}

#[test]
fn a_corrupt_download_is_refused_and_nothing_is_left_in_place() {
    let home = tempfile::tempdir().unwrap();
    let model = model_bytes();
    let mut state = repo_state(&model);
    let mut wrong = model.clone();
    let middle = wrong.len() / 2;
    wrong[middle] ^= 0xff;
    state.bytes.insert(FILE.to_string(), wrong);
    let hub = FakeHub::start(state);

    let (code, _, stderr) = pull(home.path(), &hub, &format!("hf:{REPO}/{FILE}"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("`{FILE}` is corrupt: its SHA-256 is"))
            && stderr.contains(&sha256(&model))
            && stderr.contains("the partial file was removed"),
        "{stderr}"
    );
    assert_eq!(files_in(&home.path().join("models")), Vec::<String>::new());
}

#[test]
fn an_ambiguous_or_missing_choice_names_the_candidates_and_downloads_nothing() {
    let home = tempfile::tempdir().unwrap();
    let hub = FakeHub::start(repo_state(b"not used"));

    let (code, _, stderr) = pull(home.path(), &hub, "hf:org/tiny-GGUF");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("has 2 GGUF files that match")
            && stderr.contains("tiny-Q8_0.gguf, tiny-Q4_K_M.gguf"),
        "{stderr}"
    );
    let (code, _, stderr) = pull(home.path(), &hub, "hf:org/tiny-GGUF:IQ2_XS");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no GGUF file named for `IQ2_XS`"),
        "{stderr}"
    );
    let (code, _, stderr) = pull(home.path(), &hub, "hf:org/missing");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("answered 404"), "{stderr}");
    assert!(hub.seen().iter().all(|s| !s.path.contains("/resolve/")));
    assert_eq!(files_in(&home.path().join("models")), Vec::<String>::new());
}

#[test]
fn a_hub_that_names_a_file_outside_the_repository_gets_nothing_written() {
    let home = tempfile::tempdir().unwrap();
    let evil = b"evil".to_vec();
    let hub = FakeHub::start(State {
        info: serde_json::json!({"siblings": [
            {"rfilename": "../../escape-Q8_0.gguf", "lfs": {"sha256": sha256(&evil), "size": 4}},
            {"rfilename": "/tmp/abs-Q8_0.gguf", "lfs": {"sha256": sha256(&evil), "size": 4}},
        ]}),
        ..State::default()
    });
    let (code, _, stderr) = pull(home.path(), &hub, "hf:org/tiny-GGUF:Q8_0");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has no GGUF file"), "{stderr}");
    assert!(hub.seen().iter().all(|s| !s.path.contains("/resolve/")));
    assert_eq!(files_in(&home.path().join("models")), Vec::<String>::new());
    let outside = home.path().parent().unwrap().join("escape-Q8_0.gguf");
    assert!(!outside.exists() && !Path::new("/tmp/abs-Q8_0.gguf").exists());
}
