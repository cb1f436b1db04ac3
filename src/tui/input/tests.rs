//! Tests of the input module.
use super::*;
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use InputAction::{Changed, Complete, HistoryNext, HistoryPrev, Ignored, Moved, Submit};
use KeyCode::{Backspace, Char, Delete, Down, End, Enter, Home, Left, Right, Tab, Up};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::CONTROL)
}

fn alt(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::ALT)
}

fn shift(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::SHIFT)
}

/// An editor holding `text` with the cursor where the '|' is.
fn at(text: &str) -> Input {
    let mut input = Input::new();
    let (before, after) = text.split_once('|').unwrap_or((text, ""));
    input.set_text(&format!("{before}{after}"));
    (input.row, input.col) = input.unflat(before.chars().count());
    input
}

/// The text with a '|' where the cursor is.
fn shown(input: &Input) -> String {
    let mut lines = input.lines.clone();
    let line = &mut lines[input.row];
    line.insert(byte_index(line, input.col), '|');
    lines.join("\n")
}

/// Runs each case's keys on its start text and compares every case's final text and last
/// action with the expected ones at once.
fn check(cases: &[(&str, &[KeyEvent], &str, InputAction)]) {
    let mut actual = Vec::new();
    let mut expected = Vec::new();
    for (start, keys, text, action) in cases {
        let mut input = at(start);
        let last = keys.iter().map(|k| input.handle_key(*k)).last();
        actual.push((*start, shown(&input), last));
        expected.push((*start, text.to_string(), Some(*action)));
    }
    assert_eq!(actual, expected);
}

#[test]
fn typing_and_unbound_keys() {
    let release = KeyEvent::new_with_kind(Char('x'), KeyModifiers::NONE, KeyEventKind::Release);
    let altgr = KeyEvent::new(Char('@'), KeyModifiers::CONTROL | KeyModifiers::ALT);
    check(&[
        ("h|llo", &[shift(Char('E'))], "hE|llo", Changed),
        ("né|", &[key(Char('日'))], "né日|", Changed),
        ("ab|", &[ctrl(Char('x'))], "ab|", Ignored),
        ("ab|", &[alt(Char('x'))], "ab|", Ignored),
        ("ab|", &[release], "ab|", Ignored),
        ("|", &[altgr], "@|", Changed),
        ("@sr|", &[key(Tab)], "@sr|", Complete),
    ]);
}

#[test]
fn enter_submits_and_its_variants_break_the_line() {
    check(&[
        ("hi|", &[key(Enter)], "hi|", Submit),
        ("ab|cd", &[shift(Enter)], "ab\n|cd", Changed),
        ("ab|cd", &[alt(Enter)], "ab\n|cd", Changed),
        ("ab|cd", &[ctrl(Char('j'))], "ab\n|cd", Changed),
        ("one\\|", &[key(Enter)], "one\n|", Changed),
        ("a\\|b", &[key(Enter)], "a\n|b", Changed),
    ]);
}

#[test]
fn deletions_join_lines_and_respect_characters() {
    check(&[
        ("ab\n|cd", &[key(Backspace)], "ab|cd", Changed),
        ("ab|\ncd", &[key(Delete)], "ab|cd", Changed),
        ("|ab", &[key(Backspace)], "|ab", Ignored),
        ("ab|", &[key(Delete)], "ab|", Ignored),
        ("né日|x", &[key(Backspace)], "né|x", Changed),
        ("n|éx", &[key(Delete)], "n|x", Changed),
        ("ls src/a.rs  |", &[ctrl(Char('w'))], "ls |", Changed),
        ("ls |", &[alt(Backspace)], "|", Changed),
        ("one two\n|three", &[ctrl(Char('w'))], "one |three", Changed),
        ("|x", &[ctrl(Char('w'))], "|x", Ignored),
        ("ab\n|c", &[ctrl(Char('h'))], "ab|c", Changed),
        ("ab\ncd|ef", &[ctrl(Char('u'))], "ab\n|ef", Changed),
        ("ab\n|ef", &[ctrl(Char('u'))], "ab|ef", Changed),
        ("ab|ef", &[ctrl(Char('k'))], "ab|", Changed),
        ("ab|\ncd", &[ctrl(Char('k'))], "ab|cd", Changed),
    ]);
}

