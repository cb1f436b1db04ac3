//! What a synthetic model contains: hyperparameters per architecture and shape, the
//! metadata keys llama.cpp reads, and the tensor table with each tensor's initialiser.
//!
//! Names, shapes and keys follow llama.cpp's loaders (`src/models/{llama,qwen2,qwen35}.cpp`
//! in the vendored sources): a tensor the loader does not ask for, or one it asks for that
//! is missing, makes the load fail, so this file is the one place they are spelled out.
//!
//! qwen35 at real-model shapes: there is no Qwen3.5 at 0.5B/1.5B widths, so those shapes
//! keep the Qwen2.5 widths (E, heads, KV heads, head dim, FFN) and use the Qwen3.5 layer
//! layout: Gated-DeltaNet layers with full attention every 4th layer. Choices: rotary on a
//! quarter of the head (as Qwen3.5), M-RoPE sections split 11:11:10 of it; GDN state size
//! 128 with 7 key/value heads (0.5b, inner 896) or 6 key and 12 value heads (1.5b, inner
//! 1536, exercising the grouped path); conv kernel 4.

use crate::gguf::{GgmlType, TensorSpec, Value};

use super::{Arch, Shape, Weights};

/// Gated-DeltaNet dimensions (qwen35's recurrent layers).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ssm {
    pub d_conv: u64,
    pub d_state: u64,
    pub n_group: u64,
    pub dt_rank: u64,
}

impl Ssm {
    fn inner(&self) -> u64 {
        self.d_state * self.dt_rank
    }
}

/// Hyperparameters of one architecture at one shape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub n_embd: u64,
    /// Trunk layers (without the NextN block).
    pub n_layer: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub head_dim: u64,
    pub n_ff: u64,
    pub n_ctx: u64,
    pub ssm: Option<Ssm>,
}

const FULL_ATTENTION_INTERVAL: u64 = 4;
const ROPE_THETA: f32 = 1_000_000.0;
const RMS_EPS: f32 = 1e-6;

pub(crate) fn dims(arch: Arch, shape: Shape) -> Dims {
    let (n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx) = match shape {
        Shape::Tiny => (
            64,
            if arch == Arch::Qwen35 { 4 } else { 2 },
            4,
            2,
            16,
            128,
            4096,
        ),
        Shape::Qwen25_05b => (896, 24, 14, 2, 64, 4864, 32768),
        Shape::Qwen25_15b => (1536, 28, 12, 2, 128, 8960, 32768),
    };
    let ssm = (arch == Arch::Qwen35).then_some(match shape {
        Shape::Tiny => Ssm {
            d_conv: 4,
            d_state: 16,
            n_group: 2,
            dt_rank: 4,
        },
        Shape::Qwen25_05b => Ssm {
            d_conv: 4,
            d_state: 128,
            n_group: 7,
            dt_rank: 7,
        },
        Shape::Qwen25_15b => Ssm {
            d_conv: 4,
            d_state: 128,
            n_group: 6,
            dt_rank: 12,
        },
    });
    Dims {
        n_embd,
        n_layer,
        n_head,
        n_head_kv,
        head_dim,
        n_ff,
        n_ctx,
        ssm,
    }
}

/// How a tensor's values are made; [`super::weights`] turns this into bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Init {
    Ones,
    /// Uniform noise with this standard deviation.
    Random(f32),
    /// Uniform in `[lo, hi)`.
    Range(f32, f32),
    /// A projection whose output is added to the residual stream: random, or zero in the
    /// structured modes so each block passes its input through unchanged.
    Residual(f32),
    Embedding,
    Output,
    /// NextN's `eh_proj` [2E → E]: random, or `[I | 0]` in the structured modes so the MTP
    /// head sees exactly the token embedding and predicts what the trunk predicts.
    EhProj,
}

/// One tensor of the plan.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub spec: TensorSpec,
    pub init: Init,
}

/// Everything to write, apart from the tokenizer.
pub(crate) struct Plan {
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<Planned>,
}

