//! Drawing one frame of the session: transcript, queued messages, activity line, the
//! prompt (or the approval panel in its place), menus and the status bar. Reads the `App`;
//! changes nothing.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;
use tokio::time::Instant;

use crate::sessions;
use crate::tui::app::{App, PendingApproval, Phase, Popup};
use crate::tui::transcript::NoticeKind;
use crate::tui::{diff, theme, wrap};

/// Rows the prompt may grow to before it scrolls.
const MAX_INPUT_ROWS: usize = 8;
/// Rows a menu may take.
const MAX_POPUP_ROWS: usize = 8;
const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// Draws the whole screen. `now` drives the spinner and elapsed time (tests pass a fixed one).
pub fn draw(frame: &mut Frame<'_>, app: &App, now: Instant) {
    let area = frame.area();
    let width = usize::from(area.width);

    let status = app.status.render(width);
    let bottom = bottom_panel(app, width);
    let activity = activity(app, width, now);
    let queued = queued(app, width);
    let popup = popup(app, width);

    let fixed = bottom.lines.len() + activity.len() + queued.len() + 1;
    let budget = usize::from(area.height).saturating_sub(fixed.min(usize::from(area.height)));
    let popup_rows = popup.len().min(budget);
    let [transcript_area, queued_area, activity_area, bottom_area, status_area] =
        Layout::vertical([
            Constraint::Min(0),
            Constraint::Length(rows(queued.len())),
            Constraint::Length(rows(activity.len())),
            Constraint::Length(rows(bottom.lines.len())),
            Constraint::Length(1),
        ])
        .areas(area);

    draw_transcript(frame, app, transcript_area);
    frame.render_widget(Paragraph::new(queued), queued_area);
    frame.render_widget(Paragraph::new(activity), activity_area);
    frame.render_widget(Paragraph::new(bottom.lines), bottom_area);
    frame.render_widget(Paragraph::new(status), status_area);

    if popup_rows > 0 {
        let rect = Rect {
            x: area.x,
            y: bottom_area.y.saturating_sub(rows(popup_rows)),
            width: area.width,
            height: rows(popup_rows),
        };
        frame.render_widget(Clear, rect);
        let start = popup.len() - popup_rows;
        frame.render_widget(Paragraph::new(popup[start..].to_vec()), rect);
    }
    if let Some((x, y)) = bottom.cursor {
        frame.set_cursor_position(Position {
            x: bottom_area.x + x,
            y: bottom_area.y + y,
        });
    }
}

fn rows(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn draw_transcript(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    app.viewport.set((width, height));
    if width == 0 || height == 0 {
        return;
    }
    let lines = if app.transcript.is_empty() {
        welcome(app, width)
    } else {
        app.transcript.window(width, height, app.scroll)
    };
    // Short transcripts sit at the bottom, next to the prompt, like a terminal.
    let top_pad = height.saturating_sub(lines.len());
    let rect = Rect {
        y: area.y + rows(top_pad),
        height: rows(lines.len().min(height)),
        ..area
    };
    frame.render_widget(Paragraph::new(lines), rect);
    if app.scroll > 0 {
        let hint = Line::from(Span::styled(
            format!(" ↑ {} lines up · PgDn/Esc to return ", app.scroll),
            theme::selected(),
        ));
        let w = rows(wrap::line_width(&hint)).min(area.width);
        frame.render_widget(
            Paragraph::new(hint),
            Rect {
                x: area.x + area.width - w,
                y: area.y,
                width: w,
                height: 1,
            },
        );
    }
}

fn welcome(app: &App, width: usize) -> Vec<Line<'static>> {
    let mut text = vec![
        Line::from(vec![
            Span::styled("lode", theme::accent().add_modifier(Modifier::BOLD)),
            Span::styled(
                "  a coding agent that runs its model on this machine",
                theme::dim(),
            ),
        ]),
        Line::from(Span::styled(
            format!("workspace {}", app.workspace.display()),
            theme::dim(),
        )),
        Line::default(),
        Line::from("Type a task and press Enter. lode plans, reads, edits and runs the tests."),
        Line::from(vec![
            Span::styled("  /help", theme::accent()),
            Span::raw(" commands   "),
            Span::styled("@path", theme::accent()),
            Span::raw(" mention a file   "),
            Span::styled("Shift+Enter", theme::accent()),
            Span::raw(" newline   "),
            Span::styled("Esc", theme::accent()),
            Span::raw(" interrupt"),
        ]),
    ];
    text = text
        .iter()
        .flat_map(|l| wrap::wrap_line(l, width))
        .collect();
    text
}

