//! The engine thread and the handle callers use to reach it.
//!
//! llama.cpp calls block and its contexts may not cross threads, so one OS thread owns the
//! backend, the model and every context; callers send commands that carry their own reply
//! channels. Replies and token streams are tokio channels, usable from async code
//! (`recv().await`) and from plain threads (`blocking_recv`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::engine::cache::DiskCache;
use crate::engine::calibrate::{calibrate, Calibration};
use crate::engine::error::EngineError;
use crate::engine::generate::{
    generate, DiskTarget, GenerateRequest, GenerationResult, Speculation, Speculator,
};
use crate::engine::kv_session::{CancelFlag, KvSession, SessionKind};
use crate::engine::model::{self, LoadedModel, MemoryKind, ModelInfo};
use crate::engine::ngram::NgramIndex;
use crate::engine::options::{ContextOptions, LoadOptions};
use crate::engine::read::{read, ReadRequest, Reading};
use crate::engine::spec_policy::{CostTable, DraftLength, SpecPolicy};
use crate::engine::speculative;
use crate::engine::template::RenderOptions;

/// Engine-wide settings.
#[derive(Clone, Debug, Default)]
pub struct EngineConfig {
    /// The disk prompt cache; `None` disables it.
    pub disk_cache: Option<DiskCacheConfig>,
    /// Sessions kept alive per model; the least recently used is dropped beyond this.
    pub max_sessions: Option<usize>,
}

/// Where the disk prompt cache lives and how large it may grow.
#[derive(Clone, Debug)]
pub struct DiskCacheConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// A streamed piece of a generation.
#[derive(Debug)]
pub enum GenEvent {
    /// Final text (never retracted).
    Text(String),
    /// The generation ended.
    Done(Result<GenerationResult, EngineError>),
}

enum Command {
    Load {
        options: LoadOptions,
        reply: oneshot::Sender<Result<ModelInfo, EngineError>>,
    },
    Generate {
        request: GenerateRequest,
        cancel: CancelFlag,
        events: tmpsc::UnboundedSender<GenEvent>,
    },
    Read {
        request: ReadRequest,
        cancel: CancelFlag,
        reply: oneshot::Sender<Result<Reading, EngineError>>,
    },
    Tokenize {
        text: String,
        reply: oneshot::Sender<Result<Vec<i32>, EngineError>>,
    },
    DropSession {
        session: String,
        reply: oneshot::Sender<()>,
    },
    Calibrate {
        mtp: bool,
        reps: usize,
        reply: oneshot::Sender<Result<Calibration, EngineError>>,
    },
    Render {
        messages: Vec<serde_json::Value>,
        options: RenderOptions,
        reply: oneshot::Sender<Result<String, EngineError>>,
    },
}

/// Cloneable handle to the engine thread. The thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct Engine {
    commands: mpsc::Sender<Command>,
}

/// A running generation: a stream of events plus a way to stop it.
pub struct Generation {
    events: tmpsc::UnboundedReceiver<GenEvent>,
    cancel: CancelFlag,
}

impl Generation {
    /// The next event; `None` after `Done`.
    pub async fn next(&mut self) -> Option<GenEvent> {
        self.events.recv().await
    }

    /// The next event, blocking the current (non-async) thread.
    pub fn blocking_next(&mut self) -> Option<GenEvent> {
        self.events.blocking_recv()
    }

    /// Stops the generation before its next token.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A flag that cancels this generation, for another thread to hold.
    pub fn cancel_flag(&self) -> CancelFlag {
        self.cancel.clone()
    }

    /// Waits for the end, passing text to `on_text` as it arrives (blocking).
    pub fn blocking_complete(
        mut self,
        mut on_text: impl FnMut(&str),
    ) -> Result<GenerationResult, EngineError> {
        while let Some(event) = self.blocking_next() {
            match event {
                GenEvent::Text(text) => on_text(&text),
                GenEvent::Done(result) => return result,
            }
        }
        Err(EngineError::WorkerGone)
    }
}

