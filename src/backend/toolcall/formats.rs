//! Reading tool calls out of model text.
//!
//! The text is cut into *regions* that a format's marker opens (`<tool_call>`, `[TOOL_CALLS]`,
//! `<|python_tag|>`) and *prose* between them. Everything in a region is meant as a call, so
//! whatever cannot be read there is an error for the model. Prose is also searched for calls
//! written without markers (fenced or bare JSON), since small models drop their tags, but
//! only JSON shaped exactly like a call counts there: a `package.json` excerpt with a `name`
//! key is content, not a call.

use serde_json::Value;

use super::json::{
    arguments_text, calls_in, inside_json, json_calls, json_fence_close, json_problem,
    json_run_end, mentions_arguments, starts_like_json, strongly_call_like, truncated, CallResult,
    ScanBudget, Strictness,
};
use super::{CallFormat, Parsed};
use crate::backend::ToolCall;

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
const TAG_OPEN: &str = "<tool_call>";
const TAG_CLOSE: &str = "</tool_call>";
const TOOL_CALLS: &str = "[TOOL_CALLS]";
const PYTHON_TAG: &str = "<|python_tag|>";
const LLAMA_ENDS: [&str; 2] = ["<|eom_id|>", "<|eot_id|>"];
/// How far after `[TOOL_CALLS]` the `name[ARGS]` form is looked for.
const MAX_NAMED_HEAD: usize = 256;
/// Longest excerpt of a broken fragment quoted back to the model.
const EXCERPT_CHARS: usize = 160;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    /// `<think>`: found like a call marker so that reasoning is skipped in order, and a
    /// `<think>` inside a call's argument (a file being edited) stays part of the call.
    Think,
    Tag,
    ToolCalls,
    PythonTag,
}

impl Marker {
    fn text(self) -> &'static str {
        match self {
            Self::Think => THINK_OPEN,
            Self::Tag => TAG_OPEN,
            Self::ToolCalls => TOOL_CALLS,
            Self::PythonTag => PYTHON_TAG,
        }
    }

    fn shape(self) -> &'static str {
        match self {
            Self::Think | Self::Tag => CallFormat::Hermes.expected_shape(),
            Self::ToolCalls => CallFormat::Mistral.expected_shape(),
            Self::PythonTag => CallFormat::Llama3.expected_shape(),
        }
    }
}

fn markers(format: CallFormat) -> &'static [Marker] {
    match format {
        CallFormat::Hermes => &[Marker::Think, Marker::Tag],
        CallFormat::Llama3 => &[Marker::Think, Marker::PythonTag],
        CallFormat::Mistral => &[Marker::Think, Marker::ToolCalls],
        CallFormat::Generic => &[
            Marker::Think,
            Marker::Tag,
            Marker::ToolCalls,
            Marker::PythonTag,
        ],
    }
}

pub(super) fn parse(format: CallFormat, text: &str) -> Parsed {
    let mut out = Collector {
        format,
        content: String::new(),
        calls: Vec::new(),
        errors: Vec::new(),
        budget: ScanBudget::for_text(text.len()),
    };
    let mut finder = MarkerFinder::new(format, text);
    let mut pos = 0;
    // A reply may begin inside a reasoning block that the template opened: only its end shows.
    if let Some(close) = find_ci(text, THINK_CLOSE) {
        let marker_first = finder.next_from(0).is_some_and(|(at, _)| at < close);
        if !marker_first && !inside_json(text, close) {
            pos = close + THINK_CLOSE.len();
        }
    }
    loop {
        let next = finder.next_from(pos);
        let limit = next.map_or(text.len(), |(at, _)| at);
        pos += out.prose(&text[pos..], limit - pos);
        let Some((at, marker)) = next else {
            break;
        };
        if pos > at {
            // The marker was inside a JSON string in the prose.
            continue;
        }
        let body_start = at + marker.text().len();
        let after = &text[body_start..];
        let used = match marker {
            // Reasoning is neither content nor calls; an unclosed block runs to the end.
            Marker::Think => {
                find_ci(after, THINK_CLOSE).map_or(after.len(), |c| c + THINK_CLOSE.len())
            }
            Marker::Tag => out.tag_region(after),
            Marker::ToolCalls => out.tool_calls_region(after),
            Marker::PythonTag => out.python_region(after),
        };
        pos = body_start + used;
    }
    out.finish()
}

