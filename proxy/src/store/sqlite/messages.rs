//! Sessions and their messages: the queries behind history, context and streaming replies.

use rusqlite::{Connection, params};

use super::{errors::is_full, from_sql_int, to_sql_int};
use crate::{
    api::{HistoryMessage, ReplyStats, Role, SessionSummary, StoreStats},
    store::{OwnerId, now_ms},
};

/// A new message to store.
pub(super) struct NewMessage<'a> {
    pub session_id: &'a str,
    pub role: Role,
    pub content: &'a str,
    pub persona: &'a str,
    pub stats: Option<&'a ReplyStats>,
    pub partial: bool,
}

/// A new, empty session; `owner` is `None` only for sessions made the way v0.1.0 made them.
pub(super) fn create_session(
    db: &Connection,
    id: &str,
    owner: Option<OwnerId>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    db.prepare_cached(
        "INSERT INTO sessions (id, owner_id, created_at_ms, last_active_ms) VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![id, owner.map(|owner| owner.0), now_ms])?;
    Ok(())
}

/// Marks the session active; false when it does not exist (or is deleted, awaiting its purge).
pub(super) fn touch_session(db: &Connection, id: &str, now_ms: i64) -> rusqlite::Result<bool> {
    let changed = db
        .prepare_cached(
            "UPDATE sessions SET last_active_ms = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL",
        )?
        .execute(params![id, now_ms])?;
    Ok(changed > 0)
}

/// Removes every message of the session; false when it does not exist. The id stays valid.
pub(super) fn clear_session(db: &Connection, id: &str, now_ms: i64) -> rusqlite::Result<bool> {
    if !touch_session(db, id, now_ms)? {
        return Ok(false);
    }
    db.execute("DELETE FROM messages WHERE session_id = ?1", params![id])?;
    Ok(true)
}

/// Deletes guests' (and unowned) sessions idle since before `cutoff_ms`, with their messages;
/// a signed-in user's conversations stay until they delete them. Returns how many went.
pub(super) fn expire_idle_sessions(db: &Connection, cutoff_ms: i64) -> rusqlite::Result<usize> {
    db.execute(
        "DELETE FROM sessions WHERE last_active_ms < ?1 AND (owner_id IS NULL
         OR owner_id IN (SELECT id FROM owners WHERE kind = 'guest'))",
        params![cutoff_ms],
    )
}

/// The owner's sessions, most recently active first: id, last activity, message count and
/// the start of the first message.
pub(super) fn sessions_of(
    db: &Connection,
    owner: OwnerId,
    limit: usize,
) -> rusqlite::Result<Vec<SessionSummary>> {
    let mut query = db.prepare_cached(
        "SELECT sessions.id, sessions.last_active_ms,
         (SELECT count(*) FROM messages WHERE messages.session_id = sessions.id),
         (SELECT substr(content, 1, 80) FROM messages WHERE messages.session_id = sessions.id
          AND role = 'user' ORDER BY id LIMIT 1)
         FROM sessions WHERE owner_id = ?1 AND deleted_at_ms IS NULL
         ORDER BY last_active_ms DESC, created_at_ms DESC
         LIMIT ?2",
    )?;
    let rows = query.query_map(params![owner.0, limit], |row| {
        Ok(SessionSummary {
            session_id: row.get(0)?,
            last_active_ms: row.get(1)?,
            messages: row.get(2)?,
            title: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
        })
    })?;
    rows.collect()
}

/// Stores what a person sent and marks their session active; returns the message id.
pub(super) fn insert_user_message(
    db: &Connection,
    session_id: &str,
    persona: &str,
    content: &str,
) -> rusqlite::Result<i64> {
    let now = now_ms();
    touch_session(db, session_id, now)?;
    let message = NewMessage {
        session_id,
        role: Role::User,
        content,
        persona,
        stats: None,
        partial: false,
    };
    insert_message(db, &message, now)
}

