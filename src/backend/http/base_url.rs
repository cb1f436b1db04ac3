//! Base URLs as people write them. `http://host:8080`, `http://host:8080/`,
//! `http://host:8080/v1` and `http://host:8080/v1/` all name the same server for both wires,
//! because the two official clients disagree: OpenAI's wants the version in its base URL
//! (`OPENAI_BASE_URL=https://api.openai.com/v1`), Anthropic's adds it itself
//! (`ANTHROPIC_BASE_URL=https://api.anthropic.com`). A server mounted under a path
//! (`https://x/openai/v1`, Gemini's `/v1beta/openai`) keeps its path. A pasted endpoint
//! (`…/v1/chat/completions`, `…/v1/messages`) is cut back to its API root.

/// What a base URL without a version segment at its end means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathStyle {
    /// OpenAI's client: a bare host gets `/v1`; any other path is the API root as written
    /// (a proxy or a provider whose root is not versioned).
    VersionInBase,
    /// Anthropic's client: the API root is always the base plus `/v1`, unless it already
    /// ends in a version.
    VersionAdded,
}

/// Where one server's API lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiBase {
    /// The API root, without a trailing slash: endpoints are `{api}/chat/completions`.
    pub api: String,
    /// The server's own root, without the API version: llama-server's `/props` and Ollama's
    /// `/api/...` live here.
    pub server: String,
}

/// Endpoints a user may paste whole; what precedes them is the API root.
const ENDPOINTS: &[&str] = &["/chat/completions", "/messages", "/completions", "/models"];

