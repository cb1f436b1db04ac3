//! The `lode models` table: aligned columns in human units, problems under their row, and a
//! message that says where lode looked and how to add a model when nothing is found.

use std::fmt::Write as _;
use std::path::Path;

use super::{ModelEntry, ScanRoots};

const HEADERS: [&str; 8] = [
    "NAME", "SOURCE", "ARCH", "PARAMS", "QUANT", "SIZE", "CTX", "MTP",
];
/// Numbers read better right-aligned: PARAMS, SIZE, CTX.
const RIGHT_ALIGNED: [bool; 8] = [false, false, false, true, false, true, true, false];

const HOW_TO_ADD: &str = "Add a model: copy a .gguf file into the model dir, \
     or `ollama pull qwen2.5-coder:7b`, \
     or `hf download Qwen/Qwen2.5-0.5B-Instruct-GGUF qwen2.5-0.5b-instruct-q4_k_m.gguf`.";

/// One row per model, columns NAME SOURCE ARCH PARAMS QUANT SIZE CTX MTP; an entry with an
/// error gets an indented `error:` line under its row. With no entries, a message naming the
/// default store locations (use [`render_empty`] to name the exact ones scanned).
pub fn render_table(entries: &[ModelEntry]) -> String {
    if entries.is_empty() {
        return format!(
            "No GGUF models found in the model dir, Ollama (~/.ollama/models or $OLLAMA_MODELS), \
             LM Studio (~/.lmstudio/models) or the Hugging Face cache \
             (~/.cache/huggingface/hub, $HF_HOME or $HF_HUB_CACHE).\n{HOW_TO_ADD}\n"
        );
    }
    let rows: Vec<[String; 8]> = entries.iter().map(row).collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_line(&mut out, &HEADERS.map(str::to_owned), &widths);
    for (row, entry) in rows.iter().zip(entries) {
        push_line(&mut out, row, &widths);
        if let Some(error) = &entry.error {
            let _ = writeln!(out, "  error: {error}");
        }
    }
    out
}

/// Says where [`super::scan`] looked (marking places that do not exist) and how to add a model.
pub fn render_empty(roots: &ScanRoots) -> String {
    let mut places: Vec<(&str, &Path)> = Vec::new();
    places.extend(roots.model_dirs.iter().map(|p| ("model dir", p.as_path())));
    places.extend(roots.ollama.iter().map(|p| ("ollama", p.as_path())));
    places.extend(roots.lmstudio.iter().map(|p| ("lmstudio", p.as_path())));
    places.extend(roots.hf_hub.iter().map(|p| ("huggingface", p.as_path())));
    let mut out = String::from("No GGUF models found. Looked in:\n");
    if places.is_empty() {
        out.push_str("  (nowhere: no model dir is configured and no home directory is known)\n");
    }
    let label_width = places.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, path) in places {
        let missing = if path.is_dir() { "" } else { "  (not present)" };
        let _ = writeln!(out, "  {label:<label_width$}  {}{missing}", path.display());
    }
    out.push_str(HOW_TO_ADD);
    out.push('\n');
    out
}

