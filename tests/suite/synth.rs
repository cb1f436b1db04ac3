//! Synthetic models load and behave in llama.cpp as `engine::synth` promises.
//!
//! These talk to llama.cpp directly (not through the engine) so that a failure here points
//! at the model file, not at the engine's use of it.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use lode::engine::llama::backend;
use lode::engine::synth::{synthesize, Arch, Quant, Shape, SynthReport, SynthSpec, Weights};

use super::common::llama_lock;

const ARCHES: [Arch; 3] = [Arch::Llama, Arch::Qwen2, Arch::Qwen35];
const WEIGHTS: [Weights; 3] = [Weights::Random, Weights::Bigram, Weights::Perm];

fn write(dir: &Path, arch: Arch, weights: Weights, quant: Option<Quant>) -> (PathBuf, SynthReport) {
    let path = dir.join(format!("{arch:?}-{weights:?}-{quant:?}.gguf"));
    let spec = SynthSpec {
        arch,
        shape: Shape::Tiny,
        weights,
        seed: 42,
        quant,
        mtp: arch == Arch::Qwen35,
        n_vocab: None,
        n_ctx: None,
    };
    let report = synthesize(&spec, &path).unwrap();
    (path, report)
}

fn load(path: &Path, mtp: bool) -> LlamaModel {
    let params = LlamaModelParams::default().with_load_mtp(mtp);
    LlamaModel::load_from_file(backend().unwrap(), path, &params)
        .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()))
}

fn context(model: &LlamaModel) -> LlamaContext<'_> {
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(256))
        .with_n_batch(64)
        .with_n_ubatch(64)
        .with_n_threads(1)
        .with_n_threads_batch(1);
    model.new_context(backend().unwrap(), params).unwrap()
}

/// Decodes `tokens` at positions `start..` and returns the last row of logits.
fn decode(ctx: &mut LlamaContext<'_>, tokens: &[LlamaToken], start: i32) -> Vec<f32> {
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    for (i, &t) in tokens.iter().enumerate() {
        batch
            .add(t, start + i as i32, &[0], i + 1 == tokens.len())
            .unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    ctx.get_logits_ith(batch.n_tokens() - 1).to_vec()
}

fn argmax(logits: &[f32]) -> i32 {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(-1, |(i, _)| i as i32)
}

/// Greedy continuation of `prompt` for `n` tokens.
fn greedy(model: &LlamaModel, prompt: &[LlamaToken], n: usize) -> Vec<i32> {
    let mut ctx = context(model);
    let mut logits = decode(&mut ctx, prompt, 0);
    let mut out = Vec::new();
    for step in 0..n {
        let next = argmax(&logits);
        out.push(next);
        logits = decode(&mut ctx, &[LlamaToken(next)], (prompt.len() + step) as i32);
    }
    out
}

#[test]
fn every_arch_and_weight_mode_loads_and_decodes_finite_logits() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    for arch in ARCHES {
        for weights in WEIGHTS {
            let (path, report) = write(dir.path(), arch, weights, None);
            let model = load(&path, false);
            assert_eq!(model.n_vocab() as u32, report.n_vocab);
            assert_eq!(model.n_params(), report.n_params, "{arch:?} {weights:?}");
            let prompt = model
                .vocab()
                .tokenize(b"fn main() { println!(\"hi\"); }", false, true);
            let logits = decode(&mut context(&model), &prompt, 0);
            assert_eq!(logits.len(), report.n_vocab as usize);
            assert!(logits.iter().all(|l| l.is_finite()), "{arch:?} {weights:?}");
        }
    }
}

#[test]
fn qwen35_mtp_block_loads_with_mtp_enabled() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), Arch::Qwen35, Weights::Perm, None);
    let model = load(&path, true);
    assert!(model.is_hybrid());
    let f = lode::gguf::read(&path).unwrap();
    assert_eq!(f.get_u64("qwen35.block_count"), Some(5));
    assert_eq!(f.get_u64("qwen35.nextn_predict_layers"), Some(1));
}