pub(super) fn insert_message(
    db: &Connection,
    message: &NewMessage<'_>,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    let stats = message.stats;
    db.prepare_cached(
        "INSERT INTO messages (session_id, role, content, persona, created_at_ms, model,
         prompt_tokens, completion_tokens, total_tokens, ttft_ms, total_ms, partial, owner_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
         (SELECT owner_id FROM sessions WHERE id = ?1))",
    )?
    .execute(params![
        message.session_id,
        role_name(message.role),
        message.content,
        message.persona,
        now_ms,
        stats.map(|stats| stats.model.as_str()),
        stats.and_then(|stats| stats.prompt_tokens),
        stats.and_then(|stats| stats.completion_tokens),
        stats.and_then(|stats| stats.total_tokens),
        stats.and_then(|stats| stats.ttft_ms).map(to_sql_int),
        stats.map(|stats| to_sql_int(stats.total_ms)),
        message.partial,
    ])?;
    Ok(db.last_insert_rowid())
}

/// Replaces the text of a reply that is still streaming (it stays marked partial).
pub(super) fn update_reply_text(db: &Connection, id: i64, content: &str) -> rusqlite::Result<()> {
    db.prepare_cached("UPDATE messages SET content = ?2 WHERE id = ?1")?
        .execute(params![id, content])?;
    Ok(())
}

/// Writes a streamed reply's final text and stats; `partial` stays set when it was cut short.
pub(super) fn finalise_reply(
    db: &Connection,
    id: i64,
    content: &str,
    stats: &ReplyStats,
    partial: bool,
) -> rusqlite::Result<()> {
    db.prepare_cached(
        "UPDATE messages SET content = ?2, model = ?3, prompt_tokens = ?4,
         completion_tokens = ?5, total_tokens = ?6, ttft_ms = ?7, total_ms = ?8, partial = ?9
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        content,
        stats.model.as_str(),
        stats.prompt_tokens,
        stats.completion_tokens,
        stats.total_tokens,
        stats.ttft_ms.map(to_sql_int),
        to_sql_int(stats.total_ms),
        partial,
    ])?;
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn row_to_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryMessage> {
    let role = if row.get::<_, String>(1)? == "user" {
        Role::User
    } else {
        Role::Assistant
    };
    let model: Option<String> = row.get(5)?;
    let stats = match (role, model) {
        (Role::Assistant, Some(model)) => Some(ReplyStats {
            model,
            prompt_tokens: row.get(6)?,
            completion_tokens: row.get(7)?,
            total_tokens: row.get(8)?,
            ttft_ms: from_sql_int(row.get(9)?),
            total_ms: from_sql_int(row.get(10)?).unwrap_or(0),
        }),
        _ => None,
    };
    Ok(HistoryMessage {
        id: row.get(0)?,
        role,
        content: row.get(2)?,
        persona: row.get(3)?,
        created_at_ms: row.get(4)?,
        stats,
        partial: row.get(11)?,
    })
}

const MESSAGE_COLUMNS: &str = "id, role, content, persona, created_at_ms, model, prompt_tokens,
    completion_tokens, total_tokens, ttft_ms, total_ms, partial";

/// All messages of a session, oldest first; `None` when the session does not exist.
pub(super) fn history(
    db: &Connection,
    id: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<Vec<HistoryMessage>>> {
    // Marking the session active is a write; on a full disk the history is still read.
    let exists = match touch_session(db, id, now_ms) {
        Err(err) if is_full(&err) => session_exists(db, id)?,
        touched => touched?,
    };
    if !exists {
        return Ok(None);
    }
    let mut query = db.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?1 ORDER BY id"
    ))?;
    let messages = query
        .query_map(params![id], row_to_message)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(messages))
}

/// All messages of a session, oldest first, without marking it active (a snapshot of it).
pub(super) fn messages_of(db: &Connection, id: &str) -> rusqlite::Result<Vec<HistoryMessage>> {
    db.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?1 ORDER BY id"
    ))?
    .query_map(params![id], row_to_message)?
    .collect()
}

