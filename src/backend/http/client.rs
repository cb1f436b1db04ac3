//! The transport both remote wires share: one HTTP client per server, requests that give up
//! when the server goes silent or the turn is cancelled, and error statuses sorted into
//! [`BackendError`] variants with the server's own reason quoted. The wires differ only in
//! how they authenticate and what they suggest when something goes wrong ([`Wire`]).

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use super::base_url::{self, ApiBase, PathStyle};
use super::{error_chain, error_message, is_loopback, quote, transport_error};
use crate::backend::BackendError;
use crate::cancel::CancelFlag;

/// Error bodies beyond this are cut: the first lines say what went wrong.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// A discovery answer beyond this is not the small JSON document it should be.
const MAX_INFO_BODY: usize = 1024 * 1024;

/// What one wire does its own way.
pub(crate) struct Wire {
    /// A valid base URL, for the error that rejects a bad one.
    pub example_url: &'static str,
    /// Sends the key: `Authorization: Bearer` when `None`, else this header.
    pub key_header: Option<&'static str>,
    /// Sent with every request.
    pub headers: &'static [(&'static str, &'static str)],
    /// What a silence probably means, after "sent nothing for N s while lode waited for …;".
    pub stall_hint: &'static str,
    /// A response header naming the request, quoted in errors (the API's support asks for it).
    pub request_id_header: Option<&'static str>,
    /// What `probe` expects `GET models` to answer, for its error.
    pub model_list: &'static str,
    /// What a base URL without a version at its end means, as this wire's official client
    /// reads it.
    pub path_style: PathStyle,
}

/// A client for one server.
pub(crate) struct Http {
    client: reqwest::Client,
    base: ApiBase,
    api_key: Option<String>,
    timeout: Duration,
    wire: Wire,
}

