//! The steps of a conversation turn, each one transaction: begin a turn, regenerate, start a reply.

use rusqlite::Connection;

use super::messages::{
    NewMessage, drop_last_reply, insert_message, insert_user_message, recent_messages,
    session_exists, touch_session,
};
use crate::{
    api::Role,
    store::{Regeneration, Turn, UserMessage, now_ms},
};

/// Touches the session, stores the user message and reads the context, as one commit (one WAL
/// write); `None` when the session does not exist.
pub(super) fn begin_turn(
    db: &Connection,
    message: UserMessage<'_>,
    context_messages: usize,
) -> rusqlite::Result<Option<Turn>> {
    // A read first: an unknown session costs no write transaction.
    if !session_exists(db, message.session_id)? {
        return Ok(None);
    }
    let transaction = super::write_transaction(db)?;
    let user_message_id = insert_user_message(
        &transaction,
        message.session_id,
        message.persona,
        message.text,
    )?;
    let context = recent_messages(&transaction, message.session_id, context_messages)?;
    transaction.commit()?;
    Ok(Some(Turn {
        user_message_id,
        context,
    }))
}

/// Stores a user message alone; `None` when the session does not exist.
pub(super) fn save_user_message(
    db: &Connection,
    message: UserMessage<'_>,
) -> rusqlite::Result<Option<i64>> {
    let transaction = super::write_transaction(db)?;
    if !touch_session(&transaction, message.session_id, now_ms())? {
        return Ok(None);
    }
    let new = NewMessage {
        session_id: message.session_id,
        role: Role::User,
        content: message.text,
        persona: message.persona,
        stats: None,
        partial: false,
    };
    let id = insert_message(&transaction, &new, now_ms())?;
    transaction.commit()?;
    Ok(Some(id))
}

/// Drops the trailing reply and reads the context, as one commit.
pub(super) fn begin_regenerate(
    db: &Connection,
    session_id: &str,
    context_messages: usize,
) -> rusqlite::Result<Regeneration> {
    let transaction = super::write_transaction(db)?;
    if !touch_session(&transaction, session_id, now_ms())? {
        return Ok(Regeneration::UnknownSession);
    }
    let last_user = drop_last_reply(&transaction, session_id)?;
    let context = recent_messages(&transaction, session_id, context_messages)?;
    transaction.commit()?;
    Ok(match last_user {
        Some(last_user) => Regeneration::Ready { last_user, context },
        None => Regeneration::NothingToRegenerate,
    })
}

/// Inserts a reply row with its first text, marked partial.
pub(super) fn start_reply(
    db: &Connection,
    session_id: &str,
    persona: &str,
    content: &str,
) -> rusqlite::Result<i64> {
    let message = NewMessage {
        session_id,
        role: Role::Assistant,
        content,
        persona,
        stats: None,
        partial: true,
    };
    insert_message(db, &message, now_ms())
}
