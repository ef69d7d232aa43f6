//! ChatGPT's `conversations.json`: a list of conversations, each a tree of messages (`mapping`)
//! of which `current_node` ends the branch the person last saw. That branch is imported, its
//! user and assistant text messages only (system, tool, hidden, empty and non-text ones are not
//! conversation a person can read back).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::{ImportProblem, Parsed, Place, too_many};
use crate::api::{ExportedConversation, ExportedMessage, ImportFormat, MAX_TITLE_CHARS, Role};

/// The persona id imported messages carry: they were written with ChatGPT, not a persona here.
pub const CHATGPT_PERSONA: &str = "chatgpt";

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    create_time: Option<f64>,
    mapping: HashMap<String, Node>,
    #[serde(default)]
    current_node: Option<String>,
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    author: Author,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    create_time: Option<f64>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Author {
    role: String,
}

#[derive(Deserialize)]
struct Content {
    content_type: String,
    #[serde(default)]
    parts: Vec<Value>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    is_visually_hidden_from_conversation: bool,
}

/// Every conversation of the list, or the first problem found.
pub(super) fn parse(list: &[Value]) -> Result<Parsed, ImportProblem> {
    too_many(list.len())?;
    let mut conversations = Vec::with_capacity(list.len());
    let mut skipped = 0;
    for (index, value) in list.iter().enumerate() {
        let at = Place {
            index,
            count: list.len(),
            title: value.get("title").and_then(Value::as_str),
            root: "",
        };
        let conversation: Conversation = serde_path_to_error::deserialize(value)
            .map_err(|err| at.problem(&err.path().to_string(), err.inner()))?;
        let converted = convert(&conversation, &at)?;
        if converted.messages.is_empty() {
            skipped += 1;
        } else {
            conversations.push(converted);
        }
    }
    Ok(Parsed {
        format: ImportFormat::Chatgpt,
        conversations,
        skipped,
    })
}

fn convert(
    conversation: &Conversation,
    at: &Place<'_>,
) -> Result<ExportedConversation, ImportProblem> {
    let branch = shown_branch(conversation, at)?;
    let started_ms = conversation.create_time.and_then(seconds_to_ms);
    let mut messages: Vec<ExportedMessage> = Vec::new();
    for message in branch {
        let role = match message.author.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => continue,
        };
        let hidden = message
            .metadata
            .as_ref()
            .is_some_and(|metadata| metadata.is_visually_hidden_from_conversation);
        let Some(content) = message
            .content
            .as_ref()
            .filter(|c| c.content_type == "text")
        else {
            continue;
        };
        let text = content
            .parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        if hidden || text.trim().is_empty() {
            continue;
        }
        // A message without a time gets the one before it (or the conversation's start).
        let created_at_ms = message
            .create_time
            .and_then(seconds_to_ms)
            .or_else(|| messages.last().map(|last| last.created_at_ms))
            .or(started_ms)
            .unwrap_or(0);
        messages.push(ExportedMessage {
            role,
            content: text,
            persona: CHATGPT_PERSONA.to_owned(),
            created_at_ms,
            stats: None,
            partial: false,
        });
    }
    let created_at_ms = started_ms
        .or_else(|| messages.first().map(|first| first.created_at_ms))
        .unwrap_or(0);
    Ok(ExportedConversation {
        title: conversation.title.as_deref().and_then(clean_title),
        pinned: false,
        created_at_ms,
        messages,
    })
}

/// The messages from the root to `current_node`, oldest first.
fn shown_branch<'a>(
    conversation: &'a Conversation,
    at: &Place<'_>,
) -> Result<Vec<&'a Message>, ImportProblem> {
    let Some(mut id) = conversation.current_node.as_deref() else {
        return Err(at.problem(
            "current_node",
            "it is missing, so the conversation's shown branch is unknown",
        ));
    };
    let mut field = "current_node".to_owned();
    let mut branch = Vec::new();
    for _ in 0..=conversation.mapping.len() {
        let Some(node) = conversation.mapping.get(id) else {
            return Err(at.problem(
                &field,
                format!("it names the node \"{id}\", which is not in `mapping`"),
            ));
        };
        branch.extend(node.message.as_ref());
        match node.parent.as_deref() {
            Some(parent) => {
                field = format!("mapping.{id}.parent");
                id = parent;
            }
            None => {
                branch.reverse();
                return Ok(branch);
            }
        }
    }
    Err(at.problem("mapping", "the nodes' `parent` links go round in a loop"))
}

