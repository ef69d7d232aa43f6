//! Every store call the chat core makes, in one place: the core's view of the store's domain API.

use std::{sync::Arc, time::Duration};

use crate::{
    api::{HistoryMessage, ReplyStats, StoreStats},
    store::{MessageId, OwnerId, Regeneration, Store, StoreError, UsageRecord, UserMessage},
};

/// The store as the core holds it: chosen once at start-up.
pub type SharedStore = Arc<dyn Store>;

pub async fn create_session(
    store: &dyn Store,
    id: String,
    owner: OwnerId,
) -> Result<(), StoreError> {
    store.create_session(&id, owner).await
}

/// All messages of a session, oldest first; `None` when it does not exist.
pub async fn history(
    store: &dyn Store,
    id: String,
) -> Result<Option<Vec<HistoryMessage>>, StoreError> {
    store.history(&id).await
}

/// Removes every message of the session; false when it does not exist.
pub async fn clear_session(store: &dyn Store, id: String) -> Result<bool, StoreError> {
    store.delete_session(&id).await
}

pub async fn session_exists(store: &dyn Store, id: String) -> Result<bool, StoreError> {
    store.session_exists(&id).await
}

/// Stores what a person sent when it will not be answered now (moderation unavailable).
pub async fn save_user_message(
    store: &dyn Store,
    session_id: String,
    persona: String,
    text: String,
) -> Result<(), StoreError> {
    let message = UserMessage {
        session_id: &session_id,
        persona: &persona,
        text: &text,
    };
    store.save_user_message(message).await.map(drop)
}

/// One transaction: stores the user message and reads the newest `context_len` messages
/// (it included). `None`: the session does not exist.
pub async fn begin_turn(
    store: &dyn Store,
    session_id: String,
    persona: String,
    text: String,
    context_len: usize,
) -> Result<Option<(i64, Vec<HistoryMessage>)>, StoreError> {
    let message = UserMessage {
        session_id: &session_id,
        persona: &persona,
        text: &text,
    };
    let turn = store.begin_turn(message, context_len).await?;
    Ok(turn.map(|turn| (turn.user_message_id, turn.context)))
}

/// One transaction: drops the session's last reply and reads the context.
pub async fn begin_regenerate(
    store: &dyn Store,
    session_id: String,
    context_len: usize,
) -> Result<Regeneration, StoreError> {
    store.begin_regenerate(&session_id, context_len).await
}

/// Inserts a streaming reply's row (marked partial) with its first text; returns its id.
pub async fn start_reply(
    store: &dyn Store,
    session_id: String,
    persona: String,
    text: String,
) -> Result<MessageId, StoreError> {
    store.start_reply(&session_id, &persona, &text).await
}

/// Replaces a streaming reply's text (it stays partial).
pub async fn save_progress(
    store: &dyn Store,
    id: MessageId,
    text: String,
) -> Result<(), StoreError> {
    store.save_progress(id, &text).await
}

/// A finished (or cut) reply to store.
pub struct FinishedReply {
    /// The row inserted while streaming, if any.
    pub row: Option<MessageId>,
    pub session_id: String,
    pub persona: String,
    pub text: String,
    pub stats: ReplyStats,
    pub partial: bool,
}

/// Writes the reply's final text and stats; `None` when there was nothing to store (no text
/// arrived and the reply did not complete).
pub async fn finish_reply(
    store: &dyn Store,
    reply: FinishedReply,
) -> Result<Option<MessageId>, StoreError> {
    let id = match reply.row {
        Some(id) => id,
        None if reply.partial && reply.text.is_empty() => return Ok(None),
        // No row yet (a reply without text, or its first save failed): made now.
        None => {
            store
                .start_reply(&reply.session_id, &reply.persona, &reply.text)
                .await?
        }
    };
    store
        .finish_reply(id, &reply.text, &reply.stats, reply.partial)
        .await?;
    Ok(Some(id))
}

/// Queues a usage row (never waits); a row without a time is dated now.
pub fn record_usage(store: &dyn Store, record: UsageRecord) {
    let at_ms = if record.at_ms == 0 {
        crate::store::now_ms()
    } else {
        record.at_ms
    };
    store.record_usage(UsageRecord { at_ms, ..record });
}

pub async fn stats(store: &dyn Store) -> Result<StoreStats, StoreError> {
    store.stats().await
}

/// Deletes sessions idle longer than `ttl`; returns how many.
pub async fn expire_idle_sessions(store: &dyn Store, ttl: Duration) -> Result<usize, StoreError> {
    store.expire_idle_sessions(ttl).await
}
