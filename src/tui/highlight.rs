//! Syntax highlighting for code blocks in the model's Markdown and for diffs. tree-sitter
//! parses what the model wrote (also half-written code while it still streams) and the
//! grammars' own highlight queries name each token; this module maps those names onto the
//! ANSI palette, so code reads the same on light and dark terminals. Anything it cannot
//! highlight comes back as plain lines in [`theme::code`], never as an error.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use tree_sitter_highlight::{HighlightConfiguration, HighlightEvent, Highlighter};

use super::theme;

/// Tabs become this many spaces: a terminal's own tab stops would not line up with the
/// cell widths the wrapper counts.
const TAB: &str = "    ";

/// tree-sitter's error recovery can take minutes on some garbled input (TypeScript's grammar
/// on a hundred bytes of stray brackets and quotes, found by the proptest below); past this
/// budget a block is shown plain rather than freezing the screen on every streamed token.
const BUDGET: Duration = Duration::from_millis(100);

/// The capture names this module colors, in the order `configure` numbers them. Captures the
/// queries use that are not here (variable, property, punctuation, operator …) stay in the
/// terminal's default color, which keeps code calm enough to read.
const CAPTURES: [&str; 20] = [
    "attribute",
    "comment",
    "constant",
    "constant.builtin",
    "constructor",
    "escape",
    "function",
    "function.builtin",
    "function.macro",
    "function.method",
    "keyword",
    "label",
    "module",
    "number",
    "string",
    "string.special",
    "tag",
    "type",
    "type.builtin",
    "variable.builtin",
];