/// The API root and server root `input` names, or why it names none.
pub(crate) fn parse(input: &str, style: PathStyle) -> Result<ApiBase, String> {
    let trimmed = input.trim();
    let lower = trimmed.to_ascii_lowercase();
    // Checked before parsing: `localhost:8080` parses, with `localhost` as its scheme.
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("`{trimmed}` must start with http:// or https://"));
    }
    let url =
        reqwest::Url::parse(trimmed).map_err(|e| format!("`{trimmed}` is not a URL ({e})"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{trimmed}` has a query or fragment; give the server's address only"
        ));
    }
    let origin = url.origin().ascii_serialization();
    let mut path = url.path().trim_end_matches('/').to_owned();
    for endpoint in ENDPOINTS {
        // Only after a version segment: `/v1/models` is pasted, `/models` alone may be a
        // proxy's own prefix.
        if let Some(root) = path.strip_suffix(endpoint) {
            if last_segment_is_version(root) {
                path = root.to_owned();
                break;
            }
        }
    }
    let api_path = if last_segment_is_version(&path) {
        path.clone()
    } else {
        match style {
            PathStyle::VersionInBase if !path.is_empty() => path.clone(),
            _ => format!("{path}/v1"),
        }
    };
    let server_path = match api_path.rsplit_once('/') {
        Some((head, last)) if is_version(last) => head.to_owned(),
        _ => api_path.clone(),
    };
    Ok(ApiBase {
        api: format!("{origin}{api_path}"),
        server: format!("{origin}{server_path}"),
    })
}

fn last_segment_is_version(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(is_version)
}

/// `v1`, `v2`, `v1beta`, `v4`: a `v`, digits, then letters at most.
fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && rest[digits..].chars().all(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    fn base(api: &str, server: &str) -> ApiBase {
        ApiBase {
            api: api.into(),
            server: server.into(),
        }
    }

    #[test]
    fn a_bare_host_and_its_v1_are_the_same_server_on_both_wires() {
        for style in [PathStyle::VersionInBase, PathStyle::VersionAdded] {
            for input in [
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/v1",
                "http://127.0.0.1:8080/v1/",
                "  http://127.0.0.1:8080/v1  ",
            ] {
                assert_eq!(
                    parse(input, style).unwrap(),
                    base("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
                    "{input} with {style:?}"
                );
            }
        }
    }

    #[test]
    fn the_official_roots_in_both_conventions() {
        assert_eq!(
            parse("https://api.anthropic.com", PathStyle::VersionAdded).unwrap(),
            base("https://api.anthropic.com/v1", "https://api.anthropic.com")
        );
        assert_eq!(
            parse("https://api.openai.com/v1", PathStyle::VersionInBase).unwrap(),
            base("https://api.openai.com/v1", "https://api.openai.com")
        );
    }

    #[test]
    fn a_path_prefix_is_kept() {
        for style in [PathStyle::VersionInBase, PathStyle::VersionAdded] {
            assert_eq!(
                parse("https://x.example/openai/v1/", style).unwrap(),
                base("https://x.example/openai/v1", "https://x.example/openai")
            );
        }
        // Anthropic's convention: a proxy's prefix without a version gets one.
        assert_eq!(
            parse("https://proxy.example/anthropic", PathStyle::VersionAdded).unwrap(),
            base(
                "https://proxy.example/anthropic/v1",
                "https://proxy.example/anthropic"
            )
        );
        // OpenAI's convention: a root that is not versioned is used as written.
        assert_eq!(
            parse(
                "https://generativelanguage.googleapis.com/v1beta/openai/",
                PathStyle::VersionInBase
            )
            .unwrap(),
            base(
                "https://generativelanguage.googleapis.com/v1beta/openai",
                "https://generativelanguage.googleapis.com/v1beta/openai"
            )
        );
        assert_eq!(
            parse(
                "https://open.bigmodel.cn/api/paas/v4",
                PathStyle::VersionInBase
            )
            .unwrap(),
            base(
                "https://open.bigmodel.cn/api/paas/v4",
                "https://open.bigmodel.cn/api/paas"
            )
        );
    }

    #[test]
    fn a_pasted_endpoint_is_cut_back_to_its_root() {
        assert_eq!(
            parse(
                "http://127.0.0.1:8080/v1/chat/completions",
                PathStyle::VersionInBase
            )
            .unwrap(),
            base("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080")
        );
        assert_eq!(
            parse(
                "http://127.0.0.1:8080/v1/messages/",
                PathStyle::VersionAdded
            )
            .unwrap(),
            base("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080")
        );
        // Without a version before it, `/models` is a prefix, not an endpoint.
        assert_eq!(
            parse("http://h.example/models", PathStyle::VersionInBase).unwrap(),
            base("http://h.example/models", "http://h.example/models")
        );
    }

    #[test]
    fn default_ports_and_ipv6_hosts_survive() {
        assert_eq!(
            parse("https://api.openai.com:443/v1", PathStyle::VersionInBase).unwrap(),
            base("https://api.openai.com/v1", "https://api.openai.com")
        );
        assert_eq!(
            parse("http://[::1]:8080", PathStyle::VersionAdded).unwrap(),
            base("http://[::1]:8080/v1", "http://[::1]:8080")
        );
    }

    #[test]
    fn what_is_not_a_server_address_is_refused_with_the_reason() {
        assert_eq!(
            parse("127.0.0.1:8080/v1", PathStyle::VersionInBase).unwrap_err(),
            "`127.0.0.1:8080/v1` must start with http:// or https://"
        );
        assert_eq!(
            parse("localhost:8080", PathStyle::VersionAdded).unwrap_err(),
            "`localhost:8080` must start with http:// or https://"
        );
        assert!(parse("http://", PathStyle::VersionInBase)
            .unwrap_err()
            .starts_with("`http://` is not a URL ("));
        assert_eq!(
            parse("http://h.example/v1?key=1", PathStyle::VersionInBase).unwrap_err(),
            "`http://h.example/v1?key=1` has a query or fragment; give the server's address only"
        );
    }

    #[test]
    fn versions_are_told_from_words() {
        for yes in ["v1", "v2", "v1beta", "v4", "v10"] {
            assert!(is_version(yes), "{yes}");
        }
        for no in ["v", "version", "openai", "1", "vx1", "v1-beta", "V1"] {
            assert!(!is_version(no), "{no}");
        }
    }
}
