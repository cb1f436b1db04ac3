//! The one protocol every front end speaks: `Op`s into the hosted agent, `AgentEvent`s out.
//! The scripted model edits a real file through the real tools; undo, diff and compact go
//! through the same operation channel, in order, and approvals reach a running task.

use std::path::Path;
use std::sync::Arc;

use super::common::config_in;
use lode::agent::{AgentEvent, ConversationChange, Decision, Op, PermissionMode};
use lode::backend::scripted::ScriptedBackend;
use lode::compose::agent::{coding_agent, CodingSetup};
use lode::tools::Workspace;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// A hosted coding agent over a fresh repository with `notes.txt`, whose model plays `turns`.
fn hosted(
    home: &Path,
    mode: PermissionMode,
    turns: serde_json::Value,
) -> (
    UnboundedSender<Op>,
    UnboundedReceiver<AgentEvent>,
    std::path::PathBuf,
) {
    let repo = home.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join("notes.txt"), "one\n").unwrap();
    let script = home.join("script.json");
    std::fs::write(&script, serde_json::json!({ "turns": turns }).to_string()).unwrap();
    let config = config_in(home);
    let backend = Arc::new(ScriptedBackend::load(&script).unwrap());
    let (events_tx, events) = unbounded_channel();
    let (agent, _notices) = coding_agent(
        &config,
        Workspace::new(&repo).unwrap(),
        backend,
        CodingSetup {
            mode,
            max_turns: Some(4),
            test_command: Some("true".into()),
            interactive: true,
            cwd: repo.clone(),
            answer_schema: None,
            mcp: None,
            session_id: None,
        },
        events_tx,
    );
    let (ops, ops_rx) = unbounded_channel();
    tokio::spawn(lode::agent::host::serve(
        agent,
        ops_rx,
        Some(config.dirs.data.clone()),
    ));
    (ops, events, repo)
}

