//! Rule renaming in GBNF text, and the grammar that offers calls or a schema-bound answer.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::super::grammar::prefix_rules;
use super::*;
use crate::engine::{json_schema_gbnf, Grammar};

#[test]
fn prefix_rules_renames_definitions_and_references_only() {
    let gbnf = r#"root ::= "root" space item{1,3} ( "," item )* # root ::= comment
item ::= [a-z\]"root] | "say \"root\" \\" x-1_b
x-1_b ::= [^"\\\x7F]{0,20} #"unclosed [ in a comment
space ::= | " " | "\n"{1,2} [ \t]{0,20}
"#;
    let expected = r#"a-root ::= "root" a-space a-item{1,3} ( "," a-item )* # root ::= comment
a-item ::= [a-z\]"root] | "say \"root\" \\" a-x-1_b
a-x-1_b ::= [^"\\\x7F]{0,20} #"unclosed [ in a comment
a-space ::= | " " | "\n"{1,2} [ \t]{0,20}
"#;
    assert_eq!(prefix_rules(gbnf, "a-"), expected);
}

#[test]
fn prefix_rules_keeps_non_ascii_and_unclosed_pieces() {
    assert_eq!(
        prefix_rules("r ::= \"é日🦀\" [é-ü]", "p-"),
        "p-r ::= \"é日🦀\" [é-ü]"
    );
    // Broken text stays broken (llama.cpp reports it), without panicking or inventing text.
    assert_eq!(prefix_rules("r ::= \"open", "p-"), "p-r ::= \"open");
    assert_eq!(prefix_rules("r ::= x{1,", "p-"), "p-r ::= p-x{1,");
    assert_eq!(prefix_rules("r ::= \"\\", "p-"), "p-r ::= \"\\");
    assert_eq!(prefix_rules("", "p-"), "");
}

fn findings_schema() -> serde_json::Value {
    json!({"type": "object", "properties": {"findings": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "path": {"type": "string", "enum": ["src/a.rs", "b c.py"]},
            "line": {"type": "integer", "minimum": 0},
            "title": {"const": "root ::= \"x\" # [y]{1,2}"}
        },
        "required": ["path", "line", "title"],
        "additionalProperties": false
    }}}, "required": ["findings"], "additionalProperties": false})
}

/// On the converter's own output every definition is renamed, and removing the prefix again
/// gives the original back (no literal in this schema contains the prefix).
#[test]
fn prefix_rules_renames_every_rule_of_converted_schemas() {
    let gbnf = json_schema_gbnf(&findings_schema()).unwrap();
    let renamed = prefix_rules(&gbnf, "answer-");
    assert_eq!(renamed.replace("answer-", ""), gbnf);
    for line in renamed.lines().filter(|l| l.contains("::=")) {
        assert!(line.starts_with("answer-"), "{line}");
    }
    assert!(
        renamed.contains(r#""\"root ::= \\\"x\\\" # [y]{1,2}\"""#),
        "{renamed}"
    );
    assert!(renamed.contains("answer-root ::= "), "{renamed}");
}

#[test]
fn answer_grammar_offers_calls_or_the_answer() {
    let specs = tools();
    let answer = "root ::= \"{\" space \"}\"\nspace ::= \" \"?\n";
    let Grammar::Gbnf { text, root } = answer_grammar(Hermes, &specs, answer) else {
        panic!("the answer grammar holds from the first token");
    };
    assert_eq!(root, "root");
    let calls = envelope_gbnf(Hermes, &specs).replace(
        "root ::= envelope\n",
        "calls ::= envelope ( ws envelope )*\n",
    );
    assert_eq!(
        text,
        format!(
            "root ::= calls | answer-root\n{calls}answer-root ::= \"{{\" answer-space \"}}\"\nanswer-space ::= \" \"?\n"
        )
    );
    let alone =
        "root ::= answer-root\nanswer-root ::= \"{\" answer-space \"}\"\nanswer-space ::= \" \"?\n";
    for (format, tools) in [(Generic, &specs[..]), (Hermes, &[][..]), (Llama3, &[][..])] {
        assert_eq!(
            answer_grammar(format, tools, answer),
            Grammar::Gbnf {
                text: alone.to_string(),
                root: "root".to_string()
            },
            "{format:?}"
        );
    }
}
