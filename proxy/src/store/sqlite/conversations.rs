//! Conversations as the list shows them: titles (owner's, model's or the first words), pins, soft delete and purge.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::{
    api::{ConversationSummary, MAX_TITLE_CHARS},
    store::{ConversationChange, OwnerId, TitleSource},
};

/// Words of the first message an untitled conversation is listed by.
const FALLBACK_WORDS: usize = 8;

/// The summary's columns for `sessions AS s`; the last one is the first user message when the
/// conversation has no title (its fallback).
const SUMMARY_COLUMNS: &str = "s.id, s.title, s.pinned, s.created_at_ms,
    coalesce((SELECT created_at_ms FROM messages WHERE session_id = s.id ORDER BY id DESC LIMIT 1),
             s.created_at_ms),
    (SELECT count(*) FROM messages WHERE session_id = s.id),
    CASE WHEN s.title IS NULL THEN (SELECT substr(content, 1, 1000) FROM messages
         WHERE session_id = s.id AND role = 'user' ORDER BY id LIMIT 1) END";

fn row_to_summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationSummary> {
    let title: Option<String> = row.get(1)?;
    let first: Option<String> = row.get(6)?;
    Ok(ConversationSummary {
        id: row.get(0)?,
        title: title.unwrap_or_else(|| first.as_deref().map(fallback_title).unwrap_or_default()),
        pinned: row.get(2)?,
        created_at_ms: row.get(3)?,
        updated_at_ms: row.get(4)?,
        messages: row.get(5)?,
        writing: false,
    })
}

/// The first words of a message, on one line, with "…" where it was cut.
pub(super) fn fallback_title(message: &str) -> String {
    let mut title = String::new();
    let mut words = message.split_whitespace();
    let mut cut = false;
    for (index, word) in words.by_ref().enumerate() {
        if index == FALLBACK_WORDS
            || title.chars().count() + word.chars().count() + 1 > MAX_TITLE_CHARS
        {
            cut = true;
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    if title.is_empty() {
        // One word longer than a title: its start.
        title = message
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .chars()
            .take(MAX_TITLE_CHARS - 1)
            .collect();
    }
    if cut {
        title.push('…');
    }
    title
}

/// The owner's live conversations: pinned first, then the most recently active.
pub(super) fn conversations_of(
    db: &Connection,
    owner: OwnerId,
    limit: usize,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    let mut query = db.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM sessions AS s
         WHERE s.owner_id = ?1 AND s.deleted_at_ms IS NULL"
    ))?;
    let mut list = query
        .query_map(params![owner.0], row_to_summary)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // The order uses the last message's time, computed above: sorted here.
    list.sort_by(|a, b| {
        b.pinned
            .cmp(&a.pinned)
            .then(b.updated_at_ms.cmp(&a.updated_at_ms))
            .then(b.created_at_ms.cmp(&a.created_at_ms))
            .then(b.id.cmp(&a.id))
    });
    list.truncate(limit);
    Ok(list)
}

/// One live conversation of the owner's; `None` for anyone else's, a deleted or an unknown one.
pub(super) fn conversation(
    db: &Connection,
    owner: OwnerId,
    id: &str,
) -> rusqlite::Result<Option<ConversationSummary>> {
    db.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM sessions AS s
         WHERE s.id = ?1 AND s.owner_id = ?2 AND s.deleted_at_ms IS NULL"
    ))?
    .query_row(params![id, owner.0], row_to_summary)
    .optional()
}

/// Renames (the owner's title: the model will not rename it) and/or pins, as one transaction.
pub(super) fn change_conversation(
    db: &Connection,
    owner: OwnerId,
    id: &str,
    change: &ConversationChange,
) -> rusqlite::Result<Option<ConversationSummary>> {
    let transaction = super::write_transaction(db)?;
    if let Some(title) = &change.title {
        transaction
            .prepare_cached(
                "UPDATE sessions SET title = ?3, title_by_owner = 1
                 WHERE id = ?1 AND owner_id = ?2 AND deleted_at_ms IS NULL",
            )?
            .execute(params![id, owner.0, title])?;
    }
    if let Some(pinned) = change.pinned {
        transaction
            .prepare_cached(
                "UPDATE sessions SET pinned = ?3
                 WHERE id = ?1 AND owner_id = ?2 AND deleted_at_ms IS NULL",
            )?
            .execute(params![id, owner.0, pinned])?;
    }
    let summary = conversation(&transaction, owner, id)?;
    transaction.commit()?;
    Ok(summary)
}

