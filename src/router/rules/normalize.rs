//! The request as tier 0 sees it: words without politeness, and a tiny pattern language.
//!
//! Words stay slices of the request (with their offsets), so paths and identifiers keep the
//! case the user typed while keywords compare case-blind, and a request is split without
//! allocating. A pattern is a line of words: `a|b` is a choice, a trailing `?` makes a word
//! optional (`run|rerun the? tests|test`); matching backtracks, so a pattern either matches
//! the whole request (`is`) or a prefix of it (`after`, greedy, for rules that read what
//! follows as an argument).
//!
//! The second half holds the shapes a word must have before a rule hands it to a tool as an
//! argument: relative paths, file names, identifiers, search literals, line ranges and test
//! commands. Each says no to anything it is not sure of.

/// Requests longer than this are never one tool call; they fall through.
const MAX_WORDS: usize = 24;

/// Politeness that may open a request (`|`-separated; a multi-word entry matches word by word).
const LEADING: &str = "ok|okay|hey|please|pls|plz|can you|could you|would you|will you|now|\
    quickly|just|kindly|go ahead and";

/// Politeness that may close a request.
const TRAILING: &str = "please|pls|plz|now|for me|quickly|thanks|thank you|thx";

/// One word of the request, as typed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Word<'a> {
    /// The word's text (trailing sentence punctuation already cut).
    pub text: &'a str,
    /// Byte offset of the word in the request.
    pub start: usize,
}

impl Word<'_> {
    /// Whether the word is `word` (lowercase ASCII), ignoring case; a typographic apostrophe
    /// counts as `'`, so "what’s" is "what's".
    pub fn is(&self, word: &str) -> bool {
        self.text
            .chars()
            .map(|c| match c {
                '\u{2019}' => '\'',
                c => c.to_ascii_lowercase(),
            })
            .eq(word.chars())
    }

    /// Whether the word is one of `choices`, written `a|b|c`.
    pub fn is_one_of(&self, choices: &str) -> bool {
        choices.split('|').any(|c| self.is(c))
    }

    /// Byte offset just past the word.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// The normalised request: politeness and trailing punctuation gone, at most `MAX_WORDS`.
pub(super) struct Words<'a> {
    src: &'a str,
    buf: [Word<'a>; MAX_WORDS],
    len: usize,
}

impl<'a> Words<'a> {
    /// Splits and trims `request`; `None` when nothing is left or it is too long to be a command.
    pub fn new(request: &'a str) -> Option<Self> {
        let mut words = Words {
            src: request,
            buf: [Word::default(); MAX_WORDS],
            len: 0,
        };
        for text in request.split_whitespace() {
            let slot = words.buf.get_mut(words.len)?;
            // `text` borrows from `request`, so the pointer difference is its byte offset.
            *slot = Word {
                text,
                start: text.as_ptr() as usize - request.as_ptr() as usize,
            };
            words.len += 1;
        }
        let (mut lo, mut hi) = (0, words.len);
        loop {
            let before = (lo, hi);
            trim_last(&mut words.buf[..hi]);
            if hi > lo && words.buf[hi - 1].text.is_empty() {
                hi -= 1; // a lone "?" or "!"
            }
            lo += phrase_at_start(&words.buf[lo..hi], LEADING);
            hi -= phrase_at_end(&words.buf[lo..hi], TRAILING);
            if (lo, hi) == before {
                break;
            }
        }
        words.buf.copy_within(lo..hi, 0);
        words.len = hi - lo;
        (words.len > 0).then_some(words)
    }

    /// The words, in order.
    pub fn as_slice(&self) -> &[Word<'a>] {
        &self.buf[..self.len]
    }

