//! The SQLite store: sessions, their messages, usage analytics; WAL, one writer connection.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError, mpsc},
    time::{SystemTime, UNIX_EPOCH},
};

use rusqlite::Connection;

mod messages;
mod schema;
mod usage;

pub use messages::{
    NewMessage, clear_session, create_session, drop_last_reply, expire_idle_sessions,
    finalise_reply, history, insert_message, insert_user_message, recent_messages, session_exists,
    stats, touch_session, update_reply_text,
};
pub use usage::{UsageRecord, usage_rows};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A store failure; the details are logged where it is handled, the client sees a generic 500.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        Self(err.to_string())
    }
}

/// The store handle: cheap to clone; blocking work runs on tokio's blocking pool.
#[derive(Clone)]
pub struct Store {
    db: Arc<Mutex<Connection>>,
    usage: mpsc::Sender<UsageRecord>,
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(db)
}

impl Store {
    /// Opens (creating as needed) `ashley.sqlite3` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|err| {
            StoreError(format!(
                "cannot create the data directory {}: {err}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join("ashley.sqlite3");
        let db = open_connection(&path)
            .map_err(|err| StoreError(format!("cannot open {}: {err}", path.display())))?;
        db.execute_batch(schema::SCHEMA)?;
        // SQLite checkpoints the WAL inside whichever commit crosses 1,000 pages; on this
        // connection that would be a request's commit (a multi-millisecond stall at p99). The
        // usage writer's connection keeps the automatic checkpoint and checkpoints when idle.
        db.pragma_update(None, "wal_autocheckpoint", 0)?;
        let usage_db = open_connection(&path)?;
        let (usage, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("ashley-usage".to_owned())
            .spawn(move || usage::write_usage(&usage_db, &receiver))
            .map_err(|err| StoreError(format!("cannot start the usage writer: {err}")))?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            usage,
        })
    }

    /// Runs `work` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let db = db.lock().unwrap_or_else(PoisonError::into_inner);
            work(&db).map_err(StoreError::from)
        })
        .await
        .map_err(|err| StoreError(format!("store task failed: {err}")))?
    }

    /// Queues a usage row; a background thread writes rows in batches so requests never wait on it.
    pub fn record_usage(&self, record: UsageRecord) {
        if self.usage.send(record).is_err() {
            tracing::warn!("usage writer stopped; a usage row was dropped");
        }
    }
}

pub(crate) fn to_sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn from_sql_int(value: Option<i64>) -> Option<u64> {
    value.and_then(|value| u64::try_from(value).ok())
}
