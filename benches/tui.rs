//! The interactive session's costs: drawing one frame over a 5,000-message transcript
//! (goal: well under 16 ms, one frame at 60 Hz), and CPU while nothing happens (goal: ~0 —
//! no frames are drawn when nothing changes).
#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use lode::agent::{AgentEvent, Outcome};
use lode::tui::app::{App, Phase};
use lode::tui::history::History;
use lode::tui::transcript::Entry;
use lode::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const MESSAGES: usize = 5_000;

const ANSWER: &str = "The bug is in `add`: it **subtracts**. Here is the fix:\n\n```rust\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n```\n\n- run the tests\n- commit";
const DIFF: &str = "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -2,5 +2,5 @@\n \n /// Adds two numbers.\n pub fn add(a: i32, b: i32) -> i32 {\n-    a - b\n+    a + b\n }\n";

/// A session with `MESSAGES` transcript entries: questions, Markdown answers with code,
/// tool calls with output, diffs and test results.
fn long_session() -> App {
    let mut app = App::new(PathBuf::from("/bench"), History::in_memory(), Phase::Idle);
    app.loaded("local", "qwen2.5-coder-7b-q4_k_m", Some(32768));
    for i in 0..MESSAGES {
        let event = match i % 5 {
            0 => {
                app.transcript
                    .push(Entry::User(format!("question {i}: why does add fail?")));
                continue;
            }
            1 => AgentEvent::TokenStream {
                turn: 1,
                text: ANSWER.to_string(),
            },
            2 => AgentEvent::ToolStarted {
                id: format!("c{i}"),
                tool: "read_file".into(),
                args: serde_json::json!({"path": "src/lib.rs"}),
            },
            3 => AgentEvent::DiffProposed {
                id: format!("c{i}"),
                path: "src/lib.rs".into(),
                diff: DIFF.into(),
            },
            _ => AgentEvent::Finished {
                outcome: Outcome::Done,
                message: String::new(),
            },
        };
        app.on_agent(&event);
    }
    app
}

fn frame(c: &mut Criterion) {
    let app = long_session();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let now = tokio::time::Instant::now();
    c.bench_function("tui/frame_5000_messages_warm", |b| {
        b.iter(|| {
            terminal.draw(|f| view::draw(f, &app, now)).expect("draw");
        })
    });
    // A resize lays the visible entries out again at the new width (the rest stay cached
    // at the old one until scrolled to).
    let width = Cell::new(120u16);
    c.bench_function("tui/frame_5000_messages_after_resize", |b| {
        b.iter(|| {
            width.set(if width.get() == 120 { 119 } else { 120 });
            terminal
                .resize(ratatui::layout::Rect::new(0, 0, width.get(), 40))
                .expect("resize");
            terminal.draw(|f| view::draw(f, &app, now)).expect("draw");
        })
    });
}

/// While an answer streams, its entry is laid out again on every frame: a long answer with
/// a 150-line code block is the worst case the eye sees.
fn streaming(c: &mut Criterion) {
    let mut app = long_session();
    let code: String = (0..150)
        .map(|i| format!("    let value_{i} = compute({i}, \"text\") + offset; // step {i}\n"))
        .collect();
    let answer = format!(
        "{}\n\n```rust\nfn main() {{\n{code}}}\n```\n\nAnd then",
        "The change touches several files and here is why. ".repeat(40)
    );
    app.on_agent(&AgentEvent::TokenStream {
        turn: 1,
        text: answer,
    });
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let now = tokio::time::Instant::now();
    c.bench_function("tui/frame_while_streaming_long_answer", |b| {
        b.iter(|| {
            app.on_agent(&AgentEvent::TokenStream {
                turn: 1,
                text: " more".into(),
            });
            terminal.draw(|f| view::draw(f, &app, now)).expect("draw");
        })
    });
}

criterion_group!(benches, frame, streaming);

/// CPU time the process spends while a session sits idle: the real event loop on a real
/// clock, a scripted model loaded, nobody typing.
fn idle_cpu() {
    let home = tempfile::tempdir().expect("temp dir");
    let repo = home.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("repo");
    let script = home.path().join("script.json");
    std::fs::write(&script, r#"{"turns": []}"#).expect("script");
    std::env::set_var("LODE_DATA_DIR", home.path().join("data"));
    std::env::set_var("LODE_CACHE_DIR", home.path().join("cache"));
    std::env::set_var("LODE_CONFIG_DIR", home.path().join("config"));
    let config = lode::config::Config::load(&repo, &lode::config::ProcessEnv).expect("config");
    let options = lode::tui::SessionOptions {
        backend: lode::compose::backend::BackendFlags {
            backend: Some(lode::config::BackendChoice::Scripted(script)),
            ..Default::default()
        },
        mode: lode::agent::PermissionMode::Ask,
        max_turns: None,
        test_command: None,
        cwd: repo,
        resume: lode::tui::Resume::No,
        prefill: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let idle = Duration::from_secs(5);
    let (frames, cpu) = runtime.block_on(async {
        let mut controller =
            lode::tui::controller::Controller::new(options, config).expect("session");
        let (keys, terminal) = tokio::sync::mpsc::unbounded_channel();
        let mut backend = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        let frames = Cell::new(0u32);
        let cpu_before = Cell::new(Duration::ZERO);
        let driver = async {
            // Let loading and the first frames settle, then measure an idle stretch.
            tokio::time::sleep(Duration::from_secs(1)).await;
            cpu_before.set(process_cpu());
            frames.set(0);
            tokio::time::sleep(idle).await;
            let cpu = process_cpu().saturating_sub(cpu_before.get());
            let counted = frames.get();
            for _ in 0..2 {
                let ctrl_c = crossterm::event::KeyEvent::new(
                    crossterm::event::KeyCode::Char('c'),
                    crossterm::event::KeyModifiers::CONTROL,
                );
                keys.send(Ok(crossterm::event::Event::Key(ctrl_c)))
                    .expect("key");
            }
            (counted, cpu)
        };
        let run = controller.run(terminal, |app, now| {
            frames.set(frames.get() + 1);
            backend
                .draw(|f| view::draw(f, app, now))
                .map(|_| ())
                .map_err(|e| match e {})
        });
        let (result, measured) = tokio::join!(run, driver);
        result.expect("session");
        measured
    });
    println!(
        "tui/idle: {frames} frames and {:.2} ms CPU in {} s idle ({:.3}% of one core)",
        cpu.as_secs_f64() * 1000.0,
        idle.as_secs(),
        cpu.as_secs_f64() * 100.0 / idle.as_secs_f64()
    );
}

/// User + system CPU time of this process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to an rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    idle_cpu();
}
