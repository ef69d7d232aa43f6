//! Versioned migrations: a v0.1.0 database upgrades with nothing lost; a newer one is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use ashley_proxy::{
    api::{History, Role, StoreStats},
    store::{CredentialKind, SqliteStore, Store as _, StoreOptions, TokenHash},
};

/// Made by `fixtures/make-v0.1.0-fixture.sh` with the v0.1.0 proxy (see fixtures/README.md).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/v0.1.0-ashley.sqlite3"
);
/// What that proxy answered to `GET /api/sessions/{id}` for each session, just before it stopped.
const HISTORIES: &str = include_str!("fixtures/v0.1.0-histories.json");
/// Usage rows the v0.1.0 proxy wrote into the fixture.
const FIXTURE_USAGE_ROWS: usize = 5;

fn user_version(path: &Path) -> i64 {
    let db = rusqlite::Connection::open(path).unwrap();
    db.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_v0_1_0_database_upgrades_with_every_message_and_stat_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ashley.sqlite3");
    std::fs::copy(FIXTURE, &path).unwrap();
    assert_eq!(user_version(&path), 0, "v0.1.0 did not version its schema");
    let expected: Vec<History> = serde_json::from_str(HISTORIES).unwrap();

    let store = SqliteStore::open(dir.path(), StoreOptions::default()).unwrap();
    for history in &expected {
        let messages = store.history(&history.session_id).await.unwrap().unwrap();
        assert_eq!(messages, history.messages);
    }
    let total: usize = expected.iter().map(|history| history.messages.len()).sum();
    assert_eq!(
        store.stats().await.unwrap(),
        StoreStats {
            sessions: 2,
            messages: u64::try_from(total).unwrap()
        }
    );
    assert_eq!(store.usage().await.unwrap().len(), FIXTURE_USAGE_ROWS);
    drop(store);
    assert_eq!(user_version(&path), 5);

    // The fixture is what its README says: the regenerated turn kept one reply with stats,
    // the second session ends in a reply the client cut off.
    let first = &expected[0].messages;
    let texts: Vec<_> = first.iter().map(|message| message.role).collect();
    assert_eq!(
        texts,
        [Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    assert!(first[1].stats.as_ref().unwrap().model == "ashley-demo");
    assert!(first[2].content.contains("🎉 — café"));
    let second = &expected[1].messages;
    assert!(second[0].content.contains("two lines and \"quotes\""));
    assert!(second.last().unwrap().partial);

    // Opening it again at the current version changes nothing.
    let store = SqliteStore::open(dir.path(), StoreOptions::default()).unwrap();
    let again = store
        .history(&expected[1].session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&again, second);
}

#[tokio::test]
async fn version_4_makes_the_old_messages_searchable_and_lists_them_untitled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(FIXTURE, dir.path().join("ashley.sqlite3")).unwrap();
    let expected: Vec<History> = serde_json::from_str(HISTORIES).unwrap();
    let store = SqliteStore::open(dir.path(), StoreOptions::default()).unwrap();
    let owner = store
        .create_guest(TokenHash([1; 32]), CredentialKind::Bearer, i64::MAX)
        .await
        .unwrap();
    // Unowned (v0.1.0) conversations are nobody's to search until an owner adopts them.
    assert!(store.search(owner, "cafe", 10).await.unwrap().is_empty());
    let first = &expected[0];
    assert!(store.adopt_session(&first.session_id, owner).await.unwrap());
    let hits = store.search(owner, "cafe", 10).await.unwrap();
    // The message, and the demo reply that quoted it.
    assert!(
        hits.iter()
            .any(|hit| hit.message_id == Some(first.messages[2].id)),
        "{hits:?}"
    );
    assert!(
        hits.iter()
            .all(|hit| hit.conversation_id == first.session_id)
    );
    let listed = store.conversations_of(owner, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].pinned);
    assert!(!listed[0].title.is_empty());
    assert!(
        first.messages[0]
            .content
            .starts_with(listed[0].title.trim_end_matches('…')),
        "{}",
        listed[0].title
    );
    assert_eq!(listed[0].messages, 4);
}

#[test]
fn a_database_from_a_newer_ashley_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ashley.sqlite3");
    drop(SqliteStore::open(dir.path(), StoreOptions::default()).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let message = match SqliteStore::open(dir.path(), StoreOptions::default()) {
        Ok(_) => panic!("a version 99 database was opened"),
        Err(err) => err.to_string(),
    };
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("written by a newer Ashley"), "{message}");
    assert!(message.contains("schema version 99"), "{message}");
    assert_eq!(user_version(&path), 99, "the file is left as it was");
}