/// Inputs that shape the plan.
pub(crate) struct PlanInput {
    pub arch: Arch,
    pub shape: Shape,
    pub weights: Weights,
    pub mtp: bool,
    pub n_vocab: u64,
    /// Overrides the shape's training context length.
    pub n_ctx: Option<u64>,
    /// Type of 2-D weight matrices (F32 or F16); norms, biases and conv kernels stay F32.
    pub matrix_type: GgmlType,
    /// `general.name`.
    pub name: String,
}

pub(crate) fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Llama => "llama",
        Arch::Qwen2 => "qwen2",
        Arch::Qwen35 => "qwen35",
    }
}

/// Real Qwen models tie the LM head to the embedding; the structured modes cannot (their
/// output matrix differs from the embedding by construction), and llama never does.
pub(crate) fn tied(input: &PlanInput) -> bool {
    input.weights == Weights::Random && input.arch != Arch::Llama
}

/// M-RoPE sections for `n_rot` rotary dims, split 11:11:10 as Qwen3.5's [11, 11, 10, 0].
fn rope_sections(n_rot: u64) -> [i32; 4] {
    let h = (n_rot / 2) as i32;
    [(h + 2) / 3, (h + 1) / 3, h / 3, 0]
}

fn qwen35_n_rot(d: &Dims) -> u64 {
    (d.head_dim / 4).max(8)
}

pub(crate) fn plan(input: &PlanInput) -> Plan {
    let mut d = dims(input.arch, input.shape);
    if let Some(n_ctx) = input.n_ctx {
        d.n_ctx = n_ctx;
    }
    let arch = arch_name(input.arch);
    let n_blocks = d.n_layer + u64::from(input.mtp);
    let k = |suffix: &str| format!("{arch}.{suffix}");
    let u32v = |v: u64| Value::U32(v as u32);

    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::Str(arch.into())),
        ("general.type".into(), Value::Str("model".into())),
        ("general.name".into(), Value::Str(input.name.clone())),
        (
            "general.file_type".into(),
            // llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1.
            Value::U32(u32::from(input.matrix_type == GgmlType::F16)),
        ),
        (k("block_count"), u32v(n_blocks)),
        (k("context_length"), u32v(d.n_ctx)),
        (k("embedding_length"), u32v(d.n_embd)),
        (k("feed_forward_length"), u32v(d.n_ff)),
        (k("attention.head_count"), u32v(d.n_head)),
        (k("attention.head_count_kv"), u32v(d.n_head_kv)),
        (k("rope.freq_base"), Value::F32(ROPE_THETA)),
        (k("attention.layer_norm_rms_epsilon"), Value::F32(RMS_EPS)),
    ];
    match input.arch {
        Arch::Llama => {
            md.push((k("rope.dimension_count"), u32v(d.head_dim)));
            md.push((k("vocab_size"), u32v(input.n_vocab)));
        }
        Arch::Qwen2 => {}
        Arch::Qwen35 => {
            let n_rot = qwen35_n_rot(&d);
            md.push((k("attention.key_length"), u32v(d.head_dim)));
            md.push((k("attention.value_length"), u32v(d.head_dim)));
            md.push((k("rope.dimension_count"), u32v(n_rot)));
            md.push((
                k("rope.dimension_sections"),
                Value::Array(rope_sections(n_rot).map(Value::I32).to_vec()),
            ));
            md.push((k("full_attention_interval"), u32v(FULL_ATTENTION_INTERVAL)));
            if let Some(s) = d.ssm {
                md.push((k("ssm.conv_kernel"), u32v(s.d_conv)));
                md.push((k("ssm.inner_size"), u32v(s.inner())));
                md.push((k("ssm.state_size"), u32v(s.d_state)));
                md.push((k("ssm.time_step_rank"), u32v(s.dt_rank)));
                md.push((k("ssm.group_count"), u32v(s.n_group)));
            }
            if input.mtp {
                md.push((k("nextn_predict_layers"), Value::U32(1)));
            }
        }
    }

    let mut t = Tensors {
        list: Vec::new(),
        mat: input.matrix_type,
    };
    let e = d.n_embd;
    t.mat("token_embd.weight", e, input.n_vocab, Init::Embedding);
    t.norm("output_norm.weight", e);
    if !tied(input) {
        t.mat("output.weight", e, input.n_vocab, Init::Output);
    }
    for il in 0..d.n_layer {
        match input.arch {
            Arch::Llama | Arch::Qwen2 => classic_block(&mut t, &d, il, input.arch == Arch::Qwen2),
            Arch::Qwen35 => qwen35_block(&mut t, &d, il),
        }
    }
    if input.mtp {
        qwen35_nextn_block(&mut t, &d, d.n_layer);
    }
    Plan {
        metadata: md,
        tensors: t.list,
    }
}

