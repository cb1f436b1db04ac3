//! The session's state and how keys and agent events change it. Pure: no terminal, no
//! agent, no clock of its own — what must happen outside (start a task, answer an approval,
//! run a slash command) comes back as [`Effect`]s for the controller, so snapshot tests
//! build any screen by feeding events.

use std::collections::VecDeque;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::time::Instant;

use crate::agent::{AgentEvent, Decision};
use crate::compose::commands::CustomCommands;
use crate::sessions::SessionSummary;
use crate::tools::Permission;
use crate::tui::history::History;
use crate::tui::input::{Input, InputAction};
use crate::tui::slash::{self, Slash};
use crate::tui::status::Status;
use crate::tui::transcript::{Entry, NoticeKind, Transcript};

/// What the session is doing.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// The model is loading; `progress` in 0..=1 when known.
    Loading {
        what: String,
        progress: Option<f32>,
    },
    Idle,
    /// No model could be loaded; `/model` can load one.
    NoModel,
    /// A task runs; `turn` counts model requests (0 until the first starts).
    Running {
        started: Instant,
        turn: u32,
    },
}

/// An approval the user has not answered yet.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingApproval {
    pub id: String,
    pub tool: String,
    pub permission: Permission,
    pub summary: String,
    pub diff: Option<String>,
    /// For commands: exactly what will run, and where.
    pub command: Option<String>,
    pub cwd: Option<String>,
    /// Lines of the diff scrolled past.
    pub scroll: usize,
}

/// A menu over the prompt.
#[derive(Clone, Debug, PartialEq)]
pub enum Popup {
    Commands {
        /// Name (without the slash) and what it does.
        items: Vec<(String, String)>,
        selected: usize,
    },
    Paths {
        items: Vec<String>,
        selected: usize,
    },
    Sessions {
        items: Vec<SessionSummary>,
        selected: usize,
        /// When the list was read, for "2 h ago".
        now_unix: u64,
    },
}

impl Popup {
    fn len(&self) -> usize {
        match self {
            Popup::Commands { items, .. } => items.len(),
            Popup::Paths { items, .. } => items.len(),
            Popup::Sessions { items, .. } => items.len(),
        }
    }

    fn selected_mut(&mut self) -> &mut usize {
        match self {
            Popup::Commands { selected, .. }
            | Popup::Paths { selected, .. }
            | Popup::Sessions { selected, .. } => selected,
        }
    }
}

/// What the controller must do after a key or an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this message to the agent as a new task.
    Start(String),
    /// The answer to an approval request.
    Approve {
        id: String,
        decision: Decision,
    },
    /// Stop the running task.
    Cancel,
    Slash(Slash),
    /// Restore the saved session with this id.
    Resume(String),
    /// Ctrl+G: edit the prompt's text in the user's editor.
    Edit(String),
    Quit,
}

/// The whole visible state.
pub struct App {
    pub transcript: Transcript,
    pub input: Input,
    pub history: History,
    pub status: Status,
    pub phase: Phase,
    pub approval: Option<PendingApproval>,
    /// Messages typed while a task runs, sent in order when it ends.
    pub queue: VecDeque<String>,
    /// A transient message over the prompt (cleared by the next key).
    pub banner: Option<(NoticeKind, String)>,
    pub popup: Option<Popup>,
    /// Lines scrolled up from the bottom of the transcript.
    pub scroll: usize,
    pub workspace: PathBuf,
    /// Workspace paths for `@` completion (loaded in the background).
    pub files: Vec<String>,
    /// The prompt files of `.lode/commands/` and the config dir, as slash commands.
    pub custom: CustomCommands,
    quit_armed: bool,
    /// The transcript area of the last frame (width, height), for scrolling by pages and
    /// stopping at the top.
    pub viewport: std::cell::Cell<(usize, usize)>,
}

