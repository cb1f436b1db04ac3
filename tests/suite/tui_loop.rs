//! The session's event loop on tokio's paused clock: frames are drawn on demand and
//! coalesced — a fast token stream does not draw once per token, and an idle session draws
//! nothing at all.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use lode::backend::open::BackendFlags;
use lode::config::{BackendChoice, Config, Env};
use lode::tui::controller::Controller;
use lode::tui::{Resume, SessionOptions};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;

struct FakeEnv(HashMap<&'static str, String>);

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn config(home: &Path) -> Config {
    let mut vars = HashMap::new();
    vars.insert("LODE_CONFIG_DIR", home.join("config").display().to_string());
    vars.insert("LODE_CACHE_DIR", home.join("cache").display().to_string());
    vars.insert("LODE_DATA_DIR", home.join("data").display().to_string());
    Config::load(home, &FakeEnv(vars)).unwrap()
}

/// A workspace and a script whose one answer streams `words` words, 1 ms apart.
fn session(home: &Path, words: usize) -> SessionOptions {
    let repo = home.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join("notes.txt"), "nothing to test here\n").unwrap();
    let say: Vec<String> = (0..words).map(|i| format!("word{i}")).collect();
    let script = serde_json::json!({"pace_ms": 1, "turns": [{"say": say.join(" ")}]});
    let path = home.join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    SessionOptions {
        backend: BackendFlags {
            backend: Some(BackendChoice::Scripted(path)),
            ..BackendFlags::default()
        },
        mode: lode::agent::PermissionMode::Ask,
        max_turns: Some(3),
        test_command: None,
        cwd: repo,
        resume: Resume::No,
        prefill: Some("tell me a story".into()),
    }
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> std::io::Result<Event> {
    Ok(Event::Key(KeyEvent::new(code, modifiers)))
}

/// When each frame was drawn and whether a task was running then.
type Frames = RefCell<Vec<(Instant, bool)>>;

#[tokio::test(start_paused = true)]
async fn frames_are_coalesced_while_streaming_and_stop_when_idle() {
    let home = tempfile::tempdir().unwrap();
    let mut controller = Controller::new(session(home.path(), 1000), config(home.path())).unwrap();
    let (keys, terminal) = unbounded_channel();
    let frames: Frames = RefCell::new(Vec::new());
    let start = Instant::now();

    let script = async {
        // Let the script load, then send the prepared task.
        tokio::time::sleep(Duration::from_millis(200)).await;
        keys.send(key(KeyCode::Enter, KeyModifiers::NONE)).unwrap();
        // 1,000 words a millisecond apart take a second; wait well past the end, idle.
        tokio::time::sleep(Duration::from_secs(60)).await;
        for _ in 0..2 {
            keys.send(key(KeyCode::Char('c'), KeyModifiers::CONTROL))
                .unwrap();
        }
    };
    let run = controller.run(terminal, |app, now| {
        frames.borrow_mut().push((now, app.is_running()));
        Ok(())
    });
    let (result, ()) = tokio::join!(run, script);
    result.unwrap();

    let frames = frames.into_inner();
    let streamed = controller.app.transcript.entries().iter().any(
        |e| matches!(e, lode::tui::transcript::Entry::Assistant(text) if text.contains("word999")),
    );
    assert!(streamed, "the whole answer arrived");
    let running: Vec<Instant> = frames.iter().filter(|f| f.1).map(|f| f.0).collect();
    // About a second of streaming at most 60 frames a second, not 1,000 token draws.
    assert!(
        (10..=80).contains(&running.len()),
        "{} frames while streaming",
        running.len()
    );
    for pair in frames.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= lode::tui::frame::MIN_FRAME,
            "two frames closer than the minimum frame time"
        );
    }
    // Idle after the task: one frame for the finish, then nothing for ~59 seconds until
    // the Ctrl-C presses.
    let idle: Vec<Duration> = frames
        .iter()
        .map(|f| f.0 - start)
        .filter(|t| *t > Duration::from_secs(5) && *t < Duration::from_secs(60))
        .collect();
    assert!(idle.is_empty(), "frames drawn while idle: {idle:?}");
}
