//! Tiny fake GGUF models and fake stores for the `models` tests: a couple of tensors of a few
//! bytes each, with just the metadata `lode models` reads.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::gguf::{write_file, GgmlType, TensorData, Value};

/// What a fake model file says about itself.
#[derive(Clone, Debug)]
pub struct FakeModel {
    arch: String,
    ctx: Option<u64>,
    ftype: Option<u32>,
    nextn_layers: Option<u32>,
    nextn_tensor: bool,
}

impl FakeModel {
    /// Parameters of the default tensors: a 32x4 Q8_0 matrix and a 4-element F32 norm.
    pub const N_PARAMS: u64 = 32 * 4 + 4;

    pub fn new(arch: &str) -> Self {
        FakeModel {
            arch: arch.to_owned(),
            ctx: None,
            ftype: None,
            nextn_layers: None,
            nextn_tensor: false,
        }
    }

    pub fn ctx(mut self, n: u64) -> Self {
        self.ctx = Some(n);
        self
    }

    pub fn ftype(mut self, ftype: u32) -> Self {
        self.ftype = Some(ftype);
        self
    }

    pub fn nextn_layers(mut self, n: u32) -> Self {
        self.nextn_layers = Some(n);
        self
    }

    pub fn nextn_tensor(mut self) -> Self {
        self.nextn_tensor = true;
        self
    }
}

/// Writes `model` at `path`, creating parent directories.
pub fn write_model(path: &Path, model: &FakeModel) {
    let mut metadata = vec![(
        "general.architecture".to_owned(),
        Value::Str(model.arch.clone()),
    )];
    if let Some(ctx) = model.ctx {
        metadata.push((format!("{}.context_length", model.arch), Value::U64(ctx)));
    }
    if let Some(ftype) = model.ftype {
        metadata.push(("general.file_type".to_owned(), Value::U32(ftype)));
    }
    if let Some(n) = model.nextn_layers {
        metadata.push((
            format!("{}.nextn_predict_layers", model.arch),
            Value::U32(n),
        ));
    }
    let mut tensors = vec![
        TensorData {
            name: "token_embd.weight".into(),
            dims: vec![32, 4],
            ty: GgmlType::Q8_0,
            bytes: vec![0; 4 * 34],
        },
        TensorData {
            name: "output_norm.weight".into(),
            dims: vec![4],
            ty: GgmlType::F32,
            bytes: vec![0; 16],
        },
    ];
    if model.nextn_tensor {
        tensors.push(TensorData {
            name: "blk.1.nextn.eh_proj.weight".into(),
            dims: vec![2, 2],
            ty: GgmlType::F32,
            bytes: vec![0; 16],
        });
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    write_file(path, &metadata, &tensors).unwrap();
}