impl Engine {
    /// Starts the engine thread.
    pub fn spawn(config: EngineConfig) -> Result<Self, EngineError> {
        let (commands, inbox) = mpsc::channel();
        thread::Builder::new()
            .name("lode-engine".to_string())
            .spawn(move || run(&config, &inbox))
            .map_err(|e| EngineError::State(format!("could not start the engine thread: {e}")))?;
        Ok(Self { commands })
    }

    /// Loads a model, replacing the current one.
    pub async fn load(&self, options: LoadOptions) -> Result<ModelInfo, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Load { options, reply })?;
        answer.await.map_err(|_| EngineError::WorkerGone)?
    }

    /// `load` for non-async callers.
    pub fn blocking_load(&self, options: LoadOptions) -> Result<ModelInfo, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Load { options, reply })?;
        answer
            .blocking_recv()
            .map_err(|_| EngineError::WorkerGone)?
    }

    /// Loads with a context of `n_ctx` tokens, or of the model's own length when it declares
    /// fewer. `options` makes the load options for a context length, once per attempt.
    pub fn blocking_load_at_most(
        &self,
        n_ctx: u32,
        options: impl Fn(u32) -> LoadOptions,
    ) -> Result<ModelInfo, EngineError> {
        match self.blocking_load(options(n_ctx)) {
            Err(EngineError::ContextTooLarge { max, .. }) => self.blocking_load(options(max)),
            other => other,
        }
    }

    /// Starts a generation; events arrive on the returned stream.
    pub fn generate(&self, request: GenerateRequest) -> Result<Generation, EngineError> {
        self.generate_with(request, CancelFlag::new())
    }

    /// Starts a generation that stops when `cancel` is set (the caller's own flag, so one
    /// Ctrl-C can stop a whole agent turn).
    pub fn generate_with(
        &self,
        request: GenerateRequest,
        cancel: CancelFlag,
    ) -> Result<Generation, EngineError> {
        let (events, receiver) = tmpsc::unbounded_channel();
        self.send(Command::Generate {
            request,
            cancel: cancel.clone(),
            events,
        })?;
        Ok(Generation {
            events: receiver,
            cancel,
        })
    }

    /// Reads `request` without generating (see [`read`](crate::engine::read)); blocking.
    pub fn blocking_read(
        &self,
        request: ReadRequest,
        cancel: CancelFlag,
    ) -> Result<Reading, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Read {
            request,
            cancel,
            reply,
        })?;
        answer
            .blocking_recv()
            .map_err(|_| EngineError::WorkerGone)?
    }

    /// Tokenizes text with the loaded model (special tokens parsed).
    pub fn blocking_tokenize(&self, text: impl Into<String>) -> Result<Vec<i32>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Tokenize {
            text: text.into(),
            reply,
        })?;
        answer
            .blocking_recv()
            .map_err(|_| EngineError::WorkerGone)?
    }

    /// Renders a conversation with the loaded model's chat template: the exact text a
    /// [`Prompt::Chat`](crate::engine::Prompt::Chat) request is given.
    pub fn blocking_render(
        &self,
        messages: Vec<serde_json::Value>,
        options: RenderOptions,
    ) -> Result<String, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Render {
            messages,
            options,
            reply,
        })?;
        answer
            .blocking_recv()
            .map_err(|_| EngineError::WorkerGone)?
    }

    /// Frees a session's context and its cached prefix.
    pub fn blocking_drop_session(&self, session: impl Into<String>) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::DropSession {
            session: session.into(),
            reply,
        })?;
        answer.blocking_recv().map_err(|_| EngineError::WorkerGone)
    }

    /// Measures this machine's decode costs for the loaded model (see [`Calibration`]), with
    /// its MTP layers when `mtp`, else with its draft model.
    pub fn blocking_calibrate(&self, mtp: bool, reps: usize) -> Result<Calibration, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Calibrate { mtp, reps, reply })?;
        answer
            .blocking_recv()
            .map_err(|_| EngineError::WorkerGone)?
    }

    fn send(&self, command: Command) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::WorkerGone)
    }
}

