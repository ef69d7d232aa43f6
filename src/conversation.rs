//! The conversation as the app shows it: messages and error notices, as plain data.

use ashley_proxy::api::{HistoryMessage, ReplyStats, Role};

/// What a row in the conversation is.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageKind {
    /// Something the person wrote.
    User,
    /// A reply, rendered as markdown.
    Reply,
    /// Moderation declined the message: its reason.
    Refusal,
    /// Too many requests: when to try again.
    RateLimited { retry_after_secs: Option<u64> },
    /// The model's provider failed or the reply broke off.
    ProviderFailed,
    /// The proxy itself failed (its store, moderation, a restart).
    ServerFailed,
    /// The proxy's storage is full: nothing can be saved until the operator frees space.
    StorageFull,
    /// The conversation no longer fits the model's context: a new chat is needed.
    ContextTooLong,
    /// The proxy could not be reached at all.
    Unreachable,
    /// The proxy rejected the request (too long, unknown persona, ...).
    Rejected,
}

impl MessageKind {
    pub fn is_error(&self) -> bool {
        !matches!(self, Self::User | Self::Reply)
    }

    /// The short name the test handle and accessibility labels use.
    pub fn label(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Reply => "reply",
            Self::Refusal => "refusal",
            Self::RateLimited { .. } => "rate_limited",
            Self::ProviderFailed => "provider_failed",
            Self::ServerFailed => "server_failed",
            Self::StorageFull => "storage_full",
            Self::ContextTooLong => "context_too_long",
            Self::Unreachable => "unreachable",
            Self::Rejected => "rejected",
        }
    }
}

/// What Retry on an error notice does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAction {
    Send(String),
    Regenerate,
    Reconnect,
}

/// One row of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    /// Unique within the app run; gives the row's widgets a stable id.
    pub local_id: u64,
    /// The proxy's id of the stored message (search hits point at it); `None` until known.
    pub stored_id: Option<i64>,
    pub kind: MessageKind,
    pub content: String,
    /// Replies only: the persona that answered.
    pub persona: String,
    pub stats: Option<ReplyStats>,
    /// A reply still streaming, or one that was cut off.
    pub partial: bool,
    /// A user message that the proxy did not accept.
    pub unsent: bool,
    pub retry: Option<RetryAction>,
    /// Replies only: what the proxy noted about how the message was handled.
    pub notes: Vec<String>,
    /// Counts the changes handed out through [`Conversation::message_mut`], so views can tell
    /// whether what they derived from the row (its laid-out height) is still current.
    revision: u64,
}

impl ChatMessage {
    pub fn revision(&self) -> u64 {
        self.revision
    }
}

/// The rows, oldest first.
#[derive(Default)]
pub struct Conversation {
    messages: Vec<ChatMessage>,
    next_local_id: u64,
}

impl Conversation {
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn clear(&mut self) {
        self.messages.clear();
    }

    pub fn push(&mut self, kind: MessageKind, content: String) -> &mut ChatMessage {
        self.next_local_id += 1;
        self.messages.push(ChatMessage {
            local_id: self.next_local_id,
            stored_id: None,
            kind,
            content,
            persona: String::new(),
            stats: None,
            partial: false,
            unsent: false,
            retry: None,
            notes: Vec::new(),
            revision: 0,
        });
        let last = self.messages.len() - 1;
        // Just pushed, so the index exists; `get_mut` keeps the no-indexing rule honest.
        match self.messages.get_mut(last) {
            Some(message) => message,
            None => unreachable!("a message was just pushed"),
        }
    }

    pub fn last_mut(&mut self) -> Option<&mut ChatMessage> {
        let last = self.messages.len().checked_sub(1)?;
        self.message_mut(last)
    }

    /// The row at `index`, for changing it.
    pub fn message_mut(&mut self, index: usize) -> Option<&mut ChatMessage> {
        let message = self.messages.get_mut(index)?;
        message.revision += 1;
        Some(message)
    }

    /// Marks the newest user row with this text as not accepted by the proxy.
    pub fn mark_last_user_unsent(&mut self, text: &str) {
        let found = self
            .messages
            .iter()
            .rposition(|m| m.kind == MessageKind::User && m.content == text);
        if let Some(message) = found.and_then(|index| self.message_mut(index)) {
            message.unsent = true;
        }
    }

