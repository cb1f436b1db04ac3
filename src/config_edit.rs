//! Edits to a user's TOML config file that leave the rest of it alone.
//!
//! `lode bench --spec --save` writes what it measured into the user's `config.toml`. People
//! keep comments and their own ordering in that file, so it is not parsed and re-serialized:
//! one table's lines are replaced (or appended) and every other byte stays as it was. The
//! write is atomic, and a result that does not parse as TOML is rolled back.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Replaces the table `[header]` in the TOML file at `path` with `body`, or appends it.
///
/// `header` is the dotted key as written between the brackets (`a.b."c d"`); an existing
/// table matches when its key names the same path, however it is spaced or quoted. The
/// replaced span runs from the header line to the table's last key line: comments and blank
/// lines after it stay, because they usually introduce the next table. A missing file (and
/// its directory) is created. Values of `body` are written inline, one key per line.
///
/// # Errors
/// Reading or writing fails, `header` is not a dotted key, or the file would not parse as
/// TOML afterwards (it is then restored and the error says why).
pub fn upsert_table(path: &Path, header: &str, body: &toml::Table) -> io::Result<()> {
    let wanted = parse_key(header).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{header}` is not a TOML table name"),
        )
    })?;
    let original = match fs::read(path) {
        Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("`{}` is not UTF-8 text", path.display()),
            )
        })?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let old = original.as_deref().unwrap_or("");
    let newline = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let table = render_table(header, body, newline);
    let updated = match find_table(old, &wanted) {
        Some(span) => format!("{}{table}{}", &old[..span.start], &old[span.end..]),
        None => append(old, &table, newline),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    write_atomic(path, updated.as_bytes())?;
    let written = fs::read_to_string(path)?;
    if let Err(e) = toml::from_str::<toml::Table>(&written) {
        match &original {
            Some(text) => write_atomic(path, text.as_bytes())?,
            None => fs::remove_file(path)?,
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "`{}` would not be valid TOML with [{header}] written into it, so it was left \
                 as it was: {}",
                path.display(),
                e.message()
            ),
        ));
    }
    Ok(())
}

/// `s` as a TOML basic string (quoted, with `"`, `\` and control characters escaped), for
/// keys such as file paths that a bare key cannot spell.
pub fn basic_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key as TOML writes it: bare when it can be, else a basic string.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        basic_string(k)
    }
}

fn render_table(header: &str, body: &toml::Table, newline: &str) -> String {
    let mut text = format!("[{header}]{newline}");
    for (k, value) in body {
        text.push_str(&format!("{} = {value}{newline}", key(k)));
    }
    text
}

fn append(old: &str, table: &str, newline: &str) -> String {
    let mut text = old.to_string();
    if !text.is_empty() {
        if !text.ends_with('\n') {
            text.push_str(newline);
        }
        if !text.ends_with(&format!("{newline}{newline}")) {
            text.push_str(newline);
        }
    }
    text.push_str(table);
    text
}

/// The byte span of the table whose header names `wanted`: from its header line to the end
/// of its last line that holds a key (comments and blank lines after that stay outside).
fn find_table(text: &str, wanted: &[String]) -> Option<std::ops::Range<usize>> {
    let lines = classify(text);
    let start = lines.iter().position(|line| match &line.kind {
        LineKind::Header(key) => key.as_deref() == Some(wanted),
        _ => false,
    })?;
    let mut end = lines[start].end;
    for line in &lines[start + 1..] {
        match line.kind {
            LineKind::Header(_) => break,
            LineKind::Content => end = line.end,
            LineKind::Blank => {}
        }
    }
    Some(lines[start].start..end)
}

/// One physical line of a TOML file, with its terminator.
struct Line {
    start: usize,
    end: usize,
    kind: LineKind,
}

enum LineKind {
    /// `[a.b]` (or `[[a.b]]`, as `None`: an array of tables is never the table sought).
    Header(Option<Vec<String>>),
    /// A key/value line, or a line inside a multi-line value.
    Content,
    /// Empty, whitespace or a comment, outside any value.
    Blank,
}

/// Where a multi-line construct left the scanner at the end of a line.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    Nothing,
    BasicString,
    LiteralString,
}

