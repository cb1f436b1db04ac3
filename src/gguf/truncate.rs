//! A model's first layers as a model of their own: the same embeddings, the same first `n`
//! transformer blocks, the same output norm and head, and a header that says `n` blocks.
//!
//! The router's probe reads a request's hidden state a third of the way up the small model
//! rather than at its top: a linear head separates the lanes as well there, and the forward
//! pass costs a third. llama.cpp cannot stop a model early, so the probe loads this copy.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::{read, GgufError, GgufWriter, TensorSpec, Value};

/// Why a model could not be cut.
#[derive(Debug, thiserror::Error)]
pub enum TruncateError {
    #[error(transparent)]
    Read(#[from] GgufError),
    #[error("`{}` cannot be cut to its first layers: {why}", path.display())]
    Unsupported {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("writing `{}`: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: io::Error,
    },
}

/// Writes the first `keep` blocks of the model at `src` to `dst` (through a temporary file,
/// renamed into place, so a reader never sees half a model).
pub fn first_layers(src: &Path, dst: &Path, keep: u64) -> Result<(), TruncateError> {
    let file = read(src)?;
    let unsupported = |why: String| TruncateError::Unsupported {
        path: src.to_path_buf(),
        why,
    };
    let arch = file
        .architecture()
        .ok_or_else(|| unsupported("it names no architecture".into()))?
        .to_string();
    let count_key = format!("{arch}.block_count");
    let blocks = file
        .get_u64(&count_key)
        .ok_or_else(|| unsupported(format!("it has no `{count_key}`")))?;
    if keep == 0 || keep >= blocks {
        return Err(unsupported(format!(
            "it has {blocks} blocks and {keep} were asked for"
        )));
    }
    let metadata: Vec<(String, Value)> = file
        .metadata
        .iter()
        .map(|(key, value)| {
            let value = if *key == count_key {
                Value::U32(u32::try_from(keep).unwrap_or(u32::MAX))
            } else if key.starts_with(&format!("{arch}.")) {
                per_layer(value, blocks, keep)
            } else {
                value.clone()
            };
            (key.clone(), value)
        })
        // MTP layers sit after the last block; the cut model has none.
        .filter(|(key, _)| *key != format!("{arch}.nextn_predict_layers"))
        .collect();
    let kept: Vec<_> = file
        .tensors
        .iter()
        .filter(|t| block_of(&t.name).is_none_or(|b| b < keep))
        .collect();
    let mut specs = Vec::with_capacity(kept.len());
    for t in &kept {
        let ty = t
            .ty()
            .ok_or_else(|| unsupported(format!("tensor `{}` has an unknown type", t.name)))?;
        let size = t.n_bytes().unwrap_or(u64::MAX);
        let end = file
            .data_offset
            .saturating_add(t.offset)
            .saturating_add(size);
        if end > file.file_size {
            return Err(unsupported(format!(
                "tensor `{}` runs past the end of the file",
                t.name
            )));
        }
        specs.push(TensorSpec::new(t.name.clone(), &t.dims, ty));
    }
    let tmp = dst.with_extension(format!("tmp{}", std::process::id()));
    let write_err = |source| TruncateError::Write {
        path: dst.to_path_buf(),
        source,
    };
    let result = (|| -> io::Result<()> {
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut input = File::open(src)?;
        let mut writer = GgufWriter::create(&tmp, &metadata, &specs)?;
        let mut buffer = vec![0u8; 1 << 20];
        for t in &kept {
            input.seek(SeekFrom::Start(file.data_offset + t.offset))?;
            let mut left = t.n_bytes().unwrap_or(0);
            while left > 0 {
                let n = usize::try_from(left.min(buffer.len() as u64)).unwrap_or(buffer.len());
                input.read_exact(&mut buffer[..n])?;
                writer.write_data(&buffer[..n])?;
                left -= n as u64;
            }
        }
        writer.finish()?;
        std::fs::rename(&tmp, dst)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

/// `blk.N.…` → N.
fn block_of(name: &str) -> Option<u64> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// A per-layer array (one entry per block, as llama.cpp requires) keeps its first `keep`
/// entries; anything else is unchanged.
fn per_layer(value: &Value, blocks: u64, keep: u64) -> Value {
    match value {
        Value::Array(items) if items.len() as u64 == blocks => {
            Value::Array(items[..usize::try_from(keep).unwrap_or(0)].to_vec())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_numbers_come_from_block_tensor_names_only() {
        assert_eq!(block_of("blk.12.attn_q.weight"), Some(12));
        assert_eq!(block_of("token_embd.weight"), None);
        assert_eq!(block_of("blk.x.attn_q.weight"), None);
    }

    #[test]
    fn per_layer_arrays_are_cut_and_other_values_kept() {
        let arr = Value::Array((0..4).map(Value::U32).collect());
        assert_eq!(
            per_layer(&arr, 4, 2),
            Value::Array(vec![Value::U32(0), Value::U32(1)])
        );
        let other = Value::Array(vec![Value::U32(7)]);
        assert_eq!(per_layer(&other, 4, 2), other);
        assert_eq!(per_layer(&Value::U32(9), 4, 2), Value::U32(9));
    }
}
