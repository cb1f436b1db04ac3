//! The session at run time: loads the model in the background, hosts the agent, turns the
//! app's effects into `Op`s, saves the session as it goes, and runs the event loop that draws
//! frames only when something changed.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::Event;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

use crate::agent::{host, AgentEvent, Decision, Op, PermissionMode};
use crate::backend::ModelBackend;
use crate::compose::agent::{coding_agent, CodingSetup};
use crate::compose::backend::{open, BackendFlags};
use crate::compose::commands::{CustomCommands, Sources};
use crate::compose::routing::open_routing;
use crate::config::{BackendChoice, Config};
use crate::engine::options::ProgressFn;
use crate::sessions::{Record, Recorder, SessionStore, SessionWriter};
use crate::tools::mcp::McpHub;
use crate::tools::Workspace;
use crate::tui::actions::{self, Request, Scope};
use crate::tui::app::{App, Effect, Phase};
use crate::tui::files;
use crate::tui::frame::FrameScheduler;
use crate::tui::history::History;
use crate::tui::slash::{self, Slash};
use crate::tui::transcript::NoticeKind;

/// How often the activity line animates while a task runs.
const ANIMATION: Duration = Duration::from_millis(100);

/// Which saved session to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// A new session.
    No,
    /// Show the list of saved sessions.
    Pick,
    /// Restore this one (id or unique prefix).
    Id(String),
}

/// Everything the session needs besides the configuration.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub backend: BackendFlags,
    pub mode: PermissionMode,
    pub max_turns: Option<u32>,
    pub test_command: Option<String>,
    /// Where lode was started; its repository root is the workspace.
    pub cwd: PathBuf,
    pub resume: Resume,
    /// Text put in the prompt at start, for the user to send or change (`lode demo`).
    pub prefill: Option<String>,
}

/// Messages from background work to the loop.
pub enum UiMsg {
    LoadProgress(f32),
    Loaded(Result<Arc<dyn ModelBackend>, String>),
    Files(Vec<String>),
    /// Something to tell the user from background work (e.g. why there is no small model).
    Notice(String),
    /// SIGTERM or SIGHUP: leave now, restoring the terminal.
    Terminate,
}

/// Runs the user's editor on the prompt's text (the terminal handed over meanwhile); the
/// new text, or the one line saying why there is none.
pub type Editor = Box<dyn FnMut(&str) -> Result<String, String> + Send>;

/// The running session.
pub struct Controller {
    pub app: App,
    config: Config,
    options: SessionOptions,
    workspace: Workspace,
    store: SessionStore,
    writer: Option<SessionWriter>,
    /// Everything the agent is asked, in order; the host reads it once the model is loaded.
    ops: UnboundedSender<Op>,
    ops_rx: Option<UnboundedReceiver<Op>>,
    agent_tx: UnboundedSender<AgentEvent>,
    agent_rx: UnboundedReceiver<AgentEvent>,
    ui: UnboundedSender<UiMsg>,
    ui_rx: UnboundedReceiver<UiMsg>,
    recorder: Recorder,
    /// The MCP servers, connecting from the start so they are up by the first task.
    mcp: Option<Arc<McpHub>>,
    /// `/init`'s draft while its approval is shown.
    init: Option<crate::tui::init::Proposal>,
    /// Ctrl+G's editor; none where there is no terminal to hand over (tests).
    editor: Option<Editor>,
    quit: bool,
}

impl Controller {
    /// A session over the repository containing `options.cwd`. Starts loading the model.
    pub fn new(options: SessionOptions, config: Config) -> io::Result<Self> {
        let root = crate::exec::repo_root(&options.cwd);
        let workspace = Workspace::new(&root)?;
        let history = History::load(&config.dirs.data, workspace.root());
        let store = SessionStore::new(&config.dirs.data, workspace.root());
        let (ops, ops_rx) = unbounded_channel();
        let (agent_tx, agent_rx) = unbounded_channel();
        let (ui, ui_rx) = unbounded_channel();
        let mut app = App::new(
            workspace.root().to_path_buf(),
            history,
            Phase::Loading {
                what: "starting".into(),
                progress: None,
            },
        );
        if let Some(text) = &options.prefill {
            app.input.set_text(text);
        }
        let mcp = crate::compose::agent::mcp_hub(&config, &workspace);
        app.custom = CustomCommands::load(&Sources {
            repo_root: workspace.root(),
            config_dir: &config.dirs.config,
            reserved: slash::RESERVED,
        });
        for skipped in &app.custom.skipped {
            let _ = ui.send(UiMsg::Notice(format!("custom command skipped: {skipped}")));
        }
        let mut controller = Self {
            app,
            mcp,
            config,
            options,
            workspace,
            store,
            writer: None,
            ops,
            ops_rx: Some(ops_rx),
            agent_tx,
            agent_rx,
            ui,
            ui_rx,
            recorder: Recorder::default(),
            init: None,
            editor: None,
            quit: false,
        };
        if let Some(notice) = controller.config.untrusted_notice() {
            let _ = controller.ui.send(UiMsg::Notice(notice));
        }
        let flags = controller.options.backend.clone();
        controller.load_backend(flags);
        controller.refresh_files();
        match controller.options.resume.clone() {
            Resume::No => {}
            Resume::Pick => controller.slash(Slash::Resume(None)),
            Resume::Id(id) => controller.resume(&id),
        }
        Ok(controller)
    }

