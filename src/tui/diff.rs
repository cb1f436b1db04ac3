//! Colored unified diffs for the transcript (`DiffProposed`) and the approval panel. The
//! tools produce plain unified diffs (`similar`, see `tools::write::unified_diff`); this
//! module turns one into styled lines with line numbers, because a bare `+`/`-` listing does
//! not say where in the file a change lands. Anything that does not parse as a diff is shown
//! as plain text: the input comes from the model's tools and must never break the screen.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::tui::theme;
use crate::tui::wrap::{wrap_line, wrap_with_prefix};

/// Size of a diff, for summaries ("2 files, +10 −3").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DiffStats {
    /// `---`/`+++` header pairs.
    pub files: usize,
    pub hunks: usize,
    pub added: usize,
    pub removed: usize,
}

/// Counts files, hunks and changed lines of a unified diff.
pub fn stats(diff: &str) -> DiffStats {
    let mut stats = DiffStats::default();
    for item in parse(diff) {
        match item {
            Item::File { .. } => stats.files += 1,
            Item::Hunk(_) => stats.hunks += 1,
            Item::Body {
                kind: Kind::Added, ..
            } => stats.added += 1,
            Item::Body {
                kind: Kind::Removed,
                ..
            } => stats.removed += 1,
            _ => {}
        }
    }
    stats
}

/// Renders a unified diff as lines at most `width` cells wide: one line per file (path and
/// "+A −R"), hunk headers, and body lines behind a gutter of line numbers (the new file's for
/// context and added lines, the old file's for removed lines). Long lines wrap with their
/// content aligned past the gutter; tabs become 4 spaces.
pub fn render(diff: &str, width: usize) -> Vec<Line<'static>> {
    let items = parse(diff);
    let widest = items
        .iter()
        .filter_map(|item| match item {
            Item::Body { number, .. } => Some(*number),
            _ => None,
        })
        .max();
    // Numbers that would leave less than half the width for code are left out.
    let digits = widest.map_or(0, |n| n.to_string().len());
    let gutter = if digits + 2 <= width / 2 {
        Some(digits)
    } else {
        None
    };
    let blank = |cells: usize| vec![Span::raw(" ".repeat(cells))];
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::File {
                path,
                added,
                removed,
            } => {
                let line = Line::from(vec![
                    Span::styled(clean(&path), theme::bold()),
                    Span::raw(" "),
                    Span::styled(format!("+{added} −{removed}"), theme::dim()),
                ]);
                out.extend(wrap_line(&line, width));
            }
            Item::Hunk(header) => out.extend(wrap_line(&styled(&header, theme::hunk()), width)),
            Item::Body {
                kind,
                number,
                content,
            } => {
                let (sign, style) = match kind {
                    Kind::Context => (" ", theme::text()),
                    Kind::Added => ("+", theme::added()),
                    Kind::Removed => ("-", theme::removed()),
                };
                let mut first = Vec::new();
                if let Some(digits) = gutter {
                    first.push(Span::styled(format!("{number:>digits$}"), theme::dim()));
                    first.push(Span::raw(" "));
                }
                first.push(Span::styled(sign, style));
                let rest = blank(gutter.map_or(1, |d| d + 2));
                out.extend(wrap_with_prefix(
                    &styled(&content, style),
                    width,
                    &first,
                    &rest,
                ));
            }
            Item::NoNewline(text) => {
                // In the sign column, under the line it is about.
                let pad = blank(gutter.map_or(0, |d| d + 1));
                let line = styled(&text, theme::dim());
                out.extend(wrap_with_prefix(&line, width, &pad, &pad));
            }
            Item::GitHeader(text) => out.extend(wrap_line(&styled(&text, theme::dim()), width)),
            Item::Plain(text) => out.extend(wrap_line(&styled(&text, theme::text()), width)),
        }
    }
    out
}