/// The next marker of a format, remembering where each marker next occurs so that text with
/// many regions is still searched in linear time.
struct MarkerFinder<'a> {
    text: &'a str,
    next: Vec<(Marker, Option<usize>)>,
}

impl<'a> MarkerFinder<'a> {
    fn new(format: CallFormat, text: &'a str) -> Self {
        let next = markers(format)
            .iter()
            .map(|&m| (m, find_ci(text, m.text())))
            .collect();
        Self { text, next }
    }

    fn next_from(&mut self, from: usize) -> Option<(usize, Marker)> {
        for (marker, next) in &mut self.next {
            if next.is_some_and(|at| at < from) {
                *next = self
                    .text
                    .get(from..)
                    .and_then(|rest| find_ci(rest, marker.text()))
                    .map(|at| from + at);
            }
        }
        self.next
            .iter()
            .filter_map(|&(marker, at)| at.map(|at| (at, marker)))
            .min_by_key(|&(at, _)| at)
    }
}

/// ASCII-case-insensitive search (models write `<Tool_Call>` now and then). Needles start
/// with an ASCII byte, so every match is on a char boundary.
fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (hay, pat) = (haystack.as_bytes(), needle.as_bytes());
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    (0..=hay.len() - pat.len()).find(|&i| hay[i..i + pat.len()].eq_ignore_ascii_case(pat))
}

struct Collector {
    format: CallFormat,
    content: String,
    calls: Vec<(String, String)>,
    errors: Vec<String>,
    budget: ScanBudget,
}