fn queued(app: &App, width: usize) -> Vec<Line<'static>> {
    app.queue
        .iter()
        .take(3)
        .map(|text| {
            let first = text.lines().next().unwrap_or_default();
            let line = Line::from(vec![
                Span::styled("  queued › ", theme::dim()),
                Span::styled(first.to_string(), theme::dim()),
            ]);
            wrap::wrap_line(&line, width)
                .into_iter()
                .next()
                .unwrap_or_default()
        })
        .collect()
}

/// The line over the prompt: model loading, a running task, or a banner.
fn activity(app: &App, width: usize, now: Instant) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match &app.phase {
        Phase::Loading { what, progress } => {
            let label = format!(" {what} ");
            let line = match progress {
                Some(p) => {
                    let p = p.clamp(0.0, 1.0);
                    let bar_width = width.saturating_sub(wrap::width(&label) + 6).clamp(1, 40);
                    // Truncation picks the whole cells the progress has reached.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let filled = ((bar_width as f32) * p) as usize;
                    Line::from(vec![
                        Span::styled(label, theme::accent()),
                        Span::styled("━".repeat(filled), theme::accent()),
                        Span::styled("━".repeat(bar_width - filled), theme::dim()),
                        Span::styled(format!(" {:>3.0}%", p * 100.0), theme::text()),
                    ])
                }
                None => Line::from(Span::styled(label, theme::accent())),
            };
            lines.push(line);
        }
        Phase::Running { started, turn } => {
            let elapsed = now.saturating_duration_since(*started);
            let frame = (elapsed.as_millis() / 100) as usize % SPINNER.len();
            let what = if app.approval.is_some() {
                "waiting for your answer"
            } else {
                "working"
            };
            let mut spans = vec![
                Span::styled(format!("{} ", SPINNER[frame]), theme::accent()),
                Span::styled(what.to_string(), theme::accent()),
                Span::styled(format!(" · {}s", elapsed.as_secs()), theme::dim()),
            ];
            if *turn > 0 {
                spans.push(Span::styled(format!(" · turn {turn}"), theme::dim()));
            }
            spans.push(Span::styled(" · esc to interrupt", theme::dim()));
            lines.extend(
                wrap::wrap_line(&Line::from(spans), width)
                    .into_iter()
                    .take(1),
            );
        }
        Phase::Idle | Phase::NoModel => {}
    }
    if let Some((kind, text)) = &app.banner {
        let (lead, style) = match kind {
            NoticeKind::Info => ("  ", theme::dim()),
            NoticeKind::Warning => ("! ", theme::warning()),
            NoticeKind::Error => ("✗ ", theme::failure()),
        };
        let line = Line::from(vec![
            Span::styled(lead, style.add_modifier(Modifier::BOLD)),
            Span::styled(text.clone(), style),
        ]);
        lines.extend(
            wrap::wrap_with_prefix(&line, width, &[], &[Span::raw("  ")])
                .into_iter()
                .take(3),
        );
    }
    lines
}

/// The prompt or, while a call waits for approval, the approval panel.
struct Bottom {
    lines: Vec<Line<'static>>,
    cursor: Option<(u16, u16)>,
}

fn bottom_panel(app: &App, width: usize) -> Bottom {
    let rule = Line::from(Span::styled("─".repeat(width), theme::dim()));
    if let Some(approval) = &app.approval {
        let mut lines = vec![rule];
        lines.extend(approval_panel(approval, app, width));
        return Bottom {
            lines,
            cursor: None,
        };
    }
    let prompt = [Span::styled(
        "› ",
        theme::accent().add_modifier(Modifier::BOLD),
    )];
    let (mut lines, (x, y)) = if app.input.is_empty() {
        let hint = if app.is_running() {
            "queue a message for when this task ends"
        } else {
            "ask lode to do something · /help"
        };
        let line = Line::from(vec![
            prompt[0].clone(),
            Span::styled(hint.to_string(), theme::dim()),
        ]);
        (
            wrap::wrap_line(&line, width).into_iter().take(1).collect(),
            (2, 0),
        )
    } else {
        app.input.render(width, &prompt)
    };
    // Show the rows around the cursor when the text is taller than the box.
    let y = usize::from(y);
    let start = (y + 1).saturating_sub(MAX_INPUT_ROWS);
    lines = lines.into_iter().skip(start).take(MAX_INPUT_ROWS).collect();
    let mut all = vec![rule];
    all.extend(lines);
    Bottom {
        lines: all,
        cursor: Some((x, rows(y - start + 1))),
    }
}

