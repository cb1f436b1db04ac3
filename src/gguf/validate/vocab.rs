//! The vocabulary half of [`super::validate`]: the token list and the tables indexed by it.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{shown, unusable, Checked};
use crate::gguf::GgufFile;

/// Tokenizer models that carry no vocabulary.
const NO_VOCAB: &[&str] = &["none", "no_vocab"];

/// The vocabulary: llama.cpp asserts that every token is distinct, indexes scores and types
/// by token id, and needs as many tokens as the embedding has rows.
pub(super) fn vocab(file: &GgufFile) -> Checked {
    const TOKENS: &str = "tokenizer.ggml.tokens";
    if file
        .get_str("tokenizer.ggml.model")
        .is_some_and(|m| NO_VOCAB.contains(&m))
    {
        return Ok(());
    }
    let Some(list) = file.get(TOKENS) else {
        return Err(unusable(TOKENS, "missing", "a model needs its vocabulary"));
    };
    let Some(items) = list.as_array().filter(|a| !a.is_empty()) else {
        return Err(unusable(TOKENS, shown(list), "must be a list of strings"));
    };
    let n = items.len();
    let mut seen: HashMap<Cow<str>, usize> = HashMap::with_capacity(n);
    for (id, item) in items.iter().enumerate() {
        let Some(text) = item.as_str() else {
            return Err(unusable(
                TOKENS,
                format!("{} at id {id}", shown(item)),
                "must be a list of strings",
            ));
        };
        // llama.cpp renames empty tokens this way before it indexes them.
        let text: Cow<str> = if text.is_empty() {
            Cow::Owned(format!("[EMPTY_{id}]"))
        } else {
            Cow::Borrowed(text)
        };
        if let Some(first) = seen.insert(text.clone(), id) {
            return Err(unusable(
                TOKENS,
                format!("a list with {text:?} twice, at ids {first} and {id}"),
                "every token must be distinct",
            ));
        }
    }
    if let Some(embd) = file.tensors.iter().find(|t| t.name == "token_embd.weight") {
        if let Some(&rows) = embd.dims.get(1) {
            if rows != n as u64 {
                return Err(unusable(
                    TOKENS,
                    format!("a list of {n} tokens"),
                    format!("must match the {rows} rows of token_embd.weight"),
                ));
            }
        }
    }
    per_token(file, "tokenizer.ggml.scores", n, &[6, 5], "numbers")?;
    per_token(
        file,
        "tokenizer.ggml.token_type",
        n,
        &[5],
        "32-bit integers",
    )?;
    special_ids(file, n)
}

/// An array with one entry per token, of one of the GGUF `types`.
fn per_token(file: &GgufFile, key: &str, n: usize, types: &[u32], what: &str) -> Checked {
    let Some(value) = file.get(key) else {
        return Ok(());
    };
    let Some(items) = value.as_array() else {
        return Err(unusable(
            key,
            shown(value),
            format!("must be a list of {what}"),
        ));
    };
    if let Some(bad) = items.iter().find(|v| !types.contains(&v.type_id())) {
        return Err(unusable(
            key,
            shown(bad),
            format!("must be a list of {what}"),
        ));
    }
    if items.len() != n {
        return Err(unusable(
            key,
            format!("a list of {} entries", items.len()),
            format!("must have one per token: {n}"),
        ));
    }
    Ok(())
}

/// `tokenizer.ggml.{bos,eos}_token_id`: the ids lode looks up in the vocabulary (to build
/// prompts). llama.cpp itself only warns about other special ids out of range and ignores
/// them, and real files carry such padding ids, so those are left alone.
fn special_ids(file: &GgufFile, n: usize) -> Checked {
    for (key, value) in &file.metadata {
        if !matches!(
            key.as_str(),
            "tokenizer.ggml.bos_token_id" | "tokenizer.ggml.eos_token_id"
        ) {
            continue;
        }
        if value.as_u64().is_none_or(|id| id >= n as u64) {
            return Err(unusable(
                key,
                shown(value),
                format!("must be a token id below the vocabulary size, {n}"),
            ));
        }
    }
    Ok(())
}
