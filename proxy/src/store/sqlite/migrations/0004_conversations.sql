-- Version 4: sessions are conversations (issue 13). A title (NULL: not named yet, so the list
-- shows the first words of the first message), whether its owner chose it (the model then never
-- renames it), pinned, and a soft delete (hidden at once; purged after the undo window).
ALTER TABLE sessions ADD COLUMN title TEXT;
ALTER TABLE sessions ADD COLUMN title_by_owner INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN deleted_at_ms INTEGER;
CREATE INDEX sessions_deleted ON sessions(deleted_at_ms) WHERE deleted_at_ms IS NOT NULL;
-- A copy of the session's owner on each message, so full-text search is scoped to one owner
-- inside the index (an `owner_id : "N"` phrase) instead of filtering every match afterwards.
-- Kept equal to sessions.owner_id by insert_message and the trigger below.
ALTER TABLE messages ADD COLUMN owner_id INTEGER;
UPDATE messages SET owner_id = (SELECT owner_id FROM sessions WHERE sessions.id = messages.session_id);
CREATE TRIGGER sessions_owner_to_messages AFTER UPDATE OF owner_id ON sessions BEGIN
    UPDATE messages SET owner_id = new.owner_id WHERE session_id = new.id;
END;

-- Full-text search: case- and diacritics-insensitive words, external content (the text lives
-- once, in messages and sessions), kept in sync by triggers. Prefixes of 2 and 3 characters are
-- indexed so that the last word typed (searched as a prefix) stays fast.
CREATE VIRTUAL TABLE message_search USING fts5(
    owner_id, content,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO message_search(message_search) VALUES ('rebuild');
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search(rowid, owner_id, content) VALUES (new.id, new.owner_id, new.content);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search(message_search, rowid, owner_id, content)
    VALUES ('delete', old.id, old.owner_id, old.content);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF content, owner_id ON messages BEGIN
    INSERT INTO message_search(message_search, rowid, owner_id, content)
    VALUES ('delete', old.id, old.owner_id, old.content);
    INSERT INTO message_search(rowid, owner_id, content) VALUES (new.id, new.owner_id, new.content);
END;

-- Titles: only named conversations are indexed (an untitled one's fallback is its first
-- message, which message_search holds). Keyed by the sessions table's rowid: never VACUUM the
-- file without `INSERT INTO title_search(title_search) VALUES ('rebuild')` afterwards.
CREATE VIRTUAL TABLE title_search USING fts5(
    owner_id, title,
    content = 'sessions', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE TRIGGER sessions_search_insert AFTER INSERT ON sessions WHEN new.title IS NOT NULL BEGIN
    INSERT INTO title_search(rowid, owner_id, title) VALUES (new.rowid, new.owner_id, new.title);
END;
CREATE TRIGGER sessions_search_delete AFTER DELETE ON sessions WHEN old.title IS NOT NULL BEGIN
    INSERT INTO title_search(title_search, rowid, owner_id, title)
    VALUES ('delete', old.rowid, old.owner_id, old.title);
END;
CREATE TRIGGER sessions_search_update AFTER UPDATE OF title, owner_id ON sessions BEGIN
    INSERT INTO title_search(title_search, rowid, owner_id, title)
    SELECT 'delete', old.rowid, old.owner_id, old.title WHERE old.title IS NOT NULL;
    INSERT INTO title_search(rowid, owner_id, title)
    SELECT new.rowid, new.owner_id, new.title WHERE new.title IS NOT NULL;
END;