fn capture_style(name: &str) -> Style {
    let fg = |color| Style::default().fg(color);
    match name {
        "keyword" => fg(Color::Magenta),
        "variable.builtin" => fg(Color::Magenta).add_modifier(Modifier::ITALIC),
        "string" | "string.special" => fg(Color::Green),
        "escape" => fg(Color::Cyan),
        "comment" => Style::default().add_modifier(Modifier::DIM | Modifier::ITALIC),
        "function" | "function.builtin" | "function.macro" | "function.method" | "tag" => {
            fg(Color::Blue)
        }
        "type" | "type.builtin" | "constructor" | "module" => fg(Color::Cyan),
        "constant" | "constant.builtin" | "number" | "attribute" => fg(Color::Yellow),
        "label" => fg(Color::Yellow).add_modifier(Modifier::ITALIC),
        _ => Style::default(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
}

impl Language {
    /// Accepts fence info strings ("rust", "rust,ignore", "{.python}", "ts title=x") and file
    /// extensions alike.
    fn parse(lang: &str) -> Option<Language> {
        let word = lang
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}'))
            .find(|w| !w.is_empty())?
            .trim_start_matches('.')
            .to_ascii_lowercase();
        Some(match word.as_str() {
            "rust" | "rs" => Language::Rust,
            "python" | "py" | "python3" | "py3" | "pyi" => Language::Python,
            "javascript" | "js" | "jsx" | "mjs" | "cjs" | "node" => Language::JavaScript,
            "typescript" | "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" | "golang" => Language::Go,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
        }
    }

    /// Compiling a highlight query takes milliseconds, far too long for every redraw of a
    /// streaming reply, so each language's configuration is built once; a failure is
    /// remembered too, and that language is shown plain.
    fn config(self) -> Option<&'static HighlightConfiguration> {
        static RUST: OnceLock<Option<HighlightConfiguration>> = OnceLock::new();
        static PYTHON: OnceLock<Option<HighlightConfiguration>> = OnceLock::new();
        static JAVASCRIPT: OnceLock<Option<HighlightConfiguration>> = OnceLock::new();
        static TYPESCRIPT: OnceLock<Option<HighlightConfiguration>> = OnceLock::new();
        static TSX: OnceLock<Option<HighlightConfiguration>> = OnceLock::new();
        static GO: OnceLock<Option<HighlightConfiguration>> = OnceLock::new();
        let cell = match self {
            Language::Rust => &RUST,
            Language::Python => &PYTHON,
            Language::JavaScript => &JAVASCRIPT,
            Language::TypeScript => &TYPESCRIPT,
            Language::Tsx => &TSX,
            Language::Go => &GO,
        };
        cell.get_or_init(|| self.build()).as_ref()
    }

    fn build(self) -> Option<HighlightConfiguration> {
        use tree_sitter_javascript as js;
        use tree_sitter_typescript as ts;
        // tree-sitter-highlight lets a later pattern override an earlier one for the same
        // node, so the base JavaScript queries go first and TypeScript's additions after them
        // (the order nvim and helix use for their "inherits").
        let (language, highlights, locals) = match self {
            Language::Rust => (
                tree_sitter_rust::LANGUAGE,
                tree_sitter_rust::HIGHLIGHTS_QUERY.to_string(),
                String::new(),
            ),
            Language::Python => (
                tree_sitter_python::LANGUAGE,
                tree_sitter_python::HIGHLIGHTS_QUERY.to_string(),
                String::new(),
            ),
            Language::JavaScript => (
                js::LANGUAGE,
                [js::HIGHLIGHT_QUERY, js::JSX_HIGHLIGHT_QUERY].join("\n"),
                js::LOCALS_QUERY.to_string(),
            ),
            Language::TypeScript => (
                ts::LANGUAGE_TYPESCRIPT,
                [js::HIGHLIGHT_QUERY, ts::HIGHLIGHTS_QUERY].join("\n"),
                [js::LOCALS_QUERY, ts::LOCALS_QUERY].join("\n"),
            ),
            Language::Tsx => (
                ts::LANGUAGE_TSX,
                [
                    js::HIGHLIGHT_QUERY,
                    js::JSX_HIGHLIGHT_QUERY,
                    ts::HIGHLIGHTS_QUERY,
                ]
                .join("\n"),
                [js::LOCALS_QUERY, ts::LOCALS_QUERY].join("\n"),
            ),
            Language::Go => (
                tree_sitter_go::LANGUAGE,
                tree_sitter_go::HIGHLIGHTS_QUERY.to_string(),
                String::new(),
            ),
        };
        let mut config =
            HighlightConfiguration::new(language.into(), self.name(), &highlights, "", &locals)
                .ok()?;
        config.configure(&CAPTURES);
        Some(config)
    }
}

/// Syntax-highlights `code` written in `lang` (a Markdown fence info string or a file
/// extension: rust/rs, python/py, javascript/js/jsx/mjs/cjs, typescript/ts, tsx, go;
/// case-insensitive; only the first word of the info string counts) with
/// tree-sitter-highlight. One Line per source line, not wrapped; tabs expanded to 4 spaces;
/// no trailing "\n" line. Unknown language, or any highlighter error: plain lines in
/// [`theme::code`].
pub fn highlight(code: &str, lang: &str) -> Vec<Line<'static>> {
    let code = clean(code);
    Language::parse(lang)
        .and_then(Language::config)
        .and_then(|config| highlighted(&code, config))
        .unwrap_or_else(|| plain(&code))
}

/// The language of a file path by its extension, as accepted by [`highlight`] (for diffs):
/// "src/a.rs" -> Some("rust").
pub fn language_for_path(path: &str) -> Option<&'static str> {
    let ext = std::path::Path::new(path).extension()?.to_str()?;
    Language::parse(ext).map(Language::name)
}

