//! Synthetic GGUF models for tests and benchmarks.
//!
//! No model weights can be downloaded where lode is developed, so the engine is tested on
//! models written here: real architectures (llama, qwen2, the qwen35 hybrid with an optional
//! MTP block), a real trained BPE tokenizer with Qwen's specials and chat template, and
//! deterministic weights. `random` weights give exact invariants (greedy is deterministic,
//! caching and speculation must not change it); `bigram` and `perm` weights make outputs
//! predictable (`perm`: the greedy successor of every token is known, reported in
//! [`SynthReport::next_token`]). Real-model shapes give real speed figures.
//!
//! Files are written atomically (a temp file in the target directory, then a rename);
//! quantized files are written as F32/F16 first and converted by llama.cpp's quantizer.

mod arch;
mod corpus;
mod quantize;
mod rng;
mod tokenizer;
mod weights;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::llama::BackendError;
use crate::gguf::{GgmlType, GgufWriter, Value};

/// Model architecture, as llama.cpp names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Llama: attention + SwiGLU, untied LM head.
    Llama,
    /// Qwen2 / Qwen2.5: Q/K/V biases, tied LM head for random weights.
    Qwen2,
    /// Qwen3.5 hybrid: Gated-DeltaNet layers, full attention every 4th layer, optional MTP.
    Qwen35,
}

/// Widths and depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Shape {
    /// E=64, 2 layers (4 for qwen35), 530 tokens: under 2 MB, loads in milliseconds.
    #[serde(rename = "tiny")]
    Tiny,
    /// Qwen2.5-0.5B: E=896, 24 layers, 14 heads (2 KV), FFN 4864, 151,936 tokens.
    #[value(name = "qwen2.5-0.5b")]
    #[serde(rename = "qwen2.5-0.5b")]
    Qwen25_05b,
    /// Qwen2.5-1.5B: E=1536, 28 layers, 12 heads (2 KV), FFN 8960, 151,936 tokens.
    #[value(name = "qwen2.5-1.5b")]
    #[serde(rename = "qwen2.5-1.5b")]
    Qwen25_15b,
}

/// How weights are chosen (all deterministic from the seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// Scaled noise: finite activations, greedy output varies by token.
    Random,
    /// Residual output projections zeroed: an exact bigram model.
    Bigram,
    /// Bigram with a known successor per token (`next_token`), never a control token;
    /// models of any width with the same seed and vocabulary agree (draft/target pairs).
    Perm,
}

/// Tensor data type of the written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Quant {
    #[value(name = "f32")]
    #[serde(rename = "f32")]
    F32,
    #[value(name = "f16")]
    #[serde(rename = "f16")]
    F16,
    #[value(name = "q8_0")]
    #[serde(rename = "q8_0")]
    Q8_0,
    #[value(name = "q4_k_m")]
    #[serde(rename = "q4_k_m")]
    Q4KM,
}

/// The command-line spelling (`qwen35`, `qwen2.5-0.5b`, `perm`, `q4_k_m`), for messages.
macro_rules! display_as_value_name {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                use clap::ValueEnum;
                match self.to_possible_value() {
                    Some(v) => f.write_str(v.get_name()),
                    None => write!(f, "{self:?}"),
                }
            }
        }
    )*};
}
display_as_value_name!(Arch, Shape, Weights, Quant);

impl Quant {
    /// llama.cpp's name for the file type, e.g. `Q4_K_M`.
    pub fn name(self) -> &'static str {
        match self {
            Quant::F32 => "F32",
            Quant::F16 => "F16",
            Quant::Q8_0 => "Q8_0",
            Quant::Q4KM => "Q4_K_M",
        }
    }
}

impl Shape {
    /// What `quant: None` means: F32 for tiny models (exact arithmetic in tests), F16 at
    /// real shapes (what converted models ship as).
    pub fn default_quant(self) -> Quant {
        match self {
            Shape::Tiny => Quant::F32,
            _ => Quant::F16,
        }
    }

    /// Vocabulary size when not overridden: Qwen2.5's padded 151,936 at real shapes.
    pub fn default_n_vocab(self) -> Option<u32> {
        match self {
            Shape::Tiny => None,
            _ => Some(151_936),
        }
    }
}

/// What to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthSpec {
    pub arch: Arch,
    pub shape: Shape,
    pub weights: Weights,
    pub seed: u64,
    /// `None`: the shape's default ([`Shape::default_quant`]).
    pub quant: Option<Quant>,
    /// qwen35 only: add one NextN/MTP block after the trunk.
    pub mtp: bool,
    /// Override the vocabulary size (at least 263; default 530 tiny, 151,936 otherwise).
    pub n_vocab: Option<u32>,
    /// Override the context length the model declares (default 4,096 tiny, 32,768
    /// otherwise): a tiny model that takes long prompts.
    pub n_ctx: Option<u32>,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SynthReport {
    pub path: PathBuf,
    /// File size.
    pub bytes: u64,
    pub n_params: u64,
    pub n_vocab: u32,
    pub arch: Arch,
    pub shape: Shape,
    /// llama.cpp's name of the file type, e.g. `F16`, `Q4_K_M`.
    pub file_type: String,
    /// `perm` weights only: `next_token[x]` is the exact greedy successor of token `x`.
    pub next_token: Option<Vec<u32>>,
}

