//! Agent overhead per turn, model time excluded: a scripted model (which answers instantly)
//! drives the real loop — prompt assembly, call validation, permission checks, real tools on
//! a real tree, events — for a fixed number of turns.
#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use lode::agent::{Agent, AgentOptions, PermissionMode};
use lode::backend::scripted::ScriptedBackend;
use lode::tools::{ToolContext, Workspace};

const TURNS: usize = 20;

fn script(dir: &Path) -> std::path::PathBuf {
    let turns: Vec<serde_json::Value> = (0..TURNS)
        .map(|i| match i % 4 {
            0 => serde_json::json!({"calls": [{"tool": "read_file", "args": {"path": "src/lib.rs"}}]}),
            1 => serde_json::json!({"calls": [{"tool": "search", "args": {"pattern": "fn [a-z]+"}}]}),
            2 => serde_json::json!({"calls": [{"tool": "list_files", "args": {}}]}),
            _ => serde_json::json!({"say": "thinking", "calls": [{"tool": "outline", "args": {"path": "src/lib.rs"}}]}),
        })
        .collect();
    let path = dir.join("script.json");
    std::fs::write(&path, serde_json::json!({ "turns": turns }).to_string()).expect("write script");
    path
}

fn per_turn(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("src")).expect("repo");
    let source: String = (0..200)
        .map(|i| format!("pub fn f{i}(x: i32) -> i32 {{ x + {i} }}\n"))
        .collect();
    std::fs::write(repo.join("src/lib.rs"), source).expect("source");
    let script = script(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    c.bench_function("agent/20_turns_scripted", |b| {
        b.iter(|| {
            let backend = Arc::new(ScriptedBackend::load(&script).expect("script"));
            let ctx = ToolContext::new(Workspace::new(&repo).expect("workspace"));
            let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let (_commands_tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
            let options = AgentOptions {
                mode: PermissionMode::ReadOnly,
                max_turns: TURNS as u32 + 1,
                max_tokens: 1024,
                temperature: 0.0,
                interactive: false,
                cwd: repo.clone(),
                system_prompt: None,
                user_instructions: None,
                answer_schema: None,
            };
            let mut agent = Agent::new(backend, lode::tools::all(), ctx, options, events);
            runtime.block_on(agent.run_task("look around", &mut commands));
            while rx.try_recv().is_ok() {}
        })
    });
}

criterion_group!(benches, per_turn);
criterion_main!(benches);
