use std::path::Path;

use crate::agent::{AgentEvent, Op};
use crate::compose::backend::BackendFlags;
use crate::config::{BackendChoice, Config};
use crate::discovery::{self, ScanRoots};
use crate::sessions::export::{self, Existing};
use crate::sessions::SessionStore;
use crate::tui::app::{App, PendingApproval, Phase};
use crate::tui::init;
use crate::tui::slash::{Slash, COMMANDS};
use crate::tui::status::{percent, rate};
use crate::tui::transcript::{Entry, NoticeKind};

/// What a slash command sees of the session.
pub struct Scope<'a> {
    pub app: &'a mut App,
    pub config: &'a Config,
    /// The flags the session's model was opened with.
    pub backend: &'a BackendFlags,
    pub root: &'a Path,
    /// Where lode was started (relative paths given to commands start there).
    pub cwd: &'a Path,
    pub store: &'a SessionStore,
    /// The id of this session's file, once something was saved.
    pub session: Option<&'a str>,
    /// The MCP servers, when any is configured.
    pub mcp: Option<&'a crate::tools::mcp::McpHub>,
}

/// What the session does next for a slash command.
pub enum Request {
    Nothing,
    /// Ask the agent.
    Send(Op),
    /// A new conversation in a new session file.
    Clear,
    Resume(String),
    /// Open another model in the background.
    LoadBackend(BackendFlags),
    /// `/init`'s draft, shown for approval; kept until the user answers.
    Propose(init::Proposal),
    Quit,
}

/// Runs one slash command: what it shows goes into the transcript, what it asks of the
/// agent or the session comes back as a request.
pub fn run(scope: Scope<'_>, command: Slash) -> Request {
    let app = scope.app;
    match command {
        Slash::Help => {
            let text = help(app);
            info(app, text);
        }
        Slash::Model(None) => {
            let text = model_list(app, scope.config);
            info(app, text);
        }
        Slash::Model(Some(name)) => return switch_model(app, scope.config, scope.backend, &name),
        Slash::Route => {
            let text = route(app);
            info(app, text);
        }
        Slash::Undo => return Request::Send(Op::Undo),
        Slash::Diff => return Request::Send(Op::Diff),
        Slash::Clear => return Request::Clear,
        Slash::Compact => return Request::Send(Op::Compact),
        Slash::Resume(None) => match scope.store.list() {
            Ok(list) => app.show_sessions(list, crate::sessions::unix_now()),
            Err(e) => app.set_banner(
                NoticeKind::Error,
                format!(
                    "cannot list saved sessions in {}: {e}",
                    scope.store.dir().display()
                ),
            ),
        },
        Slash::Resume(Some(id)) => return Request::Resume(id),
        Slash::Stats => {
            let text = stats(app);
            info(app, text);
        }
        Slash::Trust => match crate::commands::trust::record(
            scope.config,
            scope.root,
            crate::config::TrustLevel::Trusted,
        ) {
            Ok(line) => info(
                app,
                format!("{line}; it takes effect when the session starts again"),
            ),
            Err(e) => app.set_banner(NoticeKind::Error, e),
        },
        Slash::Init => return propose_init(app, scope.config, scope.root),
        Slash::Mcp => {
            let status = scope.mcp.map(|hub| hub.status()).unwrap_or_default();
            // As `lode mcp list` prints it, line for line.
            let text = crate::commands::mcp::describe(&status, scope.config);
            info(app, format!("```text\n{}```", text));
        }
        Slash::Export(path) => export(app, scope.store, scope.cwd, scope.session, path.as_deref()),
        // The app sends a custom command's prompt as a message; it never comes here.
        Slash::Custom { .. } => {}
        Slash::Quit => return Request::Quit,
    }
    Request::Nothing
}

/// `/init`: the draft as a diff against the AGENTS.md there is, in the approval prompt.
fn propose_init(app: &mut App, config: &Config, root: &Path) -> Request {
    let path = root.join(init::FILE);
    let before = match init::read_existing(&path) {
        Ok(before) => before,
        Err(e) => {
            app.set_banner(NoticeKind::Error, e);
            return Request::Nothing;
        }
    };
    let test_command = config
        .agent
        .test_command
        .clone()
        .or_else(|| crate::tools::test::detect_test_command(root).map(str::to_string));
    let draft = init::draft(root, test_command.as_deref());
    if before.as_deref() == Some(draft.as_str()) {
        app.set_banner(
            NoticeKind::Info,
            "AGENTS.md already holds what /init would draft",
        );
        return Request::Nothing;
    }
    app.approval = Some(PendingApproval {
        id: init::APPROVAL_ID.to_string(),
        tool: "write_file".to_string(),
        permission: crate::tools::Permission::Write,
        summary: format!("write {}", init::FILE),
        diff: Some(crate::tools::write::unified_diff(
            init::FILE,
            before.as_deref(),
            &draft,
        )),
        command: None,
        cwd: None,
        scroll: 0,
    });
    Request::Propose(init::Proposal {
        path,
        before,
        draft,
    })
}