/// One parsed line (or `---`/`+++` pair) of a diff.
#[derive(Debug, PartialEq)]
enum Item {
    File {
        path: String,
        added: usize,
        removed: usize,
    },
    Hunk(String),
    Body {
        kind: Kind,
        /// In the new file for context and added lines, in the old file for removed ones.
        number: usize,
        content: String,
    },
    /// `\ No newline at end of file`.
    NoNewline(String),
    /// Git's extended header lines (`new file mode …`, `rename from …`).
    GitHeader(String),
    Plain(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Context,
    Added,
    Removed,
}

/// Position inside a hunk. The counts left decide where the body ends, so a removed line
/// whose text starts with `-- ` is not taken for a file header.
struct Hunk {
    old: usize,
    new: usize,
    old_left: usize,
    new_left: usize,
}

fn parse(diff: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut hunk: Option<Hunk> = None;
    // Index in `items` of the current file header, whose counts the body lines add to.
    let mut file: Option<usize> = None;
    let mut git_header = false;
    let mut lines = diff.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(h) = hunk.as_mut().filter(|h| h.old_left > 0 || h.new_left > 0) {
            if let Some(item) = body_line(h, line) {
                if let (Some(i), Item::Body { kind, .. }) = (file, &item) {
                    if let Some(Item::File { added, removed, .. }) = items.get_mut(i) {
                        match kind {
                            Kind::Added => *added += 1,
                            Kind::Removed => *removed += 1,
                            Kind::Context => {}
                        }
                    }
                }
                items.push(item);
                continue;
            }
            hunk = None;
        }
        let after_body = matches!(items.last(), Some(Item::Body { .. }));
        if line.starts_with('\\') && after_body {
            items.push(Item::NoNewline(line.to_string()));
        } else if line.starts_with("diff --git ") {
            git_header = true;
        } else if let (Some(old), Some(new)) = (
            line.strip_prefix("--- "),
            lines.peek().and_then(|next| next.strip_prefix("+++ ")),
        ) {
            lines.next();
            git_header = false;
            hunk = None;
            file = Some(items.len());
            items.push(Item::File {
                path: file_path(old, new),
                added: 0,
                removed: 0,
            });
        } else if let Some(h) = parse_hunk_header(line) {
            git_header = false;
            hunk = Some(h);
            items.push(Item::Hunk(line.to_string()));
        } else if git_header && line.starts_with("index ") {
            // Blob hashes say nothing to a reader.
        } else if git_header {
            items.push(Item::GitHeader(line.to_string()));
        } else {
            items.push(Item::Plain(line.to_string()));
        }
    }
    items
}

/// One line inside a hunk; `None` when the line cannot belong to a hunk (the diff is cut
/// short or malformed), which ends it.
fn body_line(h: &mut Hunk, line: &str) -> Option<Item> {
    let (kind, number) = match line.chars().next() {
        // Some tools strip the space of an empty context line.
        Some(' ') | None => {
            let number = h.new;
            h.old += 1;
            h.new += 1;
            h.old_left = h.old_left.saturating_sub(1);
            h.new_left = h.new_left.saturating_sub(1);
            (Kind::Context, number)
        }
        Some('-') => {
            h.old += 1;
            h.old_left = h.old_left.saturating_sub(1);
            (Kind::Removed, h.old - 1)
        }
        Some('+') => {
            h.new += 1;
            h.new_left = h.new_left.saturating_sub(1);
            (Kind::Added, h.new - 1)
        }
        Some('\\') => return Some(Item::NoNewline(line.to_string())),
        Some(_) => return None,
    };
    Some(Item::Body {
        kind,
        number,
        content: line.get(1..).unwrap_or_default().to_string(),
    })
}

