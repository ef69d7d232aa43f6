//! Export and import: an owner's conversations read out whole (no ids), and a file's
//! conversations written in as one transaction.

use rusqlite::{Connection, params};

use super::{
    conversations,
    messages::{self, NewMessage},
};
use crate::{
    api::{ConversationSummary, ExportedConversation, ExportedMessage},
    store::{ImportedConversation, OwnerId},
};

/// The owner's live conversations, oldest first (the one `id` only, when given), with their
/// stored titles (`None`: not named); `None` when `id` is not a live conversation of theirs.
pub(super) fn export(
    db: &Connection,
    owner: OwnerId,
    id: Option<&str>,
) -> rusqlite::Result<Option<Vec<ExportedConversation>>> {
    let transaction = db.unchecked_transaction()?;
    let rows: Vec<(String, Option<String>, bool, i64)> = transaction
        .prepare_cached(
            "SELECT id, title, pinned, created_at_ms FROM sessions
             WHERE owner_id = ?1 AND deleted_at_ms IS NULL AND (?2 IS NULL OR id = ?2)
             ORDER BY created_at_ms, rowid",
        )?
        .query_map(params![owner.0, id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if id.is_some() && rows.is_empty() {
        return Ok(None);
    }
    let mut exported = Vec::with_capacity(rows.len());
    for (session, title, pinned, created_at_ms) in rows {
        let messages = messages::messages_of(&transaction, &session)?
            .into_iter()
            .map(|message| ExportedMessage {
                role: message.role,
                content: message.content,
                persona: message.persona,
                created_at_ms: message.created_at_ms,
                stats: message.stats,
                partial: message.partial,
            })
            .collect();
        exported.push(ExportedConversation {
            title,
            pinned,
            created_at_ms,
            messages,
        });
    }
    transaction.commit()?;
    Ok(Some(exported))
}

/// Stores every conversation under its new id for `owner`, all or none; active as of `now_ms`
/// (a guest's imported conversations do not expire at once). A title counts as its owner's.
pub(super) fn import(
    db: &Connection,
    owner: OwnerId,
    imports: &[ImportedConversation],
    now_ms: i64,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    let transaction = super::write_transaction(db)?;
    for imported in imports {
        let conversation = &imported.conversation;
        transaction
            .prepare_cached(
                "INSERT INTO sessions
                 (id, owner_id, created_at_ms, last_active_ms, title, title_by_owner, pinned)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                imported.id,
                owner.0,
                conversation.created_at_ms,
                now_ms,
                conversation.title,
                conversation.title.is_some(),
                conversation.pinned,
            ])?;
        for message in &conversation.messages {
            let new = NewMessage {
                session_id: &imported.id,
                role: message.role,
                content: &message.content,
                persona: &message.persona,
                stats: message.stats.as_ref(),
                partial: message.partial,
            };
            messages::insert_message(&transaction, &new, message.created_at_ms)?;
        }
    }
    let mut summaries = Vec::with_capacity(imports.len());
    for imported in imports {
        summaries.extend(conversations::conversation(
            &transaction,
            owner,
            &imported.id,
        )?);
    }
    transaction.commit()?;
    Ok(summaries)
}
