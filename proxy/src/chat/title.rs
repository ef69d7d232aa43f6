//! Naming a conversation: after its first complete reply, a short cheap call asks the model for a title.
//!
//! Off the reply's path (a task of its own; the reply's `done` never waits for it), not counted
//! in anyone's daily budget (no usage row), and never over a title its owner chose. With the
//! demo provider, with `ASHLEY_MODEL_TITLES=off`, or when the call fails, nothing is stored: the conversation keeps showing its
//! first words, and the next complete reply tries again.

use super::Chat;
use crate::{
    api::{MAX_TITLE_CHARS, Mode},
    personas::Persona,
    provider::{ChatParams, WireMessage},
    store::TitleSource,
};

const TITLE_PROMPT: &str = "You name conversations. Answer with a title of 2 to 6 words for the conversation below, in its language: no quotes, no punctuation at the end, nothing else.";
/// A title is a few words; this leaves room without paying for more.
const TITLE_MAX_TOKENS: u32 = 20;
const TITLE_TEMPERATURE: f32 = 0.2;
/// How much of the first message and reply the model is shown.
const SOURCE_CHARS: usize = 1000;

impl Chat {
    /// Starts naming the conversation, when it is untitled and a real model is there.
    pub(super) fn name_later(&self, session_id: String, persona: Persona) {
        if !self.inner.model_titles || self.provider().mode() != Mode::Live {
            return;
        }
        let chat = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            tokio::select! {
                () = chat.name(&session_id, &persona) => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    async fn name(&self, session_id: &str, persona: &Persona) {
        let store = &*self.inner.store;
        let source = match store.title_source(session_id).await {
            Ok(Some(source)) => source,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!("could not read a conversation to name it: {err}");
                return;
            }
        };
        let params = title_request(&source);
        let title = match self.inner.provider.complete(persona, &params).await {
            Ok(completion) => clean_title(&completion.content),
            Err(err) => {
                // The log line names the status or failure, never the key or the upstream's body.
                tracing::info!(
                    "the model could not name a conversation: {}",
                    err.log_line()
                );
                return;
            }
        };
        let Some(title) = title else {
            return;
        };
        if let Err(err) = store.set_model_title(session_id, &title).await {
            tracing::warn!("could not store a conversation's title: {err}");
        }
    }
}

fn title_request(source: &TitleSource) -> ChatParams {
    let start = |text: &str| text.chars().take(SOURCE_CHARS).collect::<String>();
    ChatParams {
        messages: vec![
            WireMessage {
                role: "system",
                content: TITLE_PROMPT.to_owned(),
            },
            WireMessage {
                role: "user",
                content: format!(
                    "The person wrote:\n{}\n\nThe reply began:\n{}",
                    start(&source.first_message),
                    start(&source.first_reply)
                ),
            },
        ],
        temperature: TITLE_TEMPERATURE,
        max_tokens: TITLE_MAX_TOKENS,
    }
}

/// The model's answer as a title: its first line, without a "Title:" label, quotes or end
/// punctuation, at most [`MAX_TITLE_CHARS`] characters; `None` when nothing is left.
fn clean_title(answer: &str) -> Option<String> {
    let line = answer.lines().find(|line| !line.trim().is_empty())?;
    let line = line.trim();
    let line = line
        .strip_prefix("Title:")
        .or_else(|| line.strip_prefix("title:"))
        .unwrap_or(line);
    let quotes: &[char] = &['"', '\'', '`', '*', '“', '”', '‘', '’', '«', '»'];
    let line = line
        .trim_matches(|ch: char| quotes.contains(&ch) || ch.is_whitespace())
        .trim_end_matches(['.', '!', '?', ',', ';', ':', '…'])
        .trim_matches(|ch: char| quotes.contains(&ch) || ch.is_whitespace());
    let words: Vec<&str> = line
        .split(|ch: char| ch.is_whitespace() || ch.is_control())
        .filter(|word| !word.is_empty())
        .collect();
    let mut title = String::new();
    for word in words {
        if title.chars().count() + word.chars().count() + 1 > MAX_TITLE_CHARS {
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_models_answer_becomes_a_plain_short_title() {
        assert_eq!(
            clean_title("\"Planning a Trip to Rome.\"\nMore").unwrap(),
            "Planning a Trip to Rome"
        );
        assert_eq!(
            clean_title("Title: *Pasta  recipes*").unwrap(),
            "Pasta recipes"
        );
        assert_eq!(clean_title("  \n \"\" "), None);
        let long = "word ".repeat(100);
        assert!(clean_title(&long).unwrap().chars().count() <= MAX_TITLE_CHARS);
    }
}