fn approval_panel(approval: &PendingApproval, app: &App, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let (question, class) = match (&approval.command, approval.diff.is_some()) {
        (Some(_), _) => ("Run this command?".to_string(), "commands"),
        (None, true) => (
            format!("Apply this edit to {}?", path_of(approval)),
            "edits",
        ),
        (None, false) => (format!("Allow {}?", approval.summary), "these calls"),
    };
    lines.push(Line::from(Span::styled(
        question,
        theme::warning().add_modifier(Modifier::BOLD),
    )));
    if let Some(command) = &approval.command {
        for (i, text) in command.lines().enumerate() {
            let lead = if i == 0 { "  $ " } else { "    " };
            lines.extend(wrap::wrap_with_prefix(
                &Line::from(Span::styled(text.to_string(), theme::code())),
                width,
                &[Span::styled(lead, theme::dim())],
                &[Span::raw("    ")],
            ));
        }
        let cwd = approval
            .cwd
            .clone()
            .unwrap_or_else(|| app.workspace.display().to_string());
        lines.push(Line::from(Span::styled(
            format!("  in {cwd}"),
            theme::dim(),
        )));
    }
    if let Some(text) = &approval.diff {
        let rendered = diff::render(text, width.saturating_sub(2).max(8));
        let room = 14;
        let scroll = approval.scroll.min(rendered.len().saturating_sub(room));
        for line in rendered.iter().skip(scroll).take(room) {
            let mut line = line.clone();
            line.spans.insert(0, Span::raw("  "));
            lines.push(line);
        }
        if rendered.len() > room {
            lines.push(Line::from(Span::styled(
                format!(
                    "  lines {}–{} of {} · ↑↓ to scroll",
                    scroll + 1,
                    (scroll + room).min(rendered.len()),
                    rendered.len()
                ),
                theme::dim(),
            )));
        }
    }
    let key = |k: &str| Span::styled(k.to_string(), theme::accent().add_modifier(Modifier::BOLD));
    // `/init`'s draft is the user's own proposal: no session-wide "always", nothing to stop.
    if approval.id == crate::tui::init::APPROVAL_ID {
        let choices = Line::from(vec![
            key("y"),
            Span::raw(" write it   "),
            key("n"),
            Span::raw(" / "),
            key("esc"),
            Span::raw(" leave the file as it is"),
        ]);
        lines.extend(wrap::wrap_line(&choices, width));
        return lines;
    }
    let choices = Line::from(vec![
        key("y"),
        Span::raw(" yes   "),
        key("a"),
        Span::raw(format!(" yes, and allow {class} for this session   ")),
        key("n"),
        Span::raw(" no, tell lode what to do instead   "),
        key("esc"),
        Span::raw(" stop"),
    ]);
    lines.extend(wrap::wrap_line(&choices, width));
    lines
}

fn path_of(approval: &PendingApproval) -> String {
    approval
        .summary
        .split_once(' ')
        .map(|(_, path)| path.to_string())
        .unwrap_or_else(|| approval.summary.clone())
}

fn popup(app: &App, width: usize) -> Vec<Line<'static>> {
    let Some(popup) = &app.popup else {
        return Vec::new();
    };
    let row = |selected: bool, spans: Vec<Span<'static>>| {
        let mut line = Line::from(spans);
        line = wrap::wrap_line(&line, width)
            .into_iter()
            .next()
            .unwrap_or_default();
        if selected {
            line = line.style(theme::selected());
        }
        line
    };
    let window = |selected: usize, len: usize| {
        let start = (selected + 1).saturating_sub(MAX_POPUP_ROWS);
        start..len.min(start + MAX_POPUP_ROWS)
    };
    match popup {
        Popup::Commands { items, selected } => window(*selected, items.len())
            .map(|i| {
                let (name, about) = &items[i];
                row(
                    i == *selected,
                    vec![
                        Span::styled(format!("  /{name:<10}"), theme::accent()),
                        Span::styled(about.to_string(), theme::dim()),
                    ],
                )
            })
            .collect(),
        Popup::Paths { items, selected } => window(*selected, items.len())
            .map(|i| row(i == *selected, vec![Span::raw(format!("  @{}", items[i]))]))
            .collect(),
        Popup::Sessions {
            items,
            selected,
            now_unix,
        } => {
            let now = *now_unix;
            let mut lines = vec![Line::from(vec![
                Span::styled("Resume a session", theme::bold()),
                Span::styled("  ↑↓ choose · enter restore · esc close", theme::dim()),
            ])];
            lines.extend(window(*selected, items.len()).map(|i| {
                let s = &items[i];
                row(
                    i == *selected,
                    vec![
                        Span::styled(
                            format!("  {:<12}", sessions::age(now, s.modified_unix)),
                            theme::dim(),
                        ),
                        Span::raw(s.title.clone()),
                        Span::styled(
                            format!(
                                "  {} message{} · {}",
                                s.user_messages,
                                if s.user_messages == 1 { "" } else { "s" },
                                s.id
                            ),
                            theme::dim(),
                        ),
                    ],
                )
            }));
            lines
        }
    }
}