    /// The request's text from the first to the last of `words` (which must come from `self`).
    pub fn span(&self, words: &[Word<'a>]) -> &'a str {
        match (words.first(), words.last()) {
            (Some(first), Some(last)) => &self.src[first.start..last.end()],
            _ => "",
        }
    }
}

/// Cuts sentence punctuation and a dangling comma off the last word ("tests!", "tests,"),
/// except the `...` of a Go package pattern (`./...`).
fn trim_last(words: &mut [Word<'_>]) {
    if let Some(last) = words.last_mut() {
        let mut text = last.text;
        while !text.ends_with("/...") {
            match text.strip_suffix(['.', '!', '?', ',']) {
                Some(shorter) => text = shorter,
                None => break,
            }
        }
        last.text = text;
    }
}

/// How many words at the start of `words` are one of `phrases` ("ok," counts as "ok"); at
/// least one word is always left.
fn phrase_at_start(words: &[Word<'_>], phrases: &str) -> usize {
    phrases
        .split('|')
        .map(|phrase| (phrase.split(' ').count(), phrase))
        .find(|&(n, phrase)| n < words.len() && spells(&words[..n], phrase))
        .map_or(0, |(n, _)| n)
}

/// How many words at the end of `words` are one of `phrases`; at least one word is left.
fn phrase_at_end(words: &[Word<'_>], phrases: &str) -> usize {
    phrases
        .split('|')
        .map(|phrase| (phrase.split(' ').count(), phrase))
        .find(|&(n, phrase)| n < words.len() && spells(&words[words.len() - n..], phrase))
        .map_or(0, |(n, _)| n)
}

/// Whether `words` spell `phrase`, a comma after a word set aside.
fn spells(words: &[Word<'_>], phrase: &str) -> bool {
    words.iter().zip(phrase.split(' ')).all(|(word, p)| {
        let text = word.text.trim_end_matches(',');
        Word { text, ..*word }.is(p)
    })
}

/// Whether `pattern` matches all of `words`.
pub(super) fn is(words: &[Word<'_>], pattern: &str) -> bool {
    walk(pattern, &[], words, Extent::Whole).is_some()
}

/// Whether any of `patterns` matches all of `words`.
pub(super) fn any(words: &[Word<'_>], patterns: &[&str]) -> bool {
    patterns.iter().any(|p| is(words, p))
}

/// The words after a greedy match of `pattern` at the start of `words` (possibly none).
pub(super) fn after<'w, 'a>(words: &'w [Word<'a>], pattern: &str) -> Option<&'w [Word<'a>]> {
    walk(pattern, &[], words, Extent::Prefix)
}

/// `after` for a pattern written in pieces (shared alternatives kept in constants).
pub(super) fn after_parts<'w, 'a>(words: &'w [Word<'a>], parts: &[&str]) -> Option<&'w [Word<'a>]> {
    let (first, later) = parts.split_first()?;
    walk(first, later, words, Extent::Prefix)
}

/// How much of the words a pattern must cover.
#[derive(Clone, Copy, PartialEq)]
enum Extent {
    Whole,
    Prefix,
}

/// Matches `pattern` and then each of `later` against the start of `words`.
fn walk<'w, 'a>(
    pattern: &str,
    later: &[&str],
    words: &'w [Word<'a>],
    extent: Extent,
) -> Option<&'w [Word<'a>]> {
    let pattern = pattern.trim_start();
    if pattern.is_empty() {
        return match later.split_first() {
            Some((next, later)) => walk(next, later, words, extent),
            None => (extent == Extent::Prefix || words.is_empty()).then_some(words),
        };
    }
    let (item, more) = pattern.split_once(' ').unwrap_or((pattern, ""));
    let (choices, optional) = match item.strip_suffix('?') {
        Some(choices) => (choices, true),
        None => (item, false),
    };
    let taken = words
        .split_first()
        .filter(|(first, _)| first.is_one_of(choices))
        .and_then(|(_, rest)| walk(more, later, rest, extent));
    match taken {
        Some(rest) => Some(rest),
        None if optional => walk(more, later, words, extent),
        None => None,
    }
}

/// Test runners a request may name: the words that start the command.
const RUNNERS: &str = "cargo test|cargo nextest run|pytest|python -m pytest|python3 -m pytest|\
    npm test|npm run test|yarn test|pnpm test|go test|make test|bun test|deno test|mvn test|\
    gradle test|./gradlew test";

/// English that turns a command into a sentence ("cargo test and fix it").
const NOT_ARGS: &str =
    "and|then|or|but|to|fix|with|if|so|it|the|also|after|before|see|check|again|fails|failing";

/// The known test runner `command` starts with (`cargo test`, `npm run test`, …).
pub(super) fn test_runner(command: &str) -> Option<&'static str> {
    RUNNERS.split('|').find(|runner| {
        let mut head = command.split_whitespace();
        runner
            .split(' ')
            .all(|r| head.next().is_some_and(|h| h.eq_ignore_ascii_case(r)))
    })
}

/// `text` as a known test runner with plain arguments (flags, paths, test filters with `_`,
/// `::` or a dot, or a value after a flag), rebuilt with single spaces; anything a shell
/// would treat specially is refused.
pub(super) fn test_command(text: &str) -> Option<String> {
    let text = text
        .strip_prefix('`')
        .and_then(|t| t.strip_suffix('`'))
        .unwrap_or(text);
    let mut parts = text.split_whitespace();
    let runner = test_runner(text)?;
    let mut command = runner.to_string();
    let mut after_flag = false;
    for arg in parts.by_ref().skip(runner.split(' ').count()).take(9) {
        let plain = arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=,@+%".contains(c));
        let escapes = arg.starts_with('/') || arg.split(['/', '=', ',', ':']).any(|p| p == "..");
        let filter = arg.contains(['_', '.', '/', ':', '=']) || arg.contains(char::is_numeric);
        let english = listed(NOT_ARGS, arg);
        let flag = arg.starts_with('-') && arg.len() > 1;
        if !plain || escapes || english || !(flag || filter || after_flag) {
            return None;
        }
        after_flag = flag && !arg.contains('=');
        command.push(' ');
        command.push_str(arg);
    }
    parts.next().is_none().then_some(command)
}

/// Extensions of files a request may name without saying "file": source, config and docs.
const FILE_EXTENSIONS: &str = "rs|py|pyi|ts|tsx|js|jsx|mjs|cjs|go|java|kt|kts|c|h|cc|cpp|cxx|\
    hpp|hh|cs|rb|php|swift|scala|sh|bash|zsh|fish|sql|md|rst|txt|toml|json|jsonc|yaml|yml|xml|\
    html|css|scss|lock|cfg|ini|conf|proto|graphql|vue|svelte|lua|ex|exs|hs|ml|dart|nix|tf|\
    gradle|properties|csv|mk|cmake|gitignore|dockerignore|editorconfig";

/// File names without an extension that still plainly name a file.
const FILE_NAMES: &str = "makefile|dockerfile|justfile|gemfile|rakefile|procfile|license";

/// Extensions `outline` understands (tools/outline.rs).
const OUTLINE_EXTENSIONS: &str = "rs|py|pyi|js|jsx|mjs|cjs|ts|tsx|go";

/// Words that read as English, not as a name in code ("where is it defined").
const NOT_NAMES: &str = "it|this|that|the|a|an|of|for|in|is|and|or|them|these|those|\
    everything|something|anything|stuff|code|file|files|bug|bugs|error|errors|function|functions|\
    method|class|struct|thing|here|there|me|you|what|where|how|why|defined|used|called|fn|enum|\
    trait|interface|type|def|func|const|macro|symbol|let|var";

/// Lowercase words that are still plainly code when searched for.
const CODE_WORDS: &str = "todo|fixme|xxx|hack|unwrap|expect|unsafe|panic|println|eprintln|dbg|\
    printf|malloc|eval|exec|goto|async|await|yield|lambda";

/// `text` as a workspace-relative path: no `..`, not absolute, no shell or glob characters.
/// Quotes or backticks around it, a leading `./` and a trailing `/` are dropped.
pub(super) fn relative_path(text: &str) -> Option<&str> {
    let mut path = unquoted(text);
    while let Some(rest) = path.strip_prefix("./").filter(|rest| !rest.is_empty()) {
        path = rest;
    }
    let path = match path.trim_end_matches('/') {
        "" => return None,
        trimmed => trimmed,
    };
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./@+".contains(c));
    let parts_ok = path == "." || path.split('/').all(|p| !matches!(p, "" | "." | ".."));
    let ok = plain && parts_ok && path.len() <= 255 && !path.starts_with(['/', '-']);
    ok.then_some(path)
}

/// The extension of the path's last component (`.gitignore` counts as `gitignore`).
fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let (_, ext) = name.rsplit_once('.')?;
    (!ext.is_empty()).then_some(ext)
}

