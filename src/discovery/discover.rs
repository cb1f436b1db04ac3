//! Where the model stores of this machine live, resolved the way each tool resolves it.
//!
//! Ollama, LM Studio and huggingface_hub each pick their directory from environment variables
//! and the home directory. That lookup is kept apart from the walking (`stores.rs`) and takes
//! the environment as a value ([`StoreEnv`]), so tests describe a machine without touching
//! the process environment, which is global and shared by tests running in parallel.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where to look for models. Paths that do not exist are skipped by [`super::scan`], and are
/// kept here so [`super::render_empty`] can say where it looked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanRoots {
    /// lode's own model directories, searched recursively for `*.gguf`.
    pub model_dirs: Vec<PathBuf>,
    /// Ollama's models dir (holds `manifests/` and `blobs/`).
    pub ollama: Option<PathBuf>,
    /// LM Studio models dirs (hold `<publisher>/<repo>/*.gguf`).
    pub lmstudio: Vec<PathBuf>,
    /// The Hugging Face hub cache (holds `models--org--name/`).
    pub hf_hub: Option<PathBuf>,
}

/// The parts of the environment that decide where stores live. A plain value, so tests describe
/// a machine without touching the process environment (global, and shared by parallel tests).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreEnv {
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// `OLLAMA_MODELS`: Ollama's models dir.
    pub ollama_models: Option<PathBuf>,
    /// `HF_HUB_CACHE` (or its older name `HUGGINGFACE_HUB_CACHE`): the hub cache itself.
    pub hf_hub_cache: Option<PathBuf>,
    /// `HF_HOME`: the hub cache is `$HF_HOME/hub`.
    pub hf_home: Option<PathBuf>,
    /// `XDG_CACHE_HOME`: without `HF_HOME`, the hub cache is `$XDG_CACHE_HOME/huggingface/hub`.
    pub xdg_cache_home: Option<PathBuf>,
}

impl StoreEnv {
    /// Reads this process's environment and home directory. Empty variables count as unset.
    pub fn from_process() -> Self {
        Self::from_lookup(
            directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()),
            |name| std::env::var_os(name),
        )
    }

    /// Builds the environment from any variable lookup (`std::env::var_os` in production).
    pub fn from_lookup(home: Option<PathBuf>, var: impl Fn(&str) -> Option<OsString>) -> Self {
        let path = |name: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .map(|v| expand_tilde(PathBuf::from(v), home.as_deref()))
        };
        StoreEnv {
            ollama_models: path("OLLAMA_MODELS"),
            hf_hub_cache: path("HF_HUB_CACHE").or_else(|| path("HUGGINGFACE_HUB_CACHE")),
            hf_home: path("HF_HOME"),
            xdg_cache_home: path("XDG_CACHE_HOME"),
            home,
        }
    }
}

/// `~/x` → `<home>/x`: shells do this, but not for a value quoted in a config or service file,
/// and Ollama and huggingface_hub expand it themselves.
fn expand_tilde(path: PathBuf, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path,
    }
}

impl ScanRoots {
    /// The model dirs given, plus the stores of this machine (see [`ScanRoots::discover_in`]).
    pub fn discover(model_dirs: Vec<PathBuf>) -> Self {
        Self::discover_in(model_dirs, &StoreEnv::from_process())
    }

