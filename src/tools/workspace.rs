//! The workspace root and the one function every tool uses to turn a path from the model
//! into a real path: absolute paths outside the root, `..` escapes and symlinks that lead out
//! are refused before any file is touched.

use std::path::{Component, Path, PathBuf};

use crate::tools::ToolError;

/// The directory the agent works in; nothing outside it is read or written.
#[derive(Clone, Debug)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// A workspace rooted at `root` (which must exist).
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path given by the model (relative to the root, or absolute inside it).
    /// The file need not exist; if it does not, its nearest existing ancestor must be inside.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        let outside = |reason: &str| ToolError::OutsideWorkspace {
            path: path.to_string(),
            root: self.root.display().to_string(),
            reason: reason.to_string(),
        };
        if path.contains('\0') {
            return Err(ToolError::BadArgs("path contains a NUL byte".into()));
        }
        let given = Path::new(path.trim());
        let joined = if given.is_absolute() {
            given.to_path_buf()
        } else {
            self.root.join(given)
        };
        // Lexical normalisation first, so `a/../../x` is caught even where `a` is missing.
        let mut normal = PathBuf::new();
        for component in joined.components() {
            match component {
                Component::ParentDir => {
                    if !normal.pop() || !normal.starts_with(&self.root) {
                        return Err(outside(" (it climbs out with `..`)"));
                    }
                }
                Component::CurDir => {}
                other => normal.push(other.as_os_str()),
            }
        }
        if !normal.starts_with(&self.root) {
            return Err(outside(""));
        }
        // Then the real file system: the deepest existing ancestor, with symlinks resolved,
        // must still be inside.
        let mut existing = normal.as_path();
        let mut rest = Vec::new();
        loop {
            if existing.symlink_metadata().is_ok() {
                break;
            }
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => return Err(outside("")),
            }
        }
        let real = existing
            .canonicalize()
            .map_err(|e| ToolError::Failed(format!("cannot resolve `{path}`: {e}")))?;
        if !real.starts_with(&self.root) {
            return Err(outside(" (a symlink leads out of it)"));
        }
        let mut resolved = real;
        for name in rest.into_iter().rev() {
            resolved.push(name);
        }
        Ok(resolved)
    }

    /// Whether the agent's file tools may only write `resolved` (a path from `resolve`) with
    /// an approval naming it: git's directory (its config and hooks run code on the user's
    /// next `git` command), lode's own `.lode/` (its config chooses models and commands), and
    /// the directory `core.hooksPath` names. Returns the path as shown to the user.
    pub fn protected(&self, resolved: &Path) -> Option<String> {
        let rel = resolved.strip_prefix(&self.root).ok()?;
        let special = rel.components().any(|c| {
            let name = c.as_os_str().to_string_lossy();
            name.eq_ignore_ascii_case(".git") || name.eq_ignore_ascii_case(".lode")
        });
        let hooks = special
            || self
                .hooks_dir()
                .is_some_and(|dir| resolved.starts_with(dir));
        hooks.then(|| self.display(resolved))
    }

    /// `core.hooksPath` when it points inside the workspace.
    fn hooks_dir(&self) -> Option<PathBuf> {
        let path = crate::tools::git::hooks_path(&self.root)?;
        let dir = if path.is_absolute() {
            path
        } else {
            self.root.join(path)
        };
        let dir = dir.canonicalize().unwrap_or(dir);
        dir.starts_with(&self.root).then_some(dir)
    }

    /// A path inside the workspace as the model should see it: relative, with `/`.
    pub fn display(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let text = rel.to_string_lossy().replace('\\', "/");
        if text.is_empty() {
            ".".to_string()
        } else {
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/src")).unwrap();
        std::fs::write(dir.path().join("root/src/lib.rs"), "fn x() {}").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        let ws = Workspace::new(&dir.path().join("root")).unwrap();
        (dir, ws)
    }

    #[test]
    fn inside_paths_resolve() {
        let (_d, ws) = setup();
        assert_eq!(
            ws.resolve("src/lib.rs").unwrap(),
            ws.root().join("src/lib.rs")
        );
        assert_eq!(
            ws.resolve("./src/../src/lib.rs").unwrap(),
            ws.root().join("src/lib.rs")
        );
        assert_eq!(
            ws.resolve("new/dir/file.rs").unwrap(),
            ws.root().join("new/dir/file.rs")
        );
        let abs = ws.root().join("src/lib.rs");
        assert_eq!(ws.resolve(abs.to_str().unwrap()).unwrap(), abs);
        assert_eq!(ws.display(&abs), "src/lib.rs");
    }

    #[test]
    fn escapes_are_refused() {
        let (dir, ws) = setup();
        for bad in [
            "../secret.txt",
            "src/../../secret.txt",
            "missing/../../x",
            "/etc/passwd",
        ] {
            assert!(
                matches!(ws.resolve(bad), Err(ToolError::OutsideWorkspace { .. })),
                "{bad}"
            );
        }
        let outside = dir.path().join("secret.txt");
        assert!(ws.resolve(outside.to_str().unwrap()).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn git_lode_and_hook_paths_are_protected() {
        let (_dir, ws) = setup();
        let root = ws.root().to_path_buf();
        for args in [
            &["init", "-q"][..],
            &["config", "core.hooksPath", "githooks"],
        ] {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(&root)
                .status()
                .unwrap();
            assert!(status.success());
        }
        std::fs::create_dir_all(root.join("githooks")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join(".git"), root.join("innocent")).unwrap();
        let protected = |p: &str| ws.protected(&ws.resolve(p).unwrap());
        assert_eq!(protected(".git/config").as_deref(), Some(".git/config"));
        assert_eq!(
            protected("./src/../.GIT/hooks/pre-commit").as_deref(),
            Some(".GIT/hooks/pre-commit")
        );
        assert_eq!(
            protected(".lode/config.toml").as_deref(),
            Some(".lode/config.toml")
        );
        assert_eq!(
            protected("vendor/sub/.git/config").as_deref(),
            Some("vendor/sub/.git/config")
        );
        assert_eq!(
            protected("githooks/pre-push").as_deref(),
            Some("githooks/pre-push")
        );
        #[cfg(unix)]
        assert_eq!(protected("innocent/config").as_deref(), Some(".git/config"));
        assert_eq!(protected("src/lib.rs"), None);
        assert_eq!(protected(".gitignore"), None);
    }

    #[test]
    fn symlinks_leading_out_are_refused() {
        let (dir, ws) = setup();
        std::os::unix::fs::symlink(dir.path(), ws.root().join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), ws.root().join("s.txt")).unwrap();
        let err = ws.resolve("link/secret.txt").unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(ws.resolve("s.txt").is_err());
        assert!(ws.resolve("link/new-file").is_err());
        std::os::unix::fs::symlink(ws.root().join("src"), ws.root().join("inner")).unwrap();
        assert_eq!(
            ws.resolve("inner/lib.rs").unwrap(),
            ws.root().join("src/lib.rs")
        );
    }
}
