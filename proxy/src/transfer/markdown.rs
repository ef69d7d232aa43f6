//! Conversations as Markdown, for reading: a `#` heading per conversation, a `##` line per
//! message naming who wrote it and when, then the message's own Markdown as it was written.

use std::fmt::Write as _;

use crate::{
    api::ExportedConversation,
    share::render::{CUT_OFF_NOTE, speaker, utc_display},
};

/// One or more conversations as one Markdown document; `persona_name` names replies.
pub fn conversations(
    conversations: &[ExportedConversation],
    persona_name: impl Fn(&str) -> String,
) -> String {
    let mut out = String::new();
    for (index, conversation) in conversations.iter().enumerate() {
        if index > 0 {
            out.push_str("\n---\n\n");
        }
        write_conversation(&mut out, conversation, &persona_name);
    }
    if conversations.is_empty() {
        out.push_str("# Ashley AI\n\nThere are no conversations to export.\n");
    }
    out
}

fn write_conversation(
    out: &mut String,
    conversation: &ExportedConversation,
    persona_name: &impl Fn(&str) -> String,
) {
    let title = conversation
        .title
        .as_deref()
        .or_else(|| conversation.messages.first().map(|m| m.content.as_str()))
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|title| !title.is_empty())
        .map_or_else(
            || "Conversation".to_owned(),
            |title| title.chars().take(120).collect(),
        );
    let count = conversation.messages.len();
    let _ = write!(
        out,
        "# {title}\n\n*Ashley AI · started {} · {count} message{}*\n",
        utc_display(conversation.created_at_ms),
        if count == 1 { "" } else { "s" }
    );
    for message in &conversation.messages {
        let _ = write!(
            out,
            "\n## {} · {}\n\n{}\n",
            speaker(message.role, &message.persona, persona_name),
            utc_display(message.created_at_ms),
            message.content.trim_end()
        );
        if message.partial {
            let _ = writeln!(out, "\n*{CUT_OFF_NOTE}*");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ExportedMessage, Role};

    #[test]
    fn each_message_is_headed_by_its_speaker_and_time() {
        let message = |role, content: &str, partial| ExportedMessage {
            role,
            content: content.to_owned(),
            persona: "technical".to_owned(),
            created_at_ms: 1_764_684_300_000,
            stats: None,
            partial,
        };
        let conversation = ExportedConversation {
            title: Some("Packing".to_owned()),
            pinned: false,
            created_at_ms: 1_764_684_300_000,
            messages: vec![
                message(Role::User, "What do I pack?", false),
                message(Role::Assistant, "- socks\n- boots\n", true),
            ],
        };
        let text = conversations(&[conversation], |_| "Technical Expert".to_owned());
        assert!(
            text.starts_with("# Packing\n\n*Ashley AI · started 2 Dec 2025"),
            "{text}"
        );
        assert!(
            text.contains("\n## You · 2 Dec 2025, 14:05 UTC\n\nWhat do I pack?\n"),
            "{text}"
        );
        assert!(text.contains("\n## Technical Expert · "), "{text}");
        assert!(
            text.contains("- socks\n- boots\n\n*This reply was cut off"),
            "{text}"
        );
    }
}