struct Tensors {
    list: Vec<Planned>,
    mat: GgmlType,
}

impl Tensors {
    fn push(&mut self, name: String, dims: &[u64], ty: GgmlType, init: Init) {
        self.list.push(Planned {
            spec: TensorSpec::new(name, dims, ty),
            init,
        });
    }

    /// A weight matrix `n_in → n_out`, random at a scale that keeps activations O(1).
    fn mat(&mut self, name: impl Into<String>, n_in: u64, n_out: u64, init: Init) {
        let ty = self.mat;
        self.push(name.into(), &[n_in, n_out], ty, init);
    }

    fn linear(&mut self, name: String, n_in: u64, n_out: u64) {
        self.mat(name, n_in, n_out, Init::Random(1.0 / (n_in as f32).sqrt()));
    }

    fn residual(&mut self, name: String, n_in: u64, n_out: u64) {
        self.mat(
            name,
            n_in,
            n_out,
            Init::Residual(1.0 / (n_in as f32).sqrt()),
        );
    }

    fn norm(&mut self, name: impl Into<String>, n: u64) {
        self.push(name.into(), &[n], GgmlType::F32, Init::Ones);
    }

    fn vector(&mut self, name: String, n: u64, init: Init) {
        self.push(name, &[n], GgmlType::F32, init);
    }

    fn ffn(&mut self, d: &Dims, il: u64) {
        self.linear(format!("blk.{il}.ffn_gate.weight"), d.n_embd, d.n_ff);
        self.linear(format!("blk.{il}.ffn_up.weight"), d.n_embd, d.n_ff);
        self.residual(format!("blk.{il}.ffn_down.weight"), d.n_ff, d.n_embd);
    }

    /// Gated attention as qwen35 has it: Q projects to query and gate, Q/K are normed.
    fn gated_attention(&mut self, d: &Dims, il: u64) {
        let (e, q) = (d.n_embd, d.head_dim * d.n_head);
        let kv = d.head_dim * d.n_head_kv;
        self.linear(format!("blk.{il}.attn_q.weight"), e, 2 * q);
        self.linear(format!("blk.{il}.attn_k.weight"), e, kv);
        self.linear(format!("blk.{il}.attn_v.weight"), e, kv);
        self.residual(format!("blk.{il}.attn_output.weight"), q, e);
        self.norm(format!("blk.{il}.attn_q_norm.weight"), d.head_dim);
        self.norm(format!("blk.{il}.attn_k_norm.weight"), d.head_dim);
    }
}

/// llama / qwen2 decoder block; qwen2 adds Q/K/V biases.
fn classic_block(t: &mut Tensors, d: &Dims, il: u64, qkv_bias: bool) {
    let (e, q) = (d.n_embd, d.head_dim * d.n_head);
    let kv = d.head_dim * d.n_head_kv;
    t.norm(format!("blk.{il}.attn_norm.weight"), e);
    t.linear(format!("blk.{il}.attn_q.weight"), e, q);
    t.linear(format!("blk.{il}.attn_k.weight"), e, kv);
    t.linear(format!("blk.{il}.attn_v.weight"), e, kv);
    if qkv_bias {
        for (name, n) in [("attn_q", q), ("attn_k", kv), ("attn_v", kv)] {
            t.vector(format!("blk.{il}.{name}.bias"), n, Init::Random(0.1));
        }
    }
    t.residual(format!("blk.{il}.attn_output.weight"), q, e);
    t.norm(format!("blk.{il}.ffn_norm.weight"), e);
    t.ffn(d, il);
}

