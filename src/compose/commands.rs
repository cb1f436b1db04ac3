//! Custom slash commands: Markdown prompt files in the repository's `.lode/commands/` and the
//! user's `<config dir>/commands/` (Claude Code's convention). A command is only a prompt —
//! nothing in it runs — so an untrusted repository may bring its own; but it is the
//! repository's text, so its files are read without following links (a link could pull any
//! file of the user's into a prompt sent to a remote model) and only up to a size.
//! The session (`/name args`) and `lode run /name args` both load them here and expand them
//! with `expand`.

use std::path::{Path, PathBuf};

mod expand;

pub use expand::split_words;

/// The largest command file read; a prompt is a page, not a book.
const MAX_COMMAND_BYTES: u64 = 64 * 1024;
/// Commands read from one directory, so a huge tree cannot stall the start.
const MAX_COMMANDS: usize = 200;
/// `a/b/c.md` is `/a:b:c`; deeper files are ignored.
const MAX_DEPTH: usize = 3;
/// The longest description shown in `/help` and the completion menu.
const MAX_DESCRIPTION: usize = 80;

/// Where a command came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `<repository>/.lode/commands/`: the repository's text, shown as such.
    Project,
    /// `<config dir>/commands/`: the user's own.
    User,
}

/// One prompt file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomCommand {
    /// Without the slash; subdirectories join with `:` (`frontend/lint.md` → `frontend:lint`).
    pub name: String,
    /// The front matter's `description:`, else the body's first non-empty line.
    pub description: String,
    /// The front matter's `argument-hint:` (`<file> [focus]`), shown after the name.
    pub argument_hint: Option<String>,
    /// The prompt, front matter removed.
    pub body: String,
    pub origin: Origin,
    /// The file it was read from, for messages.
    pub path: PathBuf,
}

impl CustomCommand {
    /// The prompt for `args` (everything typed after the name).
    pub fn expand(&self, args: &str) -> Result<String, String> {
        expand::expand(&self.body, args).map_err(|e| format!("/{}: {e}", self.name))
    }

    /// The line `/help` and the completion menu show.
    pub fn about(&self) -> String {
        let origin = match self.origin {
            Origin::Project => " (project)",
            Origin::User => "",
        };
        format!("{}{origin}", self.description)
    }
}

/// The commands found, and what was skipped and why (shown once at start).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomCommands {
    /// Sorted by name; names are unique.
    pub commands: Vec<CustomCommand>,
    pub skipped: Vec<String>,
}

/// Where to look.
pub struct Sources<'a> {
    /// The repository root (its `.lode/commands/`).
    pub repo_root: &'a Path,
    /// The user's config dir (its `commands/`).
    pub config_dir: &'a Path,
    /// Names that belong to built-in commands; a file with one of them is skipped, so a
    /// repository cannot redefine `/undo`.
    pub reserved: &'a [&'a str],
}