#[test]
fn qwen35_mtp_head_drafts_the_perm_successors() {
    use llama_cpp_2::context::params::LlamaContextType;
    use llama_cpp_2::speculative::{MtpSpeculative, MtpSpeculativeParams};

    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    let (path, report) = write(dir.path(), Arch::Qwen35, Weights::Perm, None);
    let next = report.next_token.unwrap();
    let model = load(&path, true);
    let params = || {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(256))
            .with_n_batch(64)
            .with_n_ubatch(64)
            .with_n_threads(1)
            .with_n_threads_batch(1)
    };
    let target = model
        .new_context(backend().unwrap(), params().with_n_rs_seq(4))
        .unwrap();
    let draft = model
        .new_context(
            backend().unwrap(),
            params().with_context_type(LlamaContextType::Mtp),
        )
        .unwrap();
    let mut spec = MtpSpeculative::new(
        target,
        draft,
        MtpSpeculativeParams {
            n_max: 3,
            n_min: 0,
            p_min: 0.0,
        },
    )
    .unwrap();
    let prompt = model.vocab().tokenize(b"let x = 1;", false, true);
    spec.begin(&prompt).unwrap();
    let mut batch = LlamaBatch::new(prompt.len(), 1);
    for (i, &t) in prompt.iter().enumerate() {
        batch.add(t, i as i32, &[0], true).unwrap();
    }
    spec.target_context_mut().decode(&mut batch).unwrap();
    spec.process(&batch).unwrap();
    let last = argmax(spec.target_context().get_logits_ith(batch.n_tokens() - 1));
    assert_eq!(last as u32, next[prompt.last().unwrap().0 as usize]);
    let drafted = spec
        .draft(prompt.len() as i32, LlamaToken(last), &prompt)
        .unwrap();
    let mut x = last as u32;
    let want: Vec<LlamaToken> = (0..drafted.len())
        .map(|_| {
            x = next[x as usize];
            LlamaToken(x as i32)
        })
        .collect();
    assert!(!drafted.is_empty());
    assert_eq!(
        drafted, want,
        "eh_proj = [I | 0] makes the MTP head agree with the trunk"
    );
}

#[test]
fn gguf_header_is_byte_identical_to_llama_cpps_writer() {
    use std::ffi::CString;

    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), Arch::Qwen35, Weights::Random, Some(Quant::F16));
    let ours = std::fs::read(&path).unwrap();
    let data_offset = lode::gguf::read(&path).unwrap().data_offset as usize;
    let theirs_path = dir.path().join("meta.bin");
    let c_in = CString::new(path.to_str().unwrap()).unwrap();
    let c_out = CString::new(theirs_path.to_str().unwrap()).unwrap();
    // SAFETY: valid C strings; a null ggml context with no_alloc reads metadata only, and
    // the gguf context is freed once written.
    unsafe {
        let params = llama_cpp_sys_2::gguf_init_params {
            no_alloc: true,
            ctx: std::ptr::null_mut(),
        };
        let ctx = llama_cpp_sys_2::gguf_init_from_file(c_in.as_ptr(), params);
        assert!(!ctx.is_null(), "llama.cpp's gguf reader rejected the file");
        let ok = llama_cpp_sys_2::gguf_write_to_file(ctx, c_out.as_ptr(), true);
        llama_cpp_sys_2::gguf_free(ctx);
        assert!(ok);
    }
    let theirs = std::fs::read(&theirs_path).unwrap();
    assert_eq!(theirs.len(), data_offset);
    assert!(ours[..data_offset] == theirs[..], "headers differ");
}

#[test]
fn text_round_trips_through_the_trained_tokenizer() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), Arch::Qwen2, Weights::Random, None);
    let model = load(&path, false);
    let vocab = model.vocab();
    for text in [
        "The agent reads the files in the repository before it changes anything.",
        "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
        "def main(argv):\n\treturn 0  # done\r\n",
        "Ünïcödé, 漢字 and emoji 🦀 survive byte fallback.",
        "   leading and trailing spaces   ",
    ] {
        let tokens = vocab.tokenize(text.as_bytes(), false, false);
        assert_eq!(
            vocab.detokenize(&tokens, false, false),
            text.as_bytes(),
            "{text:?}"
        );
        assert!(
            tokens.len() < text.len(),
            "merges should shorten {text:?}: {tokens:?}"
        );
    }
}

#[test]
fn special_tokens_are_single_tokens() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), Arch::Qwen2, Weights::Random, None);
    let model = load(&path, false);
    let vocab = model.vocab();
    let mut ids = Vec::new();
    for special in [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<tool_call>",
        "</tool_call>",
        "<think>",
        "</think>",
    ] {
        let tokens = vocab.tokenize(special.as_bytes(), false, true);
        assert_eq!(tokens.len(), 1, "{special} -> {tokens:?}");
        assert_eq!(vocab.detokenize(&tokens, false, true), special.as_bytes());
        ids.push(tokens[0]);
    }
    assert_eq!(vocab.eos(), ids[2], "eos is <|im_end|>");
    assert!(vocab.is_eog(ids[2]) && vocab.is_control(ids[1]));
    assert!(!vocab.should_add_bos());
    let chat = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
    let tokens = vocab.tokenize(chat.as_bytes(), false, true);
    assert_eq!(tokens[0], ids[1]);
    let template = model.chat_template(None).unwrap();
    assert!(template.to_str().unwrap().contains("<|im_start|>"));
}

#[test]
fn perm_models_follow_next_token_exactly() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    for arch in ARCHES {
        let (path, report) = write(dir.path(), arch, Weights::Perm, None);
        let next = report.next_token.unwrap();
        let model = load(&path, false);
        let prompt =
            model
                .vocab()
                .tokenize(b"<|im_start|>user\nwrite a test<|im_end|>\n", false, true);
        let got = greedy(&model, &prompt, 20);
        let mut want = Vec::new();
        let mut x = prompt.last().unwrap().0 as u32;
        for _ in 0..20 {
            x = next[x as usize];
            want.push(x as i32);
        }
        assert_eq!(got, want, "{arch:?}");
        assert!(got.iter().all(|&t| !model.vocab().is_eog(LlamaToken(t))));
    }
}