impl Http {
    /// Checks the URL and builds the client; no request is made. A blank key counts as none.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        timeout_s: u64,
        wire: Wire,
    ) -> Result<Self, BackendError> {
        let base = base_url::parse(base_url, wire.path_style).map_err(|reason| {
            BackendError::Unavailable(format!(
                "remote base_url {reason}; write it like {}",
                wire.example_url
            ))
        })?;
        let url = reqwest::Url::parse(&base.api).map_err(|e| {
            BackendError::Unavailable(format!("remote base_url `{}`: {e}", base.api))
        })?;
        // reqwest is built without a default crypto provider so that aws-lc-rs (a long C
        // build) stays out; `ring` must then be the process default before any client is
        // built. An error only means a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(timeout_s.max(1));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .user_agent(concat!("lode/", env!("CARGO_PKG_VERSION")));
        // A corporate HTTP_PROXY must not swallow requests to a server on this machine.
        if is_loopback(&url) {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| {
            BackendError::Unavailable(format!(
                "cannot set up an HTTP client for {}: {}",
                base.api,
                error_chain(&e)
            ))
        })?;
        Ok(Self {
            client,
            base,
            api_key: api_key.filter(|k| !k.trim().is_empty()),
            timeout,
            wire,
        })
    }

    /// The API root, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base.api
    }

    /// `path` on the server's own root, outside the versioned API (`/props`, `/api/show`).
    pub fn server_url(&self, path: &str) -> String {
        format!("{}/{path}", self.base.server)
    }

    /// The key in use (`None` when none, or a blank one, was given).
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    pub fn url(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.base.api)
    }

    /// `request` with the wire's headers and the key, as the wire sends it.
    fn authorized(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (name, value) in self.wire.headers {
            request = request.header(*name, *value);
        }
        match (&self.api_key, self.wire.key_header) {
            (Some(key), None) => request.bearer_auth(key),
            (Some(key), Some(header)) => request.header(header, key),
            (None, _) => request,
        }
    }

    /// Sends a request built by `build` on the client, and waits for its status. Silence,
    /// a cancel and an error status come back as the matching [`BackendError`];
    /// `not_found` is the hint a 404 gets.
    pub async fn send(
        &self,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
        url: &str,
        cancel: &CancelFlag,
        not_found: &str,
    ) -> Result<reqwest::Response, BackendError> {
        let request = self.authorized(build(&self.client));
        let response = self
            .guard(request.send(), cancel, || self.silent(url, "an answer"))
            .await?
            .map_err(|e| transport_error(&e, url))?;
        self.check_status(response, url, cancel, not_found).await
    }

    /// A request that informs rather than works: sent with the wire's headers and key, given
    /// at most `limit`, and answered with the JSON of a success, or `None` for anything else
    /// (no server, an error status, a body that is not JSON). Callers fall back on `None`.
    pub async fn ask_json(
        &self,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
        limit: Duration,
    ) -> Option<Value> {
        let request = self.authorized(build(&self.client).timeout(limit));
        let mut response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.ok()? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_INFO_BODY {
                return None;
            }
        }
        serde_json::from_slice(&body).ok()
    }

    /// Asks `GET {base_url}/models` whether the server is up, speaks the API and takes the
    /// key: a health check before and after falling back to the local engine.
    pub async fn probe(&self, not_found: &str) -> Result<(), BackendError> {
        let url = self.url("models");
        let never = CancelFlag::new();
        let mut response = self.send(|c| c.get(&url), &url, &never, not_found).await?;
        let body = self.read_capped(&mut response, &never, &url).await?;
        let listed = serde_json::from_slice::<Value>(&body)
            .ok()
            .is_some_and(|v| v.get("data").is_some_and(Value::is_array));
        if !listed {
            return Err(BackendError::Protocol(format!(
                "GET {url} answered, but not with {} ({}); check that [remote] base_url ends \
                 with the API version, like /v1",
                self.wire.model_list,
                quote(&String::from_utf8_lossy(&body))
            )));
        }
        Ok(())
    }

    /// Runs `fut` unless the turn is cancelled or the server stays silent past the timeout.
    pub async fn guard<T>(
        &self,
        fut: impl Future<Output = T>,
        cancel: &CancelFlag,
        stalled: impl FnOnce() -> BackendError,
    ) -> Result<T, BackendError> {
        tokio::select! {
            biased;
            () = super::cancelled(cancel) => Err(BackendError::Cancelled),
            out = tokio::time::timeout(self.timeout, fut) => out.map_err(|_| stalled()),
        }
    }

    /// The error for a server that sent nothing while lode waited for `awaited`.
    pub fn silent(&self, url: &str, awaited: &str) -> BackendError {
        BackendError::Unavailable(format!(
            "{url} sent nothing for {} s while lode waited for {awaited}; {}",
            self.timeout.as_secs(),
            self.wire.stall_hint
        ))
    }

    /// Turns an error status into the matching [`BackendError`], quoting the server's reason.
    async fn check_status(
        &self,
        mut response: reqwest::Response,
        url: &str,
        cancel: &CancelFlag,
        not_found: &str,
    ) -> Result<reqwest::Response, BackendError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
        };
        let retry_after_s = header("retry-after").and_then(|v| v.parse::<u64>().ok());
        let request_id = self
            .wire
            .request_id_header
            .and_then(header)
            .map(|id| format!(", request id {id}"))
            .unwrap_or_default();
        // The reason is a nicety: a body that fails to arrive must not hide the status.
        let body = self
            .read_capped(&mut response, cancel, url)
            .await
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        let code = status.as_u16();
        // Too long for the context: the agent's to fix by compacting, not an outage.
        if let Some(mut overflow) = crate::backend::overflow::from_status(code, &body) {
            if let Some(key) = &self.api_key {
                overflow.message = overflow.message.replace(key.as_str(), "<api key>");
            }
            return Err(BackendError::ContextOverflow(overflow));
        }
        let mut message = error_message(&body).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        });
        if let Some(key) = &self.api_key {
            message = message.replace(key.as_str(), "<api key>");
        }
        Err(match code {
            401 | 403 => BackendError::Auth {
                status: code,
                message,
            },
            429 => BackendError::RateLimited {
                retry_after_s,
                message,
            },
            404 => BackendError::Server {
                status: code,
                message: format!("{message} (at {url}{request_id}); {not_found}"),
            },
            // 400, 413, 529 (overloaded), 5xx: the fallback layer decides by status.
            _ => BackendError::Server {
                status: code,
                message: format!("{message} (at {url}{request_id})"),
            },
        })
    }

    /// The body of an error answer, at most [`MAX_ERROR_BODY`] bytes.
    async fn read_capped(
        &self,
        response: &mut reqwest::Response,
        cancel: &CancelFlag,
        url: &str,
    ) -> Result<Vec<u8>, BackendError> {
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            let next = self
                .guard(response.chunk(), cancel, || self.silent(url, "the body"))
                .await?
                .map_err(|e| transport_error(&e, url))?;
            match next {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        body.truncate(MAX_ERROR_BODY);
        Ok(body)
    }
}