/// ChatGPT's seconds since the epoch (a float) in milliseconds; `None` for nonsense.
fn seconds_to_ms(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    // Within about 300,000 years: exact in an f64 and an i64.
    (ms.is_finite() && (0.0..1e16).contains(&ms)).then_some(ms as i64)
}

/// A title we can store: one line, trimmed, at most [`MAX_TITLE_CHARS`]; `None` when empty.
fn clean_title(title: &str) -> Option<String> {
    let one_line: String = title
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect();
    let trimmed = one_line.trim();
    let cut: String = trimmed.chars().take(MAX_TITLE_CHARS).collect();
    let cut = cut.trim_end();
    (!cut.is_empty()).then(|| cut.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::transfer::parse;

    #[test]
    fn the_shown_branch_is_followed_and_other_nodes_left_out() {
        let file = serde_json::json!([{
            "title": "Branches\nand tools",
            "create_time": 1700000000.25,
            "current_node": "c",
            "mapping": {
                "root": {"id": "root", "message": null, "parent": null, "children": ["sys"]},
                "sys": {"id": "sys", "parent": "root", "children": ["a"], "message": {
                    "author": {"role": "system"},
                    "content": {"content_type": "text", "parts": [""]}}},
                "a": {"id": "a", "parent": "sys", "children": ["b", "old"], "message": {
                    "author": {"role": "user"}, "create_time": 1700000001.0,
                    "content": {"content_type": "text", "parts": ["Hello"]}}},
                "old": {"id": "old", "parent": "a", "children": [], "message": {
                    "author": {"role": "assistant"}, "create_time": 1700000002.0,
                    "content": {"content_type": "text", "parts": ["an older answer"]}}},
                "b": {"id": "b", "parent": "a", "children": ["c"], "message": {
                    "author": {"role": "tool"}, "create_time": 1700000003.0,
                    "content": {"content_type": "code", "text": "print(1)"}}},
                "c": {"id": "c", "parent": "b", "children": [], "message": {
                    "author": {"role": "assistant"}, "create_time": null,
                    "content": {"content_type": "text", "parts": ["Hi!"]}}}
            }
        }]);
        let parsed = parse(file.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.format, ImportFormat::Chatgpt);
        let conversation = &parsed.conversations[0];
        assert_eq!(conversation.title.as_deref(), Some("Branches and tools"));
        assert_eq!(conversation.created_at_ms, 1_700_000_000_250);
        let texts: Vec<_> = conversation
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(texts, ["Hello", "Hi!"]);
        assert_eq!(conversation.messages[1].created_at_ms, 1_700_000_001_000);
        assert_eq!(conversation.messages[1].role, Role::Assistant);
    }

    #[test]
    fn a_broken_link_names_the_conversation_and_the_field() {
        let file = serde_json::json!([
            {"title": "Good", "current_node": "a", "mapping": {"a": {"parent": null, "message": {
                "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["x"]}}}}},
            {"title": "Broken", "current_node": "z", "mapping": {}}
        ]);
        let problem = parse(file.to_string().as_bytes()).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("[1].current_node"));
        assert!(
            problem.message.contains("conversation 2 of 2 (“Broken”)"),
            "{problem:?}"
        );
        let looped = serde_json::json!([{"title": "Loop", "current_node": "a", "mapping": {
            "a": {"parent": "b"}, "b": {"parent": "a"}}}]);
        let problem = parse(looped.to_string().as_bytes()).unwrap_err();
        assert!(problem.message.contains("loop"), "{problem:?}");
    }
}