#[test]
fn random_models_predict_different_tokens_for_different_inputs() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    for arch in ARCHES {
        let (path, _) = write(dir.path(), arch, Weights::Random, None);
        let model = load(&path, false);
        let mut seen: Vec<i32> = (0..12)
            .map(|t| argmax(&decode(&mut context(&model), &[LlamaToken(t * 40)], 0)))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert!(
            seen.len() >= 4,
            "{arch:?}: greedy barely depends on the input: {seen:?}"
        );
    }
}

#[test]
fn quantized_tiny_models_load() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    for (arch, quant) in [
        (Arch::Qwen2, Quant::Q8_0),
        (Arch::Qwen35, Quant::Q8_0),
        (Arch::Llama, Quant::Q4KM),
    ] {
        let (path, report) = write(dir.path(), arch, Weights::Perm, Some(quant));
        assert_eq!(report.file_type, quant.name());
        let f = lode::gguf::read(&path).unwrap();
        assert_eq!(f.file_type(), Some(quant.name()));
        let model = load(&path, false);
        // Quantization keeps signs, so the perm structure survives it.
        let next = report.next_token.unwrap();
        let got = greedy(&model, &[LlamaToken(5)], 5);
        let mut x = 5u32;
        let want: Vec<i32> = (0..5)
            .map(|_| {
                x = next[x as usize];
                x as i32
            })
            .collect();
        assert_eq!(got, want, "{arch:?} {quant:?}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Manual check at a real shape (a few minutes and 2.5 GB of disk); prints timings:
/// `cargo test --release --test all real_shape -- --ignored --nocapture`.
#[test]
#[ignore = "writes 1 GB models; run by hand"]
fn real_shape_qwen25_05b_q4_k_m_loads_and_decodes() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    for weights in [Weights::Random, Weights::Perm] {
        let mut spec = SynthSpec {
            arch: Arch::Qwen2,
            shape: Shape::Qwen25_05b,
            weights,
            seed: 1,
            quant: Some(Quant::F16),
            mtp: false,
            n_vocab: None,
            n_ctx: None,
        };
        let t = std::time::Instant::now();
        let f16 = synthesize(&spec, &dir.path().join("f16.gguf")).unwrap();
        let f16_s = t.elapsed().as_secs_f64();
        std::fs::remove_file(&f16.path).unwrap();
        spec.quant = Some(Quant::Q4KM);
        let t = std::time::Instant::now();
        let q = synthesize(&spec, &dir.path().join("q4km.gguf")).unwrap();
        let q_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let model = load(&q.path, false);
        let load_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let got = greedy(&model, &[LlamaToken(100)], 20);
        eprintln!(
            "{weights:?}: f16 {} bytes, {} params, written in {f16_s:.1} s; q4_k_m {} bytes in \
             {q_s:.1} s (f16 write + quantize); load {load_s:.2} s; 20 greedy steps {:.2} s",
            f16.bytes,
            f16.n_params,
            q.bytes,
            t.elapsed().as_secs_f64()
        );
        if let Some(next) = q.next_token {
            let mut x = 100u32;
            let want: Vec<i32> = (0..20)
                .map(|_| {
                    x = next[x as usize];
                    x as i32
                })
                .collect();
            assert_eq!(got, want);
        }
        std::fs::remove_file(&q.path).unwrap();
    }
}

/// Manual check that every architecture loads and decodes at the real shapes (writes and
/// deletes models of 1–3.5 GB one at a time):
/// `cargo test --release --test all real_shapes_of_every_arch -- --ignored --nocapture`.
#[test]
#[ignore = "writes multi-GB models; run by hand"]
fn real_shapes_of_every_arch_load_and_decode() {
    let _lock = llama_lock();
    let dir = tempfile::tempdir().unwrap();
    for shape in [Shape::Qwen25_05b, Shape::Qwen25_15b] {
        for arch in ARCHES {
            let spec = SynthSpec {
                arch,
                shape,
                weights: Weights::Random,
                seed: 3,
                quant: None,
                mtp: arch == Arch::Qwen35,
                n_vocab: None,
                n_ctx: None,
            };
            let t = std::time::Instant::now();
            let r = synthesize(&spec, &dir.path().join("m.gguf")).unwrap();
            let write_s = t.elapsed().as_secs_f64();
            let model = load(&r.path, arch == Arch::Qwen35);
            let t = std::time::Instant::now();
            let got = greedy(&model, &[LlamaToken(100), LlamaToken(200)], 8);
            eprintln!(
                "{arch:?} {shape:?}: {} bytes, {} params, written in {write_s:.1} s; 8 greedy \
                 steps in {:.2} s: {got:?}",
                r.bytes,
                r.n_params,
                t.elapsed().as_secs_f64()
            );
            drop(model);
            std::fs::remove_file(&r.path).unwrap();
        }
    }
}
