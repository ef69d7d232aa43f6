//! Every store call the chat core makes, in one place: the seam where the store's domain API plugs in.

use std::time::Duration;

use crate::{
    api::{HistoryMessage, ReplyStats, Role, StoreStats},
    store::{self, NewMessage, Store, StoreError, UsageRecord},
};

/// What a regenerate found: the user message to answer again and the context to send.
pub struct Regenerating {
    /// `None`: the session has no user message to answer.
    pub last_user: Option<HistoryMessage>,
    pub context: Vec<HistoryMessage>,
}

pub async fn create_session(store: &Store, id: String) -> Result<(), StoreError> {
    store
        .call(move |db| store::create_session(db, &id, store::now_ms()))
        .await
}

/// All messages of a session, oldest first; `None` when it does not exist.
pub async fn history(store: &Store, id: String) -> Result<Option<Vec<HistoryMessage>>, StoreError> {
    store
        .call(move |db| store::history(db, &id, store::now_ms()))
        .await
}

/// Removes every message of the session; false when it does not exist.
pub async fn clear_session(store: &Store, id: String) -> Result<bool, StoreError> {
    store
        .call(move |db| store::clear_session(db, &id, store::now_ms()))
        .await
}

pub async fn session_exists(store: &Store, id: String) -> Result<bool, StoreError> {
    store.call(move |db| store::session_exists(db, &id)).await
}

/// Stores what a person sent when it will not be answered now (moderation unavailable).
pub async fn save_user_message(
    store: &Store,
    session_id: String,
    persona: String,
    text: String,
) -> Result<(), StoreError> {
    store
        .call(move |db| store::insert_user_message(db, &session_id, &persona, &text).map(drop))
        .await
}

/// One transaction: stores the user message and reads the newest `context_len` messages
/// (it included). `None`: the session does not exist.
pub async fn begin_turn(
    store: &Store,
    session_id: String,
    persona: String,
    text: String,
    context_len: usize,
) -> Result<Option<(i64, Vec<HistoryMessage>)>, StoreError> {
    store
        .call(move |db| {
            if !store::session_exists(db, &session_id)? {
                return Ok(None);
            }
            // One commit (one WAL write) for the session touch and the message.
            let transaction = db.unchecked_transaction()?;
            let message_id =
                store::insert_user_message(&transaction, &session_id, &persona, &text)?;
            let recent = store::recent_messages(&transaction, &session_id, context_len)?;
            transaction.commit()?;
            Ok(Some((message_id, recent)))
        })
        .await
}

/// One transaction: drops the session's last reply and reads the context. `None`: the
/// session does not exist.
pub async fn begin_regenerate(
    store: &Store,
    session_id: String,
    context_len: usize,
) -> Result<Option<Regenerating>, StoreError> {
    store
        .call(move |db| {
            let transaction = db.unchecked_transaction()?;
            if !store::touch_session(&transaction, &session_id, store::now_ms())? {
                return Ok(None);
            }
            let last_user = store::drop_last_reply(&transaction, &session_id)?;
            let context = store::recent_messages(&transaction, &session_id, context_len)?;
            transaction.commit()?;
            Ok(Some(Regenerating { last_user, context }))
        })
        .await
}

/// Inserts a streaming reply's row (marked partial) with its first text; returns its id.
pub async fn start_reply(
    store: &Store,
    session_id: String,
    persona: String,
    text: String,
) -> Result<i64, StoreError> {
    store
        .call(move |db| {
            let message = NewMessage {
                session_id: &session_id,
                role: Role::Assistant,
                content: &text,
                persona: &persona,
                stats: None,
                partial: true,
            };
            store::insert_message(db, &message, store::now_ms())
        })
        .await
}

/// Replaces a streaming reply's text (it stays partial).
pub async fn save_progress(store: &Store, id: i64, text: String) -> Result<(), StoreError> {
    store
        .call(move |db| store::update_reply_text(db, id, &text))
        .await
}

/// A finished (or cut) reply to store.
pub struct FinishedReply {
    /// The row inserted while streaming, if any.
    pub row: Option<i64>,
    pub session_id: String,
    pub persona: String,
    pub text: String,
    pub stats: ReplyStats,
    pub partial: bool,
}

/// Writes the reply's final text and stats; `None` when there was nothing to store (no text
/// arrived and the reply did not complete).
pub async fn finish_reply(store: &Store, reply: FinishedReply) -> Result<Option<i64>, StoreError> {
    if let Some(id) = reply.row {
        return store
            .call(move |db| {
                store::finalise_reply(db, id, &reply.text, &reply.stats, reply.partial)
                    .map(|()| Some(id))
            })
            .await;
    }
    if reply.partial && reply.text.is_empty() {
        return Ok(None);
    }
    store
        .call(move |db| {
            let message = NewMessage {
                session_id: &reply.session_id,
                role: Role::Assistant,
                content: &reply.text,
                persona: &reply.persona,
                stats: Some(&reply.stats),
                partial: reply.partial,
            };
            store::insert_message(db, &message, store::now_ms()).map(Some)
        })
        .await
}

/// Queues a usage row (never waits).
pub fn record_usage(store: &Store, record: UsageRecord) {
    store.record_usage(UsageRecord {
        at_ms: store::now_ms(),
        ..record
    });
}

pub async fn stats(store: &Store) -> Result<StoreStats, StoreError> {
    store.call(store::stats).await
}

/// Deletes sessions idle longer than `ttl`; returns how many.
pub async fn expire_idle_sessions(store: &Store, ttl: Duration) -> Result<usize, StoreError> {
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let cutoff = store::now_ms().saturating_sub(ttl);
    store
        .call(move |db| store::expire_idle_sessions(db, cutoff))
        .await
}
