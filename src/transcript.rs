//! The open conversation as page text, for assistive technology in the browser.
//!
//! eframe's web backend gives screen readers nothing of the canvas, so `index.html` has a
//! visually hidden region beside it: `#transcript` (`role="log"`, `aria-live="polite"`) holds
//! one paragraph per finished message (its author, the persona for a reply, its text), kept in
//! step with the app's own rows; `#transcript_page` links to the conversation as a plain HTML
//! page (`/c/{id}`). A reply enters the log once it has finished, so a screen reader announces
//! it once, never token by token. Opening another conversation (or its history arriving)
//! refills the log with the region quiet (`aria-live="off"`) until the next frame, so a whole
//! conversation is not read out.
//!
//! What the log holds ([`entries`]) is plain data, tested natively; only [`Transcript`] touches
//! the page, and on a frame where nothing changed it compares the rows' keys and builds nothing.

use ashley_proxy::api::PersonaInfo;

use crate::conversation::{ChatMessage, MessageKind};

/// One paragraph of the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// The row's local id and revision: a row that changed is written again.
    pub key: (u64, u64),
    /// "You", the persona's name, or "Notice".
    pub author: String,
    pub text: String,
}

/// The rows the log holds: all of `messages` but the reply being written (`streaming`, the
/// last row) until it finishes.
pub fn finished(messages: &[ChatMessage], streaming: Option<usize>) -> &[ChatMessage] {
    let end = streaming.map_or(messages.len(), |row| row.min(messages.len()));
    messages.get(..end).unwrap_or(messages)
}

/// The key a row's paragraph is kept under: a row that changed is written again.
pub fn key(message: &ChatMessage) -> (u64, u64) {
    (message.local_id, message.revision())
}

/// The paragraph of one finished row.
pub fn entry(message: &ChatMessage, personas: &[PersonaInfo]) -> Entry {
    let (author, text) = match message.kind {
        MessageKind::User if message.unsent => {
            ("You".to_owned(), format!("{} (not sent)", message.content))
        }
        MessageKind::User => ("You".to_owned(), message.content.clone()),
        MessageKind::Reply => {
            let name = personas
                .iter()
                .find(|persona| persona.id == message.persona)
                .map_or("Ashley", |persona| persona.name.as_str());
            let text = if message.partial {
                format!("{} (cut short)", message.content.trim_end())
            } else {
                message.content.clone()
            };
            (name.to_owned(), text)
        }
        _ => ("Notice".to_owned(), message.content.clone()),
    };
    Entry {
        key: key(message),
        author,
        text,
    }
}

/// The log's paragraphs for `messages`, `streaming` as in [`finished`].
pub fn entries(
    messages: &[ChatMessage],
    streaming: Option<usize>,
    personas: &[PersonaInfo],
) -> Vec<Entry> {
    finished(messages, streaming)
        .iter()
        .map(|message| entry(message, personas))
        .collect()
}

/// The page's `#transcript`, kept in step with the open conversation.
#[cfg(target_arch = "wasm32")]
#[derive(Default)]
pub struct Transcript {
    conversation: Option<String>,
    /// The keys of the paragraphs in the log, in order.
    shown: Vec<(u64, u64)>,
    /// The log was refilled quietly: it speaks again from the next frame.
    quiet: bool,
}

