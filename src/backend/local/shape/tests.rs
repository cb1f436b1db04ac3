use super::*;
use crate::backend::ToolCall;
use crate::engine::template::builtin::Family;
use crate::engine::template::{ChatTemplate, RenderOptions, SpecialTokens};
use pretty_assertions::assert_eq;

/// SmolLM2-135M-Instruct's own template: ChatML that never mentions tools.
const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

fn shape_of(template: &ChatTemplate) -> PromptShape {
    // Every template here either speaks Hermes calls or gets them taught.
    PromptShape {
        caps: TemplateCaps::probe(template),
        format: CallFormat::Hermes,
    }
}

fn conversation() -> Vec<Message> {
    let call = ToolCall {
        id: "call_0".into(),
        name: "read_file".into(),
        arguments: r#"{"path":"src/lib.rs"}"#.into(),
    };
    let mut asked = Message::assistant("");
    asked.tool_calls = vec![call.clone()];
    vec![
        Message::system("You are lode."),
        Message::user("What is in lib.rs?"),
        asked,
        Message::tool(&call, "pub fn add() {}"),
        Message::user("Your tests failed."),
    ]
}

fn render(template: &ChatTemplate, messages: &[Message]) -> String {
    let shape = shape_of(template);
    let tools = crate::tools::all()
        .iter()
        .map(|t| t.spec())
        .filter(|s| s.name == "read_file")
        .collect::<Vec<_>>();
    let opts = RenderOptions {
        add_generation_prompt: true,
        tools: shape.template_tools(&tools),
        ..RenderOptions::default()
    };
    template
        .render_json(&shape.messages(messages, &tools), &opts)
        .unwrap()
}

#[test]
fn a_template_without_tools_gets_them_in_the_system_turn_and_sees_calls_and_results() {
    let template = ChatTemplate::new(SMOLLM2, SpecialTokens::default()).unwrap();
    let text = render(&template, &conversation());
    assert!(
        text.starts_with("<|im_start|>system\nYou are lode.\n\n# Tools\n"),
        "{text}"
    );
    assert!(
        text.contains("<tools>\n{\"type\":\"function\",\"function\":{\"name\":\"read_file\""),
        "{text}"
    );
    assert!(text.contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\":\"src/lib.rs\"}}\n</tool_call><|im_end|>"), "{text}");
    // SmolLM2's loop prints any role, so its results stay tool turns.
    assert!(
        text.contains("<|im_start|>tool\npub fn add() {}<|im_end|>"),
        "{text}"
    );
}

#[test]
fn gemma_turns_carry_results_as_user_turns_and_roles_alternate() {
    let template = Family::Gemma.template("<bos>");
    let text = render(&template, &conversation());
    let tail = text.rsplit("</tools>").next().unwrap();
    assert_eq!(
        tail.split_once("<end_of_turn>").unwrap().1,
        "\n<start_of_turn>model\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\":\"src/lib.rs\"}}\n</tool_call><end_of_turn>\n<start_of_turn>user\n<tool_response>\npub fn add() {}\n</tool_response>\n\nYour tests failed.<end_of_turn>\n<start_of_turn>model\n"
    );
    assert!(
        text.starts_with("<bos><start_of_turn>user\nYou are lode.\n\n# Tools"),
        "{text}"
    );
}

#[test]
fn each_turns_prompt_starts_with_the_previous_ones() {
    for template in [
        ChatTemplate::new(SMOLLM2, SpecialTokens::default()).unwrap(),
        Family::Gemma.template("<bos>"),
        ChatTemplate::chatml(),
    ] {
        let all = conversation();
        // Every prefix that ends where a model turn would begin (after a user or tool turn).
        let mut previous: Option<String> = None;
        for n in [2, 4, 5] {
            let without_prompt = {
                let shape = shape_of(&template);
                let opts = RenderOptions::default();
                template
                    .render_json(&shape.messages(&all[..n], &[]), &opts)
                    .unwrap()
            };
            if let Some(prev) = &previous {
                // Merged user turns extend the last one: the shared part is everything up to
                // its end marker.
                let cut = prev
                    .rfind("<end_of_turn>")
                    .or(prev.rfind("<|im_end|>"))
                    .unwrap();
                assert!(
                    without_prompt.starts_with(&prev[..cut]),
                    "{prev}\n---\n{without_prompt}"
                );
            }
            previous = Some(without_prompt);
        }
    }
}

#[test]
fn a_template_without_a_system_role_gets_it_in_the_first_user_turn() {
    let user_only = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system') }}{% endif %}[{{ m.role }}]{{ m.content }}{% endfor %}";
    let template = ChatTemplate::new(user_only, SpecialTokens::default()).unwrap();
    let text = render(&template, &conversation()[..2]);
    assert!(text.starts_with("[user]You are lode.\n\n# Tools"), "{text}");
    assert!(text.ends_with("</tools>\n\nFor each function call, return a JSON object with the function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>\nEach result comes back in the next user turn within <tool_response></tool_response> XML tags. When you have the final answer, reply with text and no tool call.\n\nWhat is in lib.rs?"), "{text}");
}
