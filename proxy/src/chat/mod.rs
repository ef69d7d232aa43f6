//! One reply, whoever asked: context building, the upstream or demo producer, the app's event stream.

use std::time::Duration;

use crate::{
    api::{HistoryMessage, Role},
    personas::Persona,
    upstream::{ChatParams, WireMessage},
};

mod app_reply;
pub mod fit;
mod producer;
mod reply_row;

pub use app_reply::{AppReply, run_app_reply};
pub use producer::Producer;

/// The persona's system prompt followed by `history` (oldest first).
pub fn context(persona: &Persona, history: &[HistoryMessage]) -> ChatParams {
    let mut messages = Vec::with_capacity(history.len() + 1);
    messages.push(WireMessage {
        role: "system",
        content: persona.system_prompt.clone(),
    });
    // A reply cut before any text arrived (crash, Stop) says nothing; partial text is kept as said.
    let spoken = history
        .iter()
        .filter(|message| !(message.role == Role::Assistant && message.content.is_empty()));
    messages.extend(spoken.map(|message| WireMessage {
        role: match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        },
        content: message.content.clone(),
    }));
    ChatParams {
        messages,
        temperature: persona.temperature,
        max_tokens: persona.max_tokens,
    }
}

/// Milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
