-- Version 1: the schema of v0.1.0. That release created it with IF NOT EXISTS and left
-- user_version at 0, so its files adopt version 1 here with nothing changed.
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