fn qwen35_block(t: &mut Tensors, d: &Dims, il: u64) {
    let e = d.n_embd;
    t.norm(format!("blk.{il}.attn_norm.weight"), e);
    t.norm(format!("blk.{il}.post_attention_norm.weight"), e);
    let recurrent = !(il + 1).is_multiple_of(FULL_ATTENTION_INTERVAL);
    match d.ssm {
        Some(s) if recurrent => {
            let key_dim = s.d_state * s.n_group;
            let value_dim = s.inner();
            let conv_dim = 2 * key_dim + value_dim;
            t.linear(format!("blk.{il}.attn_qkv.weight"), e, conv_dim);
            t.linear(format!("blk.{il}.attn_gate.weight"), e, value_dim);
            // ggml's ssm_conv has no F16 kernel: the conv weights stay F32 at every quant.
            let conv_std = 1.0 / (s.d_conv as f32).sqrt();
            t.push(
                format!("blk.{il}.ssm_conv1d.weight"),
                &[s.d_conv, conv_dim],
                GgmlType::F32,
                Init::Random(conv_std),
            );
            t.vector(
                format!("blk.{il}.ssm_dt.bias"),
                s.dt_rank,
                Init::Range(0.5, 1.5),
            );
            // -exp(A_log): a per-head decay rate, negative as in trained models.
            t.vector(
                format!("blk.{il}.ssm_a"),
                s.dt_rank,
                Init::Range(-4.0, -0.25),
            );
            t.linear(format!("blk.{il}.ssm_beta.weight"), e, s.dt_rank);
            t.linear(format!("blk.{il}.ssm_alpha.weight"), e, s.dt_rank);
            t.norm(format!("blk.{il}.ssm_norm.weight"), s.d_state);
            t.residual(format!("blk.{il}.ssm_out.weight"), value_dim, e);
        }
        _ => t.gated_attention(d, il),
    }
    t.ffn(d, il);
}

/// The NextN (MTP) block: a full-attention block fed by `eh_proj(enorm(embed) ‖ hnorm(h))`.
fn qwen35_nextn_block(t: &mut Tensors, d: &Dims, il: u64) {
    let e = d.n_embd;
    t.norm(format!("blk.{il}.attn_norm.weight"), e);
    t.norm(format!("blk.{il}.post_attention_norm.weight"), e);
    t.gated_attention(d, il);
    t.ffn(d, il);
    t.mat(
        format!("blk.{il}.nextn.eh_proj.weight"),
        2 * e,
        e,
        Init::EhProj,
    );
    t.norm(format!("blk.{il}.nextn.enorm.weight"), e);
    t.norm(format!("blk.{il}.nextn.hnorm.weight"), e);
    t.norm(format!("blk.{il}.nextn.shared_head_norm.weight"), e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_sections_match_qwen35() {
        assert_eq!(rope_sections(64), [11, 11, 10, 0]);
        assert_eq!(rope_sections(8), [2, 1, 1, 0]);
    }

    #[test]
    fn qwen35_layout_has_attention_every_fourth_layer() {
        let p = plan(&PlanInput {
            arch: Arch::Qwen35,
            shape: Shape::Tiny,
            weights: Weights::Random,
            mtp: true,
            n_vocab: 530,
            n_ctx: None,
            matrix_type: GgmlType::F32,
            name: "t".into(),
        });
        let has = |n: &str| p.tensors.iter().any(|t| t.spec.name == n);
        assert!(has("blk.0.ssm_conv1d.weight") && !has("blk.0.attn_k.weight"));
        assert!(has("blk.3.attn_k.weight") && !has("blk.3.ssm_conv1d.weight"));
        assert!(has("blk.4.nextn.eh_proj.weight"));
        assert!(!has("output.weight"), "random qwen models tie the LM head");
        let blocks = p.metadata.iter().find(|(k, _)| k == "qwen35.block_count");
        assert_eq!(blocks.map(|(_, v)| v.as_u64()), Some(Some(5)));
    }
}
