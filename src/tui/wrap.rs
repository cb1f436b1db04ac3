//! Word wrapping of styled lines to an exact cell width. The transcript wraps every entry
//! once per width and caches the result, so the renderer knows each entry's height without
//! laying out the whole transcript (ratatui's own wrapping cannot report heights).

use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Display width of `s` in terminal cells: the sum of its characters' widths. Wrapping and
/// the input's cursor measure character by character, so a line's width must be the same
/// sum; `UnicodeWidthStr` would count an emoji presentation sequence (`*` + U+FE0F) as 2
/// where its characters count 1, and a wrapped line could then measure wider than its row.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Display width of a styled line.
pub fn line_width(line: &Line<'_>) -> usize {
    line.spans.iter().map(|s| width(&s.content)).sum()
}

/// Word-wraps one styled line to `width` cells: breaks after spaces (a space at a break is
/// dropped), breaks words longer than a line by character, keeps every span's style. An empty
/// line stays one empty line.
pub fn wrap_line(line: &Line<'static>, width: usize) -> Vec<Line<'static>> {
    wrap_with_prefix(line, width, &[], &[])
}

/// Like [`wrap_line`], with `first` in front of the first output line and `rest` in front of
/// every continuation line (hanging indents, gutters). The prefixes' widths come off `width`.
pub fn wrap_with_prefix(
    line: &Line<'static>,
    width: usize,
    first: &[Span<'static>],
    rest: &[Span<'static>],
) -> Vec<Line<'static>> {
    let first_width: usize = first.iter().map(|s| self::width(&s.content)).sum();
    let rest_width: usize = rest.iter().map(|s| self::width(&s.content)).sum();
    let mut out = Vec::new();
    let mut current: Vec<Span<'static>> = first.to_vec();
    let mut room = width.saturating_sub(first_width).max(1);
    let mut used = 0usize;
    let new_line = |out: &mut Vec<Line<'static>>, current: &mut Vec<Span<'static>>| {
        let spans = std::mem::replace(current, rest.to_vec());
        out.push(Line::from(spans).style(line.style));
    };
    // A run of spaces is held until the next word shows whether it fits on this line too;
    // a space at a break is dropped, so no line ends in padding.
    let mut pending: Option<(String, ratatui::style::Style)> = None;
    for (word, style) in words(line) {
        if word.chars().all(|c| c == ' ') {
            pending = Some((word, style));
            continue;
        }
        let word_width = self::width(&word);
        let space_width = pending.as_ref().map_or(0, |(s, _)| self::width(s));
        if used + space_width + word_width <= room {
            if let Some((space, space_style)) = pending.take() {
                push(&mut current, space, space_style);
            }
            push(&mut current, word, style);
            used += space_width + word_width;
            continue;
        }
        pending = None;
        let full = width.saturating_sub(rest_width).max(1);
        if used > 0 {
            new_line(&mut out, &mut current);
            room = full;
            used = 0;
            if word_width <= room {
                push(&mut current, word, style);
                used = word_width;
                continue;
            }
        }
        // Longer than a whole line: split by character.
        let mut piece = String::new();
        for c in word.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > room && used > 0 {
                push(&mut current, std::mem::take(&mut piece), style);
                new_line(&mut out, &mut current);
                room = full;
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        push(&mut current, piece, style);
    }
    out.push(Line::from(current).style(line.style));
    out
}

/// Wraps many lines.
pub fn wrap_lines(lines: &[Line<'static>], width: usize) -> Vec<Line<'static>> {
    lines.iter().flat_map(|l| wrap_line(l, width)).collect()
}

/// Splits a line into runs of spaces and runs of non-spaces, each with its span's style.
fn words(line: &Line<'static>) -> Vec<(String, ratatui::style::Style)> {
    let mut out: Vec<(String, ratatui::style::Style)> = Vec::new();
    for span in &line.spans {
        let mut run = String::new();
        let mut run_is_space = None;
        for c in span.content.chars() {
            let c = if c == '\t' { ' ' } else { c };
            let space = c == ' ';
            if run_is_space.is_some_and(|s| s != space) {
                out.push((std::mem::take(&mut run), span.style));
            }
            run_is_space = Some(space);
            run.push(c);
        }
        if !run.is_empty() {
            out.push((run, span.style));
        }
    }
    out
}

fn push(spans: &mut Vec<Span<'static>>, text: String, style: ratatui::style::Style) {
    if text.is_empty() {
        return;
    }
    match spans.last_mut() {
        Some(last) if last.style == style => last.content.to_mut().push_str(&text),
        _ => spans.push(Span::styled(text, style)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Style, Stylize};

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn breaks_at_spaces_and_drops_the_space() {
        let lines = wrap_line(&Line::from("the quick brown fox"), 10);
        assert_eq!(texts(&lines), vec!["the quick", "brown fox"]);
    }

    #[test]
    fn splits_words_longer_than_the_width() {
        let lines = wrap_line(&Line::from("abcdefghij xy"), 4);
        assert_eq!(texts(&lines), vec!["abcd", "efgh", "ij", "xy"]);
    }

    #[test]
    fn keeps_styles_across_breaks() {
        let line = Line::from(vec![Span::raw("plain "), "bold words here".bold()]);
        let lines = wrap_line(&line, 11);
        assert_eq!(texts(&lines), vec!["plain bold", "words here"]);
        assert_eq!(lines[1].spans[0].style, Style::default().bold());
    }

    #[test]
    fn prefixes_make_a_hanging_indent() {
        let lines = wrap_with_prefix(
            &Line::from("one two three four"),
            9,
            &[Span::raw("• ")],
            &[Span::raw("  ")],
        );
        assert_eq!(texts(&lines), vec!["• one two", "  three", "  four"]);
    }

    #[test]
    fn wide_characters_count_two_cells() {
        let lines = wrap_line(&Line::from("日本語テキスト"), 6);
        assert_eq!(texts(&lines), vec!["日本語", "テキス", "ト"]);
    }

    #[test]
    fn empty_line_stays_one_line() {
        assert_eq!(wrap_line(&Line::from(""), 5).len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn never_wider_than_the_width(text in "[a-z ]{0,80}|\\PC{0,40}", width in 1usize..40) {
            for line in wrap_line(&Line::from(text.clone()), width) {
                // A single character wider than the whole width is the one allowed overflow.
                proptest::prop_assert!(line_width(&line) <= width.max(2));
            }
        }
    }
}
