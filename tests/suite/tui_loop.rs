//! The session's event loop on tokio's paused clock: frames are drawn on demand and
//! coalesced — a fast token stream does not draw once per token, and an idle session draws
//! nothing at all.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use super::common::config_in;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use lode::compose::backend::BackendFlags;
use lode::config::BackendChoice;
use lode::tui::controller::Controller;
use lode::tui::{Resume, SessionOptions};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;

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
    let mut controller =
        Controller::new(session(home.path(), 1000), config_in(home.path())).unwrap();
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

/// Runs one session: sends the prepared task (or `message`), waits `secs` of virtual time,
/// then quits with Ctrl-C twice. Returns the controller for inspection.
async fn one_session(
    options: SessionOptions,
    home: &Path,
    message: Option<&str>,
    secs: u64,
) -> Controller {
    let mut controller = Controller::new(options, config_in(home)).unwrap();
    let (keys, terminal) = unbounded_channel();
    let script = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(text) = message {
            for c in text.chars() {
                keys.send(key(KeyCode::Char(c), KeyModifiers::NONE))
                    .unwrap();
            }
        }
        keys.send(key(KeyCode::Enter, KeyModifiers::NONE)).unwrap();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        for _ in 0..2 {
            keys.send(key(KeyCode::Char('c'), KeyModifiers::CONTROL))
                .unwrap();
        }
    };
    let (result, ()) = tokio::join!(controller.run(terminal, |_, _| Ok(())), script);
    result.unwrap();
    controller
}

#[tokio::test(start_paused = true)]
async fn a_resumed_session_shows_its_transcript_and_keeps_saving_to_the_same_file() {
    let home = tempfile::tempdir().unwrap();
    let options = session(home.path(), 5);
    one_session(options.clone(), home.path(), None, 5).await;

    let store = lode::sessions::SessionStore::new(
        &home.path().join("data"),
        &options.cwd.canonicalize().unwrap(),
    );
    let saved = store.list().unwrap();
    assert_eq!(saved.len(), 1, "one session saved");
    assert_eq!(saved[0].title, "tell me a story");

    let resumed = SessionOptions {
        resume: Resume::Id(saved[0].id[..15].to_string()),
        prefill: None,
        ..options
    };
    let controller = one_session(resumed, home.path(), Some("and another"), 5).await;
    let texts: Vec<String> = controller
        .app
        .transcript
        .entries()
        .iter()
        .filter_map(|e| match e {
            lode::tui::transcript::Entry::User(text) => Some(text.clone()),
            lode::tui::transcript::Entry::Assistant(text) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            "tell me a story".to_string(),
            "word0 word1 word2 word3 word4".to_string(),
            "and another".to_string(),
            // The script starts over in the new process.
            "word0 word1 word2 word3 word4".to_string(),
        ]
    );
    let again = store.list().unwrap();
    assert_eq!(
        again.len(),
        1,
        "the resumed session appends to its own file"
    );
    assert_eq!(again[0].user_messages, 2);
    let loaded = store.load(&again[0].id).unwrap();
    assert_eq!(loaded.skipped_lines, 0);
    assert!(
        loaded.messages().len() >= 3,
        "the conversation is saved too"
    );
}
