//! Checks a GGUF header for values llama.cpp cannot survive, before llama.cpp sees the file.
//!
//! llama.cpp trusts much of a model's metadata: a `block_count` of 0, an expert count with
//! no experts, an unknown rope scaling type or a duplicated vocabulary token trip a
//! `GGML_ASSERT` while loading, and a negative or NaN norm epsilon one at the first decode.
//! An assert is `abort()`: the whole process dies with a backtrace, whatever lode was doing
//! (under the pre-commit hook, the commit). Other values (a zero context length, a vocabulary
//! that does not match the embedding) fail later with messages that do not say which value
//! was wrong. So the header is checked here, in safe Rust, and the first problem is named
//! with its key, the value and what it must be. The limits mirror llama.cpp's own
//! (`llama-model.cpp` `load_hparams`, `llama-vocab.cpp` `load`) or are far beyond any real
//! model, so a file llama.cpp loads correctly is never refused.

use super::{GgufFile, Value};

/// llama.cpp's `LLAMA_MAX_LAYERS`: per-layer tables have this many slots.
pub const MAX_LAYERS: u64 = 512;
/// llama.cpp's `LLAMA_MAX_EXPERTS`.
pub const MAX_EXPERTS: u64 = 1024;
/// Far beyond any trained context (the longest are ~10M tokens).
pub const MAX_CONTEXT: u64 = 1 << 27;
/// Far beyond any model's width (the widest are ~25k).
pub const MAX_EMBEDDING: u64 = 1 << 20;
/// The rope scaling types llama.cpp knows; any other string aborts it.
const ROPE_SCALING_TYPES: &[&str] = &["none", "linear", "yarn", "longrope"];
/// Architectures whose graph asserts that keys, values and rotary embedding all span the
/// whole head (`GGML_ASSERT(n_embd_head == n_rot)` in llama.cpp's `src/models/`); a subset of
/// those, the ones lode is used with. Others (phi2, stablelm, ...) rotate part of a head.
const FULL_ROTARY: &[&str] = &[
    "llama",
    "qwen2",
    "qwen2moe",
    "qwen3",
    "qwen3moe",
    "olmo2",
    "smollm3",
    "starcoder2",
    "internlm2",
    "granite",
    "exaone",
    "mistral3",
];

/// The first value of a model file that lode refuses to hand to llama.cpp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unusable {
    /// The metadata key (or tensor name) at fault.
    pub key: String,
    /// What the file holds there, as shown to the user.
    pub value: String,
    /// What it must be instead.
    pub rule: String,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is {} ({})", self.key, self.value, self.rule)
    }
}

