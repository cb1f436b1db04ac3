//! Snapshots of the interactive session's screens, drawn into ratatui's TestBackend from a
//! state built by feeding the app the same keys and agent events a real session sees.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use insta::assert_snapshot;
use lode::agent::{AgentEvent, Outcome, PlanStep};
use lode::sessions::SessionSummary;
use lode::stats::TurnStats;
use lode::tools::Permission;
use lode::tui::app::{App, Effect, Phase};
use lode::tui::history::History;
use lode::tui::transcript::NoticeKind;
use lode::tui::view;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

fn app() -> App {
    let mut app = App::new(
        PathBuf::from("/home/ada/calc"),
        History::in_memory(),
        Phase::Idle,
    );
    app.loaded("local", "qwen2.5-coder-7b-q4_k_m", Some(16384));
    app
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    // Three seconds into the task, whenever the test runs.
    let now = match app.phase {
        Phase::Running { started, .. } => started + Duration::from_secs(3),
        _ => tokio::time::Instant::now(),
    };
    terminal.draw(|f| view::draw(f, app, now)).unwrap();
    terminal
}

fn screen(app: &App, width: u16, height: u16) -> String {
    draw(app, width, height).backend().to_string()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    for c in text.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    app.on_key(key(KeyCode::Enter))
}

/// A task started by typing it, with the first model turn begun.
fn running(task: &str) -> App {
    let mut app = app();
    let effects = type_text(&mut app, task);
    assert_eq!(effects, vec![Effect::Start(task.to_string())]);
    app.on_agent(&AgentEvent::TurnStarted {
        turn: 1,
        backend: "local".into(),
        model: "qwen2.5-coder-7b-q4_k_m".into(),
    });
    app
}

fn event(app: &mut App, events: Vec<AgentEvent>) {
    for e in events {
        app.on_agent(&e);
    }
}

fn tool(id: &str, name: &str, args: serde_json::Value) -> AgentEvent {
    AgentEvent::ToolStarted {
        id: id.into(),
        tool: name.into(),
        args,
    }
}

fn done(id: &str, name: &str, output: &str) -> AgentEvent {
    AgentEvent::ToolFinished {
        id: id.into(),
        tool: name.into(),
        ok: true,
        output: output.into(),
    }
}

fn plan(statuses: [&str; 3]) -> AgentEvent {
    let texts = ["Run the tests", "Fix `add`", "Run the tests again"];
    AgentEvent::PlanUpdated {
        steps: texts
            .iter()
            .zip(statuses)
            .map(|(text, status)| PlanStep {
                text: (*text).into(),
                status: status.into(),
            })
            .collect(),
    }
}

const DIFF: &str = "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -2,5 +2,5 @@\n \n /// Adds two numbers.\n pub fn add(a: i32, b: i32) -> i32 {\n-    a - b\n+    a + b\n }\n";

#[test]
fn empty_session() {
    assert_snapshot!(screen(&app(), 100, 20));
}

#[test]
fn streaming_answer() {
    let mut app = running("why does add fail?");
    for chunk in [
        "## The bug\n\n`add` **subtracts**",
        " instead of adding:\n\n```rust\npub fn add(a: i32, b: i32) -> i32 {\n",
        "    a - b\n",
    ] {
        app.on_agent(&AgentEvent::TokenStream {
            turn: 1,
            text: chunk.into(),
        });
    }
    assert_snapshot!(screen(&app, 80, 20));
}

#[test]
fn plan_checklist_updates_in_place() {
    let mut app = running("fix the failing test");
    event(
        &mut app,
        vec![
            tool("c1", "update_plan", serde_json::json!({})),
            plan(["in_progress", "pending", "pending"]),
            done("c1", "update_plan", "plan updated"),
            tool("c2", "run_tests", serde_json::json!({})),
            done(
                "c2",
                "run_tests",
                "test result: FAILED. 1 passed; 1 failed\nfailures: adds",
            ),
            AgentEvent::TestResult {
                command: "cargo test".into(),
                passed: 1,
                failed: 1,
                success: false,
            },
            plan(["done", "in_progress", "pending"]),
        ],
    );
    let text = screen(&app, 80, 20);
    assert_eq!(
        text.matches("Plan").count(),
        1,
        "one plan, updated in place"
    );
    assert_snapshot!(text);
}