fn run(config: &EngineConfig, inbox: &mpsc::Receiver<Command>) {
    let cache = config
        .disk_cache
        .as_ref()
        .map(|c| DiskCache::new(&c.dir, c.max_bytes));
    let mut next = inbox.recv().ok();
    while let Some(command) = next.take() {
        match command {
            Command::Load { options, reply } => match load_pair(options) {
                Ok((loaded, draft)) => {
                    let _ = reply.send(Ok(loaded.info.clone()));
                    // Serve this model until another load arrives or the handles are gone.
                    next = serve(&loaded, draft.as_ref(), config, cache.as_ref(), inbox);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    next = inbox.recv().ok();
                }
            },
            other => {
                refuse(other);
                next = inbox.recv().ok();
            }
        }
    }
}

/// The model, and the draft model beside it when one is asked for (loaded with the same
/// context length, so every position the target reaches fits the draft too).
fn load_pair(mut options: LoadOptions) -> Result<(LoadedModel, Option<LoadedModel>), EngineError> {
    let draft_path = options.draft.take();
    let gpu_layers = options.gpu_layers;
    let context = options.context.clone();
    let mut loaded = model::load(options)?;
    let Some(path) = draft_path else {
        return Ok((loaded, None));
    };
    let draft = model::load(LoadOptions {
        gpu_layers,
        context: ContextOptions {
            n_ctx: Some(loaded.info.n_ctx),
            // What the target measured holds for its draft, which is timed only with it.
            flash_attention: loaded.context.flash_attention,
            ..context
        },
        ..LoadOptions::new(path)
    })?;
    speculative::check_vocab(&loaded, &draft)?;
    loaded.info.draft = Some(draft.info.name.clone());
    Ok((loaded, Some(draft)))
}

fn refuse(command: Command) {
    match command {
        Command::Load { .. } => {}
        Command::Generate { events, .. } => {
            let _ = events.send(GenEvent::Done(Err(EngineError::NoModel)));
        }
        Command::Tokenize { reply, .. } => {
            let _ = reply.send(Err(EngineError::NoModel));
        }
        Command::Read { reply, .. } => {
            let _ = reply.send(Err(EngineError::NoModel));
        }
        Command::DropSession { reply, .. } => {
            let _ = reply.send(());
        }
        Command::Calibrate { reply, .. } => {
            let _ = reply.send(Err(EngineError::NoModel));
        }
        Command::Render { reply, .. } => {
            let _ = reply.send(Err(EngineError::NoModel));
        }
    }
}

/// Handles commands for one loaded model; returns the command that ends its reign (a new
/// load), or `None` when every handle is gone.
fn serve(
    loaded: &LoadedModel,
    draft: Option<&LoadedModel>,
    config: &EngineConfig,
    cache: Option<&DiskCache>,
    inbox: &mpsc::Receiver<Command>,
) -> Option<Command> {
    let mut served = Served::new(loaded, draft, config, cache);
    while let Ok(command) = inbox.recv() {
        match command {
            Command::Load { .. } => return Some(command),
            Command::Tokenize { text, reply } => {
                let tokens = loaded.model.vocab().tokenize(text.as_bytes(), false, true);
                let _ = reply.send(Ok(tokens.iter().map(|t| t.0).collect()));
            }
            Command::Read {
                request,
                cancel,
                reply,
            } => {
                let _ = reply.send(served.read(&request, &cancel));
            }
            Command::DropSession { session, reply } => {
                served.forget(&session);
                let _ = reply.send(());
            }
            Command::Calibrate { mtp, reps, reply } => {
                let _ = reply.send(calibrate(loaded, draft, mtp, reps));
            }
            Command::Render {
                messages,
                options,
                reply,
            } => {
                let _ = reply.send(loaded.render_chat(&messages, &options));
            }
            Command::Generate {
                request,
                cancel,
                events,
            } => {
                let result = served.generate(&request, &cancel, &mut |text| {
                    let _ = events.send(GenEvent::Text(text.to_string()));
                });
                let _ = events.send(GenEvent::Done(result));
            }
        }
    }
    None
}