impl App {
    pub fn new(workspace: PathBuf, history: History, phase: Phase) -> Self {
        Self {
            transcript: Transcript::new(),
            input: Input::new(),
            history,
            status: Status::default(),
            phase,
            approval: None,
            queue: VecDeque::new(),
            banner: None,
            popup: None,
            scroll: 0,
            workspace,
            files: Vec::new(),
            custom: CustomCommands::default(),
            quit_armed: false,
            viewport: std::cell::Cell::new((80, 20)),
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }

    pub fn set_banner(&mut self, kind: NoticeKind, text: impl Into<String>) {
        self.banner = Some((kind, text.into()));
    }

    /// The model finished loading: the session can take tasks (queued ones start now).
    pub fn loaded(
        &mut self,
        backend: &str,
        model: &str,
        context_limit: Option<u32>,
    ) -> Vec<Effect> {
        self.status.backend = backend.to_string();
        self.status.model = model.to_string();
        self.status.context_limit = context_limit;
        self.phase = Phase::Idle;
        self.next_queued()
    }

    /// Starts the next queued message, if any.
    fn next_queued(&mut self) -> Vec<Effect> {
        match self.queue.pop_front() {
            Some(text) => vec![self.start(text)],
            None => Vec::new(),
        }
    }

    fn start(&mut self, text: String) -> Effect {
        self.transcript.push(Entry::User(text.clone()));
        self.phase = Phase::Running {
            started: Instant::now(),
            turn: 0,
        };
        self.scroll = 0;
        Effect::Start(text)
    }

    /// Applies an agent event.
    pub fn on_agent(&mut self, event: &AgentEvent) -> Vec<Effect> {
        self.transcript.apply(event);
        match event {
            AgentEvent::TurnStarted {
                turn,
                backend,
                model,
            } => {
                if let Phase::Running { turn: current, .. } = &mut self.phase {
                    *current = *turn;
                }
                self.status.backend.clone_from(backend);
                self.status.model.clone_from(model);
            }
            AgentEvent::TurnStats { stats } => self.status.record(stats),
            AgentEvent::Routed {
                lane,
                reason,
                elapsed_ms,
                ..
            } => {
                self.status.lane = Some(lane.to_string());
                self.status.route = Some(format!("**{lane}** ({elapsed_ms:.1} ms): {reason}"));
            }
            AgentEvent::Escalated { .. } => self.status.lane = Some("large".to_string()),
            AgentEvent::ApprovalNeeded {
                id,
                tool,
                permission,
                summary,
                diff,
                command,
                cwd,
            } => {
                self.approval = Some(PendingApproval {
                    id: id.clone(),
                    tool: tool.clone(),
                    permission: *permission,
                    summary: summary.clone(),
                    diff: diff.clone(),
                    command: command.clone(),
                    cwd: cwd.clone(),
                    scroll: 0,
                });
            }
            AgentEvent::Finished { .. } => {
                self.phase = Phase::Idle;
                self.approval = None;
                return self.next_queued();
            }
            _ => {}
        }
        Vec::new()
    }

    /// A bracketed paste goes into the prompt as typed text, newlines and all.
    pub fn on_paste(&mut self, text: &str) {
        if self.approval.is_none() {
            self.input.insert_str(text);
            self.refresh_popup();
        }
    }

    /// Applies a key press.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return self.interrupt();
        }
        if self.quit_armed {
            self.quit_armed = false;
            self.banner = None;
        }
        if self.approval.is_some() {
            return self.approval_key(key);
        }
        if let Some(effects) = self.popup_key(key) {
            return effects;
        }
        match key.code {
            KeyCode::Esc => {
                // Scrolled up, Esc first comes back down (as the hint says); then it stops.
                if self.scroll > 0 {
                    self.scroll = 0;
                    return Vec::new();
                }
                if self.is_running() {
                    return vec![Effect::Cancel];
                }
                self.banner = None;
                return Vec::new();
            }
            KeyCode::Char('g') if ctrl => {
                self.popup = None;
                return vec![Effect::Edit(self.input.text())];
            }
            KeyCode::Char('o') if ctrl => {
                let expand = !self.transcript.expand_tools();
                self.transcript.set_expand_tools(expand);
                return Vec::new();
            }
            KeyCode::PageUp => {
                self.scroll_by(self.page() as isize);
                return Vec::new();
            }
            KeyCode::PageDown => {
                self.scroll_by(-(self.page() as isize));
                return Vec::new();
            }
            KeyCode::Up if key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.scroll_by(1);
                return Vec::new();
            }
            KeyCode::Down if key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.scroll_by(-1);
                return Vec::new();
            }
            _ => {}
        }
        match self.input.handle_key(key) {
            InputAction::Submit => self.submit(),
            InputAction::HistoryPrev => {
                if let Some(text) = self.history.prev(&self.input.text()) {
                    self.input.set_text(&text);
                }
                Vec::new()
            }
            InputAction::HistoryNext => {
                if let Some(text) = self.history.next() {
                    self.input.set_text(&text);
                }
                Vec::new()
            }
            InputAction::Complete => {
                self.refresh_popup();
                // A single candidate completes at once.
                if let Some(Popup::Paths { items, .. }) = &self.popup {
                    if let [only] = items.as_slice() {
                        let only = only.clone();
                        self.input.apply_completion(&only);
                        self.refresh_popup();
                    }
                }
                Vec::new()
            }
            InputAction::Changed | InputAction::Moved => {
                self.refresh_popup();
                Vec::new()
            }
            InputAction::Ignored => Vec::new(),
        }
    }

    /// Most of a screen, so a page turn keeps a little context.
    fn page(&self) -> usize {
        self.viewport.get().1.saturating_sub(2).max(1)
    }

    /// Scrolls up (positive) or down, stopping at the first line and at the bottom.
    fn scroll_by(&mut self, lines: isize) {
        let (width, height) = self.viewport.get();
        let top = self.transcript.height(width).saturating_sub(height);
        self.scroll = self.scroll.saturating_add_signed(lines).min(top);
    }

    /// Ctrl-C: stops a running task; on an idle prompt clears it, and a second press quits.
    fn interrupt(&mut self) -> Vec<Effect> {
        if self.is_running() {
            self.approval = None;
            return vec![Effect::Cancel];
        }
        if self.popup.is_some() {
            self.popup = None;
            return Vec::new();
        }
        if !self.input.is_empty() {
            self.input.clear();
            return Vec::new();
        }
        if self.quit_armed {
            return vec![Effect::Quit];
        }
        self.quit_armed = true;
        self.set_banner(NoticeKind::Info, "Press Ctrl-C again to quit");
        Vec::new()
    }

    fn approval_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(approval) = &mut self.approval else {
            return Vec::new();
        };
        let decision = match key.code {
            KeyCode::Char('y') | KeyCode::Enter => Decision::Approve,
            KeyCode::Char('a') => Decision::AlwaysThisSession,
            KeyCode::Char('n') => Decision::Reject,
            // Esc means stop, here as everywhere while a task runs.
            KeyCode::Esc => {
                self.approval = None;
                return vec![Effect::Cancel];
            }
            KeyCode::Down | KeyCode::Char('j') => {
                approval.scroll = approval.scroll.saturating_add(1);
                return Vec::new();
            }
            KeyCode::Up | KeyCode::Char('k') => {
                approval.scroll = approval.scroll.saturating_sub(1);
                return Vec::new();
            }
            KeyCode::PageDown => {
                approval.scroll = approval.scroll.saturating_add(10);
                return Vec::new();
            }
            KeyCode::PageUp => {
                approval.scroll = approval.scroll.saturating_sub(10);
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        let id = approval.id.clone();
        self.approval = None;
        vec![Effect::Approve { id, decision }]
    }

    /// Keys a menu takes: arrows move, Tab/Enter pick, Esc closes. `None`: not for a menu.
    fn popup_key(&mut self, key: KeyEvent) -> Option<Vec<Effect>> {
        let popup = self.popup.as_mut()?;
        let len = popup.len();
        match key.code {
            KeyCode::Up => {
                let selected = popup.selected_mut();
                *selected = selected.checked_sub(1).unwrap_or(len.saturating_sub(1));
                Some(Vec::new())
            }
            KeyCode::Down => {
                let selected = popup.selected_mut();
                *selected = if *selected + 1 >= len {
                    0
                } else {
                    *selected + 1
                };
                Some(Vec::new())
            }
            KeyCode::Esc => {
                self.popup = None;
                Some(Vec::new())
            }
            KeyCode::Tab | KeyCode::Enter => self.pick(key.code == KeyCode::Enter),
            _ => None,
        }
    }

    /// Takes the selected menu item. Enter on a command that needs no argument runs it.
    fn pick(&mut self, enter: bool) -> Option<Vec<Effect>> {
        match self.popup.take()? {
            Popup::Commands { items, selected } => {
                let (name, _) = items.get(selected)?;
                let takes_argument = match self.custom.find(name) {
                    Some(custom) => custom.argument_hint.is_some() || custom.body.contains('$'),
                    None => matches!(name.as_str(), "model" | "resume"),
                };
                if enter && !takes_argument {
                    self.input.set_text(&format!("/{name}"));
                    return Some(self.submit());
                }
                self.input.set_text(&format!("/{name} "));
                Some(Vec::new())
            }
            Popup::Paths { items, selected } => {
                let path = items.get(selected)?.clone();
                self.input.apply_completion(&path);
                self.refresh_popup();
                Some(Vec::new())
            }
            Popup::Sessions {
                items, selected, ..
            } => {
                let id = items.get(selected)?.id.clone();
                Some(vec![Effect::Resume(id)])
            }
        }
    }

    /// Opens, updates or closes the completion menu for what the prompt now holds.
    fn refresh_popup(&mut self) {
        if matches!(self.popup, Some(Popup::Sessions { .. })) {
            return;
        }
        let text = self.input.text();
        if let Some(name) = text.strip_prefix('/') {
            if !name.contains(char::is_whitespace) {
                let items = slash::matching(name, &self.custom);
                self.popup = (!items.is_empty()).then_some(Popup::Commands { items, selected: 0 });
                return;
            }
        }
        self.popup = self.input.completion_query().and_then(|query| {
            let items = crate::tui::files::complete(&self.files, &query, 8);
            (!items.is_empty()).then_some(Popup::Paths { items, selected: 0 })
        });
    }

    /// Enter: a slash command runs, a message starts a task or waits in the queue.
    fn submit(&mut self) -> Vec<Effect> {
        let text = self.input.take();
        self.popup = None;
        if text.trim().is_empty() {
            return Vec::new();
        }
        if let Err(e) = self.history.push(&text) {
            self.set_banner(
                NoticeKind::Warning,
                format!("could not save the input history: {e}"),
            );
        }
        let parsed = match slash::parse(&text, &self.custom) {
            Some(Ok(Slash::Custom { name, args })) => match self.custom.find(&name) {
                Some(custom) => match custom.expand(&args) {
                    Ok(prompt) => return self.message(prompt, &text),
                    Err(message) => Some(Err(message)),
                },
                None => Some(Err(format!("unknown command `/{name}`"))),
            },
            other => other,
        };
        match parsed {
            Some(Ok(command)) => {
                if self.is_running() && needs_idle(&command) {
                    self.input.set_text(&text);
                    self.set_banner(
                        NoticeKind::Warning,
                        "wait for the task to finish (Esc interrupts it) before running this",
                    );
                    return Vec::new();
                }
                self.banner = None;
                vec![Effect::Slash(command)]
            }
            Some(Err(message)) => {
                self.input.set_text(&text);
                self.set_banner(NoticeKind::Error, message);
                Vec::new()
            }
            None => self.message(text.clone(), &text),
        }
    }

    /// A message for the model (`typed` is what goes back in the prompt when it cannot be
    /// sent): it starts a task or waits in the queue.
    fn message(&mut self, text: String, typed: &str) -> Vec<Effect> {
        self.banner = None;
        if self.phase == Phase::NoModel {
            self.input.set_text(typed);
            self.set_banner(
                NoticeKind::Error,
                "no model is loaded: /model lists the models on this machine, /model PATH loads one",
            );
            return Vec::new();
        }
        if matches!(self.phase, Phase::Idle) && self.queue.is_empty() {
            vec![self.start(text)]
        } else {
            self.queue.push_back(text);
            Vec::new()
        }
    }

    /// Shows the saved sessions to pick from.
    pub fn show_sessions(&mut self, items: Vec<SessionSummary>, now_unix: u64) {
        if items.is_empty() {
            self.set_banner(NoticeKind::Info, "no saved sessions in this repository yet");
            return;
        }
        self.popup = Some(Popup::Sessions {
            items,
            selected: 0,
            now_unix,
        });
    }
}

/// Commands that change the conversation or the files cannot run under a running task.
fn needs_idle(command: &Slash) -> bool {
    matches!(
        command,
        Slash::Undo
            | Slash::Clear
            | Slash::Compact
            | Slash::Resume(_)
            | Slash::Model(Some(_))
            | Slash::Init
    )
}