fn push_line(out: &mut String, cells: &[String; 8], widths: &[usize; 8]) {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let w = widths[i];
        if RIGHT_ALIGNED[i] {
            let _ = write!(line, "{cell:>w$}");
        } else {
            let _ = write!(line, "{cell:<w$}");
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

fn row(e: &ModelEntry) -> [String; 8] {
    let or_dash = |s: Option<String>| s.unwrap_or_else(|| "-".to_owned());
    [
        e.name.clone(),
        e.source.label().to_owned(),
        or_dash(e.architecture.clone()),
        or_dash(e.n_params.map(human_count)),
        or_dash(e.quantization.clone()),
        human_bytes(e.size_bytes),
        or_dash(e.context_length.map(human_context)),
        if e.mtp { "yes" } else { "no" }.to_owned(),
    ]
}

/// One decimal below 10, none above: `1.5B`, `494M`, `32B`.
fn scaled(value: f64, unit: &str) -> String {
    if value < 9.95 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// Parameter counts in decimal units, as model cards say them: `494M`, `1.5B`, `7.6B`.
pub(crate) fn human_count(n: u64) -> String {
    let n_f = n as f64;
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => scaled(n_f / 1e3, "K"),
        1_000_000..1_000_000_000 => scaled(n_f / 1e6, "M"),
        1_000_000_000..1_000_000_000_000 => scaled(n_f / 1e9, "B"),
        _ => scaled(n_f / 1e12, "T"),
    }
}

/// File sizes in binary units, as file managers and `du -h` show them: `396 MiB`, `4.4 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1023.5 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    scaled(value, &format!(" {}", UNITS[unit]))
}

/// Context lengths: `32K` for 32768 (they are nearly always powers of two), else the number.
pub(crate) fn human_context(n: u64) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{}K", n / 1024)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::Source;
    use pretty_assertions::assert_eq;
    use std::path::PathBuf;

    fn entry(name: &str, source: Source) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            source,
            path: PathBuf::from("/x").join(name),
            architecture: Some("qwen2".into()),
            n_params: Some(494_032_768),
            quantization: Some("Q4_K_M".into()),
            size_bytes: 397_808_192,
            context_length: Some(32768),
            mtp: false,
            error: None,
        }
    }

    #[test]
    fn human_units() {
        let counts: Vec<String> = [
            132,
            33_000,
            494_032_768,
            1_543_714_304,
            7_615_616_512,
            32_763_876_352,
        ]
        .map(human_count)
        .into();
        assert_eq!(counts, ["132", "33K", "494M", "1.5B", "7.6B", "33B"]);
        let sizes: Vec<String> = [
            152,
            2048,
            397_808_192,
            4_683_073_536,
            1024 * 1024 * 1023 + 900_000,
        ]
        .map(human_bytes)
        .into();
        assert_eq!(sizes, ["152 B", "2.0 KiB", "379 MiB", "4.4 GiB", "1.0 GiB"]);
        assert_eq!(human_context(32768), "32K");
        assert_eq!(human_context(131072), "128K");
        assert_eq!(human_context(40000), "40000");
    }

    #[test]
    fn table_is_aligned_with_errors_under_their_row() {
        let mut broken = entry("broken.gguf", Source::ModelDir);
        broken.architecture = None;
        broken.n_params = None;
        broken.quantization = None;
        broken.context_length = None;
        broken.size_bytes = 35;
        broken.error = Some("`/x/broken.gguf` is not a GGUF model file (bad magic)".into());
        let mut mtp = entry("glm-4.5-air:q4", Source::Ollama);
        mtp.architecture = Some("glm4moe".into());
        mtp.n_params = Some(110_000_000_000);
        mtp.size_bytes = 73_000_000_000;
        mtp.context_length = Some(131072);
        mtp.mtp = true;
        let table = render_table(&[broken, entry("qwen2.5:0.5b", Source::Ollama), mtp]);
        let expected = "\
NAME            SOURCE     ARCH     PARAMS  QUANT      SIZE   CTX  MTP
broken.gguf     model_dir  -             -  -          35 B     -  no
  error: `/x/broken.gguf` is not a GGUF model file (bad magic)
qwen2.5:0.5b    ollama     qwen2      494M  Q4_K_M  379 MiB   32K  no
glm-4.5-air:q4  ollama     glm4moe    110B  Q4_K_M   68 GiB  128K  yes
";
        assert_eq!(table, expected);
    }

    #[test]
    fn empty_table_says_how_to_add_a_model() {
        let text = render_table(&[]);
        assert!(text.starts_with("No GGUF models found"), "{text}");
        assert!(text.contains("ollama pull"), "{text}");
    }

    #[test]
    fn empty_listing_names_each_place_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let roots = ScanRoots {
            model_dirs: vec![dir.path().to_path_buf()],
            ollama: Some(dir.path().join("no-ollama")),
            lmstudio: vec![],
            hf_hub: Some(dir.path().join("no-hf")),
        };
        let text = render_empty(&roots);
        let d = dir.path().display();
        assert_eq!(
            text,
            format!(
                "No GGUF models found. Looked in:\n  \
                 model dir    {d}\n  \
                 ollama       {d}/no-ollama  (not present)\n  \
                 huggingface  {d}/no-hf  (not present)\n{HOW_TO_ADD}\n"
            )
        );
    }
}
