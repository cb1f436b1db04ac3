//! Loading a GGUF model: validate it in Rust first, then hand it to llama.cpp.
//!
//! llama.cpp reports most bad files with a null pointer (or aborts), so every problem we can
//! see in the header is turned into its own actionable error before llama.cpp opens the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use serde::Serialize;

use crate::engine::arch;
use crate::engine::error::EngineError;
use crate::engine::llama::backend;
use crate::engine::options::{ContextOptions, LoadOptions, DEFAULT_MAX_CTX};
use crate::engine::spec_policy::CostTable;
use crate::engine::template::builtin::Family;
use crate::engine::template::caps::TemplateCaps;
use crate::engine::template::{ChatTemplate, RenderOptions, SpecialTokens};
use crate::gguf::{self, GgufFile};

/// How a model's sequence memory behaves, which decides how its prefix can be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    /// Pure attention: the KV cache can be cut at any position.
    Attention,
    /// Attention plus recurrent layers (Gated DeltaNet, Mamba): the recurrent state cannot be
    /// rewound, so reuse goes through checkpoints.
    Hybrid,
    /// Recurrent only.
    Recurrent,
}

/// What lode knows about a loaded model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    /// `general.name`, else the file stem.
    pub name: String,
    pub architecture: String,
    pub n_params: u64,
    pub n_ctx_train: u32,
    /// The context length sessions on this model get.
    pub n_ctx: u32,
    pub n_vocab: u32,
    pub n_embd: u32,
    pub n_layer: u32,
    pub memory: MemoryKind,
    pub file_bytes: u64,
    /// Content identity used to key the disk prompt cache (hex).
    pub identity: String,
    /// Whether the file carries MTP / NextN prediction layers.
    pub has_mtp: bool,
    /// Whether those layers were loaded, so sessions can draft with them.
    pub mtp_loaded: bool,
    /// Whether layers are offloaded to a GPU.
    pub gpu: bool,
    /// The draft model loaded beside this one for speculation, by name.
    pub draft: Option<String>,
    /// What `auto` flash attention measured and chose; `None` when it was set explicitly.
    pub flash: Option<crate::engine::flash::FlashChoice>,
    /// Which chat template renders conversations.
    pub template: TemplateKind,
    /// What that template renders of a tool conversation (probed at load); callers supply
    /// the rest themselves.
    pub template_caps: TemplateCaps,
    /// The model's own template source, if it has one (tool-call formats are read from it).
    #[serde(skip)]
    pub chat_template: Option<String>,
}

/// Where the chat formatting comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// The model's own Jinja template, rendered by minijinja.
    Jinja,
    /// The model's template failed to compile; llama.cpp's built-in template picked from it.
    Builtin,
    /// The model has no template (or one nothing can render): lode's template for the
    /// family its architecture and vocabulary name.
    Family(Family),
}

impl std::fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jinja => f.write_str("the model's own"),
            Self::Builtin => f.write_str("llama.cpp's built-in (the model's did not compile)"),
            Self::Family(family) => write!(f, "lode's {} (the model has none)", family.name()),
        }
    }
}

/// A model loaded in llama.cpp plus everything needed to prompt it.
pub struct LoadedModel {
    pub model: LlamaModel,
    pub info: ModelInfo,
    pub context: ContextOptions,
    /// Measured decode costs for speculation (`lode bench --spec --save`), if any.
    pub spec_costs: Option<CostTable>,
    format: ChatFormat,
}

enum ChatFormat {
    Jinja(ChatTemplate),
    Builtin(LlamaChatTemplate),
}