#[test]
fn diff_approval() {
    let mut app = running("fix the failing test");
    event(
        &mut app,
        vec![
            tool("c3", "edit_file", serde_json::json!({"path": "src/lib.rs"})),
            AgentEvent::ApprovalNeeded {
                id: "c3".into(),
                tool: "edit_file".into(),
                permission: Permission::Write,
                summary: "edit_file src/lib.rs".into(),
                diff: Some(DIFF.into()),
                command: None,
                cwd: None,
            },
        ],
    );
    let terminal = draw(&app, 80, 24);
    assert_snapshot!(terminal.backend().to_string());
    // The added line is green and the removed one red, whatever the terminal's theme.
    let buffer = terminal.backend().buffer();
    let row = |needle: &str| {
        (0..buffer.area.height)
            .find(|&y| {
                let line: String = (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect();
                line.contains(needle)
            })
            .unwrap()
    };
    let color_at = |y: u16| {
        (0..buffer.area.width)
            .map(|x| buffer[(x, y)].fg)
            .find(|c| *c != Color::Reset)
    };
    assert_eq!(color_at(row("+    a + b")), Some(Color::Green));
    assert_eq!(color_at(row("-    a - b")), Some(Color::Red));

    let effects = app.on_key(key(KeyCode::Char('y')));
    assert_eq!(
        effects,
        vec![Effect::Approve {
            id: "c3".into(),
            decision: lode::agent::Decision::Approve,
        }]
    );
    assert!(app.approval.is_none());
}

#[test]
fn command_approval_shows_the_exact_command_and_directory() {
    let mut app = running("check the build");
    event(
        &mut app,
        vec![
            tool(
                "c4",
                "shell",
                serde_json::json!({"command": "cargo build --release && ls target/release"}),
            ),
            AgentEvent::ApprovalNeeded {
                id: "c4".into(),
                tool: "shell".into(),
                permission: Permission::Exec,
                summary: "run `cargo build --release && ls target/release` in /home/ada/calc"
                    .into(),
                diff: None,
                command: Some("cargo build --release && ls target/release".into()),
                cwd: Some("/home/ada/calc".into()),
            },
        ],
    );
    assert_snapshot!(screen(&app, 80, 16));
}

#[test]
fn status_bar_reports_speed_cache_drafts_and_context() {
    let mut app = running("explain lib.rs");
    event(
        &mut app,
        vec![
            AgentEvent::TokenStream {
                turn: 1,
                text: "It adds and multiplies.".into(),
            },
            AgentEvent::TurnStats {
                stats: TurnStats {
                    prompt_tokens: 4200,
                    cached_tokens: 3900,
                    disk_cached_tokens: 3900,
                    prefill_ms: 1500.0,
                    decode_tokens: 120,
                    decode_ms: 4000.0,
                    draft_proposed: 80,
                    draft_accepted: 60,
                    backend: "local".into(),
                    model: "qwen2.5-coder-7b-q4_k_m".into(),
                    ..TurnStats::default()
                },
            },
            AgentEvent::Finished {
                outcome: Outcome::Done,
                message: "It adds and multiplies.".into(),
            },
        ],
    );
    let text = screen(&app, 120, 10);
    let status = text.lines().last().unwrap();
    assert!(status.contains("cache 93%"), "{status}");
    assert!(status.contains("draft 75%"), "{status}");
    assert_snapshot!(text);
}

#[test]
fn error_banner() {
    let mut app = running("fix it");
    event(
        &mut app,
        vec![
            AgentEvent::Error {
                message: "the model backend failed: model unavailable: connection refused (http://127.0.0.1:8080/v1)".into(),
            },
            AgentEvent::Finished {
                outcome: Outcome::NotAchieved,
                message: "the model backend failed".into(),
            },
        ],
    );
    app.set_banner(
        NoticeKind::Error,
        "unknown command `/hlep`; commands: /help /model /route /undo /diff /clear /compact /resume /stats /quit (type /help)",
    );
    assert_snapshot!(screen(&app, 80, 14));
}

#[test]
fn resume_list() {
    let mut app = app();
    let now = 1_790_000_000;
    let session = |id: &str, title: &str, ago: u64, messages: usize| SessionSummary {
        id: id.into(),
        path: PathBuf::from(format!("/data/sessions/x/{id}.jsonl")),
        created_unix: now - ago - 60,
        modified_unix: now - ago,
        title: title.into(),
        user_messages: messages,
    };
    app.show_sessions(
        vec![
            session(
                "20260922-101500-3f2a",
                "fix the failing test in calc",
                300,
                2,
            ),
            session(
                "20260921-170210-b801",
                "add a `div` function with tests",
                7200,
                5,
            ),
            session("20260918-090000-0c1d", "why is prefill slow?", 3 * 86400, 1),
        ],
        now,
    );
    let text = screen(&app, 100, 14);
    assert_snapshot!(text);
    app.on_key(key(KeyCode::Down));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Effect::Resume("20260921-170210-b801".into())]
    );
}

