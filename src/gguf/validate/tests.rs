#![allow(clippy::unwrap_used, clippy::expect_used)]

use pretty_assertions::assert_eq;

use super::*;
use crate::gguf::{GgmlType, TensorInfo};

/// A small but complete llama header: two layers of attention, 8 heads over 2 KV heads,
/// four tokens.
fn llama() -> GgufFile {
    let mut tensors = vec![tensor("token_embd.weight", &[64, 4])];
    for i in 0..2 {
        tensors.push(tensor(&format!("blk.{i}.attn_q.weight"), &[64, 64]));
        tensors.push(tensor(&format!("blk.{i}.attn_norm.weight"), &[64]));
    }
    let tokens = ["<s>", "</s>", "a", "b"].map(|t| Value::Str(t.into()));
    GgufFile {
        version: 3,
        metadata: vec![
            kv("general.architecture", Value::Str("llama".into())),
            kv("llama.block_count", Value::U32(2)),
            kv("llama.context_length", Value::U32(4096)),
            kv("llama.embedding_length", Value::U32(64)),
            kv("llama.attention.head_count", Value::U32(8)),
            kv("llama.attention.head_count_kv", Value::U32(2)),
            kv("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            kv("llama.rope.freq_base", Value::F32(10000.0)),
            kv("tokenizer.ggml.model", Value::Str("llama".into())),
            kv("tokenizer.ggml.tokens", Value::Array(tokens.to_vec())),
            kv(
                "tokenizer.ggml.scores",
                Value::Array(vec![Value::F32(0.0); 4]),
            ),
            kv(
                "tokenizer.ggml.token_type",
                Value::Array(vec![Value::I32(1); 4]),
            ),
            kv("tokenizer.ggml.bos_token_id", Value::U32(0)),
            kv("tokenizer.ggml.eos_token_id", Value::U32(1)),
        ],
        tensors,
        data_offset: 4096,
        file_size: 1 << 20,
    }
}

fn kv(key: &str, value: Value) -> (String, Value) {
    (key.to_string(), value)
}

fn tensor(name: &str, dims: &[u64]) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        dims: dims.to_vec(),
        ggml_type: GgmlType::F32 as u32,
        offset: 0,
    }
}

fn with(key: &str, value: Value) -> GgufFile {
    let mut f = llama();
    match f.metadata.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value,
        None => f.metadata.push(kv(key, value)),
    }
    f
}

/// The problem `validate` reports, as the user reads it.
fn refused(f: &GgufFile) -> String {
    validate(f).unwrap_err().to_string()
}

#[test]
fn a_sound_header_passes() {
    assert_eq!(validate(&llama()), Ok(()));
}

#[test]
fn norm_epsilons_must_be_positive_and_finite() {
    let key = "llama.attention.layer_norm_rms_epsilon";
    for (eps, shown) in [
        (-1.0, "-1"),
        (0.0, "0"),
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
    ] {
        assert_eq!(
            refused(&with(key, Value::F32(eps))),
            format!("{key} is {shown} (must be a positive finite number)")
        );
    }
    let other = "llama.attention.layer_norm_epsilon";
    assert!(refused(&with(other, Value::F64(-1e-5))).starts_with(other));
    assert_eq!(
        refused(&with("llama.rope.freq_base", Value::F32(f32::NAN))),
        "llama.rope.freq_base is NaN (must be a finite number)"
    );
}

#[test]
fn block_count_must_be_in_llamas_range_and_match_the_tensors() {
    let key = "llama.block_count";
    assert_eq!(
        refused(&with(key, Value::U32(0))),
        "llama.block_count is 0 (must be between 1 and 512)"
    );
    assert_eq!(
        refused(&with(key, Value::U32(1 << 31))),
        "llama.block_count is 2147483648 (must be between 1 and 512)"
    );
    assert_eq!(
        refused(&with(key, Value::U32(3))),
        "llama.block_count is 3 (the file has tensors for 2 layers, blk.0 to blk.1)"
    );
    assert_eq!(
        refused(&with(key, Value::U32(1))),
        "llama.block_count is 1 (the file has tensors for 2 layers, blk.0 to blk.1)"
    );
    let mut missing = llama();
    missing.metadata.retain(|(k, _)| k != key);
    assert!(refused(&missing).starts_with("llama.block_count is missing"));
}