/// Events up to and including the next one `last` matches.
async fn until(
    events: &mut UnboundedReceiver<AgentEvent>,
    last: impl Fn(&AgentEvent) -> bool,
) -> Vec<AgentEvent> {
    let mut seen = Vec::new();
    while let Some(event) = events.recv().await {
        let done = last(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
    panic!("the event stream ended early: {seen:?}");
}

fn conversation(event: &AgentEvent) -> bool {
    matches!(event, AgentEvent::Conversation { .. })
}

fn write_call(text: &str) -> serde_json::Value {
    serde_json::json!({"tool": "write_file", "args": {"path": "notes.txt", "content": text}})
}

#[tokio::test]
async fn undo_diff_and_compact_are_operations_answered_in_order_on_the_one_stream() {
    let home = tempfile::tempdir().unwrap();
    let turns = serde_json::json!([
        {"calls": [write_call("two\n")]},
        {"say": "wrote it"},
        {"say": "read it again"},
    ]);
    let (ops, mut events, repo) = hosted(home.path(), PermissionMode::Yolo, turns);
    // Sent together: the host runs the task, then undoes it, then shows the diff.
    ops.send(Op::Task("write two".into())).unwrap();
    ops.send(Op::Undo).unwrap();
    ops.send(Op::Diff).unwrap();
    ops.send(Op::Compact).unwrap();

    let task = until(&mut events, conversation).await;
    let finished = task
        .iter()
        .position(|e| matches!(e, AgentEvent::Finished { .. }))
        .expect("the task finished");
    assert_eq!(
        finished,
        task.len() - 2,
        "Finished, then the conversation, end a task"
    );
    let AgentEvent::Conversation {
        change: ConversationChange::Appended(added),
    } = task.last().unwrap()
    else {
        panic!("a task ends with what it appended");
    };
    assert!(added.len() >= 3, "user, call, result and answer: {added:?}");
    // Streamed text carries its turn and has an end.
    let streamed_turn = task.iter().find_map(|e| match e {
        AgentEvent::TokenStream { turn, .. } => Some(*turn),
        _ => None,
    });
    let ended_turn = task.iter().find_map(|e| match e {
        AgentEvent::TextEnded { turn } => Some(*turn),
        _ => None,
    });
    assert_eq!(streamed_turn, ended_turn);
    assert!(streamed_turn.is_some());

    let undo = until(&mut events, |e| {
        matches!(
            e,
            AgentEvent::Undone { .. } | AgentEvent::UndoRefused { .. }
        )
    })
    .await;
    assert!(
        matches!(undo.last(), Some(AgentEvent::Undone { restored, .. }) if restored == &vec!["notes.txt".to_string()]),
        "{undo:?}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("notes.txt")).unwrap(),
        "one\n"
    );

    let diff = until(&mut events, |e| {
        matches!(e, AgentEvent::RepoDiff { .. } | AgentEvent::Error { .. })
    })
    .await;
    assert!(
        matches!(
            diff.last(),
            Some(AgentEvent::RepoDiff { .. }) | Some(AgentEvent::Error { .. })
        ),
        "{diff:?}"
    );
    let compacted = until(&mut events, |e| matches!(e, AgentEvent::Compacted { .. })).await;
    assert!(matches!(
        compacted.last(),
        Some(AgentEvent::Compacted { before, .. }) if *before > 0
    ));

    // The model hears about the undo with the next message.
    ops.send(Op::Task("and now?".into())).unwrap();
    let next = until(&mut events, conversation).await;
    let Some(AgentEvent::Conversation {
        change: ConversationChange::Appended(added),
    }) = next.last()
    else {
        panic!("a task ends with what it appended");
    };
    assert!(
        added[0].content.contains("undid your last task") && added[0].content.ends_with("and now?"),
        "{:?}",
        added[0].content
    );

    // Nothing left to undo: said, not an error.
    ops.send(Op::Undo).unwrap();
    let again = until(&mut events, |e| matches!(e, AgentEvent::UndoRefused { .. })).await;
    assert!(matches!(
        again.last(),
        Some(AgentEvent::UndoRefused {
            nothing_to_undo: true,
            ..
        })
    ));
}

#[tokio::test]
async fn approvals_and_cancels_reach_the_running_task_while_other_operations_wait() {
    let home = tempfile::tempdir().unwrap();
    let turns = serde_json::json!([
        {"calls": [write_call("two\n")]},
        {"calls": [write_call("three\n")]},
        {"say": "done"},
    ]);
    let (ops, mut events, repo) = hosted(home.path(), PermissionMode::Ask, turns);
    ops.send(Op::Task("write".into())).unwrap();
    let first = until(&mut events, |e| {
        matches!(e, AgentEvent::ApprovalNeeded { .. })
    })
    .await;
    let Some(AgentEvent::ApprovalNeeded { id, .. }) = first.last() else {
        unreachable!()
    };
    // An undo sent now waits for the task; the approval goes to it at once.
    ops.send(Op::Undo).unwrap();
    ops.send(Op::Approval {
        id: id.clone(),
        decision: Decision::Approve,
    })
    .unwrap();
    let second = until(&mut events, |e| {
        matches!(e, AgentEvent::ApprovalNeeded { .. })
    })
    .await;
    assert!(
        !second.iter().any(|e| matches!(
            e,
            AgentEvent::Undone { .. } | AgentEvent::UndoRefused { .. }
        )),
        "the undo ran inside the task: {second:?}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("notes.txt")).unwrap(),
        "two\n"
    );
    ops.send(Op::Cancel).unwrap();
    let ended = until(&mut events, conversation).await;
    assert!(ended.iter().any(|e| matches!(
        e,
        AgentEvent::Finished {
            outcome: lode::agent::Outcome::Cancelled,
            ..
        }
    )));
    // Then the waiting undo: the approved write is put back.
    let undo = until(&mut events, |e| matches!(e, AgentEvent::Undone { .. })).await;
    assert!(matches!(undo.last(), Some(AgentEvent::Undone { .. })));
    assert_eq!(
        std::fs::read_to_string(repo.join("notes.txt")).unwrap(),
        "one\n"
    );
}
