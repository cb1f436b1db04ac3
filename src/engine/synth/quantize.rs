//! Quantizes a written model through llama.cpp's own quantizer.
//!
//! Quantized formats (block scales, K-quant mixes such as Q4_K_M's per-tensor choices and
//! its fallbacks for rows that do not split into 256-blocks) are llama.cpp's to define;
//! re-implementing them would test our copy, not the engine. llama-cpp-2 has no wrapper, so
//! this is the one call into the sys crate.

use std::ffi::CString;
use std::path::Path;

use super::{Quant, SynthError};

/// Quantizes `src` (F32/F16 GGUF) into `dst` at `quant`, on `threads` threads.
pub(crate) fn quantize(
    src: &Path,
    dst: &Path,
    quant: Quant,
    threads: i32,
) -> Result<(), SynthError> {
    let ftype = match quant {
        Quant::F32 => llama_cpp_sys_2::LLAMA_FTYPE_ALL_F32,
        Quant::F16 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_F16,
        Quant::Q8_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0,
        Quant::Q4KM => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_K_M,
    };
    // Initialises ggml (type traits, CPU features) once per process before quantizing.
    crate::engine::llama::backend()?;
    let c_path = |p: &Path| {
        p.to_str()
            .and_then(|s| CString::new(s).ok())
            .ok_or_else(|| {
                SynthError::InvalidSpec(format!(
                    "path `{}` is not valid UTF-8 or contains a NUL byte; choose a plain path",
                    p.display()
                ))
            })
    };
    let (c_src, c_dst) = (c_path(src)?, c_path(dst)?);
    // SAFETY: plain-data constructor with no preconditions.
    let mut params = unsafe { llama_cpp_sys_2::llama_model_quantize_default_params() };
    params.nthread = threads;
    params.ftype = ftype;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call; `params`
    // is a fully initialised struct from the default constructor whose pointer fields are
    // null (no imatrix, overrides or pruning), which llama.cpp accepts.
    let status =
        unsafe { llama_cpp_sys_2::llama_model_quantize(c_src.as_ptr(), c_dst.as_ptr(), &params) };
    if status != 0 {
        return Err(SynthError::Quantize {
            path: dst.to_path_buf(),
            quant: quant.name().to_string(),
            status,
        });
    }
    Ok(())
}
