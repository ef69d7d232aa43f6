//! The database schema, created on open when missing.

use std::path::Path;

use rusqlite::Connection;

use super::open::explain;
use crate::store::StoreError;

/// Creates what is missing.
pub(super) fn upgrade(db: &Connection, path: &Path) -> Result<(), StoreError> {
    db.execute_batch(SCHEMA).map_err(|err| explain(path, &err))
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at_ms INTEGER NOT NULL,
    last_active_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_last_active ON sessions(last_active_ms);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    persona TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    ttft_ms INTEGER,
    total_ms INTEGER,
    partial INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    persona TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message_chars INTEGER NOT NULL,
    reply_chars INTEGER NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    ttft_ms INTEGER,
    total_ms INTEGER NOT NULL
);
";
