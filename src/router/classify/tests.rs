use pretty_assertions::assert_eq;

use super::*;

/// The longest text the grammar allows, built from its own pieces.
fn longest_answer() -> String {
    format!(
        r#"{{"lane": "direct", "confidence": 0.99, "reason": "{}"}}"#,
        "x".repeat(REASON_MAX_CHARS)
    )
}

#[test]
fn the_longest_answer_fits_in_max_tokens() {
    // Every token adds at least one byte, and the end-of-generation token must still fit.
    assert!(longest_answer().len() < MAX_TOKENS as usize);
    assert!(parse(&longest_answer()).is_ok());
}

#[test]
fn the_grammar_bounds_the_reason_by_the_constant() {
    let Grammar::Gbnf { text, root } = grammar() else {
        panic!("the classifier's grammar is GBNF");
    };
    assert_eq!(root, "root");
    assert!(text.contains(&format!("{{0,{REASON_MAX_CHARS}}}")));
}

#[test]
fn every_example_in_the_instructions_is_an_answer_the_grammar_writes() {
    let lines: Vec<&str> = INSTRUCTIONS.lines().collect();
    let examples: Vec<&str> = lines
        .windows(2)
        .filter(|pair| pair[0].starts_with("Request: "))
        .map(|pair| pair[1])
        .collect();
    assert!(examples.len() >= 6, "{examples:?}");
    for example in examples {
        let answer = parse(example).unwrap();
        let written = format!(
            r#"{{"lane": "{}", "confidence": {}, "reason": "{}"}}"#,
            answer.lane, answer.confidence, answer.reason
        );
        assert_eq!(written, example);
        assert!(answer.reason.len() <= REASON_MAX_CHARS);
    }
}

#[test]
fn an_answer_cut_off_is_unreadable() {
    let text = r#"{"lane": "small", "confidence": 0.5, "reason": "one fi"#;
    assert!(matches!(
        parse(text),
        Err(ClassifyError::Unreadable(t)) if t == text
    ));
}

#[test]
fn the_user_turn_names_a_new_session_when_there_is_no_summary() {
    assert_eq!(
        user_message(" run the tests\n", "  "),
        "Session: new session\nRequest: run the tests"
    );
    assert_eq!(
        user_message("undo that", "last task: fix parser\nfiles: src/parse.rs"),
        "Session: last task: fix parser\nfiles: src/parse.rs\nRequest: undo that"
    );
}
