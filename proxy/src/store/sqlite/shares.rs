//! Read-only links: a snapshot of a conversation's messages under the hash of a link's token.

use rusqlite::{Connection, OptionalExtension as _, params, types::Type};

use super::{conversations, messages};
use crate::{
    api::Share,
    store::{OwnerId, Snapshot, TokenHash},
};

/// Snapshots one of the owner's live conversations under `token`, replacing its earlier link.
pub(super) fn share(
    db: &Connection,
    owner: OwnerId,
    id: &str,
    token: TokenHash,
    now_ms: i64,
) -> rusqlite::Result<Option<Share>> {
    let transaction = super::write_transaction(db)?;
    let Some(summary) = conversations::conversation(&transaction, owner, id)? else {
        return Ok(None);
    };
    let messages = messages::messages_of(&transaction, id)?;
    let json = serde_json::to_string(&messages)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
    let count = messages.len() as u64;
    // The conversation's earlier link, if any, goes (session_id is unique).
    transaction
        .prepare_cached(
            "INSERT OR REPLACE INTO shares
             (token_hash, session_id, title, messages, message_count, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            &token.0[..],
            id,
            summary.title,
            json,
            count,
            now_ms
        ])?;
    transaction.commit()?;
    Ok(Some(Share {
        path: None,
        created_at_ms: now_ms,
        messages: count,
    }))
}

/// The live link of one of the owner's live conversations.
pub(super) fn share_of(
    db: &Connection,
    owner: OwnerId,
    id: &str,
) -> rusqlite::Result<Option<Share>> {
    db.prepare_cached(
        "SELECT sh.created_at_ms, sh.message_count FROM shares AS sh
         JOIN sessions AS s ON s.id = sh.session_id
         WHERE sh.session_id = ?1 AND s.owner_id = ?2 AND s.deleted_at_ms IS NULL",
    )?
    .query_row(params![id, owner.0], |row| {
        Ok(Share {
            path: None,
            created_at_ms: row.get(0)?,
            messages: row.get(1)?,
        })
    })
    .optional()
}

/// Ends the link of one of the owner's conversations; false: it had none.
pub(super) fn unshare(db: &Connection, owner: OwnerId, id: &str) -> rusqlite::Result<bool> {
    let removed = db
        .prepare_cached(
            "DELETE FROM shares WHERE session_id = ?1
             AND session_id IN (SELECT id FROM sessions WHERE owner_id = ?2)",
        )?
        .execute(params![id, owner.0])?;
    Ok(removed > 0)
}

/// What a link shows: nothing once its conversation is deleted or its owner blocked.
pub(super) fn snapshot(db: &Connection, token: TokenHash) -> rusqlite::Result<Option<Snapshot>> {
    let found: Option<(String, i64, String)> = db
        .prepare_cached(
            "SELECT sh.title, sh.created_at_ms, sh.messages FROM shares AS sh
             JOIN sessions AS s ON s.id = sh.session_id
             JOIN owners AS o ON o.id = s.owner_id
             WHERE sh.token_hash = ?1 AND s.deleted_at_ms IS NULL AND o.blocked_at_ms IS NULL",
        )?
        .query_row(params![&token.0[..]], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let Some((title, created_at_ms, json)) = found else {
        return Ok(None);
    };
    let messages = serde_json::from_str(&json)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, Box::new(err)))?;
    Ok(Some(Snapshot {
        title,
        created_at_ms,
        messages,
    }))
}
