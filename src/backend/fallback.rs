//! Cloud first, local when the cloud is down: a backend that sends each turn to the primary
//! (a remote server) and, when the primary has an outage, sends the same turn — the whole
//! transcript — to the fallback (usually the in-process engine), then returns to the
//! primary at a later turn once it answers again.
//!
//! Only outages switch: a request the server rejects (400, 401, 404) would be rejected
//! anywhere, so it is reported, not retried elsewhere.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::backend::{BackendError, BackendFuture, ChatRequest, ModelBackend, ModelEvent};
use crate::cancel::CancelFlag;

/// A 429 asking to wait at least this long is an outage; a shorter one is waited out.
const LONG_RETRY_AFTER_S: u64 = 10;
/// Longest wait before the primary is tried again while on the fallback.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Opens the fallback when it is first needed (a model load can take seconds, and a
/// session whose primary never fails should not pay for it).
pub type Opener = Arc<dyn Fn() -> Result<Arc<dyn ModelBackend>, String> + Send + Sync>;

/// How the fallback behaves.
#[derive(Clone, Debug)]
pub struct FallbackPolicy {
    /// Go back to the primary once it answers again (else stay on the fallback).
    pub return_to_primary: bool,
    /// Treat a refused API key as an outage too (offline, a key that cannot be checked).
    pub on_auth: bool,
    /// First wait before the primary is tried again; doubled per failed try.
    pub retry: Duration,
    /// Warm standby: after each turn the primary serves, the fallback (once open) takes in
    /// the same conversation with a one-token turn, so its KV cache holds the prefix and a
    /// switch computes only what is new.
    pub warm: bool,
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        Self {
            return_to_primary: true,
            on_auth: false,
            retry: Duration::from_secs(15),
            warm: false,
        }
    }
}

/// Why `err` means the primary is down rather than that the request is wrong, if it does.
pub fn outage(err: &BackendError, policy: &FallbackPolicy) -> Option<String> {
    match err {
        BackendError::Unavailable(why) => Some(why.clone()),
        BackendError::Server { status, message } if *status >= 500 => {
            Some(format!("HTTP {status}: {message}"))
        }
        BackendError::RateLimited {
            retry_after_s,
            message,
        } if retry_after_s.is_none_or(|s| s >= LONG_RETRY_AFTER_S) => Some(format!(
            "rate limited{}: {message}",
            retry_after_s.map_or_else(String::new, |s| format!(" for {s} s"))
        )),
        BackendError::Protocol(why) => Some(format!("the answer broke off: {why}")),
        BackendError::Auth { status, .. } if policy.on_auth => {
            Some(format!("HTTP {status}: credentials refused"))
        }
        _ => None,
    }
}

struct State {
    fallback: Option<Arc<dyn ModelBackend>>,
    /// On the fallback since an outage; `None` while the primary serves.
    down_since: Option<Instant>,
    /// When to try the primary again, and the wait after that if it fails.
    retry_at: Instant,
    retry_wait: Duration,
}

/// The primary with a fallback behind it.
pub struct FallbackBackend {
    primary: Arc<dyn ModelBackend>,
    open: Opener,
    policy: FallbackPolicy,
    state: Mutex<State>,
}

impl FallbackBackend {
    pub fn new(primary: Arc<dyn ModelBackend>, open: Opener, policy: FallbackPolicy) -> Self {
        Self {
            primary,
            open,
            state: Mutex::new(State {
                fallback: None,
                down_since: None,
                retry_at: Instant::now(),
                retry_wait: policy.retry,
            }),
            policy,
        }
    }

