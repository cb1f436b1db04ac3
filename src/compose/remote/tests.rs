#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use pretty_assertions::assert_eq;

use super::*;

struct FakeEnv(HashMap<String, String>);

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// A configuration loaded from `toml` as the user's file, and the environment it saw
/// (`vars` on top of lode's directories).
fn setup(toml: &str, vars: &[(&str, &str)]) -> (tempfile::TempDir, Config, FakeEnv) {
    let root = tempfile::tempdir().unwrap();
    let mut env = HashMap::new();
    for (name, dir) in [
        ("LODE_CONFIG_DIR", "config"),
        ("LODE_CACHE_DIR", "cache"),
        ("LODE_DATA_DIR", "data"),
    ] {
        env.insert(
            name.to_string(),
            root.path().join(dir).display().to_string(),
        );
    }
    for (name, value) in vars {
        env.insert((*name).to_string(), (*value).to_string());
    }
    std::fs::create_dir_all(root.path().join("config")).unwrap();
    std::fs::write(root.path().join("config/config.toml"), toml).unwrap();
    let env = FakeEnv(env);
    let config = Config::load(root.path(), &env).unwrap();
    (root, config, env)
}

fn flags() -> BackendFlags {
    BackendFlags::default()
}

fn wire(wire: Wire) -> BackendFlags {
    BackendFlags {
        wire: Some(wire),
        ..BackendFlags::default()
    }
}

#[test]
fn the_official_base_url_variables_name_the_server_for_their_own_wire() {
    let vars = [
        ("OPENAI_BASE_URL", "http://openai-proxy.example/v1"),
        ("ANTHROPIC_BASE_URL", "http://anthropic-proxy.example"),
    ];
    let (_root, config, env) = setup("", &vars);
    let openai = endpoint(&flags(), &config, &env).unwrap().unwrap();
    assert_eq!(
        (openai.base_url.as_str(), openai.origin),
        ("http://openai-proxy.example/v1", UrlOrigin::OfficialEnv)
    );
    let anthropic = endpoint(&wire(Wire::Anthropic), &config, &env)
        .unwrap()
        .unwrap();
    assert_eq!(
        (anthropic.base_url.as_str(), anthropic.origin),
        ("http://anthropic-proxy.example", UrlOrigin::OfficialEnv)
    );
}

#[test]
fn lodes_own_settings_rank_above_the_official_variables() {
    let vars = [
        ("OPENAI_BASE_URL", "http://from-openai-var.example/v1"),
        ("LODE_REMOTE_URL", "http://from-lode-var.example/v1"),
    ];
    let (_root, config, env) = setup(
        "[remote]\nbase_url = \"http://from-file.example/v1\"\n",
        &vars,
    );
    let got = endpoint(&flags(), &config, &env).unwrap().unwrap();
    assert_eq!(
        (got.base_url.as_str(), got.origin),
        ("http://from-lode-var.example/v1", UrlOrigin::Config)
    );
    let (_root, config, env) = setup(
        "[remote]\nbase_url = \"http://from-file.example/v1\"\n",
        &vars[..1],
    );
    let got = endpoint(&flags(), &config, &env).unwrap().unwrap();
    assert_eq!(got.base_url, "http://from-file.example/v1");
    let flag = BackendFlags {
        remote: Some("http://from-flag.example".into()),
        ..BackendFlags::default()
    };
    let got = endpoint(&flag, &config, &env).unwrap().unwrap();
    assert_eq!(
        (got.base_url.as_str(), got.origin),
        ("http://from-flag.example", UrlOrigin::Flag)
    );
}

#[test]
fn nothing_named_is_no_endpoint() {
    let (_root, config, env) = setup("", &[("ANTHROPIC_BASE_URL", "http://a.example")]);
    // The Anthropic variable says nothing about the OpenAI wire.
    assert_eq!(endpoint(&flags(), &config, &env).unwrap(), None);
}

#[test]
fn the_official_key_goes_with_the_official_base_url_and_the_official_host() {
    let vars = [
        ("OPENAI_BASE_URL", "http://gateway.example/v1"),
        ("OPENAI_API_KEY", "sk-openai"),
    ];
    let (_root, config, env) = setup("", &vars);
    let got = endpoint(&flags(), &config, &env).unwrap().unwrap();
    assert_eq!(
        (got.api_key.as_deref(), got.key_from.as_deref()),
        (Some("sk-openai"), Some("OPENAI_API_KEY"))
    );
    let (_root, config, env) = setup("", &[("ANTHROPIC_API_KEY", "sk-ant")]);
    let flag = BackendFlags {
        remote: Some("https://api.anthropic.com".into()),
        wire: Some(Wire::Anthropic),
        ..BackendFlags::default()
    };
    let got = endpoint(&flag, &config, &env).unwrap().unwrap();
    assert_eq!(got.api_key.as_deref(), Some("sk-ant"));
}

#[test]
fn the_official_key_is_not_sent_to_another_server() {
    let vars = [
        ("OPENAI_API_KEY", "sk-openai"),
        ("ANTHROPIC_API_KEY", "sk-ant"),
    ];
    let (_root, config, env) = setup("", &vars);
    for url in [
        "http://192.168.1.20:8080/v1",
        "https://api.openai.com.evil.example/v1",
        "https://evil.example/api.openai.com/v1",
    ] {
        let flag = BackendFlags {
            remote: Some(url.into()),
            ..BackendFlags::default()
        };
        let got = endpoint(&flag, &config, &env).unwrap().unwrap();
        assert_eq!(got.api_key, None, "{url}");
        assert_eq!(got.key_from, None, "{url}");
    }
    // Nor the Anthropic key to OpenAI's host, on the OpenAI wire.
    let (_root, config, env) = setup("", &vars[1..]);
    let flag = BackendFlags {
        remote: Some("https://api.openai.com/v1".into()),
        ..BackendFlags::default()
    };
    assert_eq!(
        endpoint(&flag, &config, &env).unwrap().unwrap().api_key,
        None
    );
}

#[test]
fn api_key_env_wins_and_must_be_set() {
    let vars = [("MY_KEY", "sk-mine"), ("OPENAI_API_KEY", "sk-openai")];
    let toml = "[remote]\nbase_url = \"https://api.openai.com/v1\"\napi_key_env = \"MY_KEY\"\n";
    let (_root, config, env) = setup(toml, &vars);
    let got = endpoint(&flags(), &config, &env).unwrap().unwrap();
    assert_eq!(
        (got.api_key.as_deref(), got.key_from.as_deref()),
        (Some("sk-mine"), Some("MY_KEY"))
    );
    let (_root, config, env) = setup(toml, &vars[1..]);
    assert_eq!(
        endpoint(&flags(), &config, &env).unwrap_err().to_string(),
        "[remote] api_key_env names `MY_KEY`, but that environment variable is not set"
    );
}

#[test]
fn the_endpoint_never_prints_its_key() {
    let (_root, config, env) = setup(
        "",
        &[
            ("OPENAI_BASE_URL", "http://g.example/v1"),
            ("OPENAI_API_KEY", "sk-secret-123"),
        ],
    );
    let got = endpoint(&flags(), &config, &env).unwrap().unwrap();
    assert!(!format!("{got:?}").contains("sk-secret-123"), "{got:?}");
}