/// Whether `path` names a file by its extension or a well-known name like `Makefile`.
pub(super) fn names_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    has_known_extension(path) || listed(FILE_NAMES, name)
}

/// Whether the path's extension is one of the source, config or doc extensions.
pub(super) fn has_known_extension(path: &str) -> bool {
    extension(path).is_some_and(|ext| listed(FILE_EXTENSIONS, ext))
}

/// Whether `outline` can parse the file at `path`.
pub(super) fn is_outline_source(path: &str) -> bool {
    extension(path).is_some_and(|ext| OUTLINE_EXTENSIONS.split('|').any(|e| e == ext))
}

/// `text` as an identifier (`parse_args`, `` `Parser` ``, `run()`), or `None`.
pub(super) fn identifier(text: &str) -> Option<&str> {
    let text = unquoted(text);
    let name = text.strip_suffix("()").unwrap_or(text);
    let mut chars = name.chars();
    let head = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok = head
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 80
        && !listed(NOT_NAMES, name);
    ok.then_some(name)
}

/// Whether a name reads as code rather than English: it has `_`, a digit or a capital.
pub(super) fn looks_like_code(name: &str) -> bool {
    name.contains(|c: char| c == '_' || c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// The literal to search for in `text`: a quoted string (any short text), or one word that
/// plainly is code — it has `_`, `::`, a dot, a digit or a capital, or is a word like
/// `unwrap`. A plain English word ("search for bugs") is a task, not a literal.
pub(super) fn literal(text: &str) -> Option<&str> {
    for quote in ['"', '\'', '`'] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            let ok = !inner.is_empty()
                && inner.chars().count() <= 80
                && !inner.contains(quote)
                && !inner.contains(char::is_control);
            return ok.then_some(inner);
        }
    }
    let mut chars = text.chars();
    let head = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let plain = head
        && chars.all(|c| c.is_ascii_alphanumeric() || "_:.-".contains(c))
        && text.len() <= 80
        && !text.ends_with(['.', ':', '-']);
    let code = text.contains(['.', ':']) || looks_like_code(text) || listed(CODE_WORDS, text);
    (plain && code && !listed(NOT_NAMES, text)).then_some(text)
}