/// Why a model could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot make this synthetic model: {0}")]
    InvalidSpec(String),
    #[error(
        "cannot write synthetic model `{}`: {source}; check that the directory exists, is \
         writable and has room",
        path.display()
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(
        "llama.cpp could not quantize `{}` to {quant} (status {status}); check free disk \
         space, or write an unquantized model (--quant f16)",
        path.display()
    )]
    Quantize {
        path: PathBuf,
        quant: String,
        status: u32,
    },
}

/// Threads for quantizing: enough to be quick, few enough to leave a laptop usable.
const QUANTIZE_THREADS: i32 = 2;

/// Writes the model `spec` describes to `path` (atomically) and reports what it wrote.
pub fn synthesize(spec: &SynthSpec, path: &Path) -> Result<SynthReport, SynthError> {
    if spec.mtp && spec.arch != Arch::Qwen35 {
        return Err(SynthError::InvalidSpec(format!(
            "an MTP block needs the qwen35 architecture, not {}; drop --mtp or use --arch qwen35",
            spec.arch
        )));
    }
    let vocab =
        tokenizer::Vocab::build(spec.n_vocab.or(spec.shape.default_n_vocab())).map_err(|e| {
            SynthError::InvalidSpec(format!("{e}; ask for a larger vocabulary (--vocab)"))
        })?;
    let quant = spec.quant.unwrap_or(spec.shape.default_quant());
    let source_quant = match quant {
        Quant::F32 | Quant::F16 => quant,
        Quant::Q8_0 | Quant::Q4KM => spec.shape.default_quant(),
    };
    let input = arch::PlanInput {
        arch: spec.arch,
        shape: spec.shape,
        weights: spec.weights,
        mtp: spec.mtp,
        n_vocab: u64::from(vocab.len()),
        n_ctx: spec.n_ctx.map(u64::from),
        matrix_type: if source_quant == Quant::F16 {
            GgmlType::F16
        } else {
            GgmlType::F32
        },
        name: format!(
            "lode synthetic {} {} {} seed {}",
            spec.arch, spec.shape, spec.weights, spec.seed
        ),
    };
    let plan = arch::plan(&input);
    let perm =
        (spec.weights == Weights::Perm).then(|| weights::Perm::new(spec.seed, vocab.n_normal));

    let mut metadata = plan.metadata;
    metadata.extend(vocab.metadata());
    metadata.push((
        "lode.synth.weights".into(),
        Value::Str(spec.weights.to_string()),
    ));
    metadata.push(("lode.synth.seed".into(), Value::U64(spec.seed)));

    let io_err = |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    };
    let source = TempPath::beside(path, "src");
    {
        let specs: Vec<_> = plan.tensors.iter().map(|t| t.spec.clone()).collect();
        let mut w = GgufWriter::create(&source.0, &metadata, &specs).map_err(io_err)?;
        weights::write_all(
            &mut w,
            &plan.tensors,
            spec.weights,
            spec.seed,
            perm.as_ref(),
        )
        .map_err(io_err)?;
        w.finish().map_err(io_err)?;
    }
    let finished = if quant == source_quant {
        source
    } else {
        let quantized = TempPath::beside(path, "q");
        quantize::quantize(&source.0, &quantized.0, quant, QUANTIZE_THREADS)?;
        drop(source);
        quantized
    };
    finished.persist(path).map_err(io_err)?;

    Ok(SynthReport {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map_err(io_err)?.len(),
        n_params: plan
            .tensors
            .iter()
            .map(|t| t.spec.dims.iter().product::<u64>())
            .sum(),
        n_vocab: vocab.len(),
        arch: spec.arch,
        shape: spec.shape,
        file_type: quant.name().to_string(),
        next_token: perm.map(|p| p.next_tokens(vocab.len())),
    })
}

/// A temp file next to the target (same file system, so the final rename is atomic),
/// removed on drop unless persisted.
struct TempPath(PathBuf, bool);

impl TempPath {
    fn beside(target: &Path, tag: &str) -> TempPath {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = target
            .file_name()
            .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
        let tmp = format!(".{name}.{tag}-{}-{n}.tmp", std::process::id());
        TempPath(target.with_file_name(tmp), true)
    }

    fn persist(mut self, target: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.0, target)?;
        self.1 = false;
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.1 {
            // Best effort: the file may never have been created.
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests;