/// Hides the conversation (a soft delete); false when the owner has no such live one.
pub(super) fn delete_conversation(
    db: &Connection,
    owner: OwnerId,
    id: &str,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let changed = db
        .prepare_cached(
            "UPDATE sessions SET deleted_at_ms = ?3
             WHERE id = ?1 AND owner_id = ?2 AND deleted_at_ms IS NULL",
        )?
        .execute(params![id, owner.0, now_ms])?;
    Ok(changed > 0)
}

/// Undoes a delete made at or after `deleted_since_ms`; a live conversation is returned as it
/// is. `None`: no such conversation of the owner's, or deleted too long ago.
pub(super) fn restore_conversation(
    db: &Connection,
    owner: OwnerId,
    id: &str,
    deleted_since_ms: i64,
) -> rusqlite::Result<Option<ConversationSummary>> {
    db.prepare_cached(
        "UPDATE sessions SET deleted_at_ms = NULL
         WHERE id = ?1 AND owner_id = ?2 AND deleted_at_ms >= ?3",
    )?
    .execute(params![id, owner.0, deleted_since_ms])?;
    conversation(db, owner, id)
}

/// Deletes for good the conversations deleted before `cutoff_ms`, with their messages.
pub(super) fn purge_deleted(db: &Connection, cutoff_ms: i64) -> rusqlite::Result<usize> {
    db.prepare_cached("DELETE FROM sessions WHERE deleted_at_ms < ?1")?
        .execute(params![cutoff_ms])
}

/// An untitled, live conversation's first message and first reply: what the model names it
/// from. `None` when it has a title (the model's or its owner's) or no reply yet.
pub(super) fn title_source(db: &Connection, id: &str) -> rusqlite::Result<Option<TitleSource>> {
    let found = db
        .prepare_cached(
            "SELECT
             (SELECT content FROM messages WHERE session_id = s.id AND role = 'user'
              ORDER BY id LIMIT 1),
             (SELECT content FROM messages WHERE session_id = s.id AND role = 'assistant'
              ORDER BY id LIMIT 1)
             FROM sessions AS s
             WHERE s.id = ?1 AND s.title IS NULL AND s.title_by_owner = 0
             AND s.deleted_at_ms IS NULL",
        )?
        .query_row(params![id], |row| {
            Ok((row.get::<_, Option<String>>(0)?, row.get(1)?))
        })
        .optional()?;
    Ok(match found {
        Some((Some(first_message), Some(first_reply))) => Some(TitleSource {
            first_message,
            first_reply,
        }),
        _ => None,
    })
}

