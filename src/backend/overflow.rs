//! A request too long for the model's context, told apart from every other refusal. Servers
//! say it in their own words (llama-server, vLLM, OpenAI, Anthropic) and the engine in its
//! own error; all of them become one [`Overflow`], with the numbers the answer gave, so the
//! agent can compact and retry instead of failing the task — and learns the real context
//! length when it did not know it.

use serde_json::Value;

use crate::backend::http::quote;

/// What a context-overflow answer said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// Tokens of the prompt the server counted, when it said.
    pub prompt_tokens: Option<u32>,
    /// The model's context length, when the answer gave it.
    pub context: Option<u32>,
    /// The output tokens the server added to the prompt (`max_tokens`), when it counted them:
    /// then the prompt itself may fit, and a smaller `max_tokens` is the fix.
    pub output_tokens: Option<u32>,
    /// The server's (or engine's) own words, quoted.
    pub message: String,
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The overflow an HTTP error answer reports, if it is one: llama-server, vLLM, OpenAI and
/// Anthropic all answer 400 (a proxy may say 413) with their own body.
pub(crate) fn from_status(status: u16, body: &str) -> Option<Overflow> {
    if !matches!(status, 400 | 413) {
        return None;
    }
    from_body(body)
}

/// The overflow an error body (or an in-stream error event) reports, if it is one.
pub(crate) fn from_body(body: &str) -> Option<Overflow> {
    let json = serde_json::from_str::<Value>(body.trim()).ok();
    let error = json.as_ref().map(|j| j.get("error").unwrap_or(j));
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str);
    let message = match error {
        Some(error) => crate::backend::http::json_error_message(error),
        None => quote(body.trim()),
    };
    // The full text, since the quoted message may be cut before the numbers.
    let text = field("message").map_or_else(|| body.to_owned(), str::to_owned);
    let coded = matches!(
        field("type"),
        Some("exceed_context_size_error" | "context_length_exceeded")
    ) || field("code") == Some("context_length_exceeded");
    if !coded && !worded(&text) {
        return None;
    }
    let count = |name: &str| {
        error
            .and_then(|e| e.get(name))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let mut overflow = numbers(&text);
    overflow.prompt_tokens = count("n_prompt_tokens").or(overflow.prompt_tokens);
    overflow.context = count("n_ctx").or(overflow.context);
    overflow.message = message;
    Some(overflow)
}

/// The engine's own refusal of a prompt longer than its context.
pub fn from_engine(prompt: usize, n_ctx: u32) -> Overflow {
    Overflow {
        prompt_tokens: Some(u32::try_from(prompt).unwrap_or(u32::MAX)),
        context: Some(n_ctx),
        output_tokens: None,
        message: format!("the prompt has {prompt} tokens but the context holds {n_ctx}"),
    }
}

/// Whether `text` is one of the known overflow wordings.
fn worded(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        // llama-server
        "exceeds the available context size",
        // OpenAI and vLLM
        "maximum context length is",
        // Anthropic: the prompt alone, or the prompt with max_tokens
        "prompt is too long",
        "exceed context limit",
        "context_length_exceeded",
    ]
    .iter()
    .any(|wording| lower.contains(wording))
}

/// The numbers in a known wording.
fn numbers(text: &str) -> Overflow {
    let mut found = Overflow {
        prompt_tokens: None,
        context: None,
        output_tokens: None,
        message: String::new(),
    };
    // llama-server: "request (8211 tokens) exceeds the available context size (8192 tokens)"
    if let Some(at) = text.find("exceeds the available context size") {
        found.prompt_tokens = last_number(&text[..at]);
        found.context = first_number(&text[at..]);
    }
    // OpenAI and vLLM: "maximum context length is 4096 tokens. However, you requested 5000
    // tokens (4000 in the messages, 1000 in the completion)" or "your messages resulted in
    // 8500 tokens" or "your request has 2100 input tokens".
    if let Some(at) = text.find("maximum context length is") {
        let rest = &text[at..];
        found.context = first_number(rest);
        let after_context = rest.find("tokens").map_or("", |end| &rest[end..]);
        if let Some(messages) = after_context.find(" in the messages") {
            found.prompt_tokens = last_number(&after_context[..messages]);
            found.output_tokens = after_context
                .find(" in the completion")
                .and_then(|end| last_number(&after_context[..end]));
        } else {
            found.prompt_tokens = first_number(after_context);
        }
    }
    // Anthropic: "prompt is too long: 208000 tokens > 200000 maximum"
    if let Some(at) = text.find("prompt is too long") {
        let rest = &text[at..];
        found.prompt_tokens = first_number(rest);
        found.context = rest.find('>').and_then(|gt| first_number(&rest[gt..]));
    }
    // Anthropic: "input length and `max_tokens` exceed context limit: 199000 + 21333 > 200000"
    if let Some(at) = text.find("exceed context limit") {
        let rest = &text[at..];
        found.prompt_tokens = first_number(rest);
        found.output_tokens = rest.find('+').and_then(|plus| first_number(&rest[plus..]));
        found.context = rest.find('>').and_then(|gt| first_number(&rest[gt..]));
    }
    found
}