/// Tabs expanded, carriage returns and other control characters dropped: they would move the
/// terminal's cursor behind ratatui's back.
fn clean(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for c in code.chars() {
        match c {
            '\t' => out.push_str(TAB),
            '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn plain(code: &str) -> Vec<Line<'static>> {
    code.lines()
        .map(|l| Line::from(Span::styled(l.to_string(), theme::code())))
        .collect()
}

/// `None` on any highlighter error, so the caller falls back to plain lines.
fn highlighted(code: &str, config: &HighlightConfiguration) -> Option<Vec<Line<'static>>> {
    let started = Instant::now();
    // A fresh highlighter each time: a parser stopped by its timeout would otherwise resume
    // the old parse on the next call.
    let mut highlighter = Highlighter::new();
    // The timeout is deprecated in favour of a progress callback, but tree-sitter-highlight
    // runs its parse with a callback that only reads a cancellation flag, so a deadline would
    // need a watchdog thread per call; tree-sitter 0.25 still honours the timeout.
    #[allow(deprecated)]
    highlighter
        .parser()
        .set_timeout_micros(u64::try_from(BUDGET.as_micros()).unwrap_or(u64::MAX));
    let events = highlighter
        .highlight(config, code.as_bytes(), None, |_| None)
        .ok()?;
    let mut lines: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut styles: Vec<Style> = Vec::new();
    for (i, event) in events.enumerate() {
        // Matching the queries against a large tree full of errors can be slow as well.
        if i % 256 == 255 && started.elapsed() > 2 * BUDGET {
            return None;
        }
        match event.ok()? {
            HighlightEvent::HighlightStart(h) => {
                let style = CAPTURES
                    .get(h.0)
                    .map_or_else(Style::default, |n| capture_style(n));
                styles.push(style);
            }
            HighlightEvent::HighlightEnd => {
                styles.pop();
            }
            HighlightEvent::Source { start, end } => {
                let style = styles.iter().fold(Style::default(), |acc, s| acc.patch(*s));
                let text = code.get(start..end)?;
                for (i, piece) in text.split('\n').enumerate() {
                    if i > 0 {
                        lines.push(Vec::new());
                    }
                    if !piece.is_empty() {
                        let spans = lines.last_mut()?;
                        match spans.last_mut() {
                            Some(last) if last.style == style => {
                                last.content.to_mut().push_str(piece)
                            }
                            _ => spans.push(Span::styled(piece.to_string(), style)),
                        }
                    }
                }
            }
        }
    }
    // Like `str::lines`: a final newline ends the last line rather than starting one.
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    Some(lines.into_iter().map(Line::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    /// The style of the first span whose text is exactly `word`.
    fn style_of(lines: &[Line<'_>], word: &str) -> Option<Style> {
        lines
            .iter()
            .flat_map(|l| l.spans.iter())
            .find(|s| s.content.trim() == word)
            .map(|s| s.style)
    }

    #[test]
    fn every_language_configuration_builds() {
        for lang in [
            Language::Rust,
            Language::Python,
            Language::JavaScript,
            Language::TypeScript,
            Language::Tsx,
            Language::Go,
        ] {
            assert!(lang.config().is_some(), "{lang:?} did not build");
        }
    }

    #[test]
    fn rust_keywords_strings_and_comments_get_styles() {
        let lines = highlight("fn main() {\n    // hi\n    let s = \"x\";\n}\n", "rust");
        assert_eq!(
            texts(&lines),
            vec!["fn main() {", "    // hi", "    let s = \"x\";", "}"]
        );
        assert_eq!(style_of(&lines, "fn"), Some(capture_style("keyword")));
        assert_eq!(style_of(&lines, "main"), Some(capture_style("function")));
        assert_eq!(style_of(&lines, "// hi"), Some(capture_style("comment")));
        assert_eq!(style_of(&lines, "\"x\""), Some(capture_style("string")));
        assert_eq!(style_of(&lines, "}"), Some(Style::default()));
    }

    #[test]
    fn each_language_colors_its_keywords() {
        let cases = [
            ("def f():\n    return 1\n", "py", "def"),
            ("const x = () => 1;\n", "javascript", "const"),
            ("interface A { b: string }\n", "ts", "interface"),
            ("const a = <div>{x}</div>;\n", "tsx", "const"),
            ("package main\nfunc f() {}\n", "go", "func"),
        ];
        for (code, lang, keyword) in cases {
            let lines = highlight(code, lang);
            assert_eq!(
                style_of(&lines, keyword),
                Some(capture_style("keyword")),
                "{lang}: {lines:?}"
            );
        }
    }

    #[test]
    fn typescript_types_come_from_the_typescript_query() {
        let lines = highlight("let n: number = 1;\n", "typescript");
        assert_eq!(
            style_of(&lines, "number"),
            Some(capture_style("type.builtin"))
        );
        assert_eq!(style_of(&lines, "let"), Some(capture_style("keyword")));
    }

    #[test]
    fn unknown_language_is_plain_code() {
        let lines = highlight("a b\nc\n", "cobol");
        assert_eq!(
            lines,
            vec![
                Line::from(Span::styled("a b", theme::code())),
                Line::from(Span::styled("c", theme::code())),
            ]
        );
        assert_eq!(
            highlight("x", ""),
            vec![Line::from(Span::styled("x", theme::code()))]
        );
    }

    #[test]
    fn info_string_takes_its_first_word_case_insensitively() {
        for lang in ["Rust", "rust,ignore", "RS extra words", "{.rust}"] {
            let lines = highlight("fn f() {}", lang);
            assert_eq!(
                style_of(&lines, "fn"),
                Some(capture_style("keyword")),
                "{lang}"
            );
        }
    }

    #[test]
    fn tabs_expand_and_there_is_no_trailing_empty_line() {
        let lines = highlight("if x {\n\treturn\n}\n\n", "go");
        assert_eq!(texts(&lines), vec!["if x {", "    return", "}", ""]);
        assert!(highlight("", "rust").is_empty());
        assert_eq!(texts(&highlight("a\r\nb\r\n", "py")), vec!["a", "b"]);
    }

    #[test]
    fn unfinished_code_still_highlights() {
        let lines = highlight("fn main() {\n    let s = \"unterminated", "rust");
        assert_eq!(
            texts(&lines),
            vec!["fn main() {", "    let s = \"unterminated"]
        );
        assert_eq!(style_of(&lines, "fn"), Some(capture_style("keyword")));
    }

    #[test]
    fn garbled_typescript_that_stalls_the_parser_comes_back_plain_and_quickly() {
        let code = "/`'{ ]/([.<.'m=[\n) ([y`s}}./`]/*[\"a]v\"}=eu\"    [ y::<][[l[<<c:    \
                    \"[\"=/\n/[    kb}/}    \"[]} <>\"}<[[;\"\n=)p <\"x\"}/:*[/;=q     '//a.";
        for lang in ["ts", "tsx"] {
            let started = Instant::now();
            assert_eq!(highlight(code, lang), plain(code));
            assert!(
                started.elapsed() < 10 * BUDGET,
                "{lang} took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn languages_by_path() {
        let cases = [
            ("src/a.rs", Some("rust")),
            ("x.PY", Some("python")),
            ("web/app.jsx", Some("javascript")),
            ("a.mjs", Some("javascript")),
            ("a.ts", Some("typescript")),
            ("a.tsx", Some("tsx")),
            ("main.go", Some("go")),
            ("README.md", None),
            ("Makefile", None),
            ("rs", None),
        ];
        for (path, want) in cases {
            assert_eq!(language_for_path(path), want, "{path}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_keeps_the_text(
            code in "\\PC{0,120}|[a-z{}()\\[\\]\"'`/*;:<>=.\\n\\t ]{0,120}",
            lang in "rust|python|javascript|typescript|tsx|go|none",
        ) {
            let lines = highlight(&code, &lang);
            let want: Vec<String> = clean(&code).lines().map(str::to_string).collect();
            proptest::prop_assert_eq!(texts(&lines), want);
        }
    }
}
