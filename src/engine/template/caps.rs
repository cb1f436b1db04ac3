//! What a chat template can render, found by rendering it.
//!
//! Most GGUFs people have (Gemma, Phi, older Llama and Mistral builds, SmolLM2, many
//! fine-tunes) carry templates that never mention `tools`: the tool list given to them
//! silently disappears, and so do the calls a model made and the results it got. Names and
//! markers in the template source say little (a template may mention `tool` in a comment, or
//! handle tools under another key), so each capability is tested the only reliable way:
//! render a probe conversation that has it and look for the probe's unique strings in the
//! output. A template that fails to render a probe lacks that capability.

use serde::Serialize;
use serde_json::{json, Value};

use super::{ChatTemplate, RenderOptions};

/// What a template renders of a conversation beyond user and assistant text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TemplateCaps {
    /// A `system` message's text appears (in a system turn or folded into a user turn).
    pub system: bool,
    /// Tool definitions passed as `tools` appear, name and description.
    pub tools: bool,
    /// An assistant message's `tool_calls` appear, name and arguments.
    pub tool_calls: bool,
    /// A `tool` message's content appears.
    pub tool_results: bool,
}

impl TemplateCaps {
    /// Renders probe conversations with `template` and reports what survived.
    pub fn probe(template: &ChatTemplate) -> Self {
        let render = |messages: &[Value], tools: Vec<Value>| -> Option<String> {
            let opts = RenderOptions {
                add_generation_prompt: true,
                tools,
                today: super::CalendarDate::new(2026, 1, 1),
                ..RenderOptions::default()
            };
            template.render_json(messages, &opts).ok()
        };
        let user = json!({"role": "user", "content": "Hello."});
        let system = json!({"role": "system", "content": SYSTEM_MARK});
        let has = |out: Option<String>, marks: &[&str]| {
            out.is_some_and(|text| marks.iter().all(|m| text.contains(m)))
        };

        let system_ok = has(
            render(&[system.clone(), user.clone()], vec![]),
            &[SYSTEM_MARK],
        );
        let tools_ok = has(
            render(&[system, user.clone()], vec![probe_tool()]),
            &[TOOL_NAME, TOOL_DESCRIPTION],
        );
        let call = json!({"role": "assistant", "content": "", "tool_calls": [{
            "id": "call_0", "type": "function",
            "function": {"name": TOOL_NAME, "arguments": {ARGUMENT_KEY: ARGUMENT_VALUE}}}]});
        let calls_ok = has(
            render(&[user.clone(), call.clone()], vec![probe_tool()]),
            &[TOOL_NAME, ARGUMENT_KEY, ARGUMENT_VALUE],
        );
        let result = json!({"role": "tool", "content": RESULT_MARK,
            "tool_call_id": "call_0", "name": TOOL_NAME});
        // A template may render results only after a call it can render; try both shapes of
        // the call before deciding.
        let plain_call = json!({"role": "assistant", "content": "calling"});
        let results_ok = has(
            render(&[user.clone(), call, result.clone()], vec![probe_tool()]),
            &[RESULT_MARK],
        ) || has(
            render(&[user, plain_call, result], vec![probe_tool()]),
            &[RESULT_MARK],
        );
        Self {
            system: system_ok,
            tools: tools_ok,
            tool_calls: calls_ok,
            tool_results: results_ok,
        }
    }
}

// Probe strings no real conversation contains, so finding one in the output proves the
// template printed that part of the probe.
const SYSTEM_MARK: &str = "lode-probe-system-7f3a";
const TOOL_NAME: &str = "lode_probe_tool_7f3a";
const TOOL_DESCRIPTION: &str = "lode-probe-description-7f3a";
const ARGUMENT_KEY: &str = "lode_probe_argument_7f3a";
const ARGUMENT_VALUE: &str = "lode-probe-value-7f3a";
const RESULT_MARK: &str = "lode-probe-result-7f3a";

fn probe_tool() -> Value {
    json!({"type": "function", "function": {
        "name": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "parameters": {"type": "object",
            "properties": {ARGUMENT_KEY: {"type": "string"}},
            "required": [ARGUMENT_KEY]}}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::template::builtin::Family;
    use crate::engine::template::SpecialTokens;

    fn caps(source: &str) -> TemplateCaps {
        TemplateCaps::probe(&ChatTemplate::new(source, SpecialTokens::default()).unwrap())
    }

    /// SmolLM2-135M-Instruct's own template (ChatML, no tools): what the real model ships.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn a_chatml_template_without_tools_renders_system_and_results_but_not_tools_or_calls() {
        assert_eq!(
            caps(SMOLLM2),
            TemplateCaps {
                system: true,
                tools: false,
                tool_calls: false,
                // Its loop prints every role, `tool` included.
                tool_results: true,
            }
        );
    }

    #[test]
    fn lodes_chatml_renders_tools_but_writes_no_calls() {
        let caps = TemplateCaps::probe(&ChatTemplate::chatml());
        assert!(caps.system && caps.tools && caps.tool_results);
        assert!(
            !caps.tool_calls,
            "calls are written into the content by the caller"
        );
    }

    #[test]
    fn gemma_has_no_tools_and_no_tool_role_but_keeps_the_system_text() {
        assert_eq!(
            TemplateCaps::probe(&Family::Gemma.template("<bos>")),
            TemplateCaps {
                system: true,
                ..TemplateCaps::default()
            }
        );
    }

    #[test]
    fn a_template_that_raises_on_a_role_lacks_it() {
        let strict = "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('bad role') }}{% endif %}[{{ m.role }}]{{ m.content }}{% endfor %}";
        assert_eq!(caps(strict), TemplateCaps::default());
    }

    #[test]
    fn a_tool_template_has_everything() {
        let full = r#"{%- if tools %}{% for t in tools %}{{ t | tojson }}{% endfor %}{% endif %}
{%- for m in messages %}{{ m.role }}: {{ m.content }}
{%- if m.tool_calls %}{% for c in m.tool_calls %}<call>{{ c.function | tojson }}</call>{% endfor %}{% endif %}
{% endfor %}"#;
        assert_eq!(
            caps(full),
            TemplateCaps {
                system: true,
                tools: true,
                tool_calls: true,
                tool_results: true,
            }
        );
    }
}
