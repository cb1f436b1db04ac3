//! A scripted HTTP/1.1 server on loopback for the OpenAI backend tests.
//!
//! Hand-written on `TcpListener` so each test controls the bytes exactly: how the body is
//! framed, where the network splits it, pauses between pieces, a connection cut mid-stream
//! or a server that never answers. It records every request (method, path, headers, JSON
//! body) so tests can check what lode sent, and counts clients that hung up on it.
//!
//! Besides the scripted replies, it can replay responses recorded from real servers
//! (`fixtures/remote/<server>/*.http`, status line, headers and body byte for byte) for
//! given paths ([`Server::replaying`]). Every server answers the paths lode asks at open time
//! to learn the context length with llama-server's recorded 404, so scripted replies are
//! left for the turns; those requests are kept apart ([`Server::routed`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON; `Null` when empty.
    pub body: Value,
}

/// A piece of a scripted response body.
pub enum Part {
    /// Written and flushed as one network write (one chunk when chunked).
    Bytes(Vec<u8>),
    Pause(Duration),
    /// Close the socket here, leaving the body unfinished.
    Cut,
    /// Send nothing more and wait for the client to hang up.
    Hang,
}

/// How the end of the body is marked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`; pauses are ignored.
    Length,
    /// `Transfer-Encoding: chunked`, as llama-server and vLLM stream.
    Chunked,
    /// No length: the body ends when the server closes the connection.
    Close,
}

/// A scripted response.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    pub parts: Vec<Part>,
    /// Never send even the status line; wait for the client to hang up.
    pub silent: bool,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self::text(status, &body.to_string()).header("content-type", "application/json")
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            framing: Framing::Length,
            parts: vec![Part::Bytes(body.as_bytes().to_vec())],
            silent: false,
        }
    }

    /// An event stream written as `parts`, chunked.
    pub fn stream(parts: Vec<Part>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            framing: Framing::Chunked,
            parts,
            silent: false,
        }
    }

    /// One `data:` event per JSON value, each in its own network write, then `[DONE]`.
    pub fn sse(chunks: &[Value]) -> Self {
        let mut parts: Vec<Part> = chunks.iter().map(|c| event(&c.to_string())).collect();
        parts.push(event("[DONE]"));
        Self::stream(parts)
    }

    /// A response recorded from a real server (`fixtures/remote/…`: `status`, `content_type`
    /// and `body`, byte for byte), written back the way it came: an event stream chunked,
    /// anything else with a length.
    pub fn recorded(fixture: &str) -> Self {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let recorded: Value = serde_json::from_str(&text).unwrap();
        let status = u16::try_from(recorded["status"].as_u64().unwrap()).unwrap();
        let content_type = recorded["content_type"].as_str().unwrap();
        let body = recorded["body"].as_str().unwrap();
        let framing = if content_type.starts_with("text/event-stream") {
            Framing::Chunked
        } else {
            Framing::Length
        };
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            framing,
            parts: vec![Part::Bytes(body.as_bytes().to_vec())],
            silent: false,
        }
    }

    pub fn silent() -> Self {
        Self {
            silent: true,
            ..Self::text(200, "")
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }
}

/// `data: {data}` and the blank line that ends the event, as one write.
pub fn event(data: &str) -> Part {
    Part::Bytes(format!("data: {data}\n\n").into_bytes())
}

/// A recorded response served for one method and path.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The fixture under `fixtures/remote/`, e.g. `llama-server/GET_props.http`.
    pub fixture: &'static str,
}

/// The paths lode asks at open time, before any turn.
const DISCOVERY: &[(&str, &str)] = &[
    ("GET", "/props"),
    ("GET", "/api/version"),
    ("GET", "/version"),
];

/// A recorded response's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/remote/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[derive(Default)]
struct State {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    /// (method, path, the response's bytes).
    routes: Vec<(String, String, Vec<u8>)>,
    routed: Mutex<Vec<Recorded>>,
    hangups: AtomicUsize,
}