    /// What Ctrl+G runs.
    pub fn set_editor(&mut self, editor: Editor) {
        self.editor = Some(editor);
    }

    /// A sender for terminal-level messages (signals) from outside the loop.
    pub fn ui_sender(&self) -> UnboundedSender<UiMsg> {
        self.ui.clone()
    }

    /// Runs until the user quits. `terminal` carries terminal events; `draw` renders a
    /// frame. Frames are drawn only when something changed, at most one per 16 ms.
    pub async fn run<D>(
        &mut self,
        mut terminal: UnboundedReceiver<io::Result<Event>>,
        mut draw: D,
    ) -> io::Result<()>
    where
        D: FnMut(&App, Instant) -> io::Result<()>,
    {
        let mut frames = FrameScheduler::new();
        frames.request(Instant::now());
        while !self.quit {
            let deadline = frames.deadline();
            tokio::select! {
                event = terminal.recv() => match event {
                    Some(Ok(event)) => self.on_terminal(event),
                    Some(Err(e)) => return Err(e),
                    // The terminal is gone: nobody is left to answer.
                    None => self.quit = true,
                },
                Some(event) = self.agent_rx.recv() => self.on_agent(event),
                Some(msg) = self.ui_rx.recv() => self.on_ui(msg),
                () = sleep_until(deadline), if deadline.is_some() => {
                    let now = Instant::now();
                    draw(&self.app, now)?;
                    frames.drawn(now);
                    if self.app.is_running() || matches!(self.app.phase, Phase::Loading { .. }) {
                        frames.request_at(now + ANIMATION);
                    }
                    continue;
                }
            }
            frames.request(Instant::now());
        }
        // Whatever still runs stops with the session.
        if self.app.is_running() {
            self.send(Op::Cancel);
        }
        Ok(())
    }

    fn on_terminal(&mut self, event: Event) {
        match event {
            Event::Key(key) => {
                let effects = self.app.on_key(key);
                self.apply(effects);
            }
            Event::Paste(text) => self.app.on_paste(&text),
            _ => {}
        }
    }

    fn on_agent(&mut self, event: AgentEvent) {
        for record in self.recorder.records(&event) {
            self.save(&record);
        }
        if actions::show(&mut self.app, &event) {
            return;
        }
        let finished = matches!(event, AgentEvent::Finished { .. });
        let effects = self.app.on_agent(&event);
        if finished {
            self.refresh_files();
        }
        self.apply(effects);
    }

    fn on_ui(&mut self, msg: UiMsg) {
        match msg {
            UiMsg::LoadProgress(p) => {
                if let Phase::Loading { progress, .. } = &mut self.app.phase {
                    *progress = Some(p);
                }
            }
            UiMsg::Loaded(Ok(backend)) => self.loaded(backend),
            // A failed switch keeps the model that was working.
            UiMsg::Loaded(Err(message)) if self.ops_rx.is_none() => {
                self.app.phase = Phase::Idle;
                self.app.transcript.notice(
                    NoticeKind::Error,
                    format!("{message}\n(still talking to {})", self.app.status.model),
                );
            }
            UiMsg::Loaded(Err(message)) => {
                self.app.phase = Phase::NoModel;
                self.app.transcript.notice(NoticeKind::Error, message);
                self.app.set_banner(
                    NoticeKind::Warning,
                    "no model loaded: /model lists the models on this machine, /model PATH loads one",
                );
            }
            UiMsg::Files(list) => self.app.files = list,
            UiMsg::Notice(text) => self.app.transcript.notice(NoticeKind::Info, text),
            UiMsg::Terminate => self.quit = true,
        }
    }