/// `text` with every regex metacharacter escaped, so the search tool matches it literally.
pub(super) fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `word` is in `list` (`a|b|c`), ignoring ASCII case.
pub(super) fn listed(list: &str, word: &str) -> bool {
    list.split('|')
        .any(|entry| word.eq_ignore_ascii_case(entry))
}

/// `text` without one pair of matching quotes or backticks around it.
pub(super) fn unquoted(text: &str) -> &str {
    ['`', '"', '\'']
        .iter()
        .find_map(|&q| text.strip_prefix(q)?.strip_suffix(q))
        .unwrap_or(text)
}

/// A line range written as words: `10-40`, `10 to 40`, `10 - 40`, `10`.
pub(super) fn range_words(w: &[Word<'_>]) -> Option<(u64, Option<u64>)> {
    match w {
        [one] => line_range(one.text, ""),
        [from, sep, to] if sep.is_one_of("to|through|-|..") => line_range(from.text, to.text),
        _ => None,
    }
}

/// `from` (or `from-to` when `to` is empty) as 1-based lines, first ≤ last.
pub(super) fn line_range(from: &str, to: &str) -> Option<(u64, Option<u64>)> {
    let (from, to) = match (from.split_once('-'), to) {
        (Some((a, b)), "") => (a, b),
        (None, to) => (from, to),
        _ => return None,
    };
    let start = line_number(from)?;
    if to.is_empty() {
        return Some((start, None));
    }
    let end = line_number(to)?;
    (start <= end).then_some((start, Some(end)))
}

/// A 1-based line number.
pub(super) fn line_number(text: &str) -> Option<u64> {
    text.parse().ok().filter(|n| (1..=10_000_000).contains(n))
}
