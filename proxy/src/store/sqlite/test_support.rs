//! What the store's unit tests share: a migrated in-memory database and quick ways to fill it.
#![allow(clippy::unwrap_used)]

use rusqlite::Connection;

use crate::{
    api::Role,
    store::{
        CredentialKind, OwnerId, TokenHash,
        sqlite::{
            messages::{NewMessage, insert_message},
            migrations, owners,
        },
    },
};

/// A fresh database at the newest schema, with foreign keys enforced as in the product.
pub(crate) fn memory() -> Connection {
    let mut db = Connection::open_in_memory().unwrap();
    db.pragma_update(None, "foreign_keys", "ON").unwrap();
    migrations::upgrade(&mut db, std::path::Path::new(":memory:")).unwrap();
    db
}

/// Stores one complete message of the Ashley persona in `session` at `at_ms`; its id.
pub(crate) fn add_message(
    db: &Connection,
    session: &str,
    role: Role,
    text: &str,
    at_ms: i64,
) -> i64 {
    let message = NewMessage {
        session_id: session,
        role,
        content: text,
        persona: "ashley",
        stats: None,
        partial: false,
    };
    insert_message(db, &message, at_ms).unwrap()
}

/// A guest whose bearer token hashes to 32 × `byte` and never expires.
pub(crate) fn guest(db: &Connection, byte: u8) -> OwnerId {
    owners::create_guest(
        db,
        TokenHash([byte; 32]),
        CredentialKind::Bearer,
        0,
        i64::MAX,
    )
    .unwrap()
}
