//! Chat formats for GGUFs that ship no `tokenizer.chat_template`.
//!
//! A model must be prompted in the turn markup it was trained on: wrapping a Gemma in ChatML
//! turns its special tokens into plain text it never saw. llama.cpp knows these families as
//! built-in templates, but only picks them by matching a template's text, and a file without
//! one gets nothing. lode picks the family from what the file says about itself — the
//! architecture and, since fine-tunes change the markup but keep its tokens, which turn
//! markers the vocabulary has as single tokens — and falls back to ChatML only when nothing
//! better is known.
//!
//! These templates render roles and content only (system folded in where the family has no
//! system turn). What they cannot render — tools, calls, results — is found by probing them
//! like any other template ([`super::caps`]) and supplied by the caller.

use super::{ChatTemplate, SpecialTokens};

/// A family of turn markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `<start_of_turn>user … <end_of_turn>`, `model` for the assistant, no system turn.
    Gemma,
    /// `<|start_header_id|>role<|end_header_id|>\n\n … <|eot_id|>`.
    Llama3,
    /// `<|user|>\n … <|end|>\n`.
    Phi3,
    /// `<|im_start|>role\n … <|im_end|>\n`, with Hermes tool schemas in the system turn.
    Chatml,
}

impl Family {
    /// The family's name as lode reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gemma => "gemma",
            Self::Llama3 => "llama3",
            Self::Phi3 => "phi3",
            Self::Chatml => "chatml",
        }
    }

    /// The family for a file with architecture `arch` whose vocabulary has the tokens for
    /// which `has_token` is true. Turn markers decide first (a Llama fine-tune in ChatML
    /// keeps `<|im_start|>`), the architecture second.
    pub fn detect(arch: &str, has_token: impl Fn(&str) -> bool) -> Self {
        if has_token("<start_of_turn>") && has_token("<end_of_turn>") {
            Self::Gemma
        } else if has_token("<|start_header_id|>") && has_token("<|eot_id|>") {
            Self::Llama3
        } else if has_token("<|im_start|>") && has_token("<|im_end|>") {
            Self::Chatml
        } else if has_token("<|user|>") && has_token("<|end|>") && has_token("<|assistant|>") {
            Self::Phi3
        } else if arch.starts_with("gemma") {
            Self::Gemma
        } else if arch.starts_with("phi3") {
            Self::Phi3
        } else {
            Self::Chatml
        }
    }

    /// The compiled template; `bos` is printed first where the family starts with it.
    pub fn template(self, bos: &str) -> ChatTemplate {
        let (source, eos) = match self {
            Self::Gemma => (GEMMA, "<end_of_turn>"),
            Self::Llama3 => (LLAMA3, "<|eot_id|>"),
            Self::Phi3 => (PHI3, "<|end|>"),
            Self::Chatml => return ChatTemplate::chatml(),
        };
        let special = SpecialTokens {
            bos: bos.to_owned(),
            eos: eos.to_owned(),
        };
        match ChatTemplate::new(source, special) {
            Ok(template) => template,
            // Constants that the unit tests compile; failing here is a broken build.
            Err(e) => unreachable!("built-in {self:?} template does not compile: {e}"),
        }
    }
}

/// Gemma's turns as Google's templates write them: the system text opens the first user turn.
const GEMMA: &str = r#"{{- bos_token }}
{%- if messages and messages[0].role == 'system' %}
{%- set first_user_prefix = messages[0].content + '\n\n' %}
{%- set loop_messages = messages[1:] %}
{%- else %}
{%- set first_user_prefix = '' %}
{%- set loop_messages = messages %}
{%- endif %}
{%- for message in loop_messages %}
{%- if message.role == 'user' or message.role == 'assistant' %}
{%- set role = 'model' if message.role == 'assistant' else 'user' %}
{{- '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message.content + '<end_of_turn>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<start_of_turn>model\n' }}
{%- endif %}"#;

const LLAMA3: &str = r#"{{- bos_token }}
{%- for message in messages %}
{%- if message.role in ['system', 'user', 'assistant'] %}
{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + message.content + '<|eot_id|>' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}"#;

const PHI3: &str = r#"{%- for message in messages %}
{%- if message.role in ['system', 'user', 'assistant'] %}
{{- '<|' + message.role + '|>\n' + message.content + '<|end|>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|assistant|>\n' }}
{%- endif %}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::template::RenderOptions;
    use pretty_assertions::assert_eq;

    fn convo() -> Vec<serde_json::Value> {
        serde_json::from_str(
            r#"[{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"}]"#,
        )
        .unwrap()
    }

    fn render(family: Family, bos: &str) -> String {
        let opts = RenderOptions {
            add_generation_prompt: true,
            ..RenderOptions::default()
        };
        family.template(bos).render_json(&convo(), &opts).unwrap()
    }

    #[test]
    fn gemma_folds_the_system_turn_into_the_first_user_turn() {
        assert_eq!(
            render(Family::Gemma, "<bos>"),
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn llama3_and_phi3_render_their_headers() {
        assert_eq!(
            render(Family::Llama3, "<|begin_of_text|>"),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            render(Family::Phi3, ""),
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n"
        );
    }

    #[test]
    fn family_comes_from_turn_tokens_before_the_architecture() {
        let none = |_: &str| false;
        assert_eq!(Family::detect("gemma3", none), Family::Gemma);
        assert_eq!(Family::detect("phi3", none), Family::Phi3);
        assert_eq!(Family::detect("llama", none), Family::Chatml);
        let llama3 = |t: &str| matches!(t, "<|start_header_id|>" | "<|eot_id|>");
        assert_eq!(Family::detect("llama", llama3), Family::Llama3);
        let chatml = |t: &str| matches!(t, "<|im_start|>" | "<|im_end|>");
        assert_eq!(Family::detect("gemma3", chatml), Family::Chatml);
    }
}