impl Collector {
    fn finish(self) -> Parsed {
        // A model that omitted the opening tag still closes it; the stray tag is no prose.
        let content = remove_ci(&self.content, TAG_CLOSE);
        let calls = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| ToolCall {
                id: format!("call_{i}"),
                name,
                arguments,
            })
            .collect();
        Parsed {
            content: content.trim().to_string(),
            calls,
            errors: self.errors,
        }
    }

    fn record(&mut self, results: Vec<CallResult>, fragment: &str, shape: &str) {
        for result in results {
            match result {
                Ok(call) => self.calls.push(call),
                Err(problem) => self.errors.push(format!(
                    "could not read a tool call: {problem}. You wrote: {}. Write each call as:\n{shape}",
                    excerpt(fragment)
                )),
            }
        }
    }

    /// `<tool_call>` … `</tool_call>`; returns how much of `after` the region used. Every
    /// opening tag needs its closing tag before the next one: a missing one usually means the
    /// output was cut off mid-call.
    fn tag_region(&mut self, after: &str) -> usize {
        // The call's own JSON decides where it ends, so that a `</tool_call>` inside an
        // argument (a file that mentions the tag) does not cut the call short.
        let lead = after.len() - after.trim_start().len();
        if after[lead..].starts_with(['{', '[']) {
            if let Some(end) = self.budget.balanced_end(after, lead) {
                let tail = &after[end..];
                let gap = tail.len() - tail.trim_start().len();
                let closes = tail[gap..]
                    .get(..TAG_CLOSE.len())
                    .is_some_and(|t| t.eq_ignore_ascii_case(TAG_CLOSE));
                if closes {
                    let body = &after[..end];
                    self.record(json_calls(body), body, Marker::Tag.shape());
                    return end + gap + TAG_CLOSE.len();
                }
            }
        }
        // An unclosed call runs until the next tag outside its strings: a `<tool_call>` in an
        // argument is text, one after the JSON is the model starting over.
        let json_body = after[lead..].starts_with(['{', '[']);
        let next_tag = if json_body && !self.budget.spent() {
            self.budget.find_outside_strings(after, lead, TAG_OPEN)
        } else {
            find_ci(after, TAG_OPEN)
        };
        let limit = next_tag.unwrap_or(after.len());
        match find_ci(&after[..limit], TAG_CLOSE) {
            Some(end) => {
                let body = &after[..end];
                self.record(json_calls(body), body, Marker::Tag.shape());
                end + TAG_CLOSE.len()
            }
            None => {
                let body = &after[..limit];
                let problem = format!(
                    "`{TAG_OPEN}` was never closed with `{TAG_CLOSE}` (was the output cut off?)"
                );
                self.record(vec![Err(problem)], body, Marker::Tag.shape());
                limit
            }
        }
    }

    /// `[TOOL_CALLS]` followed by a JSON list or object, or by the newer
    /// `name[ARGS]{…}` / `name[CALL_ID]id[ARGS]{…}` form.
    fn tool_calls_region(&mut self, after: &str) -> usize {
        let start = after.len() - after.trim_start().len();
        let body = &after[start..];
        if body.starts_with(['[', '{']) {
            return match self.budget.balanced_end(body, 0) {
                Some(end) => {
                    self.record(
                        json_calls(&body[..end]),
                        &body[..end],
                        Marker::ToolCalls.shape(),
                    );
                    start + end
                }
                None => {
                    self.record(vec![Err(truncated())], body, Marker::ToolCalls.shape());
                    after.len()
                }
            };
        }
        let (result, used) = named_args_call(body, &mut self.budget);
        self.record(vec![result], &body[..used], Marker::ToolCalls.shape());
        start + used
    }

    /// `<|python_tag|>` up to the end of the message. The calls' own JSON decides where they
    /// end, so a marker inside an argument is just text.
    fn python_region(&mut self, after: &str) -> usize {
        let json_end = json_run_end(after, &mut self.budget);
        let rest = &after[json_end..];
        let stop = [PYTHON_TAG, LLAMA_ENDS[0], LLAMA_ENDS[1]]
            .iter()
            .filter_map(|m| rest.find(m))
            .min()
            .unwrap_or(rest.len());
        let end = json_end + stop;
        let body = &after[..end];
        self.record(json_calls(body), body, Marker::PythonTag.shape());
        let tail = &after[end..];
        end + LLAMA_ENDS
            .iter()
            .find(|m| tail.starts_with(**m))
            .map_or(0, |m| m.len())
    }

    /// Prose: `text` runs to the end of the output and the next marker starts at `limit`.
    /// Kept as content except for fenced or bare JSON shaped exactly like a call. A valid JSON
    /// span that starts before `limit` may run past it: the marker then sits inside one of its
    /// strings (a file that mentions `<think>`) and is no marker. Returns the bytes used, at
    /// least `limit`.
    fn prose(&mut self, text: &str, limit: usize) -> usize {
        let mut i = 0;
        let mut kept = 0;
        while i < limit {
            let Some(offset) = text[i..limit].find(['`', '{', '[']) else {
                break;
            };
            i += offset;
            let rest = &text[i..];
            let room = limit - i;
            if rest.starts_with("```") {
                match self.fence(rest, room) {
                    Fence::Call(used) => {
                        self.content.push_str(&text[kept..i]);
                        i += used;
                        kept = i;
                    }
                    Fence::Content(used) => i += used,
                }
                continue;
            }
            if rest.starts_with('`') || !starts_like_json(rest) {
                i += 1;
                continue;
            }
            // Past the budget the rest is left as content.
            if self.budget.spent() {
                break;
            }
            let end = self.budget.balanced_end(rest, 0);
            match end.map(|end| (end, self.bare(&rest[..end], end <= room))) {
                Some((end, Bare::Call)) => {
                    self.content.push_str(&text[kept..i]);
                    i += end;
                    kept = i;
                }
                // Valid JSON that is no call holds no call either.
                Some((end, Bare::Data)) => i += end,
                None if strongly_call_like(&rest[..room]) => {
                    self.content.push_str(&text[kept..i]);
                    let shape = self.format.expected_shape();
                    self.record(vec![Err(truncated())], &rest[..room], shape);
                    i = limit;
                    kept = limit;
                }
                _ => i += 1,
            }
        }
        let end = i.max(limit);
        self.content.push_str(&text[kept..end]);
        end
    }

    /// A fenced block starting at `text`, with the next marker `room` bytes ahead. Blocks in
    /// JSON (or no language) holding calls are calls. Blocks in a programming language are
    /// content, whole: they are not searched for bare JSON (code that builds JSON is no broken
    /// call) and a marker inside them is code. Other blocks yield to a marker inside them, so
    /// a call wrapped in a plain fence still counts.
    fn fence(&mut self, text: &str, room: usize) -> Fence {
        let info_end = text.find('\n').unwrap_or(text.len());
        if info_end > room {
            return Fence::Content(room);
        }
        let info = text[3..info_end].trim().to_ascii_lowercase();
        let body_start = (info_end + 1).min(text.len());
        let close = json_fence_close(text, body_start, &mut self.budget)
            .or_else(|| text[body_start..].find("```").map(|c| body_start + c));
        let body = &text[body_start..close.unwrap_or(text.len())];
        let used = close.map_or(text.len(), |c| c + 3);
        let jsonish = matches!(
            info.as_str(),
            "" | "json" | "tool_call" | "tool_code" | "xml"
        );
        let shape = self.format.expected_shape();
        if close.is_none() {
            // An unclosed block hides nothing: the model may have moved on to a real call.
            let within = &text[body_start.min(room)..room];
            if jsonish && strongly_call_like(within.trim_start()) {
                self.record(vec![Err(truncated())], within, shape);
                return Fence::Call(room);
            }
            return Fence::Content(room);
        }
        if !jsonish {
            return Fence::Content(used);
        }
        let trimmed = body.trim();
        match serde_json::from_str::<Value>(trimmed) {
            Ok(value) => match calls_in(value, Strictness::Prose) {
                Some(results) => {
                    self.record(results, trimmed, shape);
                    Fence::Call(used)
                }
                None => Fence::Content(used),
            },
            Err(e) if used <= room && strongly_call_like(trimmed) => {
                self.record(vec![Err(json_problem(&e, trimmed))], trimmed, shape);
                Fence::Call(used)
            }
            Err(_) => Fence::Content(used.min(room)),
        }
    }

    /// A balanced `{…}` / `[…]` in prose. A broken call is reported only when it ends
    /// before the next marker (`may_be_broken`); past it, only valid JSON counts.
    fn bare(&mut self, fragment: &str, may_be_broken: bool) -> Bare {
        match serde_json::from_str::<Value>(fragment) {
            Ok(value) => match calls_in(value, Strictness::Prose) {
                Some(results) => {
                    self.record(results, fragment, self.format.expected_shape());
                    Bare::Call
                }
                None => Bare::Data,
            },
            Err(e)
                if may_be_broken
                    && strongly_call_like(fragment)
                    && mentions_arguments(fragment) =>
            {
                let problem = json_problem(&e, fragment);
                self.record(vec![Err(problem)], fragment, self.format.expected_shape());
                Bare::Call
            }
            Err(_) => Bare::Invalid,
        }
    }
}

