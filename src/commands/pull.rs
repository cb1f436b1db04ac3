//! `lode models pull SPEC`: a GGUF from the Hugging Face hub into the model dir, with a
//! progress bar on a terminal. The hub protocol, resuming and verifying live in
//! [`crate::hf_hub`]; this is the front end that reads `HF_ENDPOINT`/`HF_TOKEN` and reports.

use std::io::{IsTerminal, Write};

use crate::cli::PullArgs;
use crate::commands::CommandError;
use crate::config::Config;
use crate::hf_hub::{self, Downloaded, Hub, Progress, Spec};

/// Runs `lode models pull`.
pub fn run(args: &PullArgs, config: &Config, out: &mut dyn Write) -> Result<(), CommandError> {
    let spec = Spec::parse(&args.spec)?;
    let var = |name: &str| std::env::var(name).ok();
    let hub = Hub::new(var("HF_ENDPOINT").as_deref(), var("HF_TOKEN"))?;
    let bar = Bar::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pulled = runtime.block_on(hf_hub::pull(
        &hub,
        &spec,
        &args.revision,
        &config.models.dir,
        &bar,
    ))?;
    let how = match pulled.how {
        Downloaded::AlreadyThere => "already there, SHA-256 verified".to_string(),
        Downloaded::Fresh => "downloaded, SHA-256 verified".to_string(),
        Downloaded::Resumed(from) => format!("resumed at byte {from}, SHA-256 verified"),
    };
    writeln!(
        out,
        "{} ({how}): {}\nuse it with `lode --model {}` or make it the default with `lode models use {}`",
        pulled.file.path,
        pulled.path.display(),
        pulled.path.display(),
        pulled.path.display()
    )?;
    Ok(())
}

/// indicatif's byte bar on stderr, hidden when stderr is not a terminal.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new() -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Bar(Some(bar))
    }
}

impl Progress for Bar {
    fn update(&self, done: u64, total: Option<u64>) {
        if let Some(bar) = &self.0 {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