#[cfg(target_arch = "wasm32")]
impl Transcript {
    /// Brings the log up to date; cheap when nothing changed (one pass over the rows' keys).
    pub fn update(
        &mut self,
        ctx: &egui::Context,
        conversation_id: Option<&str>,
        messages: &[ChatMessage],
        streaming: Option<usize>,
        personas: &[PersonaInfo],
    ) {
        let Some(document) = web_sys::window().and_then(|window| window.document()) else {
            return;
        };
        let Some(log) = document.get_element_by_id("transcript") else {
            return; // A page without the region (an old index.html): nothing to keep.
        };
        if std::mem::take(&mut self.quiet) {
            // Errors here and below: the page refused a DOM change; the canvas is unaffected.
            let _ = log.set_attribute("aria-live", "polite");
        }
        let switched = self.conversation.as_deref() != conversation_id;
        // Compared by key, without building a paragraph: most frames change nothing here.
        let rows = finished(messages, streaming);
        let kept = if switched {
            0
        } else {
            self.shown
                .iter()
                .zip(rows)
                .take_while(|(shown, row)| **shown == key(row))
                .count()
        };
        if !switched && kept == self.shown.len() && kept == rows.len() {
            return;
        }
        // Another conversation, rows rewritten, or a history arriving: filled quietly. A message
        // sent or a reply finished (one or two new paragraphs) is announced.
        if switched || kept < self.shown.len() || rows.len() - kept > 2 {
            let _ = log.set_attribute("aria-live", "off");
            self.quiet = true;
            ctx.request_repaint();
        }
        while usize::try_from(log.child_element_count()).unwrap_or(0) > kept {
            match log.last_element_child() {
                Some(child) => child.remove(),
                None => break,
            }
        }
        for row in rows.iter().skip(kept) {
            if let Some(paragraph) = paragraph(&document, &entry(row, personas)) {
                let _ = log.append_with_node_1(&paragraph);
            }
        }
        self.shown = rows.iter().map(key).collect();
        if switched {
            self.conversation = conversation_id.map(str::to_owned);
            if let Some(link) = document.get_element_by_id("transcript_page") {
                match conversation_id {
                    Some(id) => {
                        let _ = link.set_attribute("href", &format!("/c/{id}"));
                        let _ = link.remove_attribute("hidden");
                    }
                    None => {
                        let _ = link.set_attribute("hidden", "");
                    }
                }
            }
        }
    }
}

/// `<p><strong>Author:</strong> text</p>`, the text set as text (never parsed as HTML).
#[cfg(target_arch = "wasm32")]
fn paragraph(document: &web_sys::Document, entry: &Entry) -> Option<web_sys::Element> {
    let paragraph = document.create_element("p").ok()?;
    let author = document.create_element("strong").ok()?;
    author.set_text_content(Some(&format!("{}:", entry.author)));
    paragraph.append_with_node_1(&author).ok()?;
    paragraph
        .append_with_str_1(&format!(" {}", entry.text))
        .ok()?;
    Some(paragraph)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::conversation::Conversation;

    fn personas() -> Vec<PersonaInfo> {
        vec![PersonaInfo {
            id: "technical".into(),
            name: "Technical Expert".into(),
            description: String::new(),
            temperature: 0.2,
            max_tokens: 100,
        }]
    }

    fn texts(entries: &[Entry]) -> Vec<(&str, &str)> {
        entries
            .iter()
            .map(|entry| (entry.author.as_str(), entry.text.as_str()))
            .collect()
    }

    #[test]
    fn the_log_holds_finished_messages_with_author_and_persona() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::User, "How do I sort?".into());
        conversation
            .push(MessageKind::Reply, "Use `sort`.".into())
            .persona = "technical".into();
        conversation.push(MessageKind::User, "And faster?".into());
        let reply = conversation.push(MessageKind::Reply, "Use sort_unstable".into());
        reply.persona = "technical".into();
        reply.partial = true;

        let streaming = entries(conversation.messages(), Some(3), &personas());
        assert_eq!(
            texts(&streaming),
            [
                ("You", "How do I sort?"),
                ("Technical Expert", "Use `sort`."),
                ("You", "And faster?"),
            ],
            "the reply being written waits until it has finished"
        );
        let stopped = entries(conversation.messages(), None, &personas());
        assert_eq!(
            texts(&stopped)[3],
            ("Technical Expert", "Use sort_unstable (cut short)")
        );
    }

    #[test]
    fn notices_unsent_messages_and_unknown_personas_are_named() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::User, "hello".into()).unsent = true;
        conversation.push(MessageKind::Refusal, "That breaks the rules.".into());
        conversation.push(MessageKind::Reply, "Hi!".into()).persona = "gone".into();
        assert_eq!(
            texts(&entries(conversation.messages(), None, &personas())),
            [
                ("You", "hello (not sent)"),
                ("Notice", "That breaks the rules."),
                ("Ashley", "Hi!"),
            ]
        );
    }

    #[test]
    fn a_changed_row_gets_a_new_key() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::User, "one".into());
        let before = entries(conversation.messages(), None, &[]);
        conversation
            .message_mut(0)
            .unwrap()
            .content
            .push_str(" more");
        let after = entries(conversation.messages(), None, &[]);
        assert_eq!(before[0].key.0, after[0].key.0);
        assert_ne!(before[0].key, after[0].key);
    }
}
