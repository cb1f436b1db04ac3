//! Who may do what without asking. One-shot runs without a terminal never prompt: they refuse
//! what would need approval and say how to allow it.

use serde::{Deserialize, Serialize};

use crate::tools::Permission;

/// How much the agent may do on its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionMode {
    /// Edits and commands need approval (the TUI default).
    Ask,
    /// Edits and the project's test command run freely; other commands need approval
    /// (the `lode run` default).
    #[default]
    AutoEdit,
    /// Everything runs without asking.
    Yolo,
    /// Only reading tools are offered; nothing is written or run.
    ReadOnly,
}

/// The verdict for one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Ask the user first.
    Ask,
    /// Not allowed; the message says how to allow it.
    Refused(String),
}

impl PermissionMode {
    /// Whether a tool of this class is offered to the model at all.
    pub fn offers(self, permission: Permission) -> bool {
        self != Self::ReadOnly || permission == Permission::Read
    }

    /// Whether `tool` (of class `permission`) may run; `interactive` says whether a user can
    /// be asked, `always` lists the classes the user approved for the whole session.
    pub fn verdict(
        self,
        tool: &str,
        permission: Permission,
        interactive: bool,
        always: &[Permission],
    ) -> Verdict {
        let needs_approval = match (self, permission) {
            (_, Permission::Read) | (Self::Yolo, _) => false,
            (Self::ReadOnly, _) => {
                return Verdict::Refused(format!(
                    "`{tool}` is not available in read-only mode; rerun without --read-only to allow changes"
                ))
            }
            (Self::AutoEdit, Permission::Write) => false,
            // The test command is how the loop checks its work; other commands ask.
            (Self::AutoEdit, Permission::Exec) => tool != "run_tests",
            (Self::Ask, _) => true,
        };
        if !needs_approval || always.contains(&permission) {
            Verdict::Allowed
        } else if interactive {
            Verdict::Ask
        } else {
            let allow = match permission {
                Permission::Write => "--auto-edit or --yolo",
                _ => "--yolo",
            };
            Verdict::Refused(format!(
                "`{tool}` needs approval and nobody can be asked in this run; rerun with {allow} to allow it"
            ))
        }
    }
}

impl PermissionMode {
    /// The verdict for a write to a protected path (`Workspace::protected`): allowed only in
    /// yolo mode or by an approval naming the path; a session-wide "always" does not count.
    pub fn protected_verdict(self, path: &str, interactive: bool) -> Verdict {
        match self {
            Self::Yolo => Verdict::Allowed,
            Self::ReadOnly => Verdict::Refused(
                "nothing is written in read-only mode; rerun without --read-only".into(),
            ),
            Self::Ask | Self::AutoEdit if interactive => Verdict::Ask,
            Self::Ask | Self::AutoEdit => Verdict::Refused(format!(
                "`{path}` is protected (git's and lode's own files and hooks are written only \
                 with an approval naming the path); nobody can approve it in this run, so it \
                 was not written — rerun with --yolo only if you mean it"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::{Exec, Read, Write};
    use PermissionMode::*;

    #[test]
    fn verdicts_per_mode() {
        let v = |mode: PermissionMode, tool, perm, interactive| {
            mode.verdict(tool, perm, interactive, &[])
        };
        assert_eq!(v(Ask, "read_file", Read, false), Verdict::Allowed);
        assert_eq!(v(Ask, "edit_file", Write, true), Verdict::Ask);
        assert!(
            matches!(v(Ask, "edit_file", Write, false), Verdict::Refused(m) if m.contains("--auto-edit"))
        );
        assert_eq!(v(AutoEdit, "edit_file", Write, false), Verdict::Allowed);
        assert_eq!(v(AutoEdit, "run_tests", Exec, false), Verdict::Allowed);
        assert!(
            matches!(v(AutoEdit, "shell", Exec, false), Verdict::Refused(m) if m.contains("--yolo"))
        );
        assert_eq!(v(AutoEdit, "shell", Exec, true), Verdict::Ask);
        assert_eq!(v(Yolo, "shell", Exec, false), Verdict::Allowed);
        assert!(
            matches!(v(ReadOnly, "write_file", Write, true), Verdict::Refused(m) if m.contains("read-only"))
        );
        assert_eq!(Ask.verdict("shell", Exec, true, &[Exec]), Verdict::Allowed);
        assert!(!ReadOnly.offers(Write) && !ReadOnly.offers(Exec) && ReadOnly.offers(Read));
    }

    #[test]
    fn protected_paths_need_a_named_approval_in_every_mode_but_yolo() {
        assert_eq!(
            AutoEdit.protected_verdict(".git/config", true),
            Verdict::Ask
        );
        assert!(matches!(
            AutoEdit.protected_verdict(".git/config", false),
            Verdict::Refused(m) if m.contains("`.git/config` is protected")
        ));
        assert_eq!(
            Ask.protected_verdict(".lode/config.toml", true),
            Verdict::Ask
        );
        assert_eq!(
            Yolo.protected_verdict(".git/config", false),
            Verdict::Allowed
        );
    }
}