    /// Removes the last row if it is an unsent user message with this text (Retry re-adds it).
    pub fn pop_unsent_user(&mut self, text: &str) {
        if self
            .messages
            .last()
            .is_some_and(|m| m.kind == MessageKind::User && m.unsent && m.content == text)
        {
            self.messages.pop();
        }
    }

    /// Replaces everything with the server's history. Messages the proxy never accepted are
    /// not in it, so they stay, after it: what the person typed is never dropped by a reload.
    pub fn load_history(&mut self, history: &[HistoryMessage]) {
        let unsent: Vec<ChatMessage> = self
            .messages
            .drain(..)
            .filter(|m| m.kind == MessageKind::User && m.unsent)
            .collect();
        for stored in history {
            let kind = match stored.role {
                Role::User => MessageKind::User,
                Role::Assistant => MessageKind::Reply,
            };
            let message = self.push(kind, stored.content.clone());
            message.persona.clone_from(&stored.persona);
            message.stats.clone_from(&stored.stats);
            message.partial = stored.partial;
            message.stored_id = Some(stored.id);
        }
        self.messages.extend(unsent);
    }

    /// The row of the stored message `id`.
    pub fn index_of_stored(&self, id: i64) -> Option<usize> {
        self.messages.iter().position(|m| m.stored_id == Some(id))
    }

    /// The proxy stored the newest user message under `id`.
    pub fn set_last_user_stored_id(&mut self, id: i64) {
        if let Some(message) = self
            .messages
            .iter_mut()
            .rev()
            .find(|m| m.kind == MessageKind::User)
        {
            message.stored_id = Some(id);
        }
    }

    /// Drops the rows after the last user message (the reply and any notices) for Regenerate.
    pub fn truncate_after_last_user(&mut self) {
        let keep = self
            .messages
            .iter()
            .rposition(|m| m.kind == MessageKind::User)
            .map_or(0, |index| index + 1);
        self.messages.truncate(keep);
    }

    /// Removes error notices (a retry replaces them).
    pub fn remove_trailing_errors(&mut self) {
        while self.messages.last().is_some_and(|m| m.kind.is_error()) {
            self.messages.pop();
        }
    }

    /// The index of the reply that Regenerate would replace: the last row, if it is a reply.
    pub fn last_reply_index(&self) -> Option<usize> {
        let last = self.messages.len().checked_sub(1)?;
        (self.messages.get(last)?.kind == MessageKind::Reply).then_some(last)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn stored(role: Role, content: &str) -> HistoryMessage {
        HistoryMessage {
            id: 1,
            role,
            content: content.into(),
            persona: "ashley".into(),
            created_at_ms: 0,
            stats: None,
            partial: false,
        }
    }

    #[test]
    fn regenerate_drops_everything_after_the_last_user_message() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::User, "q1".into());
        conversation.push(MessageKind::Reply, "a1".into());
        conversation.push(MessageKind::User, "q2".into());
        conversation.push(MessageKind::Reply, "a2".into());
        assert_eq!(conversation.last_reply_index(), Some(3));
        conversation.push(MessageKind::ProviderFailed, "e".into());
        assert_eq!(conversation.last_reply_index(), None);
        conversation.truncate_after_last_user();
        assert_eq!(conversation.len(), 3);
        assert_eq!(conversation.messages()[2].content, "q2");
    }

    #[test]
    fn every_change_through_message_mut_bumps_the_revision() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::Reply, "short".into());
        let before = conversation.messages()[0].revision();
        conversation
            .last_mut()
            .unwrap()
            .content
            .push_str(" and more");
        assert!(conversation.messages()[0].revision() > before);
    }

    #[test]
    fn a_reloaded_history_keeps_the_messages_the_proxy_never_took() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::User, "old".into());
        conversation.push(MessageKind::User, "typed offline".into());
        conversation.mark_last_user_unsent("typed offline");
        conversation.push(MessageKind::Unreachable, "no proxy".into());
        conversation.load_history(&[stored(Role::User, "q"), stored(Role::Assistant, "a")]);
        let rows: Vec<(&str, bool)> = conversation
            .messages()
            .iter()
            .map(|m| (m.content.as_str(), m.unsent))
            .collect();
        assert_eq!(rows, [("q", false), ("a", false), ("typed offline", true)]);
    }
}
