use super::*;
use pretty_assertions::assert_eq;
use serde_json::json;

fn specs() -> Vec<ToolSpec> {
    crate::tools::all().iter().map(|t| t.spec()).collect()
}

#[test]
fn every_tools_bounded_call_fits_the_budget() {
    for budget in [600, 1024, 2048, 8192] {
        for spec in specs() {
            let bounded = bounded_arguments(&spec.parameters, budget);
            let worst = worst_case(&bounded, 0);
            assert!(
                worst + ENVELOPE <= budget
                    || worst_case(&bound(&spec.parameters, MIN_STRING), 0) == worst,
                "{}: worst case {worst} + envelope over {budget}",
                spec.name
            );
            assert!(
                worst < usize::MAX / 4,
                "{}: unbounded: {bounded}",
                spec.name
            );
        }
    }
}

#[test]
fn strings_get_limits_and_enums_and_required_keys_stay() {
    let schema = json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "a file"},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "steps": {"type": "array", "items": {"type": "string", "maxLength": 5}}
        },
        "required": ["path"],
        "additionalProperties": false
    });
    let bounded = bounded_arguments(&schema, 1000);
    let limit = bounded["properties"]["path"]["maxLength"].as_u64().unwrap();
    assert!(limit > 100, "{bounded}");
    assert_eq!(
        bounded["properties"]["mode"],
        json!({"type": "string", "enum": ["a", "b"]})
    );
    assert_eq!(bounded["properties"]["steps"]["maxItems"], json!(MAX_ITEMS));
    // A tighter limit of the schema's own is kept.
    assert_eq!(
        bounded["properties"]["steps"]["items"]["maxLength"],
        json!(5)
    );
    assert_eq!(bounded["required"], json!(["path"]));
    assert_eq!(bounded["additionalProperties"], json!(false));
    assert!(bounded["properties"]["path"].get("description").is_none());
}

#[test]
fn a_larger_budget_gives_longer_strings() {
    let edit = specs().into_iter().find(|s| s.name == "edit_file").unwrap();
    let small = bounded_arguments(&edit.parameters, 1024);
    let large = bounded_arguments(&edit.parameters, 4096);
    let limit = |v: &Value| v["properties"]["new"]["maxLength"].as_u64().unwrap();
    assert!(limit(&small) < limit(&large), "{small} vs {large}");
}

#[test]
fn the_grammar_offers_one_call_per_tool_and_the_answer() {
    let specs = specs();
    let tools: Vec<HeldTool<'_>> = specs
        .iter()
        .take(2)
        .map(|spec| HeldTool {
            spec,
            arguments_gbnf: "root ::= \"{}\"\n".to_string(),
        })
        .collect();
    let Grammar::Gbnf { text, root } = held_grammar(CallFormat::Hermes, &tools, HeldAnswer::Prose)
    else {
        panic!("a held turn is held from its first token");
    };
    assert_eq!(root, "root");
    assert!(text.starts_with("root ::= envelope | answer\n"), "{text}");
    assert!(
        text.contains("envelope ::= \"<tool_call>\" nl ( call0 | call1 ) nl \"</tool_call>\""),
        "{text}"
    );
    assert!(text.contains(&format!("call0 ::= \"{{\\\"name\\\": \" \"\\\"{}\\\"\" \", \\\"arguments\\\": \" t0-root \"}}\"", specs[0].name)), "{text}");
    assert!(text.contains("t1-root ::= \"{}\""), "{text}");
    let Grammar::Gbnf { text, .. } = held_grammar(
        CallFormat::Hermes,
        &[],
        HeldAnswer::Gbnf("root ::= \"{}\"\n"),
    ) else {
        panic!("a held turn is held from its first token");
    };
    assert_eq!(text, "root ::= answer-root\nanswer-root ::= \"{}\"\n");
}
