-- Version 5: read-only links to a snapshot of a conversation (`/s/{token}`). One link per
-- conversation: sharing again replaces it. The token is kept only as its SHA-256; the snapshot
-- is the conversation's messages as JSON when it was shared (later messages are not shown).
-- Owned through its conversation (a guest's move to an account at sign-in carries it along);
-- gone with the conversation (purged, expired, or its owner's data deleted); hidden while the
-- conversation is deleted and restorable, or its owner blocked.
CREATE TABLE shares (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    messages TEXT NOT NULL,
    message_count INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);
