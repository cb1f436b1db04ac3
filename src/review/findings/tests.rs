use super::*;
use crate::review::changes::{ChangeKind, Hunk};
use pretty_assertions::assert_eq;

fn file(path: &str, kind: ChangeKind, hunks: &[(u32, u32)]) -> FileChange {
    FileChange {
        path: path.into(),
        kind,
        binary: false,
        submodule: false,
        old_size: 10,
        new_size: 10,
        patch: String::new(),
        hunks: hunks
            .iter()
            .map(|&(new_start, new_lines)| Hunk {
                new_start,
                new_lines,
                added: Vec::new(),
            })
            .collect(),
    }
}

fn detailed(path: &str, line: Option<u32>, severity: Severity, title: &str) -> Finding {
    Finding {
        detail: "y".into(),
        ..Finding::bare(path, line, severity, title)
    }
}

#[test]
fn parses_fenced_json() {
    let text =
        "```json\n{\"findings\": [{\"path\": \"a.rs\", \"line\": 3, \"severity\": \"error\", \
                \"title\": \"x\", \"detail\": \"y\", \"suggestion\": \"z\"}]}\n```";
    let expected = Finding {
        suggestion: Some("z".into()),
        ..detailed("a.rs", Some(3), Severity::Error, "x")
    };
    assert_eq!(parse_answer(text), Ok(vec![expected]));
}

#[test]
fn parses_json_wrapped_in_prose_with_braces_in_strings() {
    let text = "I looked at {the diff}. Here it is: {\"findings\": [{\"path\": \"a.rs\", \
                \"line\": 3, \"severity\": \"warning\", \"title\": \"brace } and \\\" quote {\", \
                \"detail\": \"y\"}]} Hope that helps {";
    assert_eq!(
        parse_answer(text),
        Ok(vec![detailed(
            "a.rs",
            Some(3),
            Severity::Warning,
            "brace } and \" quote {"
        )])
    );
}

#[test]
fn reads_string_null_and_zero_lines() {
    let text = r#"{"findings": [
        {"path": "a.rs", "line": "12", "severity": "error", "title": "s", "detail": "y"},
        {"path": "a.rs", "line": "7-9", "severity": "error", "title": "r", "detail": "y"},
        {"path": "a.rs", "line": null, "severity": "error", "title": "n", "detail": "y"},
        {"path": "a.rs", "line": 0, "severity": "error", "title": "z", "detail": "y"},
        {"path": "a.rs", "severity": "error", "title": "m", "detail": "y"}
    ]}"#;
    let lines: Vec<_> = parse_answer(text)
        .unwrap()
        .into_iter()
        .map(|f| f.line)
        .collect();
    assert_eq!(lines, vec![Some(12), Some(7), None, None, None]);
}

#[test]
fn reads_severity_synonyms_in_any_case() {
    let words = [
        ("ERROR", Severity::Error),
        ("Critical", Severity::Error),
        ("high", Severity::Error),
        ("bug", Severity::Error),
        ("Warn", Severity::Warning),
        ("medium", Severity::Warning),
        ("info", Severity::Note),
        ("low", Severity::Note),
        ("nit", Severity::Note),
        ("Suggestion", Severity::Note),
        ("whatever", Severity::Warning),
    ];
    for (word, severity) in words {
        let text = format!(
            r#"{{"findings": [{{"path": "a.rs", "line": 1, "severity": "{word}", "title": "t"}}]}}"#
        );
        let found = parse_answer(&text).unwrap();
        assert_eq!(found[0].severity, severity, "{word}");
    }
}

