//! Markdown for the terminal. The model answers in Markdown; the transcript shows it styled
//! (headings, emphasis, lists, quotes, tables, highlighted code) and already wrapped to the
//! transcript's width, because list and quote prefixes have to be repeated on every wrapped
//! line, which a generic wrapper cannot know. Rendering is pure and cheap enough to redo on
//! every streamed token, and it tolerates half-written input (an open fence, a lone `|`).

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::{highlight, theme, wrap};

/// Renders Markdown for the terminal, wrapped here to at most `width` cells per line (callers
/// do not wrap again).
pub fn render(text: &str, width: usize) -> Vec<Line<'static>> {
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    let mut renderer = Renderer {
        width,
        ..Renderer::default()
    };
    for event in Parser::new_ext(text, options) {
        renderer.event(event);
    }
    renderer.finish()
}

/// Code blocks are indented by this much so they stand apart from prose without a box.
const CODE_INDENT: &str = "  ";
/// What separates table cells.
const CELL_SEPARATOR: &str = " │ ";

/// A block that puts something in front of each of its lines.
enum Container {
    Quote,
    /// `next` is the number of the next item of an ordered list.
    List {
        next: Option<u64>,
    },
    /// The marker ("• ", "3. ", "• [x] ") goes on the item's first line only; the lines after
    /// it get as many spaces, which makes the hanging indent.
    Item {
        marker: Vec<Span<'static>>,
        shown: bool,
    },
}

/// Which line of a block a prefix is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// The first line: shows list markers not shown yet.
    First,
    Rest,
}

/// Text collected verbatim until its block ends.
enum Raw {
    /// The fence's info string, and the code.
    Code(String, String),
    Html(String),
}

struct Link {
    url: String,
    /// The text shown for it so far, to leave out a url that repeats it.
    text: String,
    kind: LinkKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    Link,
    /// An image shows its alt text, or its url when it has none.
    Image,
}

impl Link {
    fn new(url: &str, kind: LinkKind) -> Self {
        let (url, text) = (clean_inline(url), String::new());
        Link { url, text, kind }
    }
}

#[derive(Default)]
struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Vec<Span<'static>>>>,
    row: Vec<Vec<Span<'static>>>,
    head_rows: usize,
}

#[derive(Default)]
struct Renderer {
    width: usize,
    out: Vec<Line<'static>>,
    containers: Vec<Container>,
    styles: Vec<Style>,
    /// The inline text of the current block, one entry per hard-broken line, not wrapped yet.
    inline: Vec<Vec<Span<'static>>>,
    links: Vec<Link>,
    raw: Option<Raw>,
    table: Option<Table>,
    /// A block ended, so the next one is preceded by a blank line.
    blank_due: bool,
    /// That blank line, taken with the prefixes where the next block starts and held until
    /// the block shows a line, so that empty blocks and the document's end add no blanks.
    blank: Option<Line<'static>>,
}

