#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::gguf;

fn spec(arch: Arch, weights: Weights, seed: u64) -> SynthSpec {
    SynthSpec {
        arch,
        shape: Shape::Tiny,
        weights,
        seed,
        quant: None,
        mtp: arch == Arch::Qwen35,
        n_vocab: None,
        n_ctx: None,
    }
}

const ARCHES: [Arch; 3] = [Arch::Llama, Arch::Qwen2, Arch::Qwen35];
const WEIGHTS: [Weights; 3] = [Weights::Random, Weights::Bigram, Weights::Perm];

#[test]
fn tiny_models_are_small_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    for arch in ARCHES {
        for w in WEIGHTS {
            let path = dir.path().join(format!("{arch:?}-{w:?}.gguf"));
            let report = synthesize(&spec(arch, w, 1), &path).unwrap();
            assert!(
                report.bytes < 2 << 20,
                "{arch:?} {w:?}: {} bytes",
                report.bytes
            );
            let f = gguf::read(&path).unwrap();
            assert_eq!(f.file_size, report.bytes);
            assert_eq!(f.n_params(), report.n_params);
            assert_eq!(f.architecture(), Some(arch::arch_name(arch)));
            assert_eq!(f.file_type(), Some("F32"));
            assert_eq!(report.n_vocab, 530);
            assert_eq!(report.file_type, "F32");
            assert_eq!(report.next_token.is_some(), w == Weights::Perm);
            let tokens = f.get("tokenizer.ggml.tokens").and_then(Value::as_array);
            assert_eq!(tokens.map(<[Value]>::len), Some(530));
        }
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temp files left: {names:?}"
    );
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for w in WEIGHTS {
        let write = |seed: u64, name: &str| {
            let path = dir.path().join(name);
            synthesize(&spec(Arch::Qwen35, w, seed), &path).unwrap();
            std::fs::read(path).unwrap()
        };
        let a = write(5, "a.gguf");
        assert_eq!(a, write(5, "b.gguf"), "{w:?}");
        assert_ne!(a, write(6, "c.gguf"), "{w:?}");
    }
}

#[test]
fn perm_successors_agree_across_vocab_sizes_on_normal_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = spec(Arch::Llama, Weights::Perm, 11);
    big.n_vocab = Some(1000);
    let small = synthesize(
        &spec(Arch::Llama, Weights::Perm, 11),
        &dir.path().join("s.gguf"),
    )
    .unwrap()
    .next_token
    .unwrap();
    let large = synthesize(&big, &dir.path().join("l.gguf"))
        .unwrap()
        .next_token
        .unwrap();
    assert_eq!(large.len(), 1000);
    assert_eq!(small[..523], large[..523]);
    assert!(
        large.iter().all(|&t| t < 523),
        "successors are never specials or padding"
    );
}

#[test]
fn mtp_needs_qwen35_and_vocab_needs_room() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(Arch::Llama, Weights::Random, 1);
    s.mtp = true;
    let err = synthesize(&s, &dir.path().join("x.gguf")).unwrap_err();
    assert!(err.to_string().contains("qwen35"), "{err}");
    let mut s = spec(Arch::Qwen2, Weights::Random, 1);
    s.n_vocab = Some(10);
    assert!(matches!(
        synthesize(&s, &dir.path().join("y.gguf")),
        Err(SynthError::InvalidSpec(_))
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn unwritable_directory_is_an_io_error_naming_the_path() {
    let path = Path::new("/nonexistent-lode-dir/m.gguf");
    let err = synthesize(&spec(Arch::Qwen2, Weights::Random, 1), path).unwrap_err();
    assert!(matches!(err, SynthError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent-lode-dir/m.gguf"));
}

#[test]
fn f16_and_qwen2_tie_follow_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(Arch::Qwen2, Weights::Random, 2);
    s.quant = Some(Quant::F16);
    let path = dir.path().join("h.gguf");
    let r = synthesize(&s, &path).unwrap();
    assert_eq!(r.file_type, "F16");
    let f = gguf::read(&path).unwrap();
    let ty = |name: &str| {
        f.tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.ggml_type)
    };
    assert_eq!(ty("token_embd.weight"), Some(GgmlType::F16 as u32));
    assert_eq!(ty("blk.0.attn_norm.weight"), Some(GgmlType::F32 as u32));
    assert_eq!(ty("blk.0.attn_q.bias"), Some(GgmlType::F32 as u32));
    assert_eq!(ty("output.weight"), None, "qwen2 ties its LM head");
}

#[test]
fn enums_display_as_their_command_line_names() {
    assert_eq!(Shape::Qwen25_05b.to_string(), "qwen2.5-0.5b");
    assert_eq!(Arch::Qwen35.to_string(), "qwen35");
    assert_eq!(Quant::Q4KM.to_string(), "q4_k_m");
    assert_eq!(Weights::Perm.to_string(), "perm");
    assert_eq!(
        serde_json::to_string(&Shape::Qwen25_15b).unwrap(),
        "\"qwen2.5-1.5b\""
    );
    assert_eq!(serde_json::to_string(&Quant::Q8_0).unwrap(), "\"q8_0\"");
}

#[test]
fn a_tiny_model_can_declare_a_longer_context() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.gguf");
    let mut long = spec(Arch::Qwen2, Weights::Random, 1);
    long.n_ctx = Some(32768);
    synthesize(&long, &path).unwrap();
    assert_eq!(
        gguf::read(&path).unwrap().arch_u64("context_length"),
        Some(32768)
    );
    let short = dir.path().join("short.gguf");
    synthesize(&spec(Arch::Qwen2, Weights::Random, 1), &short).unwrap();
    assert_eq!(
        gguf::read(&short).unwrap().arch_u64("context_length"),
        Some(4096)
    );
}
