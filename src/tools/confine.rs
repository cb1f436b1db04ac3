//! What a command from the model may reach: the OS sandbox around `shell` and `run_tests`,
//! the environment they see, and the guarantee that nothing they start outlives them.
//!
//! On Linux every command runs under a small supervisor process forked from lode: it is the
//! command's child subreaper, so processes that detach (`setsid`, `nohup`, double forks) are
//! still its descendants and are killed when the command ends, when lode cancels it, and when
//! lode itself dies. The command is restricted with Landlock before it executes: it may read
//! everywhere, write only in the workspace, the temp directories and the build tools' caches,
//! open no TCP connections (kernels with Landlock ABI 4), and signal no process outside its
//! sandbox (ABI 6). Elsewhere the command gets its own process group, killed as a whole; see
//! the README's Safety section for what each platform gets.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod env;
#[cfg(target_os = "linux")]
mod linux;

pub use env::{command_env, is_secret_name};

/// `[sandbox] mode`: what commands may write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Writes only in the workspace, the temp directories and the build caches.
    #[default]
    WorkspaceWrite,
    /// No writes anywhere but the temp directories and `/dev/null`.
    ReadOnly,
    /// No file-system or network restriction (the process-tree cleanup and the environment
    /// filter still apply).
    Off,
}

impl std::fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::WorkspaceWrite => "workspace-write",
            Self::ReadOnly => "read-only",
            Self::Off => "off",
        })
    }
}

impl std::str::FromStr for SandboxMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "workspace-write" => Ok(Self::WorkspaceWrite),
            "read-only" => Ok(Self::ReadOnly),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown sandbox mode `{other}`: use workspace-write, read-only or off"
            )),
        }
    }
}

/// The policy for every command of one agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Confinement {
    pub mode: SandboxMode,
    /// Whether commands may open network connections.
    pub network: bool,
    /// Directories commands may write besides the workspace and the defaults.
    pub writable: Vec<PathBuf>,
    /// The environment commands get: lode's own keys and secret-looking variables removed.
    pub env: Vec<(String, String)>,
    /// The workspace root (always writable in `workspace-write`).
    root: PathBuf,
}

/// What the running kernel can enforce of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement {
    pub files: bool,
    pub network: bool,
}

impl Confinement {
    /// The policy for commands run in `root`: `mode`, with `extra` writable directories, the
    /// process environment filtered (`pass` names variables kept although they look secret;
    /// `hide` names more to remove, such as the remote backend's key variable).
    pub fn new(
        root: &Path,
        mode: SandboxMode,
        network: bool,
        extra: &[PathBuf],
        pass: &[String],
        hide: &[String],
    ) -> Self {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self {
            mode,
            network,
            writable: extra.to_vec(),
            env: command_env(vars, pass, hide),
            root: root.to_path_buf(),
        }
    }

    /// The default policy for `root`: workspace-write, no network, secrets removed.
    pub fn default_for(root: &Path) -> Self {
        Self::new(root, SandboxMode::WorkspaceWrite, false, &[], &[], &[])
    }

    /// Every directory commands may write under this policy.
    pub fn writable_roots(&self) -> Vec<PathBuf> {
        let mut roots = Vec::new();
        if self.mode == SandboxMode::WorkspaceWrite {
            roots.push(self.root.clone());
            roots.extend(self.writable.iter().cloned());
            roots.extend(build_caches(&self.env));
        }
        roots.extend(temp_dirs(&self.env));
        roots.sort();
        roots.dedup();
        roots
    }

    /// Whether this policy lets commands write `path` (a directory under a writable root, or
    /// anything when the file-system sandbox is off).
    pub fn allows_write(&self, path: &Path) -> bool {
        self.mode == SandboxMode::Off || self.writable_roots().iter().any(|r| path.starts_with(r))
    }

    /// `sh -c command_line` under this policy: its environment, and on Linux the sandbox
    /// and the supervisor; on macOS the command runs inside `sandbox-exec` with the Seatbelt
    /// profile of the same policy.
    ///
    /// # Errors
    /// The sandbox could not be built (a Landlock rule was refused).
    pub fn command(&self, command_line: &str) -> std::io::Result<tokio::process::Command> {
        #[cfg(target_os = "macos")]
        let mut cmd = match self.seatbelt_profile() {
            Some(profile) if Path::new(SANDBOX_EXEC).is_file() => {
                let mut cmd = tokio::process::Command::new(SANDBOX_EXEC);
                cmd.arg("-p").arg(profile).arg("sh");
                cmd
            }
            _ => tokio::process::Command::new("sh"),
        };
        #[cfg(not(target_os = "macos"))]
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(command_line);
        cmd.env_clear();
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        #[cfg(target_os = "linux")]
        linux::apply(self, &mut cmd)?;
        #[cfg(all(unix, not(target_os = "linux")))]
        cmd.process_group(0);
        Ok(cmd)
    }

