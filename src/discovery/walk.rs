//! Finding `*.gguf` files under a directory, and folding split models into one candidate.
//!
//! Model dirs, LM Studio and Hugging Face snapshots are all "a tree of GGUF files"; the walk
//! follows symlinks (HF snapshots are symlinks into `blobs/`) but never loops, and skips hidden
//! directories. Splits follow llama.cpp's `llama_split_path` naming,
//! `<prefix>-00001-of-00003.gguf`: they become one model whose first part carries the metadata.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Deeper than any store layout; stops a pathological tree from taking the listing hostage.
const MAX_DEPTH: usize = 16;

/// Every `*.gguf` file under `root` (following symlinks), sorted. A missing or unreadable
/// `root` gives an empty list: stores that are not installed are simply not there.
pub(crate) fn gguf_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut visited = HashSet::new();
    walk(root, 0, &mut visited, &mut found);
    found.sort();
    found
}

fn walk(dir: &Path, depth: usize, visited: &mut HashSet<PathBuf>, found: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH {
        return;
    }
    // A directory reachable twice through symlinks is walked once.
    let Ok(canonical) = dir.canonicalize() else {
        return;
    };
    if !visited.insert(canonical) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // `metadata` follows symlinks; a dangling link is skipped like any unreadable entry.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() && !hidden {
            walk(&path, depth + 1, visited, found);
        } else if meta.is_file() && is_gguf_name(&path) {
            found.push(path);
        }
    }
}

pub(crate) fn is_gguf_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"))
}

/// `name-00002-of-00003.gguf` → (`name`, 2, 3).
fn split_part(path: &Path) -> Option<(String, u32, u32)> {
    let stem = path.file_stem()?.to_str()?;
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (prefix, index) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(total) {
        return None;
    }
    let (index, total) = (index.parse().ok()?, total.parse().ok()?);
    (index >= 1 && index <= total).then(|| (prefix.to_owned(), index, total))
}

/// One model made of one or more files.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FileGroup {
    /// Parts on disk, in part order; the first one names the model.
    pub parts: Vec<PathBuf>,
    /// Set when parts of a split model are missing.
    pub problem: Option<String>,
}

/// Fold the parts of split models (same directory, prefix and part count) into one group.
/// Everything else is a group of one. The result keeps the sorted order of the first parts.
pub(crate) fn group_splits(files: Vec<PathBuf>) -> Vec<FileGroup> {
    let mut groups: Vec<FileGroup> = Vec::new();
    let mut splits: BTreeMap<(PathBuf, String, u32), BTreeMap<u32, PathBuf>> = BTreeMap::new();
    for file in files {
        match split_part(&file) {
            Some((prefix, index, total)) => {
                let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                splits
                    .entry((dir, prefix, total))
                    .or_default()
                    .insert(index, file);
            }
            None => groups.push(FileGroup {
                parts: vec![file],
                problem: None,
            }),
        }
    }
    for ((dir, prefix, total), parts) in splits {
        let missing: Vec<String> = (1..=total)
            .filter(|i| !parts.contains_key(i))
            .map(|i| i.to_string())
            .collect();
        let problem = (!missing.is_empty()).then(|| {
            format!(
                "split model `{prefix}` in `{}` is missing part(s) {} of {total}; \
                 download the missing `{prefix}-000NN-of-{total:05}.gguf` files next to the others",
                dir.display(),
                missing.join(", "),
            )
        });
        groups.push(FileGroup {
            parts: parts.into_values().collect(),
            problem,
        });
    }
    groups.sort_by(|a, b| a.parts.first().cmp(&b.parts.first()));
    groups
}

/// `path` relative to `root`, with `/` separators on every platform (names are for people,
/// and the same model should have the same name on Windows).
pub(crate) fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn finds_gguf_recursively_and_skips_hidden_dirs_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(&root.join("a.gguf"));
        touch(&root.join("sub/deeper/b.GGUF"));
        touch(&root.join(".hidden/c.gguf"));
        touch(&root.join("notes.txt"));
        assert_eq!(
            gguf_files(root),
            vec![root.join("a.gguf"), root.join("sub/deeper/b.GGUF")]
        );
    }

    #[test]
    fn missing_root_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(gguf_files(&dir.path().join("nope")), Vec::<PathBuf>::new());
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_terminates() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(&root.join("sub/a.gguf"));
        std::os::unix::fs::symlink(root, root.join("sub/loop")).unwrap();
        assert_eq!(gguf_files(root), vec![root.join("sub/a.gguf")]);
    }

    #[test]
    fn split_names_are_parsed_strictly() {
        let p = |s: &str| split_part(Path::new(s));
        assert_eq!(p("m-00002-of-00003.gguf"), Some(("m".into(), 2, 3)));
        assert_eq!(p("m-q4-00001-of-00001.gguf"), Some(("m-q4".into(), 1, 1)));
        assert_eq!(p("m-2-of-3.gguf"), None);
        assert_eq!(p("m-00004-of-00003.gguf"), None);
        assert_eq!(p("plain.gguf"), None);
    }

    #[test]
    fn splits_are_grouped_and_missing_parts_reported() {
        let d = PathBuf::from("/m");
        let files = vec![
            d.join("a.gguf"),
            d.join("big-00001-of-00002.gguf"),
            d.join("big-00002-of-00002.gguf"),
            d.join("gap-00001-of-00003.gguf"),
            d.join("gap-00003-of-00003.gguf"),
        ];
        let groups = group_splits(files);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].parts, vec![d.join("a.gguf")]);
        assert_eq!(
            groups[1],
            FileGroup {
                parts: vec![
                    d.join("big-00001-of-00002.gguf"),
                    d.join("big-00002-of-00002.gguf")
                ],
                problem: None,
            }
        );
        let problem = groups[2].problem.clone().unwrap_or_default();
        assert!(problem.contains("missing part(s) 2 of 3"), "{problem}");
    }

    #[test]
    fn relative_names_use_slashes() {
        let root = Path::new("/r");
        assert_eq!(
            relative_name(root, &root.join("a").join("b.gguf")),
            "a/b.gguf"
        );
    }
}
