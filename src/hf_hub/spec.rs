//! `hf:ORG/REPO[:QUANT | :FILE | /FILE]`: which repository, and which GGUF in it.
//!
//! The spec comes from the command line, but what it names goes into URLs and, through the
//! hub's answer, into a file name in the model dir, so it is checked here to the characters
//! the hub itself allows in repository names.

use super::HubError;

/// What the user asked for inside a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Nothing named: the repository must hold exactly one GGUF.
    Only,
    /// `:Q4_K_M`: the GGUF whose name carries this quantization (case-insensitive).
    Quant(String),
    /// `/file.gguf` or `:file.gguf`: this file, by its path in the repository.
    File(String),
}

/// A parsed `hf:` spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// `ORG/REPO`.
    pub repo: String,
    pub selector: Selector,
}

const EXAMPLES: &str =
    "e.g. hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M or hf:ORG/REPO/file.gguf";

impl Spec {
    /// Parses `hf:ORG/REPO`, `hf:ORG/REPO:Q4_K_M`, `hf:ORG/REPO:file.gguf`,
    /// `hf:ORG/REPO/dir/file.gguf`.
    pub fn parse(text: &str) -> Result<Spec, HubError> {
        let bad = |why: &str| HubError::Spec(format!("`{text}` {why} ({EXAMPLES})"));
        let rest = text
            .strip_prefix("hf:")
            .ok_or_else(|| bad("is not a Hugging Face spec: it must start with `hf:`"))?;
        let (path, after_colon) = match rest.split_once(':') {
            Some((path, tail)) => (path, Some(tail)),
            None => (rest, None),
        };
        let mut parts = path.splitn(3, '/');
        let (Some(org), Some(name)) = (parts.next(), parts.next()) else {
            return Err(bad("does not name a repository as ORG/REPO"));
        };
        for part in [org, name] {
            if !is_repo_part(part) {
                return Err(bad(
                    "has a repository name with characters the hub does not allow",
                ));
            }
        }
        let in_path = parts.next();
        let selector = match (in_path, after_colon) {
            (Some(_), Some(_)) => return Err(bad("names a file twice (after `/` and `:`)")),
            (None, None) => Selector::Only,
            (Some(file), None) | (None, Some(file)) if file.is_empty() => {
                return Err(bad("ends in an empty file or quant name"))
            }
            (Some(file), None) => Selector::File(checked_file(file).ok_or_else(|| bad(BAD_FILE))?),
            (None, Some(tail)) if tail.to_ascii_lowercase().ends_with(".gguf") => {
                Selector::File(checked_file(tail).ok_or_else(|| bad(BAD_FILE))?)
            }
            (None, Some(quant)) if quant.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Selector::Quant(quant.to_string())
            }
            (None, Some(_)) => return Err(bad(
                "has a quant name that is not letters, digits and `_` (a file must end in .gguf)",
            )),
        };
        Ok(Spec {
            repo: format!("{org}/{name}"),
            selector,
        })
    }
}

const BAD_FILE: &str = "names a file that is not a plain relative .gguf path";

/// The hub's repository names: letters, digits, `-`, `_`, `.`, not `.`/`..`-only.
fn is_repo_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 96
        && !part.chars().all(|c| c == '.')
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A relative path inside the repository: no empty, `.` or `..` component, no backslash.
pub(super) fn checked_file(file: &str) -> Option<String> {
    let ok = file.to_ascii_lowercase().ends_with(".gguf")
        && !file.contains('\\')
        && !file.starts_with('/')
        && file
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.chars().any(char::is_control));
    ok.then(|| file.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn spec(repo: &str, selector: Selector) -> Spec {
        Spec {
            repo: repo.into(),
            selector,
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Spec::parse("hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF").unwrap(),
            spec("Qwen/Qwen2.5-0.5B-Instruct-GGUF", Selector::Only)
        );
        assert_eq!(
            Spec::parse("hf:bartowski/x.y_z:q4_k_m").unwrap(),
            spec("bartowski/x.y_z", Selector::Quant("q4_k_m".into()))
        );
        assert_eq!(
            Spec::parse("hf:o/r:Model-Q8_0.GGUF").unwrap(),
            spec("o/r", Selector::File("Model-Q8_0.GGUF".into()))
        );
        assert_eq!(
            Spec::parse("hf:o/r/sub/m.gguf").unwrap(),
            spec("o/r", Selector::File("sub/m.gguf".into()))
        );
    }

    #[test]
    fn refuses_what_could_escape_a_url_or_a_directory() {
        for text in [
            "o/r",
            "hf:o",
            "hf:/r",
            "hf:../r",
            "hf:o/..",
            "hf:o/r?x=1",
            "hf:o/r#x",
            "hf:o%2f/r",
            "hf:o/r/../../etc/m.gguf",
            "hf:o/r/a//m.gguf",
            "hf:o/r:a\\m.gguf",
            "hf:o/r/m.bin",
            "hf:o/r:Q4 K",
            "hf:o/r:",
            "hf:o/r/m.gguf:Q4_0",
        ] {
            let err = Spec::parse(text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{text}`")), "{text}: {err}");
        }
    }
}