/// Sorts the lines of `text`: headers are only lines that start with `[` outside any value
/// (a line of a multi-line array or string may start with `[` too).
fn classify(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut depth = 0usize;
    let mut open = Open::Nothing;
    let mut start = 0;
    for raw in text.split_inclusive('\n') {
        let end = start + raw.len();
        let trimmed = raw.trim();
        let kind = if depth == 0 && open == Open::Nothing {
            if trimmed.starts_with("[[") {
                LineKind::Header(None)
            } else if let Some(inner) = trimmed.strip_prefix('[') {
                LineKind::Header(header_key(inner))
            } else if trimmed.is_empty() || trimmed.starts_with('#') {
                LineKind::Blank
            } else {
                scan(raw, &mut depth, &mut open);
                LineKind::Content
            }
        } else {
            scan(raw, &mut depth, &mut open);
            LineKind::Content
        };
        lines.push(Line { start, end, kind });
        start = end;
    }
    lines
}

/// Follows brackets and strings through one line of a value.
fn scan(line: &str, depth: &mut usize, open: &mut Open) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match *open {
            Open::BasicString => {
                if bytes[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if line[i..].starts_with("\"\"\"") {
                    *open = Open::Nothing;
                    i += 3;
                    continue;
                }
            }
            Open::LiteralString => {
                if line[i..].starts_with("'''") {
                    *open = Open::Nothing;
                    i += 3;
                    continue;
                }
            }
            Open::Nothing => match bytes[i] {
                b'#' => return,
                b'[' | b'{' => *depth += 1,
                b']' | b'}' => *depth = depth.saturating_sub(1),
                b'"' if line[i..].starts_with("\"\"\"") => {
                    *open = Open::BasicString;
                    i += 3;
                    continue;
                }
                b'\'' if line[i..].starts_with("'''") => {
                    *open = Open::LiteralString;
                    i += 3;
                    continue;
                }
                b'"' => i = skip_string(bytes, i, b'"', true),
                b'\'' => i = skip_string(bytes, i, b'\'', false),
                _ => {}
            },
        }
        i += 1;
    }
}

/// The index of the closing quote of a one-line string opening at `i` (or the line's end).
fn skip_string(bytes: &[u8], i: usize, quote: u8, escapes: bool) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        if escapes && bytes[j] == b'\\' {
            j += 2;
            continue;
        }
        if bytes[j] == quote {
            return j;
        }
        j += 1;
    }
    bytes.len()
}

/// The key of a header line, given what follows its `[`: the dotted key up to `]`.
fn header_key(inner: &str) -> Option<Vec<String>> {
    let (parts, rest) = dotted_key(inner)?;
    let rest = rest.trim_start().strip_prefix(']')?.trim();
    (rest.is_empty() || rest.starts_with('#')).then_some(parts)
}

/// `text` parsed as a whole dotted key.
fn parse_key(text: &str) -> Option<Vec<String>> {
    let (parts, rest) = dotted_key(text)?;
    rest.trim().is_empty().then_some(parts)
}

/// A dotted key at the start of `text` (bare, "basic" and 'literal' parts, spaces around
/// the dots), and what follows it.
fn dotted_key(text: &str) -> Option<(Vec<String>, &str)> {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let (part, after) = simple_key(rest)?;
        parts.push(part);
        rest = after.trim_start_matches([' ', '\t']);
        match rest.strip_prefix('.') {
            Some(after_dot) => rest = after_dot,
            None => return Some((parts, rest)),
        }
    }
}

fn simple_key(text: &str) -> Option<(String, &str)> {
    if let Some(body) = text.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((value, &body[i + 1..])),
                '\\' => {
                    let (_, escaped) = chars.next()?;
                    match escaped {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        'b' => value.push('\u{8}'),
                        'f' => value.push('\u{c}'),
                        'e' => value.push('\u{1b}'),
                        '"' | '\\' => value.push(escaped),
                        'u' | 'U' => {
                            let n = if escaped == 'u' { 4 } else { 8 };
                            let digits: String = (0..n)
                                .map(|_| chars.next().map(|(_, d)| d))
                                .collect::<Option<_>>()?;
                            value.push(char::from_u32(u32::from_str_radix(&digits, 16).ok()?)?);
                        }
                        'x' => {
                            let digits: String = (0..2)
                                .map(|_| chars.next().map(|(_, d)| d))
                                .collect::<Option<_>>()?;
                            value.push(char::from_u32(u32::from_str_radix(&digits, 16).ok()?)?);
                        }
                        _ => return None,
                    }
                }
                c => value.push(c),
            }
        }
        None
    } else if let Some(body) = text.strip_prefix('\'') {
        let close = body.find('\'')?;
        Some((body[..close].to_string(), &body[close + 1..]))
    } else {
        let len = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(text.len());
        (len > 0).then(|| (text[..len].to_string(), &text[len..]))
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, keeping the
/// old file's permissions: a crash leaves the old file or the new one, never half of one.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        fs::write(&tmp, bytes)?;
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests;