/// `/export [PATH]`: the session as Markdown (or JSON for `.json`), never over a file.
fn export(
    app: &mut App,
    store: &SessionStore,
    cwd: &Path,
    session: Option<&str>,
    path: Option<&str>,
) {
    let Some(id) = session else {
        app.set_banner(
            NoticeKind::Info,
            "nothing to export yet: send a message first",
        );
        return;
    };
    let target = match path {
        Some(path) => cwd.join(path),
        None => cwd.join(format!("lode-session-{id}.md")),
    };
    let format = export::Format::for_path(&target);
    let result = store.load(id).map_err(|e| e.to_string()).and_then(|saved| {
        export::write(&target, &export::render(&saved, format), Existing::Keep)
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => info(
            app,
            format!("exported the session to `{}`", target.display()),
        ),
        Err(e) => app.set_banner(NoticeKind::Error, e),
    }
}

/// Shows what the agent did for a slash command (undo, diff, compact); says whether `event`
/// was one of those.
pub fn show(app: &mut App, event: &AgentEvent) -> bool {
    match event {
        AgentEvent::Compacted {
            elided,
            before,
            after,
        } => {
            let text = if *elided == 0 {
                format!("nothing to compact: the conversation is about {before} tokens and its recent messages are kept whole")
            } else {
                format!(
                    "compacted: {elided} old tool results elided, about {before} → {after} tokens"
                )
            };
            app.transcript.notice(NoticeKind::Info, text);
        }
        AgentEvent::Undone {
            restored,
            deleted,
            kept,
        } => {
            let mut text =
                String::from("**Undone.** The files the last task changed are back:\n\n");
            for path in restored {
                text.push_str(&format!("- restored `{path}`\n"));
            }
            for path in deleted {
                text.push_str(&format!("- deleted `{path}` (the task created it)\n"));
            }
            for (path, backup) in kept {
                text.push_str(&format!(
                    "- kept `{backup}`: your version of `{path}`, changed after the task\n"
                ));
            }
            info(app, text);
        }
        AgentEvent::UndoRefused {
            message,
            nothing_to_undo: true,
        } => app.set_banner(NoticeKind::Info, message.clone()),
        AgentEvent::UndoRefused { message, .. } => {
            app.transcript.notice(NoticeKind::Error, message.clone());
        }
        AgentEvent::RepoDiff { staged, unstaged } => {
            if staged.is_empty() && unstaged.is_empty() {
                app.set_banner(NoticeKind::Info, "no uncommitted changes in the repository");
            }
            for (what, diff) in [("Staged", staged), ("Unstaged", unstaged)] {
                if !diff.is_empty() {
                    info(app, format!("**{what} changes**"));
                    app.transcript.push(Entry::Diff {
                        path: String::new(),
                        diff: diff.clone(),
                    });
                }
            }
        }
        _ => return false,
    }
    true
}

fn info(app: &mut App, text: String) {
    app.transcript.notice(NoticeKind::Info, text);
    app.scroll = 0;
}

fn help(app: &App) -> String {
    let mut text = String::from("**Commands**\n\n");
    for (name, about) in COMMANDS {
        text.push_str(&format!("- `/{name}` — {about}\n"));
    }
    if !app.custom.commands.is_empty() {
        text.push_str(
            "\n**Custom commands** (prompt files; `(project)` ones come from the repository)\n\n",
        );
        for command in &app.custom.commands {
            let hint = command
                .argument_hint
                .as_ref()
                .map(|h| format!(" {h}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "- `/{}{hint}` — {}\n",
                command.name,
                command.about()
            ));
        }
    }
    text.push_str(
        "\n**Keys**\n\n\
         - `Enter` send · `Shift+Enter`, `Alt+Enter`, `Ctrl+J` or `\\` then `Enter`: new line\n\
         - `↑` `↓` input history (saved per repository) · `Tab` complete `@path` and `/commands`\n\
         - `Ctrl+G` write the message in `$VISUAL` / `$EDITOR`\n\
         - `Esc` or `Ctrl+C` interrupt the running task · `Ctrl+C` twice on an empty prompt: quit\n\
         - `PgUp` `PgDn` `Shift+↑` `Shift+↓` scroll · `Ctrl+O` show or hide tool output\n\
         - approvals: `y` yes · `a` yes and stop asking for this kind of call · `n` no · `Esc` stop the task\n\n\
         Messages typed while a task runs are sent when it ends.",
    );
    text
}

fn model_list(app: &App, config: &Config) -> String {
    let status = &app.status;
    let mut text = format!(
        "**Model:** {} ({} backend, context {})\n",
        if status.model.is_empty() {
            "none loaded"
        } else {
            &status.model
        },
        if status.backend.is_empty() {
            "no"
        } else {
            &status.backend
        },
        status
            .context_limit
            .map_or("unknown".to_string(), |n| format!("{n} tokens"))
    );
    let roots = ScanRoots::discover(vec![config.models.dir.clone()]);
    let found = discovery::scan(&roots);
    if found.is_empty() {
        text.push_str(
            "\nNo GGUF models found on this machine (searched the model dir, Ollama, LM Studio \
             and the Hugging Face cache). `/model PATH` loads any GGUF file.",
        );
        return text;
    }
    text.push_str("\n**On this machine** — `/model NAME` switches (the conversation is kept):\n\n");
    for entry in found.iter().take(20) {
        text.push_str(&format!(
            "- `{}` — {} · {}\n",
            entry.name,
            entry.source.label(),
            entry.path.display()
        ));
    }
    if found.len() > 20 {
        text.push_str(&format!(
            "- … and {} more (`lode models`)\n",
            found.len() - 20
        ));
    }
    text
}

fn switch_model(app: &mut App, config: &Config, current: &BackendFlags, name: &str) -> Request {
    let path = Path::new(name);
    let target = if path.exists() {
        path.to_path_buf()
    } else {
        let roots = ScanRoots::discover(vec![config.models.dir.clone()]);
        let found = discovery::scan(&roots);
        match found.iter().find(|m| m.name == name).or_else(|| {
            let mut matching = found.iter().filter(|m| m.name.contains(name));
            match (matching.next(), matching.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }) {
            Some(entry) => entry.path.clone(),
            None => {
                app.set_banner(
                    NoticeKind::Error,
                    format!("no model `{name}`: /model lists the models found; a path to a .gguf file also works"),
                );
                return Request::Nothing;
            }
        }
    };
    Request::LoadBackend(BackendFlags {
        backend: Some(BackendChoice::Local),
        model: Some(target.display().to_string()),
        ..current.clone()
    })
}

fn route(app: &App) -> String {
    match &app.status.route {
        Some(decision) => format!(
            "**Last route:** {decision}\n\nTier 0 rules answer one-call requests (tests, status, \
             diff, undo, files, symbols) with no model; the small model (`[models.small]`) \
             picks small or large for the rest; `--route small|large` fixes the lane."
        ),
        None => "**No task routed yet.** Tier 0 rules answer one-call requests (tests, status, \
                 diff, undo, files, symbols) with no model; the small model \
                 (`[models.small]`) picks small or large for the rest; `--route small|large` \
                 fixes the lane."
            .to_string(),
    }
}

fn stats(app: &App) -> String {
    let status = &app.status;
    let t = &status.totals;
    if t.turns == 0 {
        return "**Session stats:** no model turns yet.".to_string();
    }
    let prefill_tokens = t.prompt_tokens.saturating_sub(t.cached_tokens);
    let per_second = |tokens: u64, ms: f64| {
        if ms > 0.0 {
            rate(tokens as f64 * 1000.0 / ms)
        } else {
            "–".to_string()
        }
    };
    let mut text = format!(
        "**Session stats** — {} model turns on {} ({})\n\n\
         | | this session |\n|---|---|\n\
         | prompt tokens | {} ({} from cache: {}, {} of them from disk) |\n\
         | prefill | {} tokens in {:.1} s · {} |\n\
         | decode | {} tokens in {:.1} s · {} |\n",
        t.turns,
        status.model,
        status.backend,
        t.prompt_tokens,
        t.cached_tokens,
        percent(t.cached_tokens as f64, t.prompt_tokens as f64),
        t.disk_cached_tokens,
        prefill_tokens,
        t.prefill_ms / 1000.0,
        per_second(prefill_tokens, t.prefill_ms),
        t.decode_tokens,
        t.decode_ms / 1000.0,
        per_second(t.decode_tokens, t.decode_ms),
    );
    if t.draft_proposed > 0 {
        text.push_str(&format!(
            "| speculative drafts | {} of {} accepted ({}) |\n",
            t.draft_accepted,
            t.draft_proposed,
            percent(t.draft_accepted as f64, t.draft_proposed as f64)
        ));
    } else {
        text.push_str("| speculative drafts | not used by this model |\n");
    }
    let routing = match &status.route {
        Some(decision) => format!("last task: {decision}"),
        None => "no task routed yet".to_string(),
    };
    text.push_str(&format!("| routing | {routing} |\n"));
    if let (Some(used), Some(limit)) = (status.context_used(), status.context_limit) {
        text.push_str(&format!(
            "| context | {used} of {limit} tokens ({}) |\n",
            percent(f64::from(used), f64::from(limit))
        ));
    }
    if matches!(app.phase, Phase::Running { .. }) {
        text.push_str("\n(a task is running; its current turn is not counted yet)");
    }
    text
}