/// One loaded model's sessions, and what speculation has learned about it.
struct Served<'m> {
    loaded: &'m LoadedModel,
    draft: Option<&'m LoadedModel>,
    max_sessions: usize,
    /// By name, with the clock tick of their last use.
    sessions: HashMap<String, (u64, KvSession<'m>)>,
    /// The draft's sessions mirror the target's, name for name.
    draft_sessions: HashMap<String, KvSession<'m>>,
    /// Each session's n-gram index, name for name; it lives as long as the session.
    ngrams: HashMap<String, NgramIndex>,
    /// What the policy learns (acceptance, costs) holds for the model, not for one session.
    policies: HashMap<(Drafting, DraftLength), SpecPolicy>,
    /// Once llama.cpp refuses to draft with this model's MTP layers, it always will.
    mtp_refused: Option<String>,
    clock: u64,
    disk: Option<DiskTarget<'m>>,
}

impl<'m> Served<'m> {
    fn new(
        loaded: &'m LoadedModel,
        draft: Option<&'m LoadedModel>,
        config: &EngineConfig,
        cache: Option<&'m DiskCache>,
    ) -> Self {
        Self {
            loaded,
            draft,
            max_sessions: config.max_sessions.unwrap_or(4).max(1),
            sessions: HashMap::new(),
            draft_sessions: HashMap::new(),
            ngrams: HashMap::new(),
            policies: HashMap::new(),
            mtp_refused: None,
            clock: 0,
            disk: cache.map(|cache| DiskTarget {
                cache,
                namespace: cache.namespace(&loaded.info.identity, &context_fingerprint(loaded)),
            }),
        }
    }

    /// Runs one generation in the session the request names (created, or recreated for
    /// another kind of speculation, as needed).
    fn generate(
        &mut self,
        request: &GenerateRequest,
        cancel: &CancelFlag,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<GenerationResult, EngineError> {
        self.clock += 1;
        let (kind, mut off_reason) = self.session_kind(request.speculation)?;
        self.ensure_session(&request.session, kind, &mut off_reason)?;
        let loaded = self.loaded;
        let Some((used, session)) = self.sessions.get_mut(&request.session) else {
            return Err(EngineError::State("the session vanished".into()));
        };
        *used = self.clock;
        let speculator = match (request.speculation, self.draft) {
            (Speculation::Mtp { length }, _) if session.mtp().is_some() => Speculator::Mtp {
                policy: policy_for(&mut self.policies, loaded, Drafting::Mtp, length),
            },
            (Speculation::Draft { length }, Some(model)) => {
                if !self.draft_sessions.contains_key(&request.session) {
                    let fresh = KvSession::new(model)?;
                    self.draft_sessions.insert(request.session.clone(), fresh);
                }
                let Some(draft_session) = self.draft_sessions.get_mut(&request.session) else {
                    return Err(EngineError::State("the draft session vanished".into()));
                };
                Speculator::Draft {
                    model,
                    session: draft_session,
                    policy: policy_for(&mut self.policies, loaded, Drafting::Model, length),
                }
            }
            (Speculation::Ngram { length }, _) => Speculator::Ngram {
                index: self.ngrams.entry(request.session.clone()).or_default(),
                policy: policy_for(&mut self.policies, loaded, Drafting::Ngram, length),
            },
            _ => Speculator::Off { reason: off_reason },
        };
        generate(
            loaded,
            session,
            request,
            self.disk.as_ref(),
            speculator,
            cancel,
            on_text,
        )
    }

    /// Reads `request` in its session, made a reader session if it is not one.
    fn read(&mut self, request: &ReadRequest, cancel: &CancelFlag) -> Result<Reading, EngineError> {
        self.clock += 1;
        self.ensure_session(&request.session, SessionKind::Reader, &mut None)?;
        let loaded = self.loaded;
        let Some((used, session)) = self.sessions.get_mut(&request.session) else {
            return Err(EngineError::State("the session vanished".into()));
        };
        *used = self.clock;
        read(loaded, session, request, self.disk.as_ref(), cancel)
    }

    /// The kind of session a request's speculation needs, and why speculation is off when
    /// the request asked for it but this model cannot.
    fn session_kind(
        &self,
        speculation: Speculation,
    ) -> Result<(SessionKind, Option<String>), EngineError> {
        let loaded = self.loaded;
        Ok(match speculation {
            Speculation::Off => (SessionKind::Plain, None),
            Speculation::Mtp { .. } if !loaded.info.mtp_loaded => (
                SessionKind::Plain,
                Some(format!("`{}` has no MTP layers", loaded.info.name)),
            ),
            Speculation::Mtp { .. } if self.mtp_refused.is_some() => {
                (SessionKind::Plain, self.mtp_refused.clone())
            }
            Speculation::Mtp { length } => (
                SessionKind::Mtp {
                    n_draft: length.max(),
                },
                None,
            ),
            Speculation::Draft { .. } if self.draft.is_none() => return Err(EngineError::NoDraft),
            // Recurrent state keeps snapshots to roll rejected drafts back.
            Speculation::Draft { length } | Speculation::Ngram { length }
                if loaded.info.memory != MemoryKind::Attention =>
            {
                (
                    SessionKind::Speculative {
                        n_draft: length.max(),
                    },
                    None,
                )
            }
            Speculation::Draft { .. } | Speculation::Ngram { .. } => (SessionKind::Plain, None),
        })
    }

    /// Drops session `name` with what mirrors it (its draft session, its n-gram index).
    fn forget(&mut self, name: &str) {
        self.sessions.remove(name);
        self.draft_sessions.remove(name);
        self.ngrams.remove(name);
    }

    /// Makes sure the session `name` exists with `kind`, dropping the least recently used
    /// one beyond the limit.
    fn ensure_session(
        &mut self,
        name: &str,
        kind: SessionKind,
        off_reason: &mut Option<String>,
    ) -> Result<(), EngineError> {
        let stale = self
            .sessions
            .get(name)
            .is_some_and(|(_, s)| s.kind() != kind);
        if !stale && self.sessions.contains_key(name) {
            return Ok(());
        }
        self.sessions.remove(name);
        if self.sessions.len() >= self.max_sessions {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                self.forget(&oldest);
            }
        }
        let session = match KvSession::with_kind(self.loaded, kind) {
            Err(EngineError::MtpUnavailable(reason)) => {
                *off_reason = Some(reason.clone());
                self.mtp_refused = Some(reason);
                KvSession::new(self.loaded)
            }
            other => other,
        }?;
        self.sessions
            .insert(name.to_string(), (self.clock, session));
        Ok(())
    }
}

