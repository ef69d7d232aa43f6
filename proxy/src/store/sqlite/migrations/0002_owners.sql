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
    -- Set by an admin: the owner's credentials stop working.
    blocked_at_ms INTEGER,
    UNIQUE (issuer, subject)
);
-- cookie: a browser's; bearer: the desktop app's; api_key: a /v1 key (named); handoff: the
-- one-time code that carries a desktop sign-in from the browser to the app.
CREATE TABLE credentials (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    owner_id INTEGER NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('cookie', 'bearer', 'api_key', 'handoff')),
    name TEXT,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    last_used_ms INTEGER
);
CREATE INDEX credentials_by_owner ON credentials(owner_id);
CREATE INDEX credentials_by_expiry ON credentials(expires_at_ms);
ALTER TABLE sessions ADD COLUMN owner_id INTEGER REFERENCES owners(id) ON DELETE CASCADE;
CREATE INDEX sessions_by_owner ON sessions(owner_id);
-- Sign-ins under way: the browser went to the provider and has not come back yet. Keyed by the
-- SHA-256 of `state`; taken (deleted) by the callback, so a state works once.
CREATE TABLE sign_ins (
    state_hash BLOB PRIMARY KEY CHECK (length(state_hash) = 32),
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    -- The guest signing in, whose conversations move to the account.
    guest_id INTEGER REFERENCES owners(id) ON DELETE SET NULL,
    -- A desktop sign-in: where the app listens (http://127.0.0.1:PORT/...) and its own state.
    desktop_redirect TEXT,
    desktop_state TEXT,
    expires_at_ms INTEGER NOT NULL
);
-- Quotas count an owner's usage per day. No foreign key: rows are written in batches, after
-- the request, and must not fail because their owner has gone meanwhile ("delete my data"
-- deletes them by owner).
ALTER TABLE usage ADD COLUMN owner_id INTEGER;
CREATE INDEX usage_by_owner ON usage(owner_id, at_ms);