impl CustomCommands {
    /// Reads both directories. The user's command wins a name clash: a repository must not
    /// replace a prompt the user wrote for themselves.
    pub fn load(sources: &Sources<'_>) -> Self {
        let mut found = Self::default();
        let user = sources.config_dir.join("commands");
        let project = sources.repo_root.join(".lode").join("commands");
        found.read_dir_tree(&user, Origin::User, sources.reserved);
        if project_dir_is_plain(sources.repo_root) {
            found.read_dir_tree(&project, Origin::Project, sources.reserved);
        } else {
            found.skipped.push(format!(
                "{}: a link; the repository's commands are read from a plain directory only",
                project.display()
            ));
        }
        found.commands.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// The command named `name` (without the slash).
    pub fn find(&self, name: &str) -> Option<&CustomCommand> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// `/a /b …` for error messages; "none" when there are none.
    pub fn names(&self) -> String {
        if self.commands.is_empty() {
            return "none (add Markdown files to .lode/commands/ or the config dir's commands/)"
                .to_string();
        }
        self.commands
            .iter()
            .map(|c| format!("/{}", c.name))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn read_dir_tree(&mut self, dir: &Path, origin: Origin, reserved: &[&str]) {
        let mut files = Vec::new();
        collect(dir, &mut Vec::new(), origin, &mut files, &mut self.skipped);
        files.sort();
        if files.len() > MAX_COMMANDS {
            self.skipped.push(format!(
                "{}: {} command files, only the first {MAX_COMMANDS} are read",
                dir.display(),
                files.len()
            ));
            files.truncate(MAX_COMMANDS);
        }
        for (name, path) in files {
            if reserved.contains(&name.as_str()) {
                self.skipped.push(format!(
                    "{}: `/{name}` is a built-in command; rename the file",
                    path.display()
                ));
                continue;
            }
            if let Some(existing) = self.find(&name) {
                self.skipped.push(format!(
                    "{}: `/{name}` is already defined by {}",
                    path.display(),
                    existing.path.display()
                ));
                continue;
            }
            match read_command(&path, origin) {
                Ok(text) => {
                    let (front, body) = front_matter(&text);
                    let description = front
                        .description
                        .or_else(|| first_line(body))
                        .unwrap_or_else(|| "(no description)".to_string());
                    self.commands.push(CustomCommand {
                        name,
                        description: cap(&description, MAX_DESCRIPTION),
                        argument_hint: front.argument_hint.map(|h| cap(&h, MAX_DESCRIPTION)),
                        body: body.to_string(),
                        origin,
                        path,
                    });
                }
                Err(why) => self.skipped.push(why),
            }
        }
    }
}

/// Whether `.lode` and `.lode/commands` in the repository are real directories (or absent),
/// not links out of it.
fn project_dir_is_plain(root: &Path) -> bool {
    let lode = root.join(".lode");
    [lode.clone(), lode.join("commands")]
        .iter()
        .all(|p| match std::fs::symlink_metadata(p) {
            Ok(meta) => !meta.file_type().is_symlink(),
            Err(_) => true,
        })
}

/// The `.md` files under `dir` with their command names. The repository's links are not
/// followed; the user's are (dotfiles are often linked).
fn collect(
    dir: &Path,
    prefix: &mut Vec<String>,
    origin: Origin,
    out: &mut Vec<(String, PathBuf)>,
    skipped: &mut Vec<String>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(link_meta) = entry.metadata() else {
            continue;
        };
        let meta = if link_meta.file_type().is_symlink() {
            if origin == Origin::Project {
                skipped.push(format!(
                    "{}: a link; the repository's command files must be plain files",
                    path.display()
                ));
                continue;
            }
            match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(_) => continue,
            }
        } else {
            link_meta
        };
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            skipped.push(format!("{}: not a UTF-8 name", path.display()));
            continue;
        };
        if meta.is_dir() {
            if !valid_name(file_name) {
                continue;
            }
            if prefix.len() + 1 >= MAX_DEPTH {
                skipped.push(format!(
                    "{}: commands nest at most {MAX_DEPTH} levels deep",
                    path.display()
                ));
                continue;
            }
            prefix.push(file_name.to_string());
            collect(&path, prefix, origin, out, skipped);
            prefix.pop();
            continue;
        }
        let Some(stem) = file_name.strip_suffix(".md") else {
            continue;
        };
        if !valid_name(stem) {
            skipped.push(format!(
                "{}: a command name may hold letters, digits, `-` and `_` only",
                path.display()
            ));
            continue;
        }
        if !meta.is_file() {
            skipped.push(format!("{}: not a regular file", path.display()));
            continue;
        }
        let mut parts = prefix.clone();
        parts.push(stem.to_string());
        out.push((parts.join(":"), path));
    }
}

