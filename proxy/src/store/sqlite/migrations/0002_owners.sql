-- Version 2: owners. Every session belongs to an owner: a guest (a browser or a desktop app that
-- has not signed in) or a signed-in user. Credentials are kept only as SHA-256 hashes.
-- Sessions stored before this version have no owner; the first owner to use one adopts it.
CREATE TABLE owners (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('guest', 'user')),
    -- A user's identity at its OpenID Connect provider; NULL for guests.
    issuer TEXT,
    subject TEXT,
    name TEXT,
    email TEXT,
    avatar_url TEXT,
    created_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE TABLE credentials (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    owner_id INTEGER NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('cookie', 'bearer')),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX credentials_by_owner ON credentials(owner_id);
CREATE INDEX credentials_by_expiry ON credentials(expires_at_ms);
ALTER TABLE sessions ADD COLUMN owner_id INTEGER REFERENCES owners(id) ON DELETE CASCADE;
CREATE INDEX sessions_by_owner ON sessions(owner_id);