/// The running server; it lives as long as the test's runtime.
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Server {
    /// Starts on 127.0.0.1 with an OS-chosen port; replies are used in order.
    pub async fn start(replies: Vec<Reply>) -> Self {
        Self::replaying(&[], replies).await
    }

    /// Serves `routes` from their recordings, as often as they are asked, and everything
    /// else from `replies` in order.
    pub async fn replaying(routes: &[Route], replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let not_found = fixture("llama-server/404.http");
        let mut table: Vec<(String, String, Vec<u8>)> = routes
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned(), fixture(r.fixture)))
            .collect();
        for (method, path) in DISCOVERY {
            if !table.iter().any(|(m, p, _)| m == method && p == path) {
                table.push(((*method).to_owned(), (*path).to_owned(), not_found.clone()));
            }
        }
        let state = Arc::new(State {
            routes: table,
            ..State::default()
        });
        state.replies.lock().unwrap().extend(replies);
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, Arc::clone(&shared)));
            }
        });
        Self { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests answered by scripted replies.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The requests answered from recordings, the open-time 404s included.
    pub fn routed(&self) -> Vec<Recorded> {
        self.state.routed.lock().unwrap().clone()
    }

    /// Whether a client closed a connection the server was holding open, within `limit`.
    pub async fn client_hung_up(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.state.hangups.load(Ordering::SeqCst) > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }
}

async fn serve(mut socket: TcpStream, state: Arc<State>) {
    let mut pending = Vec::new();
    // Keep-alive: reqwest reuses connections, so serve requests until the client leaves.
    while let Some(request) = read_request(&mut socket, &mut pending).await {
        let path = request.path.split('?').next().unwrap_or_default();
        let route = state
            .routes
            .iter()
            .find(|(m, p, _)| *m == request.method && p == path);
        if let Some((_, _, bytes)) = route {
            state.routed.lock().unwrap().push(request);
            if socket.write_all(bytes).await.is_err() {
                return;
            }
            // A recording that closed its connection closes this one too.
            let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = String::from_utf8_lossy(&bytes[..head_end]).to_lowercase();
            if head.contains("connection: close") {
                return;
            }
            continue;
        }
        state.requests.lock().unwrap().push(request);
        let reply = state.replies.lock().unwrap().pop_front();
        let reply = reply.unwrap_or_else(|| {
            Reply::json(
                500,
                &json!({"error": {"message": "no scripted reply left"}}),
            )
        });
        if !write_reply(&mut socket, reply, &state).await {
            return;
        }
    }
}

async fn read_request(socket: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut buf = [0u8; 4096];
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(pending[..head_end].to_vec()).unwrap();
    pending.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let path = request_line.next().unwrap().to_owned();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    while pending.len() < length {
        let mut buf = [0u8; 4096];
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    }
    let body: Vec<u8> = pending.drain(..length).collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// Writes `reply`; false when the connection must close afterwards.
async fn write_reply(socket: &mut TcpStream, reply: Reply, state: &State) -> bool {
    if reply.silent {
        wait_for_hangup(socket, state).await;
        return false;
    }
    let mut head = format!("HTTP/1.1 {} Scripted\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut parts = reply.parts;
    match reply.framing {
        Framing::Length => {
            let body: Vec<u8> = parts
                .drain(..)
                .flat_map(|part| match part {
                    Part::Bytes(bytes) => bytes,
                    _ => Vec::new(),
                })
                .collect();
            head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            let mut all = head.into_bytes();
            all.extend_from_slice(&body);
            return socket.write_all(&all).await.is_ok();
        }
        Framing::Chunked => head.push_str("transfer-encoding: chunked\r\n\r\n"),
        Framing::Close => head.push_str("connection: close\r\n\r\n"),
    }
    if socket.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let chunked = reply.framing == Framing::Chunked;
    for part in parts {
        match part {
            Part::Bytes(bytes) => {
                let mut out = Vec::new();
                if chunked {
                    out.extend_from_slice(format!("{:x}\r\n", bytes.len()).as_bytes());
                }
                out.extend_from_slice(&bytes);
                if chunked {
                    out.extend_from_slice(b"\r\n");
                }
                if socket.write_all(&out).await.is_err() || socket.flush().await.is_err() {
                    state.hangups.fetch_add(1, Ordering::SeqCst);
                    return false;
                }
            }
            Part::Pause(duration) => tokio::time::sleep(duration).await,
            Part::Cut => return false,
            Part::Hang => {
                wait_for_hangup(socket, state).await;
                return false;
            }
        }
    }
    if chunked {
        return socket.write_all(b"0\r\n\r\n").await.is_ok();
    }
    false
}

async fn wait_for_hangup(socket: &mut TcpStream, state: &State) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    state.hangups.fetch_add(1, Ordering::SeqCst);
}