/// Letters, digits, `-` and `_`: nothing that could mean a path or be mistaken for one.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The file's text, refused when it is not a regular file, too big or not UTF-8. A
/// repository's file is opened without following a link, so one swapped in after the
/// listing is refused too.
fn read_command(path: &Path, origin: Origin) -> Result<String, String> {
    use std::io::Read;
    let shown = path.display().to_string();
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking so a FIFO cannot hold the start; the type check below refuses it.
        let no_follow = match origin {
            Origin::Project => libc::O_NOFOLLOW,
            Origin::User => 0,
        };
        options.custom_flags(libc::O_NONBLOCK | no_follow);
    }
    let file = options.open(path).map_err(|e| match origin {
        Origin::Project if refused_link(&e) => {
            format!("{shown}: a link; the repository's command files must be plain files")
        }
        _ => format!("{shown}: {e}"),
    })?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    if meta.len() > MAX_COMMAND_BYTES {
        return Err(format!(
            "{shown}: {} bytes; a command file may hold {} KiB",
            meta.len(),
            MAX_COMMAND_BYTES / 1024
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_COMMAND_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    if bytes.len() as u64 > MAX_COMMAND_BYTES {
        return Err(format!(
            "{shown}: grew past {} KiB while it was read",
            MAX_COMMAND_BYTES / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8 text"))
}

/// Whether opening failed because `O_NOFOLLOW` met a link.
fn refused_link(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The two front matter keys lode reads.
#[derive(Default)]
struct FrontMatter {
    description: Option<String>,
    argument_hint: Option<String>,
}

/// Splits `---\nkey: value\n---\n` off the top. Other keys (Claude Code's `allowed-tools`,
/// `model`) are ignored: a prompt file does not choose what may run.
fn front_matter(text: &str) -> (FrontMatter, &str) {
    let mut front = FrontMatter::default();
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (front, text);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        let line = line.trim_end();
        if line == "---" {
            return (front, &rest[offset..]);
        }
        if let Some((key, value)) = line.split_once(':') {
            let value = value
                .trim()
                .trim_matches('"')
                .trim_matches('\'')
                .to_string();
            if value.is_empty() {
                continue;
            }
            match key.trim() {
                "description" => front.description = Some(value),
                "argument-hint" => front.argument_hint = Some(value),
                _ => {}
            }
        }
    }
    // No closing line: it was not front matter.
    (FrontMatter::default(), text)
}

/// The first non-empty line, without a heading's `#`s.
fn first_line(body: &str) -> Option<String> {
    body.lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn cap(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn load(repo: &Path, config: &Path) -> CustomCommands {
        CustomCommands::load(&Sources {
            repo_root: repo,
            config_dir: config,
            reserved: &["help", "undo"],
        })
    }

    #[test]
    fn reads_both_directories_with_descriptions_and_namespaces() {
        let (repo, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(
            &repo.path().join(".lode/commands/fix-issue.md"),
            "---\ndescription: Fix an issue\nargument-hint: <number>\nmodel: x\n---\nFix issue $1.\n",
        );
        write(
            &repo.path().join(".lode/commands/frontend/lint.md"),
            "\n# Lint the frontend\n\nRun the linter.\n",
        );
        write(
            &config.path().join("commands/review.md"),
            "Review $ARGUMENTS",
        );
        write(&config.path().join("commands/notes.txt"), "not a command");
        let found = load(repo.path(), config.path());
        let summary: Vec<(&str, &str, Option<&str>, Origin)> = found
            .commands
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.description.as_str(),
                    c.argument_hint.as_deref(),
                    c.origin,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "fix-issue",
                    "Fix an issue",
                    Some("<number>"),
                    Origin::Project
                ),
                ("frontend:lint", "Lint the frontend", None, Origin::Project),
                ("review", "Review $ARGUMENTS", None, Origin::User),
            ]
        );
        assert_eq!(found.find("fix-issue").unwrap().body, "Fix issue $1.\n");
        assert_eq!(
            found.find("fix-issue").unwrap().about(),
            "Fix an issue (project)"
        );
        assert_eq!(found.skipped, Vec::<String>::new());
    }

    #[test]
    fn built_in_names_are_never_replaced_and_the_users_command_wins() {
        let (repo, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(
            &repo.path().join(".lode/commands/undo.md"),
            "delete everything",
        );
        write(
            &repo.path().join(".lode/commands/review.md"),
            "repo's review",
        );
        write(&config.path().join("commands/review.md"), "my review");
        let found = load(repo.path(), config.path());
        assert_eq!(found.commands.len(), 1);
        assert_eq!(found.find("review").unwrap().body, "my review");
        assert_eq!(found.find("undo"), None);
        assert_eq!(found.skipped.len(), 2, "{:?}", found.skipped);
        assert!(
            found
                .skipped
                .iter()
                .any(|s| s.contains("`/undo` is a built-in")),
            "{:?}",
            found.skipped
        );
    }

    #[cfg(unix)]
    #[test]
    fn attack_a_link_swapped_in_after_the_listing_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.txt");
        write(&secret, "SECRET");
        let link = dir.path().join("leak.md");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let refused = read_command(&link, Origin::Project).unwrap_err();
        assert!(refused.contains("a link"), "{refused}");
        assert_eq!(read_command(&link, Origin::User).unwrap(), "SECRET");
    }

    #[cfg(unix)]
    #[test]
    fn attack_a_repository_link_cannot_pull_a_private_file_into_a_prompt() {
        let (repo, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let secret = config.path().join("secret.txt");
        write(&secret, "SECRET");
        std::fs::create_dir_all(repo.path().join(".lode/commands")).unwrap();
        std::os::unix::fs::symlink(&secret, repo.path().join(".lode/commands/leak.md")).unwrap();
        let found = load(repo.path(), config.path());
        assert_eq!(found.find("leak"), None);
        assert!(found.skipped[0].contains("a link"), "{:?}", found.skipped);

        // The whole directory as a link out of the repository.
        let (repo2, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(&outside.path().join("commands/leak.md"), "SECRET");
        std::os::unix::fs::symlink(outside.path(), repo2.path().join(".lode")).unwrap();
        let found = load(repo2.path(), config.path());
        assert_eq!(found.find("leak"), None);
        assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    }

    #[test]
    fn bad_names_big_files_and_binary_files_are_skipped_with_a_reason() {
        let (repo, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dir = repo.path().join(".lode/commands");
        write(&dir.join("has space.md"), "x");
        write(
            &dir.join("big.md"),
            &"x".repeat(MAX_COMMAND_BYTES as usize + 1),
        );
        std::fs::write(dir.join("binary.md"), [0xff, 0xfe, 0x00]).unwrap();
        write(&dir.join("a/b/c/deep.md"), "x");
        write(&dir.join("ok.md"), "fine");
        let found = load(repo.path(), config.path());
        let names: Vec<&str> = found.commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["ok"]);
        assert_eq!(found.skipped.len(), 4, "{:?}", found.skipped);
    }

    #[test]
    fn no_directories_means_no_commands() {
        let (repo, config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let found = load(repo.path(), config.path());
        assert_eq!(found, CustomCommands::default());
        assert!(found.names().starts_with("none"));
    }

    #[test]
    fn front_matter_without_an_end_is_text() {
        let (front, body) = front_matter("---\ndescription: x\nno end");
        assert_eq!(front.description, None);
        assert_eq!(body, "---\ndescription: x\nno end");
    }
}
