//! Usage analytics: rows queued by requests, written in batches by one background thread.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{from_sql_int, set_max_page_count, to_sql_int};
use crate::store::{
    OwnerId, OwnerUsage, StoreError, StoreErrorKind, UsageRecord, trouble::Trouble,
};

/// What the usage writer thread is asked to do.
pub(super) enum UsageCommand {
    Record(UsageRecord),
    /// Tests: apply `PRAGMA max_page_count` on this connection too, then answer.
    SetMaxPageCount(u64, tokio::sync::oneshot::Sender<()>),
    /// Write what is queued, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// How long the writer waits for rows before it checkpoints the WAL anyway.
const IDLE_CHECKPOINT_AFTER: Duration = Duration::from_secs(30);

/// Writes queued rows until every sender is gone. This thread also keeps the WAL short: its
/// commits run SQLite's automatic checkpoint, and when no rows come for a while it checkpoints
/// what the request connection (which does not checkpoint) wrote.
pub(super) fn write_usage(
    db: &Connection,
    receiver: &mpsc::Receiver<UsageCommand>,
    trouble: &Trouble,
) {
    loop {
        let first = match receiver.recv_timeout(IDLE_CHECKPOINT_AFTER) {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(err) = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!("could not checkpoint the database's write-ahead log: {err}");
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = Vec::new();
        for command in std::iter::once(first).chain(receiver.try_iter().take(1000)) {
            match command {
                UsageCommand::Record(row) => batch.push(row),
                UsageCommand::Flush(done) => {
                    write_batch(db, &mut batch, trouble);
                    let _ = done.send(());
                }
                UsageCommand::SetMaxPageCount(pages, done) => {
                    write_batch(db, &mut batch, trouble);
                    if let Err(err) = set_max_page_count(db, pages) {
                        tracing::warn!("could not limit the usage writer's database size: {err}");
                    }
                    let _ = done.send(());
                }
            }
        }
        write_batch(db, &mut batch, trouble);
    }
}

/// Writes and empties `batch`; `Full` and `Unavailable` are logged by `trouble`.
fn write_batch(db: &Connection, batch: &mut Vec<UsageRecord>, trouble: &Trouble) {
    if batch.is_empty() {
        return;
    }
    let result = insert_usage(db, batch).map_err(StoreError::from);
    trouble.observe(true, &result);
    if let Err(err) = result
        && err.kind() == StoreErrorKind::Other
    {
        tracing::warn!("could not store {} usage rows: {err}", batch.len());
    }
    batch.clear();
}

pub(super) fn insert_usage(db: &Connection, batch: &[UsageRecord]) -> rusqlite::Result<()> {
    let tx = super::write_transaction(db)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO usage (at_ms, source, persona, outcome, message_chars, reply_chars,
             prompt_tokens, completion_tokens, total_tokens, ttft_ms, total_ms, owner_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for row in batch {
            insert.execute(params![
                row.at_ms,
                row.source,
                row.persona,
                row.outcome,
                to_sql_int(row.message_chars),
                to_sql_int(row.reply_chars),
                row.prompt_tokens,
                row.completion_tokens,
                row.total_tokens,
                row.ttft_ms.map(to_sql_int),
                to_sql_int(row.total_ms),
                row.owner.map(|owner| owner.0),
            ])?;
        }
    }
    tx.commit()
}

/// Every usage row, oldest first (analytics and tests).
pub(super) fn usage_rows(db: &Connection) -> rusqlite::Result<Vec<UsageRecord>> {
    let mut query = db.prepare(
        "SELECT at_ms, source, persona, outcome, message_chars, reply_chars, prompt_tokens,
         completion_tokens, total_tokens, ttft_ms, total_ms, owner_id FROM usage ORDER BY id",
    )?;
    let rows = query
        .query_map([], |row| {
            Ok(UsageRecord {
                at_ms: row.get(0)?,
                source: row.get(1)?,
                persona: row.get(2)?,
                outcome: row.get(3)?,
                message_chars: from_sql_int(row.get(4)?).unwrap_or(0),
                reply_chars: from_sql_int(row.get(5)?).unwrap_or(0),
                prompt_tokens: row.get(6)?,
                completion_tokens: row.get(7)?,
                total_tokens: row.get(8)?,
                ttft_ms: from_sql_int(row.get(9)?),
                total_ms: from_sql_int(row.get(10)?).unwrap_or(0),
                owner: row.get::<_, Option<i64>>(11)?.map(OwnerId),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What the owner used since `since_ms`: turns that reached the model (refusals are not
/// counted) and their tokens (the provider's count, else about four characters a token).
pub(super) fn usage_since(
    db: &Connection,
    owner: OwnerId,
    since_ms: i64,
) -> rusqlite::Result<Option<OwnerUsage>> {
    let kind: Option<String> = db
        .prepare_cached("SELECT kind FROM owners WHERE id = ?1")?
        .query_row(params![owner.0], |row| row.get(0))
        .optional()?;
    let Some(kind) = kind else {
        return Ok(None);
    };
    let (messages, tokens): (i64, i64) = db
        .prepare_cached(
            "SELECT count(*), coalesce(sum(coalesce(total_tokens,
             (message_chars + reply_chars + 3) / 4)), 0)
             FROM usage WHERE owner_id = ?1 AND at_ms >= ?2 AND outcome <> 'refused'",
        )?
        .query_row(params![owner.0, since_ms], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(Some(OwnerUsage {
        user: kind == "user",
        messages: u64::try_from(messages).unwrap_or(0),
        tokens: u64::try_from(tokens).unwrap_or(0),
    }))
}
