//! The process-wide llama.cpp backend.
//!
//! llama.cpp's backend may be initialised once per process; every model load, context and
//! quantize call goes through this one handle. Its log output is silenced because lode
//! reports errors itself (llama.cpp's chatter would corrupt `--json` output and the TUI).

use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// Errors from bringing up the llama.cpp backend.
#[derive(Debug, thiserror::Error)]
#[error("could not initialise the llama.cpp backend: {0}")]
pub struct BackendError(String);

/// The shared backend, initialised on first use.
pub fn backend() -> Result<&'static LlamaBackend, BackendError> {
    BACKEND
        .get_or_init(|| {
            LlamaBackend::init()
                .map(|mut backend| {
                    backend.void_logs();
                    backend
                })
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| BackendError(e.clone()))
}

/// A compute device llama.cpp can run on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Device {
    pub name: String,
    pub description: String,
    /// The ggml backend (`CPU`, `CUDA`, `Metal`, `Vulkan`).
    pub backend: String,
    /// `cpu`, `gpu`, `igpu`, `accelerator`.
    pub kind: &'static str,
    pub memory_total: u64,
    pub memory_free: u64,
}

/// The devices in this build, as llama.cpp sees them.
pub fn devices() -> Result<Vec<Device>, BackendError> {
    use llama_cpp_2::LlamaBackendDeviceType as T;
    backend()?;
    Ok(llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| Device {
            name: d.name,
            description: d.description,
            backend: d.backend,
            kind: match d.device_type {
                T::Cpu => "cpu",
                T::Gpu => "gpu",
                T::IntegratedGpu => "igpu",
                T::Accelerator => "accelerator",
                T::Unknown => "unknown",
            },
            memory_total: d.memory_total as u64,
            memory_free: d.memory_free as u64,
        })
        .collect())
}

/// llama.cpp's own summary of the CPU features it was built with (AVX2, AVX-512, …).
pub fn system_info() -> String {
    // SAFETY: returns a pointer to a static, NUL-terminated buffer inside llama.cpp.
    let ptr = unsafe { llama_cpp_sys_2::llama_print_system_info() };
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated, per llama.cpp's contract.
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .trim()
        .to_string()
}

/// Whether llama.cpp can offload layers to a GPU in this build.
pub fn gpu_offload() -> Result<bool, BackendError> {
    Ok(backend()?.supports_gpu_offload())
}
