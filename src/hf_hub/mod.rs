//! Models from the Hugging Face hub: `lode models pull hf:ORG/REPO:QUANT`.
//!
//! The hub is spoken to the way `huggingface_hub` does: the model-info API lists the files
//! with their LFS SHA-256 (`listing`), and `/{repo}/resolve/{rev}/{file}` serves the bytes,
//! with `Range` for resuming (`download`). `HF_ENDPOINT` points at a mirror (or a test
//! server) and `HF_TOKEN` is sent as a bearer token. Nothing is trusted: the spec is checked
//! before it becomes a URL (`spec`), names the server returns before they become files, and
//! the bytes before they are renamed into the model dir.

mod download;
mod listing;
mod spec;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use download::{Downloaded, Progress};
pub use listing::RepoFile;
pub use spec::{Selector, Spec};

/// The public hub, when `HF_ENDPOINT` is unset.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Why a pull failed. Every message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0}")]
    Spec(String),
    #[error("{0}")]
    Select(String),
    #[error("HF_ENDPOINT `{0}` is not an http:// or https:// URL")]
    Endpoint(String),
    #[error("cannot reach {url}: {why}; check the network, or set HF_ENDPOINT to a mirror")]
    Unreachable { url: String, why: String },
    #[error("{url} answered {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("{url} did not answer a model listing: {why}")]
    BadListing { url: String, why: String },
    #[error("the hub gives no SHA-256 for `{0}`, so it cannot be verified and was not downloaded")]
    NoHash(String),
    #[error("`{}` already exists with other content (SHA-256 {actual}, the hub's is {expected}); move it away and pull again", path.display())]
    Exists {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("`{file}` is corrupt: its SHA-256 is {actual}, the hub's is {expected}; the partial file was removed, pull again to download it afresh")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("download of `{file}` interrupted at {done} of {total} bytes ({why}); run the same command again to resume")]
    Interrupted {
        file: String,
        done: u64,
        total: String,
        why: String,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A client for one hub endpoint.
pub struct Hub {
    endpoint: reqwest::Url,
    token: Option<String>,
    client: reqwest::Client,
}

impl Hub {
    /// A client for `endpoint` (`HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`]) sending `token`
    /// (`HF_TOKEN`) when given and not blank.
    pub fn new(endpoint: Option<&str>, token: Option<String>) -> Result<Hub, HubError> {
        let text = endpoint
            .filter(|e| !e.trim().is_empty())
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim();
        let endpoint = reqwest::Url::parse(text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.cannot_be_a_base().eq(&false))
            .ok_or_else(|| HubError::Endpoint(text.to_string()))?;
        // reqwest has no default crypto provider here (see backend/http); an error only
        // means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("lode/", env!("CARGO_PKG_VERSION")));
        if matches!(
            endpoint.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        ) {
            // A corporate HTTP_PROXY must not swallow requests to a mirror on this machine.
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| HubError::Unreachable {
            url: endpoint.to_string(),
            why: chain(&e),
        })?;
        Ok(Hub {
            endpoint,
            token: token.filter(|t| !t.trim().is_empty()),
            client,
        })
    }

    /// `{endpoint}/{segments...}`, each segment percent-encoded (a file name may hold `?`).
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    fn get(&self, url: reqwest::Url) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The files of `repo` at `revision`, with their LFS hashes.
    pub async fn files(&self, repo: &str, revision: &str) -> Result<Vec<RepoFile>, HubError> {
        let mut segments = vec!["api", "models"];
        segments.extend(repo.split('/'));
        segments.extend(["revision", revision]);
        let mut url = self.url(&segments);
        url.set_query(Some("blobs=true"));
        let shown = url.to_string();
        let response = self
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(&shown, &e))?;
        check_status(&shown, response.status())?;
        let body = response.text().await.map_err(|e| unreachable(&shown, &e))?;
        listing::parse(&body).map_err(|why| HubError::BadListing { url: shown, why })
    }
}

/// What a pull did.
#[derive(Debug, PartialEq, Eq)]
pub struct Pulled {
    /// The repository file.
    pub file: RepoFile,
    /// Where it is now.
    pub path: PathBuf,
    pub how: Downloaded,
}

/// Finds the file `spec` names and downloads it into `model_dir` (as its base name).
pub async fn pull(
    hub: &Hub,
    spec: &Spec,
    revision: &str,
    model_dir: &Path,
    progress: &dyn Progress,
) -> Result<Pulled, HubError> {
    let files = hub.files(&spec.repo, revision).await?;
    let file = listing::select(&spec.repo, &files, &spec.selector)?;
    let base = file
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&file.path)
        .to_string();
    let path = model_dir.join(&base);
    std::fs::create_dir_all(model_dir).map_err(|source| HubError::Io {
        path: model_dir.to_path_buf(),
        source,
    })?;
    let how = download::fetch(hub, &spec.repo, revision, &file, &path, progress).await?;
    Ok(Pulled { file, path, how })
}

fn check_status(url: &str, status: reqwest::StatusCode) -> Result<(), HubError> {
    if status.is_success() {
        return Ok(());
    }
    let hint = match status.as_u16() {
        401 | 403 => {
            " (a gated or private repository: accept its terms on the hub and set HF_TOKEN)"
        }
        404 => " (no such repository, revision or file: check the spec)",
        416 => " (the partial download did not fit the file; it was removed, pull again)",
        429 => " (rate limited: wait a minute, or set HF_TOKEN)",
        _ => "",
    };
    Err(HubError::Status {
        url: url.to_string(),
        status: status.as_u16(),
        hint,
    })
}

fn unreachable(url: &str, e: &reqwest::Error) -> HubError {
    HubError::Unreachable {
        url: url.to_string(),
        why: chain(e),
    }
}

/// reqwest's top-level message repeats the URL ("error sending request for url (…)"); the
/// causes below it say why.
fn chain(e: &dyn std::error::Error) -> String {
    let (mut text, mut source) = match e.source() {
        Some(cause) => (cause.to_string(), cause.source()),
        None => (e.to_string(), None),
    };
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_each_segment_and_keep_a_mirror_prefix() {
        let hub = Hub::new(Some("http://127.0.0.1:9/mirror/"), None).unwrap();
        assert_eq!(
            hub.url(&["o", "r", "resolve", "main", "a b?.gguf"])
                .as_str(),
            "http://127.0.0.1:9/mirror/o/r/resolve/main/a%20b%3F.gguf"
        );
    }

    #[test]
    fn endpoint_must_be_http() {
        for bad in ["ftp://x", "not a url", "file:///etc"] {
            assert!(
                matches!(Hub::new(Some(bad), None), Err(HubError::Endpoint(_))),
                "{bad}"
            );
        }
        assert_eq!(
            Hub::new(Some(" "), None).unwrap().endpoint.as_str(),
            "https://huggingface.co/"
        );
    }
}