/// The speculation policy for one drafter and draft length, seeded with the model's measured
/// costs, or a prior for this kind of machine.
fn policy_for<'p>(
    policies: &'p mut HashMap<(Drafting, DraftLength), SpecPolicy>,
    loaded: &LoadedModel,
    drafting: Drafting,
    length: DraftLength,
) -> &'p mut SpecPolicy {
    policies.entry((drafting, length)).or_insert_with(|| {
        let costs = loaded.spec_costs.clone().unwrap_or_else(|| {
            if loaded.info.gpu {
                CostTable::gpu_prior()
            } else {
                CostTable::cpu_prior()
            }
        });
        let policy = SpecPolicy::new(length, costs);
        match drafting {
            // llama.cpp's MTP driver drafts its full length every round.
            Drafting::Mtp => policy.with_fixed_draft_steps(length.max()),
            Drafting::Model => policy,
            // A lookup proposes only what followed a match of several tokens, and costs
            // nothing when it finds none.
            Drafting::Ngram => policy.with_prior_acceptance(NGRAM_PRIOR_ACCEPTANCE),
        }
    })
}

/// How often a token that followed the same few tokens earlier comes again, before this
/// model has shown it: most matches in a coding session are copies.
const NGRAM_PRIOR_ACCEPTANCE: f64 = 0.8;

/// Who proposes tokens; each learns its own acceptance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Drafting {
    Mtp,
    Model,
    Ngram,
}

/// The context settings that shape saved KV state.
fn context_fingerprint(loaded: &LoadedModel) -> String {
    let c = &loaded.context;
    format!("c{}-fa{:?}", loaded.info.n_ctx, c.flash_attention).to_lowercase()
}
