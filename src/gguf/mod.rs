//! The GGUF file format: types, reader and writer, in safe Rust.
//!
//! lode reads GGUF headers without llama.cpp (model discovery, `lode models`, identity
//! checks for the prompt cache) and writes synthetic models for tests and benchmarks, so the
//! format lives here, free of the engine. The reader never touches tensor data; the writer
//! streams it, so multi-GB files never sit in memory. Layout follows llama.cpp's `gguf.cpp`
//! (v3, little-endian, tensor data aligned to `general.alignment`, default 32) so that a file
//! written here is byte-identical to one written by llama.cpp from the same content.

mod read;
mod truncate;
mod validate;
mod write;

use std::path::PathBuf;

pub use read::read;
pub use truncate::{first_layers, TruncateError};
pub use validate::{validate, Unusable};
pub use write::{write_file, GgufWriter, TensorSpec};

/// `GGUF` as a little-endian u32.
pub(crate) const MAGIC: [u8; 4] = *b"GGUF";
/// The only version written; versions 2 and 3 are read (v1 used 32-bit counts).
pub const VERSION: u32 = 3;
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Metadata key that overrides [`DEFAULT_ALIGNMENT`].
pub const KEY_ALIGNMENT: &str = "general.alignment";

/// One metadata value. Arrays hold values of one type (the writer rejects mixed arrays).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Array(Vec<Value>),
}

impl Value {
    /// Any integer that is not negative, whatever its width on disk: writers disagree on
    /// whether e.g. `context_length` is u32 or u64.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(u64::from(v)),
            Value::U16(v) => Some(u64::from(v)),
            Value::U32(v) => Some(u64::from(v)),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The string, for `Str` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Any number (integers widen; large u64/i64 lose precision).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(f64::from(v)),
            Value::F64(v) => Some(v),
            Value::U8(v) => Some(f64::from(v)),
            Value::I8(v) => Some(f64::from(v)),
            Value::U16(v) => Some(f64::from(v)),
            Value::I16(v) => Some(f64::from(v)),
            Value::U32(v) => Some(f64::from(v)),
            Value::I32(v) => Some(f64::from(v)),
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The elements, for `Array` values.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The type id GGUF stores for this value.
    pub(crate) fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::Str(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }
}

/// ggml tensor types that GGUF files name by number. Ids 4, 5 and 31–33, 36–38 were removed
/// from ggml and never appear in valid files.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/// (type, name, elements per block, bytes per block), from ggml's `type_traits` and the
/// block structs in `ggml-common.h`.
const GGML_TYPES: &[(GgmlType, &str, u64, u64)] = &[
    (GgmlType::F32, "F32", 1, 4),
    (GgmlType::F16, "F16", 1, 2),
    (GgmlType::Q4_0, "Q4_0", 32, 18),
    (GgmlType::Q4_1, "Q4_1", 32, 20),
    (GgmlType::Q5_0, "Q5_0", 32, 22),
    (GgmlType::Q5_1, "Q5_1", 32, 24),
    (GgmlType::Q8_0, "Q8_0", 32, 34),
    (GgmlType::Q8_1, "Q8_1", 32, 36),
    (GgmlType::Q2_K, "Q2_K", 256, 84),
    (GgmlType::Q3_K, "Q3_K", 256, 110),
    (GgmlType::Q4_K, "Q4_K", 256, 144),
    (GgmlType::Q5_K, "Q5_K", 256, 176),
    (GgmlType::Q6_K, "Q6_K", 256, 210),
    (GgmlType::Q8_K, "Q8_K", 256, 292),
    (GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66),
    (GgmlType::IQ2_XS, "IQ2_XS", 256, 74),
    (GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98),
    (GgmlType::IQ1_S, "IQ1_S", 256, 50),
    (GgmlType::IQ4_NL, "IQ4_NL", 32, 18),
    (GgmlType::IQ3_S, "IQ3_S", 256, 110),
    (GgmlType::IQ2_S, "IQ2_S", 256, 82),
    (GgmlType::IQ4_XS, "IQ4_XS", 256, 136),
    (GgmlType::I8, "I8", 1, 1),
    (GgmlType::I16, "I16", 1, 2),
    (GgmlType::I32, "I32", 1, 4),
    (GgmlType::I64, "I64", 1, 8),
    (GgmlType::F64, "F64", 1, 8),
    (GgmlType::IQ1_M, "IQ1_M", 256, 56),
    (GgmlType::BF16, "BF16", 1, 2),
    (GgmlType::TQ1_0, "TQ1_0", 256, 54),
    (GgmlType::TQ2_0, "TQ2_0", 256, 66),
    (GgmlType::MXFP4, "MXFP4", 32, 17),
    (GgmlType::NVFP4, "NVFP4", 64, 36),
    (GgmlType::Q1_0, "Q1_0", 128, 18),
    (GgmlType::Q2_0, "Q2_0", 64, 18),
];