impl LoadedModel {
    /// Renders a conversation into the model's prompt text.
    /// Messages are template-shaped objects (see [`crate::engine::Prompt::Chat`]). llama.cpp's
    /// built-in templates know only role and content, so tool calls must then already be
    /// written into the content by the caller.
    pub fn render_chat(
        &self,
        messages: &[serde_json::Value],
        options: &RenderOptions,
    ) -> Result<String, EngineError> {
        match &self.format {
            ChatFormat::Jinja(template) => Ok(template.render_json(messages, options)?),
            ChatFormat::Builtin(template) => {
                let text = |m: &serde_json::Value, key: &str| {
                    m.get(key)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let chat = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(text(m, "role"), text(m, "content")))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| EngineError::State(format!("chat message: {e}")))?;
                self.model
                    .apply_chat_template(template, &chat, options.add_generation_prompt)
                    .map_err(|e| EngineError::State(format!("built-in chat template: {e}")))
            }
        }
    }
}

/// Reads and checks the header of a model file without llama.cpp.
pub fn inspect(path: &Path) -> Result<GgufFile, EngineError> {
    if !path.exists() {
        return Err(EngineError::ModelNotFound {
            path: path.to_path_buf(),
        });
    }
    let file = gguf::read(path).map_err(EngineError::from_gguf)?;
    let arch = file.architecture().unwrap_or_default().to_string();
    if !arch::is_known(&arch) {
        return Err(EngineError::UnknownArchitecture {
            path: path.to_path_buf(),
            arch: if arch.is_empty() {
                "(none)".to_string()
            } else {
                arch
            },
        });
    }
    // Before llama.cpp opens the file: what it asserts on would end the process.
    gguf::validate(&file).map_err(|problem| {
        EngineError::ModelFile(gguf::GgufError::Unusable {
            path: path.to_path_buf(),
            problem,
        })
    })?;
    Ok(file)
}

/// Loads a model: validates the file, memory-maps it into llama.cpp, reports progress.
pub fn load(mut options: LoadOptions) -> Result<LoadedModel, EngineError> {
    let path = options.path.clone();
    let header = inspect(&path)?;
    let arch_name = header.architecture().unwrap_or_default().to_string();
    let n_ctx_train = header
        .get_u64(&format!("{arch_name}.context_length"))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_CTX);
    let n_ctx = match options.context.n_ctx {
        Some(requested) if requested > n_ctx_train => {
            return Err(EngineError::ContextTooLarge {
                path,
                requested,
                max: n_ctx_train,
            })
        }
        Some(requested) => requested.max(16),
        // The validator refuses a zero context length; a session of no tokens is not one.
        None => n_ctx_train.clamp(16, DEFAULT_MAX_CTX),
    };
    options.context.n_ctx = Some(n_ctx);
    let identity = identity(&path, &header)?;

    let has_mtp = header
        .get_u64(&format!("{arch_name}.nextn_predict_layers"))
        .is_some_and(|n| n > 0);
    let mtp_loaded = has_mtp && options.mtp;

    let backend = backend()?;
    let mut params = LlamaModelParams::default()
        .with_use_mmap(true)
        .with_load_mtp(mtp_loaded);
    if let Some(layers) = options.gpu_layers {
        params = params.with_n_gpu_layers(layers);
    }
    if let Some(mut progress) = options.progress.take() {
        params = params.with_progress_callback(move |p| {
            progress(p);
            true
        });
    }
    let model = LlamaModel::load_from_file(backend, &path, &params)
        .map_err(|_| EngineError::LoadFailed { path: path.clone() })?;

    let memory = if model.is_hybrid() {
        MemoryKind::Hybrid
    } else if model.is_recurrent() {
        MemoryKind::Recurrent
    } else {
        MemoryKind::Attention
    };
    let (format, template) = chat_format(&model, &header, &arch_name);
    let template_caps = match &format {
        ChatFormat::Jinja(t) => TemplateCaps::probe(t),
        // llama.cpp's built-ins render roles and content only.
        ChatFormat::Builtin(_) => TemplateCaps {
            system: true,
            ..TemplateCaps::default()
        },
    };
    let name = header
        .get_str("general.name")
        .map(str::to_string)
        .unwrap_or_else(|| file_stem(&path));
    let info = ModelInfo {
        name,
        architecture: arch_name,
        n_params: model.n_params(),
        n_ctx_train,
        n_ctx,
        n_vocab: u32::try_from(model.n_vocab()).unwrap_or(0),
        n_embd: u32::try_from(model.n_embd()).unwrap_or(0),
        n_layer: model.n_layer(),
        memory,
        file_bytes: header.file_size,
        identity,
        has_mtp,
        mtp_loaded,
        gpu: backend.supports_gpu_offload() && options.gpu_layers != Some(0),
        draft: None,
        flash: None,
        template,
        template_caps,
        chat_template: header
            .get_str("tokenizer.chat_template")
            .map(str::to_string),
        path,
    };
    let mut loaded = LoadedModel {
        model,
        info,
        context: options.context,
        spec_costs: options.spec_costs,
        format,
    };
    loaded.info.flash = crate::engine::flash::resolve(&mut loaded, options.flash_memo.as_deref())?;
    Ok(loaded)
}

