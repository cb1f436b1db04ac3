//! What each slash command does. Output goes into the transcript as a notice (Markdown), so
//! it scrolls with the conversation and is saved with it.

use std::path::Path;

use crate::agent::host::Job;
use crate::compose::backend::BackendFlags;
use crate::config::BackendChoice;
use crate::discovery::{self, ScanRoots};
use crate::tools::journal::{undo_last, UndoError};
use crate::tools::{Tool, ToolContext};
use crate::tui::app::Phase;
use crate::tui::controller::{Controller, UiMsg};
use crate::tui::slash::{Slash, COMMANDS};
use crate::tui::status::{percent, rate};
use crate::tui::transcript::{Entry, NoticeKind};

/// Runs one slash command.
pub fn run(ctl: &mut Controller, command: Slash) {
    match command {
        Slash::Help => info(ctl, help()),
        Slash::Model(None) => info(ctl, model_list(ctl)),
        Slash::Model(Some(name)) => switch_model(ctl, &name),
        Slash::Route => info(ctl, route(ctl)),
        Slash::Undo => undo(ctl),
        Slash::Diff => diff(ctl),
        Slash::Clear => {
            ctl.clear();
            info(
                ctl,
                "New conversation. The previous one is saved: `/resume` lists it.".into(),
            );
        }
        Slash::Compact => {
            let (reply, answer) = tokio::sync::oneshot::channel();
            ctl.send_job(Job::Compact(reply));
            let ui = ctl.ui.clone();
            tokio::spawn(async move {
                if let Ok(compacted) = answer.await {
                    let _ = ui.send(UiMsg::Compacted(compacted));
                }
            });
        }
        Slash::Resume(None) => match ctl.store.list() {
            Ok(list) => ctl.app.show_sessions(list, crate::sessions::unix_now()),
            Err(e) => ctl.app.set_banner(
                NoticeKind::Error,
                format!(
                    "cannot list saved sessions in {}: {e}",
                    ctl.store.dir().display()
                ),
            ),
        },
        Slash::Resume(Some(id)) => ctl.resume(&id),
        Slash::Stats => info(ctl, stats(ctl)),
        Slash::Trust => {
            let root = ctl.workspace.root().to_path_buf();
            match crate::commands::trust::record(
                &ctl.config,
                &root,
                crate::config::TrustLevel::Trusted,
            ) {
                Ok(line) => info(
                    ctl,
                    format!("{line}; it takes effect when the session starts again"),
                ),
                Err(e) => ctl.app.set_banner(NoticeKind::Error, e),
            }
        }
        Slash::Quit => ctl.quit(),
    }
}

fn info(ctl: &mut Controller, text: String) {
    ctl.app.transcript.notice(NoticeKind::Info, text);
    ctl.app.scroll = 0;
}

fn help() -> String {
    let mut text = String::from("**Commands**\n\n");
    for (name, about) in COMMANDS {
        text.push_str(&format!("- `/{name}` — {about}\n"));
    }
    text.push_str(
        "\n**Keys**\n\n\
         - `Enter` send · `Shift+Enter`, `Alt+Enter`, `Ctrl+J` or `\\` then `Enter`: new line\n\
         - `↑` `↓` input history (saved per repository) · `Tab` complete `@path` and `/commands`\n\
         - `Esc` or `Ctrl+C` interrupt the running task · `Ctrl+C` twice on an empty prompt: quit\n\
         - `PgUp` `PgDn` `Shift+↑` `Shift+↓` scroll · `Ctrl+O` show or hide tool output\n\
         - approvals: `y` yes · `a` yes and stop asking for this kind of call · `n` no · `Esc` stop the task\n\n\
         Messages typed while a task runs are sent when it ends.",
    );
    text
}

fn model_list(ctl: &Controller) -> String {
    let status = &ctl.app.status;
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
    let roots = ScanRoots::discover(vec![ctl.config.models.dir.clone()]);
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

fn switch_model(ctl: &mut Controller, name: &str) {
    let path = Path::new(name);
    let target = if path.exists() {
        path.to_path_buf()
    } else {
        let roots = ScanRoots::discover(vec![ctl.config.models.dir.clone()]);
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
                ctl.app.set_banner(
                    NoticeKind::Error,
                    format!("no model `{name}`: /model lists the models found; a path to a .gguf file also works"),
                );
                return;
            }
        }
    };
    let flags = BackendFlags {
        backend: Some(BackendChoice::Local),
        model: Some(target.display().to_string()),
        ..ctl.options.backend.clone()
    };
    ctl.load_backend(flags);
}

fn route(ctl: &Controller) -> String {
    match &ctl.app.status.route {
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

fn undo(ctl: &mut Controller) {
    match undo_last(&ctl.config.dirs.data, ctl.workspace.root()) {
        Ok(report) => {
            let mut text =
                String::from("**Undone.** The files the last task changed are back:\n\n");
            let mut note = String::from(
                "[The user undid your last task's changes with /undo; these files are back to \
                 how they were before it:",
            );
            for path in &report.restored {
                text.push_str(&format!("- restored `{}`\n", path.display()));
                note.push_str(&format!(" {}", path.display()));
            }
            for path in &report.deleted {
                text.push_str(&format!(
                    "- deleted `{}` (the task created it)\n",
                    path.display()
                ));
                note.push_str(&format!(" {} (deleted)", path.display()));
            }
            for kept in &report.backups {
                text.push_str(&format!(
                    "- kept `{}`: your version of `{}`, changed after the task\n",
                    kept.backup.display(),
                    kept.path.display()
                ));
            }
            note.push_str(". Read them again before editing.]");
            ctl.note = Some(note);
            info(ctl, text);
        }
        Err(e @ UndoError::NothingToUndo { .. }) => {
            ctl.app.set_banner(NoticeKind::Info, e.to_string());
        }
        Err(e) => ctl.app.transcript.notice(NoticeKind::Error, e.to_string()),
    }
}

fn diff(ctl: &mut Controller) {
    let ctx = ToolContext::new(ctl.workspace.clone());
    let mut shown = false;
    for staged in [true, false] {
        let args = serde_json::json!({ "staged": staged });
        // git_diff reads through libgit2 synchronously; the future is ready at once.
        let result =
            futures_util::FutureExt::now_or_never(crate::tools::git::GitDiff.run(args, &ctx));
        match result {
            Some(Ok(output)) => {
                let changed = output
                    .data
                    .as_ref()
                    .and_then(|d| d["files_changed"].as_u64())
                    .unwrap_or(0);
                if changed > 0 {
                    let what = if staged { "Staged" } else { "Unstaged" };
                    info(ctl, format!("**{what} changes**"));
                    ctl.app.transcript.push(Entry::Diff {
                        path: String::new(),
                        diff: output.content,
                    });
                    shown = true;
                }
            }
            Some(Err(e)) => {
                ctl.app.set_banner(NoticeKind::Warning, e.to_string());
                return;
            }
            None => {}
        }
    }
    if !shown {
        ctl.app
            .set_banner(NoticeKind::Info, "no uncommitted changes in the repository");
    }
}

fn stats(ctl: &Controller) -> String {
    let status = &ctl.app.status;
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
    if matches!(ctl.app.phase, Phase::Running { .. }) {
        text.push_str("\n(a task is running; its current turn is not counted yet)");
    }
    text
}
