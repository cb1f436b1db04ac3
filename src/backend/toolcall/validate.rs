//! Checking a call's arguments against its tool's JSON schema before the tool runs.
//!
//! The grammar leaves argument values free, so this is where a wrong type or a missing
//! property is caught. Every problem is reported at once, each naming the property and the
//! type expected, so the model can fix the whole call in one retry. The common slips of
//! small models that have only one meaning — `"12"` for an integer, `"true"` for a boolean,
//! `null` for an optional property — are repaired instead of refused.
//!
//! Only the schema keywords tool specs use are read: `type`, `properties`, `required`,
//! `additionalProperties`, `items` and `enum`.

use serde_json::{Map, Value};

use crate::backend::ToolCall;
use crate::tools::ToolSpec;

/// Longest rendering of a wrong value quoted in an error.
const VALUE_CHARS: usize = 60;

/// The call's arguments as a JSON object, repaired where that is unambiguous, or a message
/// for the model saying what to fix.
pub fn validate(call: &ToolCall, tools: &[ToolSpec]) -> Result<Value, String> {
    let Some(tool) = tools.iter().find(|t| t.name == call.name) else {
        return Err(unknown_tool(&call.name, tools));
    };
    let mut args = arguments_object(&call.arguments).map_err(|e| format!("{}: {e}", tool.name))?;
    let mut problems = Vec::new();
    check(&mut args, &tool.parameters, "", &mut problems);
    if problems.is_empty() {
        Ok(args)
    } else {
        Err(format!(
            "{}: invalid arguments: {}",
            tool.name,
            problems.join("; ")
        ))
    }
}

/// A final answer held to an answer schema: `text` must be exactly one JSON value (space
/// around it aside) that the schema admits, with the same unambiguous repairs as calls get.
/// Only the keywords above are checked; local models are held to the whole schema by grammar.
pub fn check_answer(text: &str, schema: &Value) -> Result<Value, String> {
    let mut value: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("the answer is not one JSON value ({e})"))?;
    let mut problems = Vec::new();
    check(&mut value, schema, "answer", &mut problems);
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(problems.join("; "))
    }
}

fn unknown_tool(name: &str, tools: &[ToolSpec]) -> String {
    let names: Vec<&str> = tools.iter().map(|t| t.name).collect();
    let wanted = normalize(name);
    let close = names.iter().find(|n| {
        let n = normalize(n);
        n == wanted || (wanted.len() > 3 && (n.contains(&wanted) || wanted.contains(&n)))
    });
    let hint = close
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    if names.is_empty() {
        return format!("unknown tool `{name}`: no tools are available in this turn");
    }
    format!(
        "unknown tool `{name}`{hint}; available tools: {}",
        names.join(", ")
    )
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The arguments text as an object; empty text means no arguments, and an object encoded
/// once more as a JSON string is unwrapped.
fn arguments_object(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Value::Object(map)),
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(map)) => Ok(Value::Object(map)),
            _ => Err("the arguments must be a JSON object, got a string".to_string()),
        },
        Ok(other) => Err(format!(
            "the arguments must be a JSON object, got {}",
            describe(&other)
        )),
        Err(e) => Err(format!("the arguments are not valid JSON ({e})")),
    }
}

fn check(value: &mut Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
    let types = schema_types(schema);
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        match coerce(value, &types) {
            Some(repaired) => *value = repaired,
            None => {
                problems.push(format!(
                    "`{}` must be {}, got {}",
                    display_path(path),
                    expected(&types),
                    describe(value)
                ));
                return;
            }
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            problems.push(format!(
                "`{}` must be one of {}, got {}",
                display_path(path),
                list.join(", "),
                describe(value)
            ));
            return;
        }
    }
    match value {
        Value::Object(map) => check_object(map, schema, path, problems),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter_mut().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"), problems);
                }
            }
        }
        _ => {}
    }
}

fn check_object(
    map: &mut Map<String, Value>,
    schema: &Value,
    path: &str,
    problems: &mut Vec<String>,
) {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let additional = schema.get("additionalProperties");
    for (key, value) in map.iter_mut() {
        let child = join(path, key);
        match properties.get(key) {
            // An explicit null means "not given": fine when optional, and reported once, as
            // missing, when required.
            Some(_) if value.is_null() => {}
            Some(property) => check(value, property, &child, problems),
            None => match additional {
                Some(Value::Bool(false)) => {
                    let allowed: Vec<String> =
                        properties.keys().map(|k| format!("`{k}`")).collect();
                    problems.push(format!(
                        "unknown property `{}`; the properties are {}",
                        display_path(&child),
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ));
                }
                Some(extra @ Value::Object(_)) => check(value, extra, &child, problems),
                _ => {}
            },
        }
    }
    for name in required {
        if map.get(name).is_none_or(Value::is_null) {
            let types = properties.get(name).map(schema_types).unwrap_or_default();
            let wanted = if types.is_empty() {
                String::new()
            } else {
                format!(" ({})", expected(&types))
            };
            problems.push(format!(
                "missing required property `{}`{wanted}",
                display_path(&join(path, name))
            ));
        }
    }
}

fn schema_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        // A type this checker does not know is not the model's fault.
        _ => true,
    }
}

/// The value in one of `types`, when the model's slip has a single reading: numbers and
/// booleans written as strings, and whole numbers written with a fraction (`12.0`).
fn coerce(value: &Value, types: &[&str]) -> Option<Value> {
    for ty in types {
        let repaired = match (*ty, value) {
            ("integer", Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
            ("integer", Value::Number(n)) => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                // Exact: the value is whole and well inside i64's range.
                .map(|f| Value::from(f as i64)),
            ("number", Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            ("boolean", Value::String(s)) => match s.trim() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        if repaired.is_some() {
            return repaired;
        }
    }
    None
}

fn expected(types: &[&str]) -> String {
    types
        .iter()
        .map(|t| match *t {
            "integer" => "an integer",
            "object" => "an object",
            "array" => "an array",
            "string" => "a string",
            "number" => "a number",
            "boolean" => "a boolean",
            "null" => "null",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn describe(value: &Value) -> String {
    let what = match value {
        Value::Null => return "null".to_string(),
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let text = value.to_string();
    let mut shown: String = text.chars().take(VALUE_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("{what} ({shown})")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "arguments"
    } else {
        path
    }
}

#[cfg(test)]
mod answer_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_one_json_value_the_schema_admits() {
        let schema = json!({
            "type": "object",
            "properties": {"verdict": {"type": "string", "enum": ["ok", "bad"]}, "n": {"type": "integer"}},
            "required": ["verdict"],
            "additionalProperties": false
        });
        assert_eq!(
            check_answer(" {\"verdict\": \"ok\", \"n\": \"3\"}\n", &schema),
            Ok(json!({"verdict": "ok", "n": 3}))
        );
        let err = check_answer("{\"n\": 1}", &schema).unwrap_err();
        assert!(err.contains("verdict"), "{err}");
        let err = check_answer("Sure! {\"verdict\": \"ok\"}", &schema).unwrap_err();
        assert!(err.starts_with("the answer is not one JSON value"), "{err}");
        let err = check_answer("{\"verdict\": \"maybe\"}", &schema).unwrap_err();
        assert!(err.contains("must be one of"), "{err}");
    }
}