#[test]
fn nextn_layers_may_be_stripped_from_the_file_but_not_outnumber_the_blocks() {
    let mut mtp = with("llama.block_count", Value::U32(3));
    mtp.metadata
        .push(kv("llama.nextn_predict_layers", Value::U32(1)));
    assert_eq!(validate(&mtp), Ok(()));
    assert_eq!(
        refused(&with("llama.nextn_predict_layers", Value::U32(2))),
        "llama.nextn_predict_layers is 2 (must be less than llama.block_count, 2)"
    );
}

#[test]
fn context_and_embedding_lengths_must_be_sane() {
    assert_eq!(
        refused(&with("llama.context_length", Value::U32(0))),
        "llama.context_length is 0 (must be between 1 and 134217728)"
    );
    assert!(refused(&with("llama.context_length", Value::U64(u64::MAX)))
        .starts_with("llama.context_length is 18446744073709551615"));
    assert!(refused(&with("llama.embedding_length", Value::U32(0)))
        .starts_with("llama.embedding_length is 0"));
    assert_eq!(
        refused(&with("llama.context_length", Value::F32(4096.0))),
        "llama.context_length is 4096 (must be a whole number)"
    );
}

#[test]
fn kv_heads_must_divide_the_heads() {
    let key = "llama.attention.head_count_kv";
    for kv_heads in [0, 3, 16] {
        assert!(
            refused(&with(key, Value::U32(kv_heads))).starts_with(&format!(
                "{key} is {kv_heads} (must divide llama.attention.head_count, 8"
            )),
            "{kv_heads}"
        );
    }
    assert_eq!(
        refused(&with("llama.attention.head_count", Value::U32(0))),
        "llama.attention.head_count is 0 (layer 0 has attention weights, so it needs at least one head)"
    );
    // Hybrid models: per-layer arrays, recurrent layers without KV heads.
    let mut hybrid = with(key, Value::Array(vec![Value::U32(0), Value::U32(2)]));
    hybrid.tensors.retain(|t| t.name != "blk.0.attn_q.weight");
    assert_eq!(validate(&hybrid), Ok(()));
    assert_eq!(
        refused(&with(key, Value::Array(vec![Value::U32(2)]))),
        format!("{key} is an array of 1 entries (must have one entry per layer: 2)")
    );
}

#[test]
fn expert_counts_follow_llamas_asserts() {
    assert_eq!(
        refused(&with("llama.expert_used_count", Value::U32(2))),
        "llama.expert_used_count is 2 (must be 0 when llama.expert_count is 0 or missing)"
    );
    let mut moe = with("llama.expert_count", Value::U32(8));
    assert!(refused(&moe).starts_with("llama.expert_used_count is 0"));
    moe.metadata
        .push(kv("llama.expert_used_count", Value::U32(2)));
    assert_eq!(validate(&moe), Ok(()));
    moe.metadata
        .push(kv("llama.expert_group_count", Value::U32(3)));
    assert!(refused(&moe).starts_with("llama.expert_group_count is 3 (must divide"));
    assert!(refused(&with("llama.expert_count", Value::U32(4096)))
        .starts_with("llama.expert_count is 4096"));
}

#[test]
fn rope_scaling_must_be_a_type_llama_knows() {
    assert_eq!(
        refused(&with(
            "llama.rope.scaling.type",
            Value::Str("sideways".into())
        )),
        "llama.rope.scaling.type is \"sideways\" (must be one of none, linear, yarn, longrope)"
    );
    assert_eq!(
        validate(&with("llama.rope.scaling.type", Value::Str("yarn".into()))),
        Ok(())
    );
}

#[test]
fn every_token_must_be_distinct_empty_ones_as_llama_renames_them() {
    let key = "tokenizer.ggml.tokens";
    let dup = ["<s>", "</s>", "a", "a"].map(|t| Value::Str(t.into()));
    assert_eq!(
        refused(&with(key, Value::Array(dup.to_vec()))),
        "tokenizer.ggml.tokens is a list with \"a\" twice, at ids 2 and 3 (every token must be distinct)"
    );
    let empty = ["<s>", "</s>", "", "[EMPTY_2]"].map(|t| Value::Str(t.into()));
    assert!(refused(&with(key, Value::Array(empty.to_vec()))).contains("\"[EMPTY_2]\" twice"));
    let two_empty = ["<s>", "</s>", "", ""].map(|t| Value::Str(t.into()));
    assert_eq!(
        validate(&with(key, Value::Array(two_empty.to_vec()))),
        Ok(())
    );
}