impl Renderer {
    fn finish(mut self) -> Vec<Line<'static>> {
        self.flush();
        while self.out.last().is_some_and(|l| l.spans.is_empty()) {
            self.out.pop();
        }
        self.out
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text),
            Event::Html(text) | Event::InlineHtml(text) => self.text(&text),
            Event::Code(text) => {
                let style = self.style().patch(theme::code());
                self.push_inline(&text, style);
            }
            Event::InlineMath(text) => self.text(&format!("${text}$")),
            Event::DisplayMath(text) => self.text(&format!("$${text}$$")),
            Event::FootnoteReference(name) => self.text(&format!("[^{name}]")),
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.inline.push(Vec::new()),
            Event::Rule => {
                self.flush();
                self.block_start();
                let (mut line, _) = self.prefixes(&[]);
                let room = self.width.saturating_sub(spans_width(&line));
                line.push(Span::styled("─".repeat(room), theme::dim()));
                self.emit(Line::from(line));
                self.blank_due = true;
            }
            Event::TaskListMarker(done) => self.task(done),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::DefinitionList => {
                self.flush();
                self.block_start();
            }
            Tag::DefinitionListTitle | Tag::DefinitionListDefinition => self.flush(),
            Tag::Heading { level, .. } => {
                self.flush();
                self.block_start();
                let mut style = theme::accent().add_modifier(Modifier::BOLD);
                if level == HeadingLevel::H1 {
                    style = style.add_modifier(Modifier::UNDERLINED);
                }
                self.styles.push(style);
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.block_start();
                self.containers.push(Container::Quote);
                self.styles
                    .push(Style::default().add_modifier(Modifier::ITALIC));
            }
            Tag::CodeBlock(kind) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.start_raw(Raw::Code(lang, String::new()));
            }
            Tag::MetadataBlock(_) => self.start_raw(Raw::Code(String::new(), String::new())),
            Tag::HtmlBlock => self.start_raw(Raw::Html(String::new())),
            Tag::List(start) => {
                self.flush();
                self.block_start();
                self.containers.push(Container::List { next: start });
            }
            Tag::Item => {
                self.flush();
                let marker = self.next_marker();
                self.containers.push(Container::Item {
                    marker: vec![marker],
                    shown: false,
                });
            }
            Tag::FootnoteDefinition(name) => {
                self.flush();
                self.block_start();
                self.push_inline(&format!("[^{name}]: "), theme::dim());
            }
            Tag::Table(aligns) => {
                self.flush();
                self.block_start();
                self.table = Some(Table {
                    aligns,
                    ..Table::default()
                });
            }
            Tag::TableHead | Tag::TableRow | Tag::TableCell => self.inline.clear(),
            Tag::Emphasis => self.push_modifier(Modifier::ITALIC),
            Tag::Strong => self.push_modifier(Modifier::BOLD),
            Tag::Strikethrough => self.push_modifier(Modifier::CROSSED_OUT),
            Tag::Superscript | Tag::Subscript => self.styles.push(Style::default()),
            Tag::Link { dest_url, .. } => {
                self.push_modifier(Modifier::UNDERLINED);
                self.links.push(Link::new(&dest_url, LinkKind::Link));
            }
            Tag::Image { dest_url, .. } => {
                self.styles.push(Style::default());
                self.links.push(Link::new(&dest_url, LinkKind::Image));
            }
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::FootnoteDefinition | TagEnd::DefinitionList => {
                self.flush();
                self.blank_due = true;
            }
            TagEnd::DefinitionListTitle | TagEnd::DefinitionListDefinition => self.flush(),
            TagEnd::Heading(_) => {
                self.flush();
                self.styles.pop();
                self.blank_due = true;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
                self.styles.pop();
                self.blank_due = true;
            }
            TagEnd::CodeBlock | TagEnd::MetadataBlock(_) | TagEnd::HtmlBlock => {
                match self.raw.take() {
                    Some(Raw::Code(lang, code)) => self.code_block(&code, &lang),
                    Some(Raw::Html(text)) => self.html_block(&text),
                    None => {}
                }
                self.blank_due = true;
            }
            TagEnd::List(_) => {
                self.flush();
                self.containers.pop();
                // A list nested in an item belongs to that item's text: no gap around it.
                if !self.in_item() {
                    self.blank_due = true;
                }
            }
            TagEnd::Item => {
                self.flush();
                if let Some(Container::Item { shown: false, .. }) = self.containers.last() {
                    let (line, _) = self.prefixes(&[]);
                    self.emit(Line::from(line));
                }
                self.containers.pop();
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.render_table(table);
                }
                self.blank_due = true;
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some(table) = &mut self.table {
                    if !table.row.is_empty() {
                        let row = std::mem::take(&mut table.row);
                        table.rows.push(row);
                    }
                    if tag == TagEnd::TableHead {
                        table.head_rows = table.rows.len();
                    }
                }
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.inline).join(&Span::raw(" "));
                if let Some(table) = &mut self.table {
                    table.row.push(cell);
                }
            }
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => {
                self.styles.pop();
            }
            TagEnd::Link | TagEnd::Image => {
                self.styles.pop();
                if let Some(link) = self.links.pop() {
                    let repeats = link.text == link.url
                        || link.url.strip_prefix("mailto:") == Some(link.text.as_str());
                    let shown = !link.text.trim().is_empty();
                    if !link.url.is_empty() && !repeats && (link.kind == LinkKind::Link || !shown) {
                        let style = self.style().patch(theme::dim());
                        let url = if shown {
                            format!(" ({})", link.url)
                        } else {
                            link.url
                        };
                        self.push_inline(&url, style);
                    }
                }
            }
        }
    }

    fn style(&self) -> Style {
        self.styles
            .iter()
            .fold(Style::default(), |acc, s| acc.patch(*s))
    }

    fn push_modifier(&mut self, modifier: Modifier) {
        self.styles.push(Style::default().add_modifier(modifier));
    }

    fn in_item(&self) -> bool {
        self.containers
            .iter()
            .any(|c| matches!(c, Container::Item { .. }))
    }

    fn text(&mut self, text: &str) {
        match &mut self.raw {
            Some(Raw::Code(_, raw) | Raw::Html(raw)) => raw.push_str(text),
            None => {
                let style = self.style();
                self.push_inline(text, style);
            }
        }
    }

    fn push_inline(&mut self, text: &str, style: Style) {
        let text = clean_inline(text);
        for link in &mut self.links {
            link.text.push_str(&text);
        }
        if self.inline.is_empty() {
            self.inline.push(Vec::new());
        }
        if let Some(line) = self.inline.last_mut() {
            line.push(Span::styled(text, style));
        }
    }

    fn start_raw(&mut self, raw: Raw) {
        self.flush();
        self.block_start();
        self.raw = Some(raw);
    }

    /// The marker of an item that starts now, numbered from its list.
    fn next_marker(&mut self) -> Span<'static> {
        let depth = self
            .containers
            .iter()
            .filter(|c| matches!(c, Container::List { .. }))
            .count();
        let list = self.containers.iter_mut().rev().find_map(|c| match c {
            Container::List { next } => Some(next),
            _ => None,
        });
        match list {
            Some(Some(n)) => {
                let marker = format!("{n}. ");
                *n = n.saturating_add(1);
                Span::raw(marker)
            }
            _ if depth > 1 => Span::styled("◦ ", theme::dim()),
            _ => Span::styled("• ", theme::dim()),
        }
    }

    /// The checkbox joins the item's marker, so wrapped lines hang below the text after it.
    fn task(&mut self, done: bool) {
        let (text, style) = if done {
            ("[x] ", theme::success())
        } else {
            ("[ ] ", theme::text())
        };
        match self.containers.last_mut() {
            Some(Container::Item {
                marker,
                shown: false,
            }) => marker.push(Span::styled(text, style)),
            _ => self.push_inline(text, style),
        }
    }

    /// Takes the blank line owed by the previous block, with the prefixes of the containers
    /// the new block starts in (a gap inside a quote keeps its bar).
    fn block_start(&mut self) {
        if self.blank_due && !self.out.is_empty() && self.blank.is_none() {
            self.blank = Some(Line::from(self.rest_prefix()));
        }
        self.blank_due = false;
    }

    fn emit(&mut self, line: Line<'static>) {
        if self.blank_due {
            self.block_start();
        }
        if let Some(blank) = self.blank.take() {
            self.out.push(trim_end(blank));
        }
        self.out.push(trim_end(line));
    }

    /// The prefixes for a block's first line and the lines after it, followed by `extra`.
    /// They leave at least two cells of the width for text, so a wide character always fits
    /// and no line outgrows the width however deep the nesting.
    fn prefixes(&mut self, extra: &[Span<'static>]) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let max = self.width.saturating_sub(2);
        let mut first = self.prefix(Prefix::First);
        let mut rest = self.prefix(Prefix::Rest);
        first.extend_from_slice(extra);
        rest.extend_from_slice(extra);
        (fit(first, max), fit(rest, max))
    }

    /// The prefix of a block's later lines, which leaves list markers for the first line.
    fn rest_prefix(&mut self) -> Vec<Span<'static>> {
        let rest = self.prefix(Prefix::Rest);
        fit(rest, self.width.saturating_sub(2))
    }

    fn prefix(&mut self, which: Prefix) -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for container in &mut self.containers {
            match container {
                Container::Quote => spans.push(Span::styled("│ ", theme::dim())),
                Container::List { .. } => {}
                Container::Item { marker, shown } => {
                    if which == Prefix::First && !*shown {
                        spans.extend(marker.iter().cloned());
                        *shown = true;
                    } else {
                        spans.push(Span::raw(" ".repeat(spans_width(marker))));
                    }
                }
            }
        }
        spans
    }

    /// Wraps and shows the inline text collected so far.
    fn flush(&mut self) {
        let mut lines = std::mem::take(&mut self.inline);
        while lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        for spans in lines {
            self.emit_wrapped(&Line::from(spans), &[]);
        }
    }

    fn emit_wrapped(&mut self, line: &Line<'static>, extra: &[Span<'static>]) {
        let (first, rest) = self.prefixes(extra);
        for wrapped in wrap::wrap_with_prefix(line, self.width, &first, &rest) {
            self.emit(wrapped);
        }
    }

    fn code_block(&mut self, code: &str, lang: &str) {
        let mut lines = highlight::highlight(code, lang);
        if lines.is_empty() {
            lines.push(Line::default());
        }
        let indent = [Span::raw(CODE_INDENT)];
        for line in &lines {
            self.emit_wrapped(line, &indent);
        }
    }

    fn html_block(&mut self, html: &str) {
        let style = self.style();
        for line in html.lines() {
            let line = Line::from(Span::styled(clean_inline(line), style));
            self.emit_wrapped(&line, &[]);
        }
    }

    fn render_table(&mut self, table: Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                let cells = table.rows.iter().filter_map(|row| row.get(c));
                cells.map(|cell| spans_width(cell)).max().unwrap_or(0)
            })
            .collect();
        let total = widths.iter().sum::<usize>() + wrap::width(CELL_SEPARATOR) * (columns - 1);
        let room = self.width.saturating_sub(spans_width(&self.rest_prefix()));
        let fits = total <= room;
        for (i, row) in table.rows.iter().enumerate() {
            let head = i < table.head_rows;
            let mut spans = Vec::new();
            for (c, width) in widths.iter().enumerate() {
                if c > 0 {
                    spans.push(Span::styled(CELL_SEPARATOR, theme::dim()));
                }
                let cell = row.get(c).map_or(&[][..], Vec::as_slice);
                let pad = width.saturating_sub(spans_width(cell));
                let (left, right) = match table.aligns.get(c) {
                    _ if !fits => (0, 0),
                    Some(Alignment::Right) => (pad, 0),
                    Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                    _ => (0, pad),
                };
                let padding = |n: usize| Span::raw(" ".repeat(n));
                spans.extend((left > 0).then(|| padding(left)));
                for span in cell {
                    let bold = span.style.add_modifier(Modifier::BOLD);
                    spans.push(span.clone().style(if head { bold } else { span.style }));
                }
                spans.extend((right > 0).then(|| padding(right)));
            }
            if fits {
                let (mut line, _) = self.prefixes(&[]);
                line.extend(spans);
                self.emit(Line::from(line));
            } else {
                self.emit_wrapped(&Line::from(spans), &[]);
            }
            if i + 1 == table.head_rows {
                let rule = if fits {
                    let dashes: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                    dashes.join("─┼─")
                } else {
                    "─".repeat(room)
                };
                let (mut line, _) = self.prefixes(&[]);
                line.push(Span::styled(rule, theme::dim()));
                self.emit(Line::from(line));
            }
        }
    }
}