impl GgmlType {
    fn traits(self) -> (&'static str, u64, u64) {
        GGML_TYPES
            .iter()
            .find(|(t, ..)| *t == self)
            .map(|&(_, name, block, bytes)| (name, block, bytes))
            .unwrap_or(("?", 1, 0))
    }

    /// The type with this id, or `None` for ids this build does not know (newer ggml).
    pub fn from_u32(id: u32) -> Option<GgmlType> {
        GGML_TYPES
            .iter()
            .find(|(t, ..)| *t as u32 == id)
            .map(|(t, ..)| *t)
    }

    /// ggml's name for the type, e.g. `Q4_K`.
    pub fn name(self) -> &'static str {
        self.traits().0
    }

    /// Elements per quantization block (1 for plain types).
    pub fn block_size(self) -> u64 {
        self.traits().1
    }

    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.traits().2
    }

    /// Bytes of a tensor of this type; `None` when rows do not split into whole blocks
    /// (such a tensor cannot exist in a valid file) or the size overflows.
    pub fn n_bytes(self, dims: &[u64]) -> Option<u64> {
        let row = *dims.first().unwrap_or(&1);
        if !row.is_multiple_of(self.block_size()) {
            return None;
        }
        let rows = dims
            .iter()
            .skip(1)
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        (row / self.block_size())
            .checked_mul(self.type_size())?
            .checked_mul(rows)
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Name of a `general.file_type` value (llama.cpp's `llama_ftype`), e.g. `Q4_K_M`.
pub fn file_type_name(ftype: u64) -> Option<&'static str> {
    Some(match ftype {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    })
}

/// A tensor's header entry. `ggml_type` stays a raw id so files with types newer than this
/// build still read; `offset` is relative to [`GgufFile::data_offset`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (product of dims; saturates rather than overflow on hostile files).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// The tensor's type, when this build knows it.
    pub fn ty(&self) -> Option<GgmlType> {
        GgmlType::from_u32(self.ggml_type)
    }

    /// Bytes of data, when the type is known.
    pub fn n_bytes(&self) -> Option<u64> {
        self.ty()?.n_bytes(&self.dims)
    }
}

/// Everything in a GGUF file except tensor data.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufFile {
    pub version: u32,
    /// In file order.
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// Absolute file offset where tensor data starts.
    pub data_offset: u64,
    pub file_size: u64,
}

impl GgufFile {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    /// `general.architecture`, e.g. `qwen2`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// An integer under the architecture's prefix: `arch_u64("context_length")` reads
    /// `qwen2.context_length` in a qwen2 file.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        let arch = self.architecture()?;
        self.get_u64(&format!("{arch}.{suffix}"))
    }

    /// Total parameter count (elements of all tensors).
    pub fn n_params(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |acc, t| acc.saturating_add(t.n_elements()))
    }

    /// `general.file_type` as llama.cpp names it, e.g. `Q4_K_M`.
    pub fn file_type(&self) -> Option<&'static str> {
        file_type_name(self.get_u64("general.file_type")?)
    }

    /// Alignment of tensor data in this file.
    pub fn alignment(&self) -> u64 {
        self.get_u64(KEY_ALIGNMENT).unwrap_or(DEFAULT_ALIGNMENT)
    }
}

/// Why a GGUF file could not be read. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read model file `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not a GGUF model file (bad magic); pass a .gguf file", path.display())]
    NotGguf { path: PathBuf },
    #[error(
        "model file `{}` is truncated: it needs at least {expected} bytes but has {actual}; \
         the download or copy is incomplete, fetch or copy it again",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error(
        "model file `{}` uses GGUF version {version}, which lode cannot read (versions 2 and \
         3 are supported); convert it again with a current llama.cpp",
        path.display()
    )]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error(
        "model file `{}` is corrupt: {what}; fetch or convert it again",
        path.display()
    )]
    Malformed { path: PathBuf, what: String },
    /// The file reads, but a value in it would crash or mislead llama.cpp
    /// ([`validate`]).
    #[error(
        "model file `{}` is unusable: {problem}; the file is damaged or was converted \
         wrongly, fetch or convert it again",
        path.display()
    )]
    Unusable { path: PathBuf, problem: Unusable },
}

impl GgufError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            GgufError::Io { path, .. }
            | GgufError::NotGguf { path }
            | GgufError::Truncated { path, .. }
            | GgufError::UnsupportedVersion { path, .. }
            | GgufError::Malformed { path, .. }
            | GgufError::Unusable { path, .. } => path,
        }
    }
}

/// A whole tensor in memory, for [`write_file`] (small files; stream large ones with
/// [`GgufWriter`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorData {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    pub bytes: Vec<u8>,
}

/// Rounds `n` up to a multiple of `align` (a power of two, or any non-zero number).
pub(crate) fn pad_to(n: u64, align: u64) -> u64 {
    n.div_ceil(align).saturating_mul(align)
}

#[cfg(test)]
mod tests;