fn unusable(key: &str, value: impl std::fmt::Display, rule: impl Into<String>) -> Unusable {
    Unusable {
        key: key.to_string(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

type Checked = Result<(), Unusable>;

/// Checks everything llama.cpp would assert on or misread; the first problem wins.
pub fn validate(file: &GgufFile) -> Checked {
    tensors(file)?;
    if let Some(arch) = file.architecture() {
        let h = Hparams { file, arch };
        h.floats()?;
        let n_layer = h.block_count()?;
        h.counts(n_layer)?;
        h.heads(n_layer)?;
        h.head_dims()?;
        h.experts(n_layer)?;
        h.rope_scaling()?;
    }
    vocab::vocab(file)
}

/// Tensor shapes ggml cannot represent. (Offsets and sizes against the file are the reader's.)
fn tensors(file: &GgufFile) -> Checked {
    for t in &file.tensors {
        if t.dims.contains(&0) {
            return Err(unusable(
                &t.name,
                format!("a tensor of shape {:?}", t.dims),
                "every dimension must be at least 1",
            ));
        }
        if let Some(ty) = t.ty() {
            if ty.n_bytes(&t.dims).is_none() {
                return Err(unusable(
                    &t.name,
                    format!("a {ty} tensor of shape {:?}", t.dims),
                    format!(
                        "its rows must be a multiple of {ty}'s block of {}",
                        ty.block_size()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The architecture's hyperparameters (`<arch>.*` keys).
struct Hparams<'a> {
    file: &'a GgufFile,
    arch: &'a str,
}

/// A per-layer count: one number for all layers, or an array with one per layer.
enum PerLayer {
    All(u64),
    Each(Vec<u64>),
}

impl PerLayer {
    fn layer(&self, i: usize) -> u64 {
        match self {
            PerLayer::All(n) => *n,
            PerLayer::Each(v) => v.get(i).copied().unwrap_or(0),
        }
    }

    fn max(&self) -> u64 {
        match self {
            PerLayer::All(n) => *n,
            PerLayer::Each(v) => v.iter().copied().max().unwrap_or(0),
        }
    }
}

impl Hparams<'_> {
    fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }

    /// A count that is not negative, or an error naming the key.
    fn count(&self, suffix: &str) -> Result<Option<(String, u64)>, Unusable> {
        let key = self.key(suffix);
        let Some(value) = self.file.get(&key) else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(n) => Ok(Some((key, n))),
            None => Err(unusable(&key, shown(value), "must be a whole number")),
        }
    }

    fn count_or_zero(&self, suffix: &str) -> Result<u64, Unusable> {
        Ok(self.count(suffix)?.map_or(0, |(_, n)| n))
    }

    /// A count that llama.cpp reads per layer (`get_key_or_arr`).
    fn per_layer(&self, suffix: &str, n_layer: u64) -> Result<Option<PerLayer>, Unusable> {
        let key = self.key(suffix);
        let Some(value) = self.file.get(&key) else {
            return Ok(None);
        };
        let Some(items) = value.as_array() else {
            return match value.as_u64() {
                Some(n) => Ok(Some(PerLayer::All(n))),
                None => Err(unusable(&key, shown(value), "must be a whole number")),
            };
        };
        if items.len() as u64 != n_layer {
            return Err(unusable(
                &key,
                format!("an array of {} entries", items.len()),
                format!("must have one entry per layer: {n_layer}"),
            ));
        }
        let counts = items
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| unusable(&key, shown(v), "entries must be whole numbers"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(PerLayer::Each(counts)))
    }

    /// No float hyperparameter is NaN or infinite (they reach every computation), and every
    /// norm epsilon is positive: ggml asserts `eps >= 0` at the first decode, and NaN fails it.
    fn floats(&self) -> Checked {
        let prefix = format!("{}.", self.arch);
        for (key, value) in &self.file.metadata {
            if !key.starts_with(&prefix) {
                continue;
            }
            let is_epsilon = key.ends_with("epsilon");
            let items = value.as_array().unwrap_or(std::slice::from_ref(value));
            for v in items {
                let x = match v {
                    Value::F32(x) => f64::from(*x),
                    Value::F64(x) => *x,
                    _ if is_epsilon => match v.as_f64() {
                        Some(x) => x,
                        None => continue,
                    },
                    _ => continue,
                };
                if is_epsilon && !(x.is_finite() && x > 0.0) {
                    return Err(unusable(key, shown(v), "must be a positive finite number"));
                }
                if !x.is_finite() {
                    return Err(unusable(key, shown(v), "must be a finite number"));
                }
            }
        }
        Ok(())
    }

    /// `block_count`: what llama.cpp asserts (1 to 512), and no more or fewer layers than the
    /// file has `blk.N.` tensors for (NextN layers may have been stripped from the file).
    fn block_count(&self) -> Result<u64, Unusable> {
        let key = self.key("block_count");
        let Some((_, n)) = self.count("block_count")? else {
            return Err(unusable(
                &key,
                "missing",
                "every model must say how many layers it has",
            ));
        };
        if n == 0 || n > MAX_LAYERS {
            return Err(unusable(
                &key,
                n,
                format!("must be between 1 and {MAX_LAYERS}"),
            ));
        }
        let nextn = self.count_or_zero("nextn_predict_layers")?;
        if nextn >= n {
            return Err(unusable(
                &self.key("nextn_predict_layers"),
                nextn,
                format!("must be less than {key}, {n}"),
            ));
        }
        if let Some(present) = layers_present(self.file) {
            if n < present || n > present.saturating_add(nextn) {
                return Err(unusable(
                    &key,
                    n,
                    format!(
                        "the file has tensors for {present} layers, blk.0 to blk.{}",
                        present - 1
                    ),
                ));
            }
        }
        Ok(n)
    }

    /// Context and widths: zero breaks every later step, an absurd value is corruption.
    fn counts(&self, n_layer: u64) -> Checked {
        for (suffix, max) in [
            ("context_length", MAX_CONTEXT),
            ("embedding_length", MAX_EMBEDDING),
        ] {
            if let Some((key, n)) = self.count(suffix)? {
                if n == 0 || n > max {
                    return Err(unusable(&key, n, format!("must be between 1 and {max}")));
                }
            }
        }
        // Hybrid models put full attention on every Nth layer; llama.cpp takes the layer
        // index modulo N, and an integer division by zero is SIGFPE.
        if let Some((key, 0)) = self.count("full_attention_interval")? {
            return Err(unusable(&key, 0, "must be at least 1"));
        }
        // Sub-networks of some architectures (wavtokenizer) are asserted to fit the trunk.
        for suffix in ["posnet.block_count", "convnext.block_count"] {
            if let Some((key, n)) = self.count(suffix)? {
                if n > n_layer {
                    return Err(unusable(
                        &key,
                        n,
                        format!("must be at most block_count, {n_layer}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Attention heads per layer: KV heads must divide the heads (grouped-query attention
    /// shares each KV head among heads / kv heads), and a layer with attention weights needs
    /// heads.
    fn heads(&self, n_layer: u64) -> Checked {
        let Some(heads) = self.per_layer("attention.head_count", n_layer)? else {
            return Ok(());
        };
        let kv = self.per_layer("attention.head_count_kv", n_layer)?;
        let head_key = self.key("attention.head_count");
        let kv_key = self.key("attention.head_count_kv");
        for i in 0..n_layer as usize {
            let h = heads.layer(i);
            if h == 0 && has_attention(self.file, i) {
                return Err(unusable(
                    &head_key,
                    0,
                    format!("layer {i} has attention weights, so it needs at least one head"),
                ));
            }
            let Some(kv) = &kv else { continue };
            let k = kv.layer(i);
            // Hybrid models give recurrent layers 0 KV heads in a per-layer array; one 0 for
            // every layer of a model with heads is a broken file.
            let zero_for_all = matches!(kv, PerLayer::All(0)) && h > 0;
            if zero_for_all || k > h || (k > 0 && h % k != 0) {
                return Err(unusable(
                    &kv_key,
                    k,
                    format!("must divide {head_key}, {h} (layer {i})"),
                ));
            }
        }
        Ok(())
    }

    /// Head widths where the architecture's graph asserts they agree: key length, value
    /// length (both default to embedding_length / head_count) and the rotary dimensions
    /// (default: the key length).
    fn head_dims(&self) -> Checked {
        if !FULL_ROTARY.contains(&self.arch) {
            return Ok(());
        }
        let width = self.count_or_zero("embedding_length")?;
        let heads = match self.file.get(&self.key("attention.head_count")) {
            Some(v) => v.as_u64().unwrap_or(0),
            None => 0,
        };
        let default = width.checked_div(heads).unwrap_or(0);
        let k = self
            .count("attention.key_length")?
            .map_or(default, |(_, n)| n);
        let v = self
            .count("attention.value_length")?
            .map_or(default, |(_, n)| n);
        if k != v {
            return Err(unusable(
                &self.key("attention.value_length"),
                v,
                format!("must equal the key length, {k}, in {}", self.arch),
            ));
        }
        if let Some((key, rot)) = self.count("rope.dimension_count")? {
            if rot != k {
                return Err(unusable(
                    &key,
                    rot,
                    format!("must equal the head size, {k}, in {}", self.arch),
                ));
            }
        }
        Ok(())
    }

    /// Mixture-of-experts counts, as llama.cpp asserts them in `load_hparams`.
    fn experts(&self, n_layer: u64) -> Checked {
        let count_key = self.key("expert_count");
        let n_expert = self.count_or_zero("expert_count")?;
        let used = self
            .per_layer("expert_used_count", n_layer)?
            .map_or(0, |u| u.max());
        let used_key = self.key("expert_used_count");
        let groups = self.count_or_zero("expert_group_count")?;
        let groups_key = self.key("expert_group_count");
        let group_used = self.count_or_zero("expert_group_used_count")?;
        if n_expert > MAX_EXPERTS {
            return Err(unusable(
                &count_key,
                n_expert,
                format!("must be at most {MAX_EXPERTS}"),
            ));
        }
        if n_expert == 0 {
            if used > 0 {
                return Err(unusable(
                    &used_key,
                    used,
                    format!("must be 0 when {count_key} is 0 or missing"),
                ));
            }
            if groups > 0 {
                return Err(unusable(
                    &groups_key,
                    groups,
                    format!("must be 0 when {count_key} is 0 or missing"),
                ));
            }
            return Ok(());
        }
        if used == 0 || used > n_expert {
            return Err(unusable(
                &used_key,
                used,
                format!("must be between 1 and {count_key}, {n_expert}"),
            ));
        }
        if groups >= n_expert {
            return Err(unusable(
                &groups_key,
                groups,
                format!("must be less than {count_key}, {n_expert}"),
            ));
        }
        if groups > 1 {
            if n_expert % groups != 0 {
                return Err(unusable(
                    &groups_key,
                    groups,
                    format!("must divide {count_key}, {n_expert}"),
                ));
            }
            if group_used == 0 || group_used >= groups {
                return Err(unusable(
                    &self.key("expert_group_used_count"),
                    group_used,
                    format!("must be between 1 and {groups_key} - 1, {}", groups - 1),
                ));
            }
        }
        Ok(())
    }

    fn rope_scaling(&self) -> Checked {
        let key = self.key("rope.scaling.type");
        match self.file.get(&key) {
            None => Ok(()),
            Some(Value::Str(s)) if ROPE_SCALING_TYPES.contains(&s.as_str()) => Ok(()),
            Some(v) => Err(unusable(
                &key,
                shown(v),
                format!("must be one of {}", ROPE_SCALING_TYPES.join(", ")),
            )),
        }
    }
}

/// How many layers the tensors describe (`blk.N.` up to the highest N), if any.
fn layers_present(file: &GgufFile) -> Option<u64> {
    file.tensors
        .iter()
        .filter_map(|t| {
            t.name
                .strip_prefix("blk.")?
                .split('.')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .map(|n| n.saturating_add(1))
}

fn has_attention(file: &GgufFile, layer: usize) -> bool {
    let q = format!("blk.{layer}.attn_q.weight");
    let qkv = format!("blk.{layer}.attn_qkv.weight");
    file.tensors.iter().any(|t| t.name == q || t.name == qkv)
}

/// A value as a person reads it: numbers and strings plainly, arrays by length.
fn shown(value: &Value) -> String {
    match value {
        Value::U8(v) => v.to_string(),
        Value::I8(v) => v.to_string(),
        Value::U16(v) => v.to_string(),
        Value::I16(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::I32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::F32(v) => v.to_string(),
        Value::F64(v) => v.to_string(),
        Value::Bool(v) => v.to_string(),
        Value::Str(s) => format!("{s:?}"),
        Value::Array(items) => format!("an array of {} entries", items.len()),
    }
}

mod vocab;

#[cfg(test)]
mod tests;