    /// Opens the fallback now, blocking, on a thread of the caller's choosing (warm standby).
    pub fn preload(&self) -> Result<(), String> {
        if self.lock().fallback.is_some() {
            return Ok(());
        }
        let opened = (self.open)()?;
        self.lock().fallback.get_or_insert(opened);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fallback, opened on a blocking thread if it is not yet (a model load blocks).
    async fn fallback(&self) -> Result<Arc<dyn ModelBackend>, String> {
        if let Some(fallback) = &self.lock().fallback {
            return Ok(Arc::clone(fallback));
        }
        let open = Arc::clone(&self.open);
        let opened = tokio::task::spawn_blocking(move || open())
            .await
            .map_err(|e| format!("opening the fallback failed: {e}"))??;
        Ok(Arc::clone(self.lock().fallback.get_or_insert(opened)))
    }

    /// The backend that will take the next turn, for display.
    fn current(&self) -> Arc<dyn ModelBackend> {
        let state = self.lock();
        match (&state.fallback, state.down_since) {
            (Some(fallback), Some(_)) => Arc::clone(fallback),
            _ => Arc::clone(&self.primary),
        }
    }

    async fn turn(
        &self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> Result<crate::backend::Completion, BackendError> {
        let (down, retry_due) = {
            let state = self.lock();
            (state.down_since.is_some(), Instant::now() >= state.retry_at)
        };
        if !down || (self.policy.return_to_primary && retry_due) {
            match self
                .primary
                .complete(request.clone(), events.clone(), cancel.clone())
                .await
            {
                Ok(completion) => {
                    if down {
                        self.recovered(&events);
                    }
                    self.keep_warm(&request);
                    return Ok(completion);
                }
                Err(err) => match outage(&err, &self.policy) {
                    Some(_) if down => self.still_down(),
                    Some(reason) => self.went_down(&reason, &events).await?,
                    None => return Err(err),
                },
            }
        }
        let fallback = self.fallback().await.map_err(BackendError::Unavailable)?;
        fallback.complete(request, events, cancel).await
    }

    /// Prefills the fallback with `request` in the background (warm standby).
    fn keep_warm(&self, request: &ChatRequest) {
        let fallback = self.lock().fallback.clone();
        let (Some(fallback), true) = (fallback, self.policy.warm) else {
            return;
        };
        let mut request = request.clone();
        request.max_tokens = 1;
        tokio::spawn(async move {
            let (events, _ignored) = tokio::sync::mpsc::unbounded_channel();
            let _ = fallback.complete(request, events, CancelFlag::new()).await;
        });
    }

    async fn went_down(
        &self,
        reason: &str,
        events: &UnboundedSender<ModelEvent>,
    ) -> Result<(), BackendError> {
        let fallback = self.fallback().await.map_err(|e| {
            BackendError::Unavailable(format!(
                "{} is down ({reason}) and the fallback could not be opened: {e}",
                self.primary.model_name()
            ))
        })?;
        {
            let mut state = self.lock();
            state.down_since = Some(Instant::now());
            state.retry_wait = self.policy.retry;
            state.retry_at = Instant::now() + self.policy.retry;
        }
        let _ = events.send(ModelEvent::Switched {
            from: describe(self.primary.as_ref()),
            to: describe(fallback.as_ref()),
            reason: format!("{reason}; the turn is regenerated on the fallback"),
        });
        Ok(())
    }

    fn still_down(&self) {
        let mut state = self.lock();
        state.retry_wait = (state.retry_wait * 2).clamp(Duration::from_secs(1), MAX_RETRY);
        state.retry_at = Instant::now() + state.retry_wait;
    }

    fn recovered(&self, events: &UnboundedSender<ModelEvent>) {
        let (fallback, since) = {
            let mut state = self.lock();
            let since = state.down_since.take();
            state.retry_wait = self.policy.retry;
            (state.fallback.clone(), since)
        };
        let _ = events.send(ModelEvent::Switched {
            from: fallback.map_or_else(|| "fallback".to_string(), |f| describe(f.as_ref())),
            to: describe(self.primary.as_ref()),
            reason: format!(
                "{} answers again after {} s",
                self.primary.model_name(),
                since.map_or(0, |s| s.elapsed().as_secs())
            ),
        });
    }
}

fn describe(backend: &dyn ModelBackend) -> String {
    format!("{} ({})", backend.model_name(), backend.kind())
}

impl ModelBackend for FallbackBackend {
    fn kind(&self) -> &'static str {
        self.current().kind()
    }

    fn model_name(&self) -> String {
        self.current().model_name()
    }

    fn turn_mode(&self) -> Option<String> {
        self.current().turn_mode()
    }

    fn context_note(&self) -> Option<String> {
        self.current().context_note()
    }

    /// The smaller of the two, once the fallback is open: the conversation must fit either.
    fn context_length(&self) -> Option<u32> {
        let fallback = self.lock().fallback.clone();
        match (
            self.primary.context_length(),
            fallback.and_then(|f| f.context_length()),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn complete<'a>(
        &'a self,
        request: ChatRequest,
        events: UnboundedSender<ModelEvent>,
        cancel: CancelFlag,
    ) -> BackendFuture<'a> {
        Box::pin(self.turn(request, events, cancel))
    }
}
