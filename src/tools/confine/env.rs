//! The environment a command gets: lode's own environment without its API keys and without
//! anything that looks like a secret, so a test suite or a `curl` the model wrote cannot read
//! them. Names the user lists in `[sandbox] pass_env` are kept.

/// Variables lode itself reads keys from; removed whatever their names look like.
const LODE_KEYS: &[&str] = &["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LODE_API_KEY"];

/// Whether a variable name looks like it holds a secret: `*_KEY`, `*_TOKEN`, `*SECRET*`,
/// `*PASSWORD*`, `*PASSWD*`, `*CREDENTIAL*` (any case).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.ends_with("_KEY")
        || upper == "KEY"
        || upper.ends_with("_TOKEN")
        || upper == "TOKEN"
        || ["SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
            .iter()
            .any(|word| upper.contains(word))
}

/// `vars` without lode's keys, the names in `hide`, and secret-looking names not in `pass`.
/// Pagers are set to `cat`: a command has no terminal to page on.
pub fn command_env(
    vars: impl IntoIterator<Item = (String, String)>,
    pass: &[String],
    hide: &[String],
) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| {
            let passed = pass.iter().any(|p| p == name);
            let lode_key = LODE_KEYS.contains(&name.as_str()) || hide.iter().any(|h| h == name);
            !lode_key && (passed || !is_secret_name(name))
        })
        .filter(|(name, _)| name != "PAGER" && name != "GIT_PAGER")
        .collect();
    kept.push(("PAGER".into(), "cat".into()));
    kept.push(("GIT_PAGER".into(), "cat".into()));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(vars: &[(String, String)]) -> Vec<&str> {
        vars.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn secrets_and_lode_keys_are_removed_and_pass_env_keeps_one() {
        let vars = [
            "PATH",
            "HOME",
            "OPENAI_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "db_password",
            "MY_KEY",
            "KEYBOARD",
            "TOKENIZERS_PARALLELISM",
            "NPM_TOKEN",
            "CUSTOM_CRED",
        ]
        .map(|k| (k.to_string(), "v".to_string()));
        let env = command_env(vars, &["NPM_TOKEN".into()], &["CUSTOM_CRED".into()]);
        assert_eq!(
            names(&env),
            [
                "PATH",
                "HOME",
                "KEYBOARD",
                "TOKENIZERS_PARALLELISM",
                "NPM_TOKEN",
                "PAGER",
                "GIT_PAGER"
            ]
        );
    }

    #[test]
    fn lode_keys_go_even_when_passed() {
        let env = command_env(
            [("OPENAI_API_KEY".to_string(), "k".to_string())],
            &["OPENAI_API_KEY".into()],
            &[],
        );
        assert_eq!(names(&env), ["PAGER", "GIT_PAGER"]);
    }
}
