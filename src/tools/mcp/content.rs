//! A tool result as text for the model. MCP results are a list of blocks; the model reads
//! text, so text blocks and text resources are kept, and binary blocks are named, not pasted.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// The result's text: its blocks in order, or its structured content when it has no blocks.
pub fn text_of(result: &CallToolResult) -> String {
    let mut parts: Vec<String> = result.content.iter().map(block_text).collect();
    if parts.is_empty() {
        if let Some(structured) = &result.structured_content {
            parts.push(structured.to_string());
        }
    }
    parts.join("\n")
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => binary("image", &image.mime_type, image.data.len()),
        ContentBlock::Audio(audio) => binary("audio", &audio.mime_type, audio.data.len()),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                format!("[resource {uri}]\n{text}")
            }
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => format!(
                "[resource {uri}: {} bytes of {}, not shown]",
                blob.len() / 4 * 3,
                mime_type.as_deref().unwrap_or("binary data")
            ),
            other => unknown(other),
        },
        ContentBlock::ResourceLink(link) => format!(
            "[resource link: {}]",
            serde_json::to_string(link).unwrap_or_default()
        ),
        other => unknown(other),
    }
}

/// A block of a kind newer than this client, as the JSON it came in.
fn unknown(block: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(block).unwrap_or_default();
    format!(
        "[content lode cannot show: {}]",
        crate::tools::cap_output(&json, 200)
    )
}

/// A line naming a base64 block the model cannot read.
fn binary(kind: &str, mime: &str, base64_len: usize) -> String {
    format!(
        "[{kind} ({mime}, about {} bytes), not shown]",
        base64_len / 4 * 3
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(value: serde_json::Value) -> CallToolResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn text_is_kept_and_binary_blocks_are_named() {
        let r = result(serde_json::json!({"content": [
            {"type": "text", "text": "sum is 3"},
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "hello"}}
        ]}));
        assert_eq!(
            text_of(&r),
            "sum is 3\n[image (image/png, about 3 bytes), not shown]\n[resource file:///a.txt]\nhello"
        );
    }

    #[test]
    fn structured_content_stands_in_for_missing_blocks() {
        let r = result(serde_json::json!({"content": [], "structuredContent": {"n": 1}}));
        assert_eq!(text_of(&r), r#"{"n":1}"#);
    }
}