fn spans_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| wrap::width(&s.content)).sum()
}

/// Cuts `spans` down to at most `max` cells.
fn fit(spans: Vec<Span<'static>>, max: usize) -> Vec<Span<'static>> {
    if spans_width(&spans) <= max {
        return spans;
    }
    let mut out = Vec::new();
    let mut used = 0;
    for span in spans {
        let mut kept = String::new();
        for c in span.content.chars() {
            let w = wrap::width(c.encode_utf8(&mut [0; 4]));
            if used + w > max {
                out.push(Span::styled(kept, span.style));
                return out;
            }
            used += w;
            kept.push(c);
        }
        out.push(Span::styled(kept, span.style));
    }
    out
}

/// Inline text is one line whatever it holds: newlines and tabs become spaces, and other
/// control characters are dropped (they would move the terminal's cursor behind ratatui's
/// back).
fn clean_inline(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Trailing spaces (padding, an empty code line's indent) would only show as stray
/// underlines or make copied text ragged.
fn trim_end(mut line: Line<'static>) -> Line<'static> {
    while let Some(last) = line.spans.last_mut() {
        let kept = last.content.trim_end().len();
        if kept == 0 {
            line.spans.pop();
            continue;
        }
        if kept < last.content.len() {
            last.content.to_mut().truncate(kept);
        }
        break;
    }
    line
}

#[cfg(test)]
mod tests;
