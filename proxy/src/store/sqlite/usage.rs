//! Usage analytics: rows queued by requests, written in batches by one background thread.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::{from_sql_int, set_max_page_count, to_sql_int};
use crate::store::{StoreError, StoreErrorKind, UsageRecord, trouble::Trouble};

/// What the usage writer thread is asked to do.
pub(super) enum UsageCommand {
    Record(UsageRecord),
    /// Tests: apply `PRAGMA max_page_count` on this connection too, then answer.
    SetMaxPageCount(u64, tokio::sync::oneshot::Sender<()>),
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

fn insert_usage(db: &Connection, batch: &[UsageRecord]) -> rusqlite::Result<()> {
    let tx = db.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO usage (at_ms, source, persona, outcome, message_chars, reply_chars,
             prompt_tokens, completion_tokens, total_tokens, ttft_ms, total_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
            ])?;
        }
    }
    tx.commit()
}

/// Every usage row, oldest first (analytics and tests).
pub(super) fn usage_rows(db: &Connection) -> rusqlite::Result<Vec<UsageRecord>> {
    let mut query = db.prepare(
        "SELECT at_ms, source, persona, outcome, message_chars, reply_chars, prompt_tokens,
         completion_tokens, total_tokens, ttft_ms, total_ms FROM usage ORDER BY id",
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
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
