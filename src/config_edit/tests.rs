use std::fs;

use pretty_assertions::assert_eq;

use super::*;

fn body(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

fn policy() -> toml::Table {
    body(&[
        ("mode", toml::Value::from("mtp")),
        ("draft_max", toml::Value::from(4)),
        (
            "verify",
            toml::Value::Array(vec![1.0.into(), 1.48.into(), 1.911.into()]),
        ),
        ("draft_step", toml::Value::from(0.31)),
    ])
}

/// `toml::Table` keeps its keys sorted.
const POLICY_TEXT: &str =
    "draft_max = 4\ndraft_step = 0.31\nmode = \"mtp\"\nverify = [1.0, 1.48, 1.911]\n";

#[test]
fn a_missing_file_and_its_directory_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new").join("config.toml");
    upsert_table(&path, "speculation.models.\"/m.gguf\"", &policy()).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("[speculation.models.\"/m.gguf\"]\n{POLICY_TEXT}")
    );
}

#[test]
fn an_empty_file_gets_the_table_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    fs::write(&path, "").unwrap();
    upsert_table(&path, "a", &policy()).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("[a]\n{POLICY_TEXT}")
    );
}

#[test]
fn a_new_table_is_appended_after_a_blank_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let before = "# mine\n[engine]\nthreads = 4 # pinned";
    fs::write(&path, before).unwrap();
    upsert_table(&path, "speculation.models.\"/m.gguf\"", &policy()).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{before}\n\n[speculation.models.\"/m.gguf\"]\n{POLICY_TEXT}")
    );
}

#[test]
fn replacing_a_table_keeps_every_other_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let head = "# lode settings\n[engine]\nthreads = 4   # pinned\n\n";
    let old = "[ speculation.models . '/m.gguf' ] # measured\nmode = \"draft\"\n\
               # old comment\nverify = [\n  1.0,\n  [2.0],\n]\ndraft_step = 0.1\n";
    let tail = "\n# the next one\n[speculation.models.\"/other.gguf\"]\nmode = \"off\"\n\
                verify = [1.0]\ndraft_step = 0.0\n[review]\nstrict = true\n";
    fs::write(&path, format!("{head}{old}{tail}")).unwrap();
    upsert_table(&path, "speculation.models.\"/m.gguf\"", &policy()).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{head}[speculation.models.\"/m.gguf\"]\n{POLICY_TEXT}{tail}")
    );
}

#[test]
fn a_line_of_a_multi_line_string_is_not_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let before = "[a]\nnote = \"\"\"\n[b]\n\"\"\"\n";
    fs::write(&path, before).unwrap();
    upsert_table(&path, "b", &body(&[("x", 1.into())])).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{before}\n[b]\nx = 1\n")
    );
}

#[test]
fn paths_with_quotes_and_backslashes_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let model = "C:\\models\\my \"best\" model\t.gguf";
    let header = format!("speculation.models.{}", basic_string(model));
    upsert_table(&path, &header, &policy()).unwrap();
    // A second write finds the same table again rather than adding a twin.
    upsert_table(&path, &header, &body(&[("mode", "off".into())])).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let models = parsed["speculation"]["models"].as_table().unwrap();
    assert_eq!(models.keys().collect::<Vec<_>>(), vec![model]);
    assert_eq!(models[model]["mode"].as_str(), Some("off"));
}

#[test]
fn a_file_that_would_not_parse_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    // The inline table already defines `speculation.models`; a header for one of its keys
    // would define it twice.
    let before = "# keep me\n[speculation]\nmodels = { }\n";
    fs::write(&path, before).unwrap();
    let err = upsert_table(&path, "speculation.models.\"/m.gguf\"", &policy()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("left as it was"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "a temporary file was left behind");
}

#[test]
fn crlf_files_stay_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    fs::write(&path, "[a]\r\nx = 1\r\n").unwrap();
    upsert_table(&path, "b", &body(&[("y", 2.into())])).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "[a]\r\nx = 1\r\n\r\n[b]\r\ny = 2\r\n"
    );
}

#[test]
fn an_invalid_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let err = upsert_table(&path, "a.\"b", &policy()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(!path.exists());
}
