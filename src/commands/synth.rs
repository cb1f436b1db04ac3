//! `lode synth`: write a synthetic GGUF model for tests and benchmarks.

use std::io::Write;
use std::time::Instant;

use crate::cli::SynthArgs;
use crate::commands::CommandError;
use crate::engine::synth::{synthesize, SynthSpec};

/// Runs `lode synth`.
pub fn run(args: &SynthArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let spec = SynthSpec {
        arch: args.arch,
        shape: args.shape,
        weights: args.weights,
        seed: args.seed,
        quant: args.quant,
        mtp: args.mtp,
        n_vocab: args.vocab,
        n_ctx: args.ctx,
    };
    let started = Instant::now();
    let report = synthesize(&spec, &args.output)?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let value = serde_json::json!({
            "path": report.path,
            "bytes": report.bytes,
            "n_params": report.n_params,
            "n_vocab": report.n_vocab,
            "arch": report.arch,
            "shape": report.shape,
            "file_type": report.file_type,
            "seconds": seconds,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "wrote {} ({} {}, {} params, {}, {:.1} MiB) in {seconds:.2}s",
            report.path.display(),
            report.arch,
            report.shape,
            report.n_params,
            report.file_type,
            report.bytes as f64 / (1024.0 * 1024.0),
        )?;
    }
    Ok(())
}