#[test]
fn cursor_moves() {
    check(&[
        ("ab\n|cd", &[key(Left)], "ab|\ncd", Moved),
        ("ab|\ncd", &[key(Right)], "ab\n|cd", Moved),
        ("ab|", &[key(Right)], "ab|", Ignored),
        ("|ab", &[key(Left)], "|ab", Ignored),
        ("ab\nc|d", &[key(End)], "ab\ncd|", Moved),
        ("ab\nc|d", &[key(Home)], "ab\n|cd", Moved),
        ("ab\nc|d", &[ctrl(Char('e'))], "ab\ncd|", Moved),
        ("ab\nc|d", &[ctrl(Char('a'))], "ab\n|cd", Moved),
        ("let x = foo.bar|", &[ctrl(Left)], "let x = |foo.bar", Moved),
        (
            "let x = |foo.bar",
            &[alt(Char('b'))],
            "let x |= foo.bar",
            Moved,
        ),
        ("let x |= foo.bar", &[alt(Left)], "let |x = foo.bar", Moved),
        (
            "let |x = foo.bar",
            &[alt(Char('f'))],
            "let x| = foo.bar",
            Moved,
        ),
        (
            "let x| = foo.bar",
            &[ctrl(Right), alt(Right)],
            "let x = foo.bar|",
            Moved,
        ),
        ("one\n|two", &[ctrl(Left)], "|one\ntwo", Moved),
        ("one|\ntwo", &[ctrl(Right)], "one\ntwo|", Moved),
    ]);
}

#[test]
fn up_and_down_keep_the_column_and_hand_the_ends_to_history() {
    check(&[
        (
            "long line\nab\nlonger|",
            &[key(Up)],
            "long line\nab|\nlonger",
            Moved,
        ),
        (
            "long line\nab\nlonger|",
            &[key(Up), key(Up)],
            "lo|ng line\nab\nlonger",
            Moved,
        ),
        ("lo|ng line\nab", &[key(Up)], "lo|ng line\nab", HistoryPrev),
        (
            "lo|ng line\nab\nlonger",
            &[key(Down), key(Down)],
            "long line\nab\nlo|nger",
            Moved,
        ),
        ("ab\nlo|nger", &[key(Down)], "ab\nlo|nger", HistoryNext),
        ("o|ne", &[key(Up)], "o|ne", HistoryPrev),
    ]);
}

#[test]
fn paste_is_normalized_and_take_clears() {
    let mut input = at("<|>");
    input.insert_str("a\r\nb\rc\n\td\u{7}e\u{1b}");
    assert_eq!(shown(&input), "<a\nb\nc\n    de|>");
    assert_eq!(input.line_count(), 4);
    input.set_text("x\ny");
    assert_eq!(shown(&input), "x\ny|");
    assert_eq!(input.take(), "x\ny");
    assert!(input.is_empty());
    input.insert_str("\n");
    assert!(!input.is_empty());
}

fn rendered(text: &str, width: usize) -> (Vec<String>, (u16, u16)) {
    let (lines, cursor) = at(text).render(width, &[Span::raw("> ")]);
    (lines.iter().map(|l| l.to_string()).collect(), cursor)
}

fn screen(lines: &[&str], cursor: (u16, u16)) -> (Vec<String>, (u16, u16)) {
    (lines.iter().map(|s| s.to_string()).collect(), cursor)
}