    pub(crate) fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Start(text) => {
                    self.save(&Record::User { text: text.clone() });
                    self.send(Op::Task(text));
                }
                Effect::Approve { id, decision } if id == crate::tui::init::APPROVAL_ID => {
                    self.answer_init(decision);
                }
                Effect::Approve { id, decision } => self.send(Op::Approval { id, decision }),
                // Esc on /init's proposal says no to it; no task runs under it.
                Effect::Cancel if self.init.is_some() => self.answer_init(Decision::Reject),
                Effect::Cancel => self.send(Op::Cancel),
                Effect::Slash(command) => self.slash(command),
                Effect::Resume(id) => self.resume(&id),
                Effect::Edit(text) => self.edit(&text),
                Effect::Quit => self.quit = true,
            }
        }
    }

    /// The user's answer to `/init`'s draft.
    fn answer_init(&mut self, decision: Decision) {
        let Some(proposal) = self.init.take() else {
            return;
        };
        match decision {
            Decision::Approve | Decision::AlwaysThisSession => match proposal.write() {
                Ok(()) => self.app.transcript.notice(
                    NoticeKind::Info,
                    format!(
                        "wrote `{}`; sessions started from now on read it",
                        proposal.path.display()
                    ),
                ),
                Err(e) => self.app.transcript.notice(NoticeKind::Error, e),
            },
            Decision::Reject => self.app.transcript.notice(
                NoticeKind::Info,
                "AGENTS.md left as it was; /init drafts it again any time",
            ),
        }
        self.app.scroll = 0;
    }

    /// Ctrl+G: the editor has the terminal until it exits; the agent goes on meanwhile.
    fn edit(&mut self, text: &str) {
        let Some(editor) = self.editor.as_mut() else {
            self.app
                .set_banner(NoticeKind::Error, "no editor can run in this session");
            return;
        };
        let threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        // Blocking here would stall whatever else this worker runs; hand that over first.
        let result = if threaded {
            tokio::task::block_in_place(|| editor(text))
        } else {
            editor(text)
        };
        match result {
            Ok(edited) => {
                self.app.input.set_text(&edited);
                self.app.banner = None;
            }
            Err(e) => self.app.set_banner(NoticeKind::Error, e),
        }
    }

    /// Opens a backend in the background; the loop hears `LoadProgress` and `Loaded`.
    fn load_backend(&mut self, flags: BackendFlags) {
        let what = match (&flags.backend, &flags.model) {
            (_, Some(model)) => format!("loading {model}"),
            (Some(BackendChoice::Scripted(path)), None) => format!("loading {}", path.display()),
            _ => "loading the model".to_string(),
        };
        self.app.phase = Phase::Loading {
            what,
            progress: None,
        };
        let ui = self.ui.clone();
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            let progress_ui = ui.clone();
            let progress: ProgressFn = Box::new(move |p| {
                let _ = progress_ui.send(UiMsg::LoadProgress(p));
            });
            let result = open(&flags, &config, Some(progress)).map_err(|e| e.to_string());
            let _ = ui.send(UiMsg::Loaded(result));
        });
    }

    fn loaded(&mut self, backend: Arc<dyn ModelBackend>) {
        let kind = backend.kind();
        let model = backend.model_name();
        let context = backend.context_length();
        if let Some(ops) = self.ops_rx.take() {
            self.start_host(backend, ops);
        } else {
            self.send(Op::SetBackend(backend));
            self.app.transcript.notice(
                NoticeKind::Info,
                format!("now talking to **{model}** ({kind})"),
            );
        }
        let effects = self.app.loaded(kind, &model, context);
        self.apply(effects);
    }

    fn start_host(&mut self, backend: Arc<dyn ModelBackend>, ops: UnboundedReceiver<Op>) {
        let (agent, notices) = coding_agent(
            &self.config,
            self.workspace.clone(),
            Arc::clone(&backend),
            CodingSetup {
                mode: self.options.mode,
                max_turns: self.options.max_turns,
                test_command: self.options.test_command.clone(),
                interactive: true,
                cwd: self.options.cwd.clone(),
                answer_schema: None,
                mcp: self.mcp.clone(),
                session_id: None,
            },
            self.agent_tx.clone(),
        );
        for notice in notices {
            let _ = self.ui.send(UiMsg::Notice(notice));
        }
        let data_dir = Some(self.config.dirs.data.clone());
        let (config, flags, ui) = (
            self.config.clone(),
            self.options.backend.clone(),
            self.ui.clone(),
        );
        // The small model loads in the background; messages sent meanwhile wait in the
        // operation queue, which the host only reads once it has the agent.
        tokio::spawn(async move {
            let opened = tokio::task::spawn_blocking(move || {
                open_routing(
                    flags.route,
                    flags.small_model.as_deref(),
                    &config,
                    flags.threads,
                    backend,
                )
            })
            .await;
            let agent = match opened {
                Ok((routing, note)) => {
                    if let Some(note) = note {
                        let _ = ui.send(UiMsg::Notice(note));
                    }
                    agent.with_routing(routing)
                }
                Err(_) => agent,
            };
            host::serve(agent, ops, data_dir).await;
        });
    }

    /// Reads the workspace's paths for `@` completion in the background.
    fn refresh_files(&self) {
        let root = self.workspace.root().to_path_buf();
        let ui = self.ui.clone();
        tokio::task::spawn_blocking(move || {
            let _ = ui.send(UiMsg::Files(files::list(&root)));
        });
    }

    fn send(&self, op: Op) {
        let _ = self.ops.send(op);
    }

    fn slash(&mut self, command: Slash) {
        let scope = Scope {
            app: &mut self.app,
            config: &self.config,
            backend: &self.options.backend,
            root: self.workspace.root(),
            cwd: &self.options.cwd,
            store: &self.store,
            session: self.writer.as_ref().map(|w| w.id()),
            mcp: self.mcp.as_deref(),
        };
        match actions::run(scope, command) {
            Request::Nothing => {}
            Request::Send(op) => self.send(op),
            Request::Clear => self.clear(),
            Request::Resume(id) => self.resume(&id),
            Request::LoadBackend(flags) => self.load_backend(flags),
            Request::Propose(proposal) => self.init = Some(proposal),
            Request::Quit => self.quit = true,
        }
    }

    /// Restores a saved session: its transcript on screen, its conversation in the agent,
    /// and later messages appended to the same file.
    fn resume(&mut self, id: &str) {
        self.app.popup = None;
        let saved = match self.store.load(id) {
            Ok(saved) => saved,
            Err(e) => {
                self.app.set_banner(NoticeKind::Error, e.to_string());
                return;
            }
        };
        self.app.transcript.clear();
        self.app.status.totals = Default::default();
        // The saved turns' figures count toward /stats, but the bar names today's model.
        let (backend, model) = (
            self.app.status.backend.clone(),
            self.app.status.model.clone(),
        );
        for record in &saved.records {
            match record {
                Record::User { text } => self
                    .app
                    .transcript
                    .push(crate::tui::transcript::Entry::User(text.clone())),
                Record::Event { event } => {
                    self.app.transcript.apply(event);
                    if let AgentEvent::TurnStats { stats } = event {
                        self.app.status.record(stats);
                    }
                }
                Record::Header { .. } | Record::Message { .. } | Record::Messages { .. } => {}
            }
        }
        self.app.status.backend = backend;
        self.app.status.model = model;
        let messages = saved.messages();
        let mut text = format!(
            "resumed session `{}`: {} messages in the conversation",
            saved.id,
            messages.len()
        );
        if saved.skipped_lines > 0 {
            text.push_str(&format!(" ({} damaged lines skipped)", saved.skipped_lines));
        }
        self.app.transcript.notice(NoticeKind::Info, text);
        self.send(Op::Restore(messages));
        self.writer = match self.store.append_to(&saved.id) {
            Ok(writer) => Some(writer),
            Err(e) => {
                self.app.set_banner(
                    NoticeKind::Warning,
                    format!("this session will not be saved further: {e}"),
                );
                None
            }
        };
        self.app.scroll = 0;
    }

    /// `/clear`: a new conversation in a new session file.
    fn clear(&mut self) {
        self.send(Op::Clear);
        self.app.transcript.clear();
        self.writer = None;
        self.recorder = Recorder::default();
        self.app.transcript.notice(
            NoticeKind::Info,
            "New conversation. The previous one is saved: `/resume` lists it.",
        );
        self.app.scroll = 0;
    }

    /// Appends to the session file, creating it on the first record worth keeping. A
    /// failure is reported once and the session goes on unsaved.
    fn save(&mut self, record: &Record) {
        if self.writer.is_none() {
            if !matches!(record, Record::User { .. }) {
                return;
            }
            match self.store.create() {
                Ok(writer) => self.writer = Some(writer),
                Err(e) => {
                    self.app.set_banner(
                        NoticeKind::Warning,
                        format!(
                            "cannot save this session under {}: {e}",
                            self.store.dir().display()
                        ),
                    );
                    return;
                }
            }
        }
        if let Some(writer) = &mut self.writer {
            if let Err(e) = writer.append(record) {
                self.app.set_banner(
                    NoticeKind::Warning,
                    format!(
                        "cannot save this session to {}: {e}",
                        writer.path().display()
                    ),
                );
                self.writer = None;
            }
        }
    }
}

/// Sleeps until `deadline`; forever without one (the branch is disabled then anyway).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