    /// Store locations as each tool resolves them:
    /// - Ollama: `OLLAMA_MODELS`, else `~/.ollama/models`;
    /// - LM Studio: `~/.lmstudio/models`, `~/.cache/lm-studio/models` (older releases), and
    ///   the `downloadsFolder` chosen in `~/.lmstudio/settings.json`, if any;
    /// - Hugging Face: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
    ///   `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    pub fn discover_in(model_dirs: Vec<PathBuf>, env: &StoreEnv) -> Self {
        let home = env.home.as_deref();
        let ollama = env
            .ollama_models
            .clone()
            .or_else(|| home.map(|h| h.join(".ollama").join("models")));
        let hf_hub = env
            .hf_hub_cache
            .clone()
            .or_else(|| env.hf_home.as_ref().map(|h| h.join("hub")))
            .or_else(|| {
                env.xdg_cache_home
                    .clone()
                    .or_else(|| home.map(|h| h.join(".cache")))
                    .map(|c| c.join("huggingface").join("hub"))
            });
        let mut lmstudio = Vec::new();
        if let Some(home) = home {
            lmstudio.push(home.join(".lmstudio").join("models"));
            lmstudio.push(home.join(".cache").join("lm-studio").join("models"));
            if let Some(custom) = lmstudio_downloads_folder(home) {
                if !lmstudio.contains(&custom) {
                    lmstudio.push(custom);
                }
            }
        }
        ScanRoots {
            model_dirs,
            ollama,
            lmstudio,
            hf_hub,
        }
    }
}

/// The models folder a user picked in LM Studio's settings. Best effort: a missing or
/// unparsable settings file just means the default folders.
fn lmstudio_downloads_folder(home: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(home.join(".lmstudio").join("settings.json")).ok()?;
    let settings: serde_json::Value = serde_json::from_str(&text).ok()?;
    let folder = settings.get("downloadsFolder")?.as_str()?;
    (!folder.is_empty()).then(|| expand_tilde(PathBuf::from(folder), Some(home)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn env_of(home: &str, vars: &[(&str, &str)]) -> StoreEnv {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        StoreEnv::from_lookup(Some(PathBuf::from(home)), |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn discover_defaults_to_home_locations() {
        let roots = ScanRoots::discover_in(vec![PathBuf::from("/m")], &env_of("/h", &[]));
        assert_eq!(
            roots,
            ScanRoots {
                model_dirs: vec![PathBuf::from("/m")],
                ollama: Some(PathBuf::from("/h/.ollama/models")),
                lmstudio: vec![
                    PathBuf::from("/h/.lmstudio/models"),
                    PathBuf::from("/h/.cache/lm-studio/models")
                ],
                hf_hub: Some(PathBuf::from("/h/.cache/huggingface/hub")),
            }
        );
    }

    #[test]
    fn discover_honours_ollama_models_and_hf_variables_in_order() {
        let hub =
            |vars: &[(&str, &str)]| ScanRoots::discover_in(vec![], &env_of("/h", vars)).hf_hub;
        let all = [
            ("HF_HUB_CACHE", "/a"),
            ("HF_HOME", "/b"),
            ("XDG_CACHE_HOME", "/c"),
        ];
        assert_eq!(hub(&all), Some(PathBuf::from("/a")));
        assert_eq!(hub(&all[1..]), Some(PathBuf::from("/b/hub")));
        assert_eq!(hub(&all[2..]), Some(PathBuf::from("/c/huggingface/hub")));
        assert_eq!(
            hub(&[("HUGGINGFACE_HUB_CACHE", "/old")]),
            Some(PathBuf::from("/old"))
        );
        assert_eq!(
            hub(&[("HF_HUB_CACHE", ""), ("HF_HOME", "~/hf")]),
            Some(PathBuf::from("/h/hf/hub"))
        );
        let ollama =
            ScanRoots::discover_in(vec![], &env_of("/h", &[("OLLAMA_MODELS", "/srv/ollama")]))
                .ollama;
        assert_eq!(ollama, Some(PathBuf::from("/srv/ollama")));
    }

    #[test]
    fn discover_reads_lmstudio_downloads_folder_setting() {
        let home = tempfile::tempdir().unwrap();
        let settings = home.path().join(".lmstudio").join("settings.json");
        std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
        std::fs::write(
            &settings,
            r#"{"downloadsFolder": "/big/disk/lms", "other": 1}"#,
        )
        .unwrap();
        let env = StoreEnv {
            home: Some(home.path().to_path_buf()),
            ..StoreEnv::default()
        };
        let roots = ScanRoots::discover_in(vec![], &env);
        assert_eq!(roots.lmstudio.last(), Some(&PathBuf::from("/big/disk/lms")));
        assert_eq!(roots.lmstudio.len(), 3);
    }
}
