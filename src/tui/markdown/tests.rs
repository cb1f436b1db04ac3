//! Tests of the markdown module.
use super::*;
use ratatui::style::Color;

fn texts(md: &str, width: usize) -> Vec<String> {
    render(md, width).iter().map(|l| l.to_string()).collect()
}

/// The style of the first span whose text is exactly `word`.
fn style_of(lines: &[Line<'_>], word: &str) -> Style {
    let mut spans = lines.iter().flat_map(|l| l.spans.iter());
    let span = spans.find(|s| s.content == word);
    span.map(|s| s.style)
        .unwrap_or_else(|| panic!("no span {word:?} in {lines:?}"))
}

#[test]
fn renders_each_kind_of_block() {
    // (what, markdown, width, the lines expected, joined by newlines)
    #[rustfmt::skip]
    let cases = [
        ("paragraphs wrap, one blank line between", "The quick brown fox jumps over the lazy dog.\n\nsoft\nbreak, hard  \nbreak", 20,
         "The quick brown fox\njumps over the lazy\ndog.\n\nsoft break, hard\nbreak"),
        ("no blank line at the start or the end", "\n\n# h\n\n\n", 10, "h"),
        ("nothing for nothing", "", 10, ""),
        ("an empty block at the end adds no blank", "a\n\n- b\n\n```\n```\n", 10, "a\n\n• b"),
        ("headings without hashes", "# Title\n\ntext\n\n## Sub", 20, "Title\n\ntext\n\nSub"),
        ("inline markup is not shown", "a *it* **bold** ~~gone~~ ***both*** `code`", 80, "a it bold gone both code"),
        ("links show their url unless it is their text", "[docs](https://a.b) and <https://c.d> ![logo](x.png)", 80,
         "docs (https://a.b) and https://c.d logo"),
        ("nested lists hang their wrapped lines", "- one two three four\n  - nested item here\n- five", 12,
         "• one two\n  three four\n  ◦ nested\n    item\n    here\n• five"),
        ("a blank line around a tight list, none inside", "para\n- a\n- b\n\nafter", 20, "para\n\n• a\n• b\n\nafter"),
        ("loose lists keep their gaps", "- a\n\n- b", 20, "• a\n\n• b"),
        ("ordered lists count from their start", "3. a\n1. b\n   1. c", 20, "3. a\n4. b\n   1. c"),
        ("task items hang after the checkbox", "- [x] done\n- [ ] to do later", 12, "• [x] done\n• [ ] to do\n      later"),
        ("code blocks are indented", "```rust\nfn main() {}\n```\n\n    indented\n\n```\nplain\n```", 40,
         "  fn main() {}\n\n  indented\n\n  plain"),
        ("long code lines wrap inside the indent", "```\nabcdefghij\n```", 8, "  abcdef\n  ghij"),
        ("a code block in a list item", "- a\n  ```\n  x\n  ```\n- b", 20, "• a\n    x\n\n• b"),
        ("an unterminated fence is code", "text\n\n```python\ndef f():\n    return", 40, "text\n\n  def f():\n      return"),
        ("quotes bar every line", "> quoted text that wraps\n>\n> > nested\n\nafter", 14,
         "│ quoted text\n│ that wraps\n│\n│ │ nested\n\nafter"),
        ("tables pad their columns", "| a | bb |\n|---|--:|\n| ccc | d |", 20, "a   │ bb\n────┼───\nccc │  d"),
        ("tables too wide wrap their rows", "| alpha | beta |\n|---|---|\n| gamma delta | epsilon |", 12,
         "alpha │ beta\n────────────\ngamma delta\n│ epsilon"),
        ("rules span the width", "a\n\n---\n\nb", 5, "a\n\n─────\n\nb"),
        ("html is plain text", "<div>\nhi\n</div>\n\na <b>c</b>", 20, "<div>\nhi\n</div>\n\na <b>c</b>"),
        ("control characters are dropped", "a\u{1b}[2Jb", 20, "a[2Jb"),
    ];
    for (what, md, width, want) in cases {
        let want: Vec<&str> = want.split('\n').filter(|_| !want.is_empty()).collect();
        assert_eq!(texts(md, width), want, "{what}");
    }
}

#[test]
fn headings_are_accented_and_bold() {
    let lines = render("# Title\n\n## Sub", 20);
    let h2 = theme::accent().add_modifier(Modifier::BOLD);
    let h1 = h2.add_modifier(Modifier::UNDERLINED);
    assert_eq!(style_of(&lines, "Title"), h1);
    assert_eq!(style_of(&lines, "Sub"), h2);
}

#[test]
fn inline_styles_combine() {
    let lines = render("a *it* **bold** ~~gone~~ ***both*** `code` [l](u)", 80);
    let m = |m| Style::default().add_modifier(m);
    assert_eq!(style_of(&lines, "it"), m(Modifier::ITALIC));
    assert_eq!(style_of(&lines, "bold"), m(Modifier::BOLD));
    assert_eq!(style_of(&lines, "gone"), m(Modifier::CROSSED_OUT));
    let both = m(Modifier::ITALIC | Modifier::BOLD);
    assert_eq!(style_of(&lines, "both"), both);
    assert_eq!(style_of(&lines, "code"), theme::code());
    assert_eq!(style_of(&lines, "l"), m(Modifier::UNDERLINED));
    assert_eq!(style_of(&lines, " (u)"), theme::dim());
}

#[test]
fn code_is_highlighted_by_its_language() {
    let lines = render(
        "```rust\nfn main() {}\n```\n\n    indented\n\n```\nplain\n```",
        40,
    );
    assert_eq!(style_of(&lines, "fn").fg, Some(Color::Magenta));
    assert_eq!(style_of(&lines, "indented"), theme::code());
    assert_eq!(style_of(&lines, "plain"), theme::code());
}

#[test]
fn table_headers_are_bold() {
    let lines = render("| a | bb |\n|---|--:|\n| ccc | d |", 20);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    assert_eq!(style_of(&lines, "bb"), bold);
    assert_eq!(style_of(&lines, "ccc"), Style::default());
}

#[test]
fn tiny_widths_do_not_panic() {
    let md = "> - [x] **a** `b`\n\n| a | b |\n|-|-|\n| c | d |\n\n```\ncode\n```\n---";
    for width in 0..4 {
        render(md, width);
    }
}

/// Pieces of real Markdown, so that random documents nest lists, quotes, tables and
/// highlighted code far more often than random characters would.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "# ", "- ", "1. ", "> ", "- [x] ", "```rust\n", "```ts\n", "```\n", "| a | b |\n",
    "|---|:-:|\n", "**", "_", "`", "~~", "[x](http://y)", "\n", "\n\n", "  ", "\t",
    "word ", "日本語 ", "fn main() { ", "---\n", "<div>", "    ", "\\\n",
];

fn markdown() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::strategy::Strategy;
    let pieces = proptest::collection::vec(proptest::sample::select(PIECES), 0..60);
    proptest::prop_oneof![
        "\\PC{0,200}",
        "[a-z 日#*`\\-\\n>|\\[\\]()0-9.~_!:]{0,200}",
        pieces.prop_map(|p| p.concat()),
    ]
}

proptest::proptest! {
    #[test]
    fn never_panics_nor_overflows(md in markdown(), width in 4usize..100) {
        for line in render(&md, width) {
            proptest::prop_assert!(wrap::line_width(&line) <= width, "{line:?}");
        }
    }
}