/// Stores the model's title unless the conversation got one meanwhile (its owner's above all).
pub(super) fn set_model_title(db: &Connection, id: &str, title: &str) -> rusqlite::Result<bool> {
    let changed = db
        .prepare_cached(
            "UPDATE sessions SET title = ?2
             WHERE id = ?1 AND title IS NULL AND title_by_owner = 0",
        )?
        .execute(params![id, title])?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::{
        api::Role,
        store::{
            CredentialKind, TokenHash,
            sqlite::{
                messages::{create_session, expire_idle_sessions},
                owners,
                test_support::{add_message as add, guest, memory},
            },
        },
    };

    #[test]
    fn an_untitled_conversation_is_listed_by_its_first_words() {
        assert_eq!(fallback_title("  plan a\n trip  "), "plan a trip");
        assert_eq!(
            fallback_title("one two three four five six seven eight nine ten"),
            "one two three four five six seven eight…"
        );
        let long = "x".repeat(500);
        assert_eq!(fallback_title(&long).chars().count(), MAX_TITLE_CHARS);
        assert_eq!(fallback_title(""), "");
    }

    #[test]
    fn pinned_come_first_then_the_latest_message() {
        let db = memory();
        let owner = guest(&db, 1);
        create_session(&db, "a", Some(owner), 10).unwrap();
        create_session(&db, "b", Some(owner), 20).unwrap();
        create_session(&db, "c", Some(owner), 30).unwrap();
        add(&db, "a", Role::User, "newest message", 100);
        let order = |db: &Connection| {
            conversations_of(db, owner, 10)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&db), ["a", "c", "b"]);
        let pin = ConversationChange {
            title: None,
            pinned: Some(true),
        };
        change_conversation(&db, owner, "b", &pin).unwrap().unwrap();
        assert_eq!(order(&db), ["b", "a", "c"]);
        let list = conversations_of(&db, owner, 10).unwrap();
        assert_eq!(list[1].title, "newest message");
        assert_eq!(list[1].updated_at_ms, 100);
        assert_eq!(list[0].title, "");
    }

    #[test]
    fn the_model_never_renames_an_owner_chosen_title() {
        let db = memory();
        let owner = guest(&db, 1);
        create_session(&db, "s", Some(owner), 0).unwrap();
        add(&db, "s", Role::User, "hello", 1);
        assert!(title_source(&db, "s").unwrap().is_none(), "no reply yet");
        add(&db, "s", Role::Assistant, "hi there", 2);
        let source = title_source(&db, "s").unwrap().unwrap();
        assert_eq!(source.first_message, "hello");
        let rename = ConversationChange {
            title: Some("Mine".to_owned()),
            pinned: None,
        };
        change_conversation(&db, owner, "s", &rename).unwrap();
        assert!(title_source(&db, "s").unwrap().is_none());
        assert!(!set_model_title(&db, "s", "Model's").unwrap());
        assert_eq!(
            conversation(&db, owner, "s").unwrap().unwrap().title,
            "Mine"
        );
    }

    #[test]
    fn a_deleted_conversation_restores_within_the_window_then_is_purged() {
        let db = memory();
        let owner = guest(&db, 1);
        let other = guest(&db, 2);
        create_session(&db, "s", Some(owner), 0).unwrap();
        add(&db, "s", Role::User, "hello", 1);
        assert!(!delete_conversation(&db, other, "s", 1_000).unwrap());
        assert!(delete_conversation(&db, owner, "s", 1_000).unwrap());
        assert!(conversation(&db, owner, "s").unwrap().is_none());
        assert!(conversations_of(&db, owner, 10).unwrap().is_empty());
        assert!(restore_conversation(&db, other, "s", 0).unwrap().is_none());
        assert!(
            restore_conversation(&db, owner, "s", 1_001)
                .unwrap()
                .is_none(),
            "too late"
        );
        assert!(
            restore_conversation(&db, owner, "s", 1_000)
                .unwrap()
                .is_some()
        );
        assert!(delete_conversation(&db, owner, "s", 2_000).unwrap());
        assert_eq!(purge_deleted(&db, 2_000).unwrap(), 0);
        assert_eq!(purge_deleted(&db, 2_001).unwrap(), 1);
        let left: i64 = db
            .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn guests_conversations_expire_when_idle_and_users_stay() {
        let db = memory();
        let guest = guest(&db, 1);
        let user = owners::sign_in_user(
            &db,
            &crate::store::UserProfile {
                issuer: "i".into(),
                subject: "s".into(),
                ..Default::default()
            },
            None,
            &crate::store::NewCredential {
                token: TokenHash([9; 32]),
                kind: CredentialKind::Cookie,
                name: None,
                expires_at_ms: i64::MAX,
            },
            0,
        )
        .unwrap();
        let crate::store::SignedIn::Account(user) = user else {
            panic!("blocked");
        };
        create_session(&db, "guest", Some(guest), 0).unwrap();
        create_session(&db, "user", Some(user), 0).unwrap();
        assert_eq!(expire_idle_sessions(&db, 1_000).unwrap(), 1);
        assert!(conversation(&db, guest, "guest").unwrap().is_none());
        assert!(conversation(&db, user, "user").unwrap().is_some());
    }
}