fn chat_format(model: &LlamaModel, header: &GgufFile, arch: &str) -> (ChatFormat, TemplateKind) {
    let bos = token_text(model, header, "tokenizer.ggml.bos_token_id");
    let special = SpecialTokens {
        bos: bos.clone(),
        eos: token_text(model, header, "tokenizer.ggml.eos_token_id"),
    };
    let family = || {
        // A turn marker the model was trained on is one special token, not its spelling.
        let vocab = model.vocab();
        let has_token = |text: &str| vocab.tokenize(text.as_bytes(), false, true).len() == 1;
        let family = Family::detect(arch, has_token);
        (
            ChatFormat::Jinja(family.template(&bos)),
            TemplateKind::Family(family),
        )
    };
    match header.get_str("tokenizer.chat_template") {
        None => family(),
        Some(source) => match ChatTemplate::new(source, special) {
            Ok(template) => (ChatFormat::Jinja(template), TemplateKind::Jinja),
            // A template minijinja cannot compile may still match one of llama.cpp's
            // built-ins by its markers; failing that, the family's own turns.
            Err(_) => match model.chat_template(None) {
                Ok(builtin) => (ChatFormat::Builtin(builtin), TemplateKind::Builtin),
                Err(_) => family(),
            },
        },
    }
}

fn token_text(model: &LlamaModel, header: &GgufFile, key: &str) -> String {
    let Some(id) = header.get_u64(key).and_then(|id| i32::try_from(id).ok()) else {
        return String::new();
    };
    if id < 0 || id >= model.n_vocab() {
        return String::new();
    }
    let piece = model
        .vocab()
        .token_to_piece(llama_cpp_2::token::LlamaToken::new(id), true, None);
    String::from_utf8_lossy(&piece).into_owned()
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A content identity for the file: the header, the size and sampled slices of the weights.
/// Hashing a multi-GB file on every start would cost seconds; these samples tell apart two
/// files with the same layout but different weights (a re-quantisation, another seed) at
/// the cost of a few reads, and the same file under two paths shares one cache.
fn identity(path: &Path, header: &GgufFile) -> Result<String, EngineError> {
    const SAMPLES: u64 = 16;
    const SAMPLE_BYTES: u64 = 4096;
    let io_err = |source| {
        EngineError::ModelFile(crate::gguf::GgufError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&header.file_size.to_le_bytes());
    let mut head = Vec::new();
    (&mut file)
        .take(header.data_offset)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    hasher.update(&head);
    let data_len = header.file_size.saturating_sub(header.data_offset);
    let mut buf = vec![0u8; SAMPLE_BYTES as usize];
    for i in 0..SAMPLES {
        let offset = header.data_offset + data_len * i / SAMPLES;
        file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        let n = file.read(&mut buf).map_err(io_err)?;
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex()[..32].to_string())
}