#[test]
fn a_whole_task_at_80_by_24() {
    let mut app = running("fix the failing test");
    event(
        &mut app,
        vec![
            AgentEvent::TokenStream {
                turn: 1,
                text: "I'll run the tests first.".into(),
            },
            tool("c1", "run_tests", serde_json::json!({})),
            done(
                "c1",
                "run_tests",
                "1 passed; 1 failed\nadds: assertion failed",
            ),
            tool("c2", "read_file", serde_json::json!({"path": "src/lib.rs"})),
            done("c2", "read_file", "1 //! A tiny calculator\n2 ...\n3 ...\n"),
            tool("c3", "edit_file", serde_json::json!({"path": "src/lib.rs"})),
            AgentEvent::DiffProposed {
                id: "c3".into(),
                path: "src/lib.rs".into(),
                diff: DIFF.into(),
            },
            done("c3", "edit_file", "edited src/lib.rs"),
            tool("c4", "run_tests", serde_json::json!({})),
            done("c4", "run_tests", "2 passed; 0 failed"),
            AgentEvent::TestResult {
                command: "cargo test".into(),
                passed: 2,
                failed: 0,
                success: true,
            },
            AgentEvent::TokenStream {
                turn: 1,
                text: "Fixed: `add` subtracted. Both tests pass.".into(),
            },
            AgentEvent::Finished {
                outcome: Outcome::Done,
                message: String::new(),
            },
        ],
    );
    assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn messages_typed_during_a_task_wait_in_a_queue() {
    let mut app = running("fix the failing test");
    assert!(type_text(&mut app, "then add a div function").is_empty());
    assert!(screen(&app, 80, 12).contains("queued › then add a div function"));
    let effects = app.on_agent(&AgentEvent::Finished {
        outcome: Outcome::Done,
        message: String::new(),
    });
    assert_eq!(
        effects,
        vec![Effect::Start("then add a div function".into())]
    );
}

#[test]
fn ctrl_c_interrupts_a_task_then_quits_only_when_pressed_twice_idle() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let mut app = running("fix it");
    assert_eq!(app.on_key(ctrl_c), vec![Effect::Cancel]);
    app.on_agent(&AgentEvent::Finished {
        outcome: Outcome::Cancelled,
        message: "cancelled".into(),
    });
    assert!(app.on_key(ctrl_c).is_empty());
    assert!(screen(&app, 80, 12).contains("Press Ctrl-C again to quit"));
    assert_eq!(app.on_key(ctrl_c), vec![Effect::Quit]);
}

#[test]
fn model_load_shows_a_progress_gauge_and_queues_what_is_typed() {
    let mut app = App::new(
        PathBuf::from("/home/ada/calc"),
        History::in_memory(),
        Phase::Loading {
            what: "loading qwen2.5-coder-7b-q4_k_m.gguf".into(),
            progress: Some(0.42),
        },
    );
    assert!(type_text(&mut app, "fix the failing test").is_empty());
    assert_snapshot!(screen(&app, 80, 10));
    assert_eq!(
        app.loaded("local", "qwen2.5-coder-7b-q4_k_m", Some(16384)),
        vec![Effect::Start("fix the failing test".into())]
    );
}

#[test]
fn scrolling_stops_at_the_first_line_and_returns_to_the_bottom() {
    let mut app = running("count");
    for i in 0..60 {
        app.on_agent(&AgentEvent::TokenStream {
            turn: 1,
            text: format!("line {i}\n\n"),
        });
    }
    let bottom = screen(&app, 60, 12);
    assert!(bottom.contains("line 59"), "{bottom}");
    for _ in 0..50 {
        app.on_key(key(KeyCode::PageUp));
    }
    let top = screen(&app, 60, 12);
    assert!(
        top.contains("› count"),
        "the first line is reachable:\n{top}"
    );
    assert!(top.contains("lines up"), "{top}");
    assert!(
        app.on_key(key(KeyCode::Esc)).is_empty(),
        "Esc first scrolls back"
    );
    assert_eq!(screen(&app, 60, 12), bottom);
    assert_eq!(app.on_key(key(KeyCode::Esc)), vec![Effect::Cancel]);
}

#[test]
fn a_custom_command_sends_its_prompt_and_a_bad_one_keeps_the_input() {
    use lode::compose::commands::{CustomCommand, CustomCommands, Origin};
    let mut app = app();
    app.custom = CustomCommands {
        commands: vec![CustomCommand {
            name: "greet".into(),
            description: "Say hello".into(),
            argument_hint: Some("<name> [when]".into()),
            body: "Say hello to $1 ($2).".into(),
            origin: Origin::Project,
            path: "greet.md".into(),
        }],
        skipped: Vec::new(),
    };
    let effects = type_text(&mut app, "/greet 'Ada Lovelace' now");
    assert_eq!(
        effects,
        vec![Effect::Start("Say hello to Ada Lovelace (now).".into())]
    );
    app.on_agent(&AgentEvent::Finished {
        outcome: Outcome::Done,
        message: String::new(),
    });

    let effects = type_text(&mut app, "/greet 'Ada");
    assert_eq!(effects, Vec::new());
    assert_eq!(app.input.text(), "/greet 'Ada");
    let (kind, text) = app.banner.clone().unwrap();
    assert_eq!(kind, NoticeKind::Error);
    assert_eq!(text, "/greet: a `'` in the arguments is not closed");

    // Ctrl+G hands the prompt's text to the editor.
    let effects = app.on_key(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::CONTROL));
    assert_eq!(effects, vec![Effect::Edit("/greet 'Ada".into())]);
}