#[test]
fn the_vocabulary_must_match_the_embedding_and_its_tables() {
    let key = "tokenizer.ggml.tokens";
    let five = ["<s>", "</s>", "a", "b", "c"].map(|t| Value::Str(t.into()));
    assert_eq!(
        refused(&with(key, Value::Array(five.to_vec()))),
        "tokenizer.ggml.tokens is a list of 5 tokens (must match the 4 rows of token_embd.weight)"
    );
    assert_eq!(
        refused(&with(
            "tokenizer.ggml.scores",
            Value::Array(vec![Value::F32(0.0); 3])
        )),
        "tokenizer.ggml.scores is a list of 3 entries (must have one per token: 4)"
    );
    assert_eq!(
        refused(&with(
            "tokenizer.ggml.token_type",
            Value::Array(vec![Value::U8(1); 4])
        )),
        "tokenizer.ggml.token_type is 1 (must be a list of 32-bit integers)"
    );
    assert!(refused(&with(key, Value::Array(Vec::new()))).starts_with(key));
    let mut none = llama();
    none.metadata.retain(|(k, _)| !k.starts_with("tokenizer."));
    assert!(refused(&none).starts_with("tokenizer.ggml.tokens is missing"));
    none.metadata
        .push(kv("tokenizer.ggml.model", Value::Str("none".into())));
    assert_eq!(validate(&none), Ok(()));
}

#[test]
fn special_token_ids_must_be_in_the_vocabulary() {
    for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"] {
        assert_eq!(
            refused(&with(key, Value::U32(4))),
            format!("{key} is 4 (must be a token id below the vocabulary size, 4)")
        );
    }
    // llama.cpp ignores other special ids out of range, and real files have them.
    assert_eq!(
        validate(&with("tokenizer.ggml.padding_token_id", Value::U32(4))),
        Ok(())
    );
    assert!(
        refused(&with("tokenizer.ggml.eos_token_id", Value::I32(-1)))
            .starts_with("tokenizer.ggml.eos_token_id is -1")
    );
}

#[test]
fn tensors_need_whole_blocks_and_no_empty_dimension() {
    let mut empty = llama();
    empty.tensors[1].dims = vec![0, 64];
    assert_eq!(
        refused(&empty),
        "blk.0.attn_q.weight is a tensor of shape [0, 64] (every dimension must be at least 1)"
    );
    let mut ragged = llama();
    ragged.tensors[1].ggml_type = GgmlType::Q4_K as u32;
    assert_eq!(
        refused(&ragged),
        "blk.0.attn_q.weight is a Q4_K tensor of shape [64, 64] (its rows must be a multiple of Q4_K's block of 256)"
    );
}

#[test]
fn full_rotary_architectures_need_matching_head_widths() {
    assert_eq!(
        refused(&with("llama.rope.dimension_count", Value::U32(4))),
        "llama.rope.dimension_count is 4 (must equal the head size, 8, in llama)"
    );
    assert_eq!(
        validate(&with("llama.rope.dimension_count", Value::U32(8))),
        Ok(())
    );
    assert_eq!(
        refused(&with("llama.attention.value_length", Value::U32(16))),
        "llama.attention.value_length is 16 (must equal the key length, 8, in llama)"
    );
    // Partial rotary embeddings are normal elsewhere.
    let mut phi = with("llama.rope.dimension_count", Value::U32(4));
    for (k, v) in &mut phi.metadata {
        if let Some(rest) = k.strip_prefix("llama.") {
            *k = format!("phi2.{rest}");
        }
        if k == "general.architecture" {
            *v = Value::Str("phi2".into());
        }
    }
    assert_eq!(validate(&phi), Ok(()));
}

#[test]
fn full_attention_interval_must_not_divide_by_zero() {
    assert_eq!(
        refused(&with("llama.full_attention_interval", Value::U32(0))),
        "llama.full_attention_interval is 0 (must be at least 1)"
    );
}