    /// The macOS Seatbelt profile of this policy (`None` when it restricts nothing): every
    /// read allowed, writes only under the writable roots and to the character devices,
    /// outbound IP traffic denied unless the network is allowed.
    pub fn seatbelt_profile(&self) -> Option<String> {
        if self.mode == SandboxMode::Off && self.network {
            return None;
        }
        let mut profile = String::from("(version 1)\n(allow default)\n");
        if self.mode != SandboxMode::Off {
            profile.push_str("(deny file-write*)\n(allow file-write*");
            for root in self.writable_roots() {
                // Seatbelt matches real paths: /tmp is /private/tmp there.
                let real = root.canonicalize().unwrap_or(root);
                profile.push_str(&format!("\n  (subpath {})", sbpl_string(&real)));
            }
            for device in ["/dev/null", "/dev/zero", "/dev/tty", "/dev/dtracehelper"] {
                profile.push_str(&format!("\n  (literal {})", sbpl_string(Path::new(device))));
            }
            profile.push_str("\n  (regex #\"^/dev/fd/\"))\n");
        }
        if !self.network {
            profile.push_str("(deny network-outbound (remote ip \"*:*\"))\n");
        }
        Some(profile)
    }

    /// What this kernel enforces of the policy; `None` when the policy asks for nothing.
    pub fn enforcement(&self) -> Option<Enforcement> {
        if self.mode == SandboxMode::Off && self.network {
            return None;
        }
        #[cfg(target_os = "linux")]
        let support = linux::support();
        #[cfg(target_os = "macos")]
        let support = {
            let seatbelt = Path::new(SANDBOX_EXEC).is_file();
            Enforcement {
                files: seatbelt,
                network: seatbelt,
            }
        };
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        let support = Enforcement {
            files: false,
            network: false,
        };
        Some(Enforcement {
            files: support.files || self.mode == SandboxMode::Off,
            network: support.network || self.network,
        })
    }

    /// One line for the user when the kernel cannot enforce what the policy asks, else `None`.
    pub fn notice(&self) -> Option<String> {
        let enforced = self.enforcement()?;
        let missing: Vec<&str> = [
            (!enforced.files).then_some("file writes outside the workspace"),
            (!enforced.network).then_some("network access"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if missing.is_empty() {
            return None;
        }
        let why = if cfg!(target_os = "linux") {
            "this kernel has no Landlock support for it (Linux 5.13+ for files, 6.7+ for the network)"
        } else if cfg!(target_os = "macos") {
            "/usr/bin/sandbox-exec is missing"
        } else {
            "lode has no sandbox on this platform yet"
        };
        Some(format!(
            "sandbox: commands are NOT confined from {}: {why}",
            missing.join(" or ")
        ))
    }
}

/// Where macOS keeps its sandbox launcher.
#[cfg(target_os = "macos")]
const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// A path as a Seatbelt string literal.
fn sbpl_string(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The temp directories: `$TMPDIR`, `/tmp`, `/var/tmp`, `/dev/shm`.
fn temp_dirs(env: &[(String, String)]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Some(tmp) = lookup(env, "TMPDIR") {
        dirs.push(PathBuf::from(tmp));
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// The caches builds write into outside the workspace: cargo's, the XDG cache (pip, go,
/// ccache and most others), npm's, Go's module cache, a separate cargo target directory.
fn build_caches(env: &[(String, String)]) -> Vec<PathBuf> {
    let home = lookup(env, "HOME").map(PathBuf::from);
    let mut dirs = Vec::new();
    let mut var_or_home = |var: &str, under_home: &str| {
        match (lookup(env, var), &home) {
            (Some(dir), _) => dirs.push(PathBuf::from(dir)),
            (None, Some(home)) => dirs.push(home.join(under_home)),
            (None, None) => {}
        };
    };
    var_or_home("CARGO_HOME", ".cargo");
    var_or_home("XDG_CACHE_HOME", ".cache");
    var_or_home("GOPATH", "go");
    if let Some(home) = &home {
        dirs.push(home.join(".npm"));
    }
    for var in ["CARGO_TARGET_DIR", "GOCACHE", "npm_config_cache"] {
        if let Some(dir) = lookup(env, var) {
            dirs.push(PathBuf::from(dir));
        }
    }
    dirs.into_iter()
        .filter(|d| d.is_absolute() && d.is_dir())
        .collect()
}

fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seatbelt_profile_says_the_same_as_the_landlock_policy() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Confinement::default_for(dir.path());
        let profile = c.seatbelt_profile().unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert!(profile.starts_with("(version 1)\n(allow default)\n(deny file-write*)\n"));
        assert!(
            profile.contains(&format!("(subpath \"{}\")", root.display())),
            "{profile}"
        );
        assert!(profile.contains("(literal \"/dev/null\")"));
        assert!(profile.ends_with("(deny network-outbound (remote ip \"*:*\"))\n"));
        c.network = true;
        assert!(!c.seatbelt_profile().unwrap().contains("network"));
        c.mode = SandboxMode::Off;
        assert_eq!(c.seatbelt_profile(), None);
        assert_eq!(
            sbpl_string(Path::new("/a \"b\"\\c")),
            "\"/a \\\"b\\\"\\\\c\""
        );
    }

    #[test]
    fn read_only_writes_only_temp_dirs_and_workspace_write_adds_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Confinement::default_for(dir.path());
        assert!(c.writable_roots().contains(&dir.path().to_path_buf()));
        c.mode = SandboxMode::ReadOnly;
        let roots = c.writable_roots();
        assert!(!roots.contains(&dir.path().to_path_buf()), "{roots:?}");
        assert!(roots.iter().all(|r| r.starts_with("/tmp")
            || r.starts_with("/var/tmp")
            || r.starts_with("/dev/shm")
            || std::env::var_os("TMPDIR").is_some_and(|t| r == Path::new(&t))));
    }
}