/// What a bracketed fragment in prose turned out to be.
enum Bare {
    /// A call, or a broken one reported as an error: not content.
    Call,
    /// Valid JSON that is not a call: content, and nothing inside it is a call either.
    Data,
    /// Not JSON: content, but a call may start further inside.
    Invalid,
}

enum Fence {
    /// Taken as calls (or a broken call); the block is not content. Holds the bytes used.
    Call(usize),
    /// Left as content. Holds the bytes used.
    Content(usize),
}

/// `name[ARGS]{…}` or `name[CALL_ID]id[ARGS]{…}`; returns the call and the bytes used.
fn named_args_call(body: &str, budget: &mut ScanBudget) -> (CallResult, usize) {
    // The name and `[ARGS]` follow the marker closely; a bounded look keeps a stream of
    // broken markers linear.
    let mut window = body.len().min(MAX_NAMED_HEAD);
    while !body.is_char_boundary(window) {
        window -= 1;
    }
    let head = &body[..window];
    let line_end = head.find('\n').unwrap_or(window);
    let Some(args_at) = head.find("[ARGS]") else {
        return (
            Err("expected a JSON list of calls after `[TOOL_CALLS]`".to_string()),
            line_end,
        );
    };
    let before = &body[..args_at];
    let name = before.split("[CALL_ID]").next().unwrap_or(before).trim();
    let args_start = args_at + "[ARGS]".len();
    let args_text = &body[args_start..];
    let skip = args_text.len() - args_text.trim_start().len();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return (
            Err("expected the tool name right after `[TOOL_CALLS]`".to_string()),
            line_end.max(args_start),
        );
    }
    if !args_text[skip..].starts_with('{') {
        return (
            Err("`[ARGS]` must be followed by a JSON object".to_string()),
            line_end.max(args_start),
        );
    }
    match budget.balanced_end(args_text, skip) {
        None => (Err(truncated()), body.len()),
        Some(end) => {
            let used = args_start + end;
            let result = serde_json::from_str::<Value>(&args_text[skip..end])
                .map_err(|e| json_problem(&e, &args_text[skip..end]))
                .and_then(|args| arguments_text(Some(args)))
                .map(|args| (name.to_string(), args));
            (result, used)
        }
    }
}

/// `needle` removed everywhere, ignoring ASCII case.
fn remove_ci(text: &str, needle: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_ci(rest, needle) {
        out.push_str(&rest[..at]);
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}

fn excerpt(fragment: &str) -> String {
    let fragment = fragment.trim();
    let mut cut: String = fragment.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < fragment.len() {
        cut.push('…');
    }
    format!("`{cut}`")
}