#[test]
fn missing_optional_fields_and_extra_fields_are_fine() {
    let text = r#"{"findings": [
        {"path": "a.rs", "title": "only these", "confidence": 0.9},
        {"path": "a.rs", "line": 2, "severity": "note", "detail": "no title"},
        {"line": 2, "severity": "note", "title": "no path"},
        {"path": "  ", "title": "blank path"}
    ], "summary": "ok"}"#;
    assert_eq!(
        parse_answer(text),
        Ok(vec![Finding::bare(
            "a.rs",
            None,
            Severity::Warning,
            "only these"
        )])
    );
    assert_eq!(parse_answer(r#"{"findings": []}"#), Ok(vec![]));
}

#[test]
fn garbage_is_an_actionable_error() {
    for text in [
        "Looks good to me!",
        "{not json at all}",
        r#"{"issues": []}"#,
        r#"{"findings": "none"}"#,
        r#"{"findings": [{"path": "a.rs""#,
    ] {
        let err = parse_answer(text).unwrap_err();
        assert!(err.contains("{\"findings\": ["), "{text}: {err}");
    }
    assert!(parse_answer(r#"{"findings": "none"}"#)
        .unwrap_err()
        .starts_with("\"findings\" in the answer is not a list"));
}

#[test]
fn salvages_complete_findings_before_the_cut() {
    let text = r#"```json
{"findings": [{"path":"a.rs","line":3,"severity":"error","title":"x","detail":"y {}"}, {"path":"b.rs","li"#;
    assert!(parse_answer(text).is_err());
    let expected = Finding {
        detail: "y {}".into(),
        ..Finding::bare("a.rs", Some(3), Severity::Error, "x")
    };
    assert_eq!(salvage(text), vec![expected]);
    assert_eq!(salvage("nothing here"), vec![]);
    assert_eq!(salvage(r#"{"findings": [{"path": "a.rs", "ti"#), vec![]);
}

#[test]
fn salvage_of_a_whole_answer_reads_it_all() {
    let text = r#"{"findings": [{"path":"a.rs","title":"x"},{"path":"b.rs","title":"y"}]}"#;
    assert_eq!(salvage(text).len(), 2);
}

#[test]
fn fail_on_levels() {
    let notes = [Finding::bare("a", None, Severity::Note, "n")];
    let warnings = [Finding::bare("a", None, Severity::Warning, "w")];
    let errors = [Finding::bare("a", None, Severity::Error, "e")];
    assert!(!FailOn::Error.fails(&warnings));
    assert!(FailOn::Error.fails(&errors));
    assert!(FailOn::Warning.fails(&warnings));
    assert!(!FailOn::Warning.fails(&notes));
    assert!(FailOn::Note.fails(&notes));
    assert!(!FailOn::Note.fails(&[]));
    assert!(!FailOn::Never.fails(&errors));
    assert_eq!("Warning".parse(), Ok(FailOn::Warning));
    assert_eq!("never".parse(), Ok(FailOn::Never));
    let err = "fatal".parse::<FailOn>().unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown fail-on level `fatal`: use one of error, warning, note, never"
    );
}

#[test]
fn answer_schema_accepts_findings_and_rejects_the_rest() {
    let schema = answer_schema(&["src/a.rs".into(), "b.rs".into(), "b.rs".into()]);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let good = json!({"findings": [
        {"path": "src/a.rs", "line": 3, "severity": "error", "title": "t", "detail": "d"},
        {"path": "b.rs", "line": 0, "severity": "note", "title": "t", "detail": "d",
         "suggestion": "s"}
    ]});
    assert!(validator.is_valid(&good));
    assert!(validator.is_valid(&json!({"findings": []})));
    let bad = [
        json!({"findings": [{"path": "src/a.rs", "line": 3, "severity": "fatal",
                             "title": "t", "detail": "d"}]}),
        json!({"findings": [{"path": "c.rs", "line": 3, "severity": "error",
                             "title": "t", "detail": "d"}]}),
        json!({"findings": [{"path": "b.rs", "line": -1, "severity": "error",
                             "title": "t", "detail": "d"}]}),
        json!({"findings": [{"path": "b.rs", "line": 1, "severity": "error", "title": "t"}]}),
        json!({"findings": [{"path": "b.rs", "line": 1, "severity": "error", "title": "t",
                             "detail": "d", "extra": 1}]}),
        json!({"findings": [], "summary": "x"}),
        json!({}),
    ];
    for instance in bad {
        assert!(!validator.is_valid(&instance), "{instance}");
    }
    let keys: Vec<_> = schema["properties"]["findings"]["items"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        ["path", "line", "severity", "title", "detail", "suggestion"]
    );
    assert_eq!(
        schema["properties"]["findings"]["items"]["properties"]["path"]["enum"],
        json!(["src/a.rs", "b.rs"])
    );
    let open = answer_schema(&[]);
    assert_eq!(
        open["properties"]["findings"]["items"]["properties"]["path"],
        json!({"type": "string", "maxLength": 200})
    );
}

#[test]
fn the_longest_answer_fits_the_answer_budget() {
    // Bounded strings and a bounded list: the longest answer the grammar admits is finite,
    // and the agent gives the turn at least that many tokens.
    let paths: Vec<String> = (0..40).map(|i| format!("src/module_{i}/file.rs")).collect();
    let worst = crate::backend::toolcall::worst_case(&answer_schema(&paths), 0);
    assert!(worst < 4_000, "{worst}");
    let too_many = json!({"findings": vec![json!({"path": "src/a.rs", "line": 1, "severity": "note", "title": "t", "detail": "d"}); MAX_FINDINGS + 1]});
    let schema = answer_schema(&["src/a.rs".to_string()]);
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!validator.is_valid(&too_many));
    let long_title = json!({"findings": [{"path": "src/a.rs", "line": 1, "severity": "note", "title": "x".repeat(81), "detail": "d"}]});
    assert!(!validator.is_valid(&long_title));
}

#[test]
fn anchor_keeps_shown_lines_and_file_level_findings() {
    let files = [file("src/a.rs", ChangeKind::Modified, &[(10, 5)])];
    let found = vec![
        Finding::bare("src/a.rs", Some(10), Severity::Error, "first"),
        Finding::bare("src/a.rs", Some(14), Severity::Error, "last"),
        Finding::bare("src/a.rs", None, Severity::Note, "whole"),
    ];
    let anchored = anchor(found, &files);
    assert_eq!(
        anchored,
        Anchored {
            kept: vec![
                Finding::bare("src/a.rs", None, Severity::Note, "whole"),
                Finding::bare("src/a.rs", Some(10), Severity::Error, "first"),
                Finding::bare("src/a.rs", Some(14), Severity::Error, "last"),
            ],
            dropped: vec![],
        }
    );
}

#[test]
fn anchor_moves_near_lines_and_drops_far_ones() {
    let files = [file(
        "src/a.rs",
        ChangeKind::Modified,
        &[(10, 5), (100, 0), (40, 3)],
    )];
    let found = vec![
        Finding::bare("src/a.rs", Some(24), Severity::Error, "ten after"),
        Finding::bare("src/a.rs", Some(1), Severity::Error, "nine before"),
        Finding::bare(
            "src/a.rs",
            Some(30),
            Severity::Error,
            "ten before the second",
        ),
        Finding::bare("src/a.rs", Some(25), Severity::Error, "eleven after"),
        Finding::bare("src/a.rs", Some(100), Severity::Error, "pure deletion hunk"),
    ];
    let anchored = anchor(found, &files);
    let moved = |line, from, title| Finding {
        moved_from: Some(from),
        ..Finding::bare("src/a.rs", Some(line), Severity::Error, title)
    };
    assert_eq!(
        anchored.kept,
        vec![
            moved(10, 1, "nine before"),
            moved(14, 24, "ten after"),
            moved(40, 30, "ten before the second"),
        ]
    );
    let reasons: Vec<_> = anchored.dropped.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "line 25 is outside the diff of src/a.rs",
            "line 100 is outside the diff of src/a.rs"
        ]
    );
    assert_eq!(anchored.dropped[0].finding.line, Some(25));
}

#[test]
fn anchor_normalises_and_matches_paths() {
    let files = [
        file("src/review/a.rs", ChangeKind::Modified, &[(1, 3)]),
        file("src/x/mod.rs", ChangeKind::Added, &[(1, 3)]),
        file("src/y/mod.rs", ChangeKind::Added, &[(1, 3)]),
    ];
    let found = vec![
        Finding::bare("./src/review/a.rs", Some(1), Severity::Error, "dot"),
        Finding::bare("b/src/review/a.rs", Some(2), Severity::Error, "b prefix"),
        Finding::bare("src\\review\\a.rs", Some(3), Severity::Error, "backslash"),
        Finding::bare("a.rs", None, Severity::Error, "suffix"),
        Finding::bare("mod.rs", None, Severity::Error, "ambiguous"),
        Finding::bare("src/elsewhere.rs", Some(1), Severity::Error, "unknown"),
    ];
    let anchored = anchor(found, &files);
    let kept: Vec<_> = anchored
        .kept
        .iter()
        .map(|f| (f.path.as_str(), f.title.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("src/review/a.rs", "suffix"),
            ("src/review/a.rs", "dot"),
            ("src/review/a.rs", "b prefix"),
            ("src/review/a.rs", "backslash"),
        ]
    );
    let reasons: Vec<_> = anchored.dropped.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "`mod.rs` is not a changed file",
            "`src/elsewhere.rs` is not a changed file"
        ]
    );
}

#[test]
fn anchor_puts_lines_in_files_without_lines_at_file_level() {
    let mut binary = file("logo.png", ChangeKind::Modified, &[]);
    binary.binary = true;
    let mut submodule = file("vendor/lib", ChangeKind::Modified, &[]);
    submodule.submodule = true;
    let files = [binary, submodule, file("old.rs", ChangeKind::Deleted, &[])];
    let found = vec![
        Finding::bare("old.rs", Some(5), Severity::Error, "gone"),
        Finding::bare("logo.png", Some(1), Severity::Note, "big"),
        Finding::bare("vendor/lib", None, Severity::Warning, "bump"),
    ];
    let at_file = |path, from, severity, title| Finding {
        moved_from: from,
        ..Finding::bare(path, None, severity, title)
    };
    assert_eq!(
        anchor(found, &files).kept,
        vec![
            at_file("logo.png", Some(1), Severity::Note, "big"),
            at_file("old.rs", Some(5), Severity::Error, "gone"),
            at_file("vendor/lib", None, Severity::Warning, "bump"),
        ]
    );
}

#[test]
fn anchor_dedupes_and_sorts() {
    let files = [
        file("b.rs", ChangeKind::Modified, &[(1, 20)]),
        file("a.rs", ChangeKind::Added, &[(1, 20)]),
    ];
    let found = vec![
        Finding::bare("b.rs", Some(5), Severity::Note, "n"),
        Finding::bare("b.rs", Some(5), Severity::Error, "e"),
        Finding::bare("a.rs", Some(9), Severity::Warning, "w"),
        Finding::bare("./b.rs", Some(5), Severity::Error, "e"),
        Finding::bare("b.rs", Some(2), Severity::Warning, "w"),
        Finding::bare("b.rs", None, Severity::Note, "f"),
    ];
    assert_eq!(
        anchor(found, &files).kept,
        vec![
            Finding::bare("a.rs", Some(9), Severity::Warning, "w"),
            Finding::bare("b.rs", None, Severity::Note, "f"),
            Finding::bare("b.rs", Some(2), Severity::Warning, "w"),
            Finding::bare("b.rs", Some(5), Severity::Error, "e"),
            Finding::bare("b.rs", Some(5), Severity::Note, "n"),
        ]
    );
}

#[test]
fn findings_round_trip_through_serde() {
    let f = Finding {
        moved_from: Some(3),
        ..Finding::bare("a.rs", Some(4), Severity::Warning, "t")
    };
    let value = serde_json::to_value(&f).unwrap();
    assert_eq!(
        value,
        json!({"path": "a.rs", "line": 4, "severity": "warning", "title": "t",
               "detail": "", "moved_from": 3})
    );
    assert_eq!(serde_json::from_value::<Finding>(value).unwrap(), f);
}