#[test]
fn renders_hard_wrapped_with_prompt_padding_and_cursor() {
    let actual = vec![
        rendered("hello world, this\nnext|", 10),
        rendered("hello wo|rld", 10),
        rendered("|", 10),
        rendered("日本|語x", 7),
        rendered("日本語x|", 7),
        // A cursor at the end of a full row starts the next one, which is there even
        // when the cursor is elsewhere so the box keeps its height.
        rendered("abcdefgh|", 10),
        rendered("abcdefg|h", 10),
    ];
    let expected = vec![
        screen(&["> hello wo", "  rld, thi", "  s", "  next"], (6, 3)),
        screen(&["> hello wo", "  rld"], (2, 1)),
        screen(&["> "], (2, 0)),
        screen(&["> 日本", "  語x"], (2, 1)),
        screen(&["> 日本", "  語x"], (5, 1)),
        screen(&["> abcdefgh", "  "], (2, 1)),
        screen(&["> abcdefgh", "  "], (9, 0)),
    ];
    assert_eq!(actual, expected);
}

#[test]
fn completion_query_only_right_after_an_at_word() {
    let cases = [
        ("@src/ma|", Some("src/ma")),
        ("see @|", Some("")),
        ("a\n  @x| b", Some("x")),
        ("@a@b|", Some("a@b")),
        ("mail a@b|", None),
        ("plain|", None),
        ("@sr|c", None),
        ("@x |", None),
    ];
    let actual: Vec<_> = cases
        .iter()
        .map(|(t, _)| (*t, at(t).completion_query()))
        .collect();
    let expected: Vec<_> = cases
        .iter()
        .map(|(t, q)| (*t, q.map(String::from)))
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn apply_completion_spaces_after_files_and_keeps_directories_open() {
    let cases = [
        ("look at @ma|", "src/main.rs", "look at @src/main.rs |"),
        ("@ma| please", "main.rs", "@main.rs |please"),
        ("@s|", "src/", "@src/|"),
        ("@src/|", "src/tui/", "@src/tui/|"),
        ("a@b|", "x.rs", "a@b|"),
    ];
    let complete = |text: &str, path: &str| {
        let mut input = at(text);
        input.apply_completion(path);
        shown(&input)
    };
    let actual: Vec<String> = cases.iter().map(|(t, p, _)| complete(t, p)).collect();
    let expected: Vec<&str> = cases.iter().map(|(_, _, e)| *e).collect();
    assert_eq!(actual, expected);
}

#[derive(Clone, Debug)]
enum Op {
    Key(KeyEvent),
    Paste(String),
    Complete(String),
}

fn op() -> impl Strategy<Value = Op> {
    let code = prop_oneof![
        any::<char>().prop_map(Char),
        prop::sample::select(vec!['a', ' ', '\\', '@', '/', '日', 'é', '\u{301}']).prop_map(Char),
        prop::sample::select(vec![
            Enter, Backspace, Delete, Left, Right, Up, Down, Home, End, Tab
        ]),
    ];
    let modifiers = prop::sample::select(vec![
        KeyModifiers::NONE,
        KeyModifiers::SHIFT,
        KeyModifiers::CONTROL,
        KeyModifiers::ALT,
        KeyModifiers::CONTROL | KeyModifiers::ALT,
    ]);
    prop_oneof![
        6 => (code, modifiers).prop_map(|(c, m)| Op::Key(KeyEvent::new(c, m))),
        1 => "(\\PC|[\r\n\t])*".prop_map(Op::Paste),
        1 => "[a-z/]{0,6}".prop_map(Op::Complete),
    ]
}

proptest! {
    #[test]
    fn random_edits_keep_the_cursor_in_the_buffer(
        ops in prop::collection::vec(op(), 0..60),
        width in 4usize..40,
    ) {
        let mut input = Input::new();
        for op in ops {
            match op {
                Op::Key(k) => { input.handle_key(k); }
                Op::Paste(text) => input.insert_str(&text),
                Op::Complete(path) => input.apply_completion(&path),
            }
            prop_assert!(!input.lines.is_empty());
            prop_assert!(input.row < input.lines.len());
            prop_assert!(input.col <= input.line_len(input.row));
            prop_assert!(input.lines.iter().all(|l| !l.chars().any(char::is_control)));
            let (lines, (x, y)) = input.render(width, &[Span::raw("> ")]);
            prop_assert!(usize::from(y) < lines.len());
            prop_assert!(usize::from(x) < width);
            prop_assert!(lines.iter().all(|l| wrap::line_width(l) <= width));
        }
    }
}