fn runs_of_digits(text: &str) -> impl DoubleEndedIterator<Item = u32> + '_ {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
        .filter_map(|run| run.parse().ok())
}

fn first_number(text: &str) -> Option<u32> {
    runs_of_digits(text).next()
}

fn last_number(text: &str) -> Option<u32> {
    runs_of_digits(text).next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers_of(overflow: &Overflow) -> (Option<u32>, Option<u32>, Option<u32>) {
        (
            overflow.prompt_tokens,
            overflow.context,
            overflow.output_tokens,
        )
    }

    #[test]
    fn llama_server_overflow_gives_prompt_and_context() {
        // The body the real llama-server answers (fixtures/remote/llama-server/).
        let body = r#"{"error":{"code":400,"message":"request (8211 tokens) exceeds the available context size (8192 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":8211,"n_ctx":8192}}"#;
        let overflow = from_status(400, body).unwrap();
        assert_eq!(numbers_of(&overflow), (Some(8211), Some(8192), None));
        assert!(overflow
            .message
            .starts_with("request (8211 tokens) exceeds"));
    }

    #[test]
    fn the_wording_alone_is_enough_without_the_fields() {
        let body = r#"{"error":{"code":400,"message":"request (3000 tokens) exceeds the available context size (2048 tokens), try increasing it","type":"invalid_request_error"}}"#;
        let overflow = from_status(400, body).unwrap();
        assert_eq!(numbers_of(&overflow), (Some(3000), Some(2048), None));
    }

    #[test]
    fn vllm_overflow_counts_the_completion_apart() {
        // vLLM's BadRequestError, as its OpenAI server answers it (not recordable here).
        let body = r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}"#;
        let overflow = from_status(400, body).unwrap();
        assert_eq!(numbers_of(&overflow), (Some(4000), Some(4096), Some(1000)));
    }

    #[test]
    fn openai_overflow_is_known_by_its_code_and_wording() {
        // OpenAI's documented shape (not recordable here).
        let body = r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 8500 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let overflow = from_status(400, body).unwrap();
        assert_eq!(numbers_of(&overflow), (Some(8500), Some(8192), None));
        let coded_only = r#"{"error":{"message":"Too long.","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        assert_eq!(
            numbers_of(&from_status(400, coded_only).unwrap()),
            (None, None, None)
        );
    }

    #[test]
    fn anthropic_overflows_prompt_alone_and_with_max_tokens() {
        // Anthropic's real-world wordings (not recordable here).
        let prompt = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208000 tokens > 200000 maximum"}}"#;
        assert_eq!(
            numbers_of(&from_status(400, prompt).unwrap()),
            (Some(208_000), Some(200_000), None)
        );
        let with_output = r#"{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 199000 + 21333 > 200000, decrease input length or `max_tokens` and try again"}}"#;
        assert_eq!(
            numbers_of(&from_status(400, with_output).unwrap()),
            (Some(199_000), Some(200_000), Some(21_333))
        );
        assert_eq!(
            numbers_of(&from_status(413, prompt).unwrap()),
            (Some(208_000), Some(200_000), None),
            "a proxy's 413 with the same body"
        );
    }

    #[test]
    fn other_refusals_are_not_overflows() {
        for (status, body) in [
            (
                400,
                r#"{"error":{"message":"'messages' must be an array","type":"invalid_request_error"}}"#,
            ),
            (
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 9999999 > 8192, which is the maximum allowed"}}"#,
            ),
            (400, "bad request"),
            (400, ""),
            // Overflow wording with a status that means something else.
            (
                500,
                r#"{"error":{"message":"request (9000 tokens) exceeds the available context size (8192 tokens)"}}"#,
            ),
            (
                404,
                r#"{"error":{"code":"context_length_exceeded","message":"x"}}"#,
            ),
        ] {
            assert_eq!(from_status(status, body), None, "{status} {body}");
        }
    }

    #[test]
    fn the_engines_refusal_is_the_same_overflow() {
        let error = crate::backend::BackendError::from(crate::engine::EngineError::PromptTooLong {
            prompt: 5000,
            n_ctx: 4096,
        });
        match error {
            crate::backend::BackendError::ContextOverflow(overflow) => {
                assert_eq!(numbers_of(&overflow), (Some(5000), Some(4096), None));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            crate::backend::BackendError::from(crate::engine::EngineError::WorkerGone),
            crate::backend::BackendError::Engine(_)
        ));
    }

    #[test]
    fn a_plain_text_body_with_the_wording_is_an_overflow() {
        let overflow = from_body("prompt is too long: 3000 tokens > 2048 maximum").unwrap();
        assert_eq!(numbers_of(&overflow), (Some(3000), Some(2048), None));
    }
}