/// The last `limit` messages of a session, oldest first: the context sent upstream.
pub(super) fn recent_messages(
    db: &Connection,
    id: &str,
    limit: usize,
) -> rusqlite::Result<Vec<HistoryMessage>> {
    let mut query = db.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let mut messages = query
        .query_map(
            params![id, i64::try_from(limit).unwrap_or(i64::MAX)],
            row_to_message,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    messages.reverse();
    Ok(messages)
}

/// For regenerate: deletes the trailing reply (if any) and returns the last user message.
pub(super) fn drop_last_reply(
    db: &Connection,
    id: &str,
) -> rusqlite::Result<Option<HistoryMessage>> {
    let last = recent_messages(db, id, 1)?;
    let Some(last) = last.into_iter().next() else {
        return Ok(None);
    };
    if last.role == Role::User {
        return Ok(Some(last));
    }
    db.execute("DELETE FROM messages WHERE id = ?1", params![last.id])?;
    let before = recent_messages(db, id, 1)?;
    Ok(before
        .into_iter()
        .next()
        .filter(|message| message.role == Role::User))
}

pub(super) fn stats(db: &Connection) -> rusqlite::Result<StoreStats> {
    let sessions: i64 = db.query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))?;
    let messages: i64 = db.query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))?;
    Ok(StoreStats {
        sessions: u64::try_from(sessions).unwrap_or(0),
        messages: u64::try_from(messages).unwrap_or(0),
    })
}

/// Whether a session exists (and is not deleted), without touching it.
pub(super) fn session_exists(db: &Connection, id: &str) -> rusqlite::Result<bool> {
    // Asked on every request: the statement is prepared once per connection.
    db.prepare_cached("SELECT 1 FROM sessions WHERE id = ?1 AND deleted_at_ms IS NULL")?
        .exists(params![id])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::store::sqlite::test_support::{self, memory};

    fn add(db: &Connection, session: &str, role: Role, text: &str) -> i64 {
        test_support::add_message(db, session, role, text, 1)
    }

    #[test]
    fn recent_messages_are_the_newest_in_order() {
        let db = memory();
        create_session(&db, "s", None, 0).unwrap();
        for n in 0..30 {
            add(
                &db,
                "s",
                if n % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                },
                &format!("m{n}"),
            );
        }
        let recent = recent_messages(&db, "s", 21).unwrap();
        assert_eq!(recent.len(), 21);
        assert_eq!(recent[0].content, "m9");
        assert_eq!(recent[20].content, "m29");
    }

    #[test]
    fn idle_sessions_expire_with_their_messages() {
        let db = memory();
        create_session(&db, "old", None, 0).unwrap();
        create_session(&db, "new", None, 100).unwrap();
        add(&db, "old", Role::User, "hi");
        assert_eq!(expire_idle_sessions(&db, 50).unwrap(), 1);
        assert!(history(&db, "old", 200).unwrap().is_none());
        assert_eq!(
            stats(&db).unwrap(),
            StoreStats {
                sessions: 1,
                messages: 0
            }
        );
    }

    #[test]
    fn regenerate_drops_only_the_trailing_reply() {
        let db = memory();
        create_session(&db, "s", None, 0).unwrap();
        add(&db, "s", Role::User, "q1");
        add(&db, "s", Role::Assistant, "a1");
        let user = drop_last_reply(&db, "s").unwrap().unwrap();
        assert_eq!(user.content, "q1");
        assert_eq!(history(&db, "s", 1).unwrap().unwrap().len(), 1);
        assert_eq!(drop_last_reply(&db, "s").unwrap().unwrap().content, "q1");
        clear_session(&db, "s", 2).unwrap();
        assert!(drop_last_reply(&db, "s").unwrap().is_none());
    }
}