/// `@@ -a[,b] +c[,d] @@[ context]`.
fn parse_hunk_header(line: &str) -> Option<Hunk> {
    let rest = line.strip_prefix("@@ -")?;
    let (ranges, _context) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((start, len)) => Some((start.parse().ok()?, len.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (old, old_left) = range(old)?;
    let (new, new_left) = range(new)?;
    Some(Hunk {
        old,
        new,
        old_left,
        new_left,
    })
}

/// The path to show: the new name, or the old one for a deleted file.
fn file_path(old: &str, new: &str) -> String {
    // `diff -u` puts a tab and a timestamp after the name.
    let name = |s: &str| {
        s.split('\t')
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_string()
    };
    let (old, new) = (name(old), name(new));
    let strip = |s: String, prefix: &str| s.strip_prefix(prefix).map(String::from).unwrap_or(s);
    if new == "/dev/null" {
        strip(old, "a/")
    } else {
        strip(new, "b/")
    }
}

fn styled(text: &str, style: Style) -> Line<'static> {
    Line::from(Span::styled(clean(text), style))
}

/// Tabs to 4 spaces; other control characters (a stray `\r`, escape sequences in a file)
/// would move the terminal's cursor, so they become U+FFFD.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("    "),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::wrap::line_width;
    use pretty_assertions::assert_eq;

    const TWO_HUNKS: &str = "\
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,4 +1,4 @@
 use std::io;
-fn old() {}
+fn new() {}
\x20
 mod a;
@@ -9,3 +9,4 @@ impl X {
 fn f() {
+\tlet y = 2;
     g();
 }
";

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    /// The style of the span holding `needle` in the line that contains it.
    fn style_of(lines: &[Line<'_>], needle: &str) -> Style {
        lines
            .iter()
            .flat_map(|l| l.spans.iter())
            .find(|s| s.content.contains(needle))
            .map(|s| s.style)
            .unwrap()
    }

    #[test]
    fn renders_a_two_hunk_diff() {
        let lines = render(TWO_HUNKS, 40);
        let expected = vec![
            "src/lib.rs +2 −1",
            "@@ -1,4 +1,4 @@",
            " 1  use std::io;",
            " 2 -fn old() {}",
            " 2 +fn new() {}",
            " 3  ",
            " 4  mod a;",
            "@@ -9,3 +9,4 @@ impl X {",
            " 9  fn f() {",
            "10 +    let y = 2;",
            "11      g();",
            "12  }",
        ];
        assert_eq!(texts(&lines), expected);
        assert_eq!(style_of(&lines, "src/lib.rs"), theme::bold());
        assert_eq!(style_of(&lines, "+2 −1"), theme::dim());
        assert_eq!(style_of(&lines, "@@ -9,3"), theme::hunk());
        assert_eq!(style_of(&lines, "fn new"), theme::added());
        assert_eq!(style_of(&lines, "fn old"), theme::removed());
        assert_eq!(style_of(&lines, "mod a"), theme::text());
        assert_eq!(lines[4].spans[0], Span::styled(" 2", theme::dim()));
        assert_eq!(
            lines[4].spans[2],
            Span::styled("+fn new() {}", theme::added())
        );
    }

    #[test]
    fn removed_lines_count_in_the_old_file_and_the_rest_in_the_new() {
        let diff = "@@ -10,4 +20,3 @@\n a\n-b\n-c\n+C\n d\n";
        let expected = vec![
            "@@ -10,4 +20,3 @@",
            "20  a",
            "11 -b",
            "12 -c",
            "21 +C",
            "22  d",
        ];
        assert_eq!(texts(&render(diff, 40)), expected);
    }

    #[test]
    fn a_removed_line_starting_with_dashes_is_not_a_file_header() {
        let diff = "--- a/x.md\n+++ b/x.md\n@@ -1,2 +1,2 @@\n--- a/rule\n++++ b/rule\n";
        let expected = vec![
            "x.md +1 −1",
            "@@ -1,2 +1,2 @@",
            "1 --- a/rule",
            "1 ++++ b/rule",
        ];
        assert_eq!(texts(&render(diff, 40)), expected);
    }

    #[test]
    fn long_lines_wrap_behind_a_blank_gutter() {
        let diff = "@@ -1 +1 @@\n+alpha beta gamma delta epsilon\n";
        let lines = render(diff, 16);
        let expected = vec![
            "@@ -1 +1 @@",
            "1 +alpha beta",
            "   gamma delta",
            "   epsilon",
        ];
        assert_eq!(texts(&lines), expected);
        assert_eq!(style_of(&lines, "epsilon"), theme::added());
    }

    #[test]
    fn git_headers_are_dropped_or_dimmed_and_new_files_show_their_path() {
        let diff = "diff --git a/n.txt b/n.txt\nnew file mode 100644\nindex 0000000..e69de29\n\
                    --- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+hi\n\\ No newline at end of file\n";
        let lines = render(diff, 40);
        let expected = vec![
            "new file mode 100644",
            "n.txt +1 −0",
            "@@ -0,0 +1 @@",
            "1 +hi",
            "  \\ No newline at end of file",
        ];
        assert_eq!(texts(&lines), expected);
        assert_eq!(style_of(&lines, "No newline"), theme::dim());
        let deleted = "--- a/gone.rs\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n";
        assert_eq!(texts(&render(deleted, 40))[0], "gone.rs +0 −1");
    }

    #[test]
    fn text_that_is_not_a_diff_is_shown_plainly() {
        let text = "error: no such file\n+ not a hunk\n@@ broken @@";
        let lines = render(text, 40);
        assert_eq!(
            texts(&lines),
            vec!["error: no such file", "+ not a hunk", "@@ broken @@"]
        );
        assert_eq!(style_of(&lines, "error"), theme::text());
        assert_eq!(render("", 40), vec![]);
    }

    #[test]
    fn real_tool_diffs_parse() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk";
        let diff = crate::tools::write::unified_diff("src/x.rs", Some(old), new);
        let expected = DiffStats {
            files: 1,
            hunks: 2,
            added: 2,
            removed: 1,
        };
        assert_eq!(stats(&diff), expected);
        let lines = texts(&render(&diff, 40));
        assert_eq!(lines[0], "src/x.rs +2 −1");
        assert_eq!(
            lines[lines.len() - 2..],
            ["11 +k", "   \\ No newline at end of file"]
        );
    }

    #[test]
    fn stats_count_files_hunks_and_lines() {
        let two_files = format!("{TWO_HUNKS}--- a/b.rs\n+++ b/b.rs\n@@ -1 +1 @@\n-x\n+y\n");
        let expected = DiffStats {
            files: 2,
            hunks: 3,
            added: 3,
            removed: 2,
        };
        assert_eq!(stats(&two_files), expected);
        assert_eq!(stats("just text"), DiffStats::default());
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let lines = render("@@ -1 +1 @@\n-a\r\n+a\u{1b}[2J\n", 40);
        assert_eq!(
            texts(&lines),
            vec!["@@ -1 +1 @@", "1 -a", "1 +a\u{FFFD}[2J"]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_nor_overflows(
            lines in proptest::collection::vec(
                "--- a/[a-z]{1,8}|\\+\\+\\+ b/[a-z]{0,8}|@@ -[0-9]{1,3}(,[0-9]{1,2})? \\+[0-9]{1,3}(,[0-9]{1,2})? @@.{0,10}|[-+ \\\\].{0,60}|\\PC{0,30}|\t{0,3}[a-z]{0,20}",
                0..30,
            ),
            width in 12usize..60,
        ) {
            let diff = lines.join("\n");
            let _ = stats(&diff);
            for line in render(&diff, width) {
                proptest::prop_assert!(line_width(&line) <= width, "{:?} at {width}", line.to_string());
            }
        }
    }
}
