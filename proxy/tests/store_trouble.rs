//! Storage trouble: a full database is named and recovers by itself; bad files stop start-up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ashley_proxy::{
    AppState, Config,
    store::{
        SqliteStore, Store as _, StoreErrorKind, StoreHealth, StoreOptions, UsageRecord,
        UserMessage,
    },
};

/// An owner for the sessions a test makes.
async fn guest(store: &dyn ashley_proxy::store::Store) -> ashley_proxy::store::OwnerId {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
    let seed = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    store
        .create_guest(
            ashley_proxy::store::TokenHash([seed; 32]),
            ashley_proxy::store::CredentialKind::Cookie,
            i64::MAX,
        )
        .await
        .unwrap()
}

fn said<'a>(session_id: &'a str, text: &'a str) -> UserMessage<'a> {
    UserMessage {
        session_id,
        persona: "ashley",
        text,
    }
}

/// `SqliteStore::open`'s error message (the store itself is not `Debug`).
fn open_error(dir: &std::path::Path) -> String {
    match SqliteStore::open(dir, StoreOptions::default()) {
        Ok(_) => panic!("{} opened", dir.display()),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn a_full_database_fails_writes_as_full_keeps_reads_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    // The limit is raised to the file's size at open: from here on it cannot grow.
    let options = StoreOptions {
        max_page_count: Some(1),
    };
    let store = SqliteStore::open(dir.path(), options).unwrap();
    store
        .create_session("s", guest(&store).await)
        .await
        .unwrap();
    store
        .begin_turn(said("s", "hello"), 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.health(), StoreHealth::Ok);

    // Needs overflow pages: the file would have to grow.
    let long = "x".repeat(64 * 1024);
    let err = store.begin_turn(said("s", &long), 5).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Full, "{err}");
    let err = store.start_reply("s", "ashley", &long).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Full, "{err}");
    assert_eq!(store.health(), StoreHealth::Full);

    // Reads go on, and do not clear the state.
    let history = store.history("s").await.unwrap().unwrap();
    assert_eq!(history.len(), 1, "the failed turn left nothing behind");
    assert_eq!(history[0].content, "hello");
    assert_eq!(store.stats().await.unwrap().messages, 1);
    assert_eq!(store.health(), StoreHealth::Full);

    store.set_max_page_count(1_000_000).await.unwrap();
    store
        .begin_turn(said("s", &long), 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.health(), StoreHealth::Ok);
    assert_eq!(store.history("s").await.unwrap().unwrap().len(), 2);
}

#[test]
fn a_file_that_is_not_a_database_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ashley.sqlite3");
    std::fs::write(&path, b"these bytes are no SQLite database\n".repeat(200)).unwrap();
    let message = open_error(dir.path());
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("not an SQLite database or is damaged"),
        "{message}"
    );
    assert!(message.contains("move it aside"), "{message}");
}

#[test]
fn a_directory_where_the_database_belongs_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ashley.sqlite3");
    std::fs::create_dir(&path).unwrap();
    let message = open_error(dir.path());
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("is a directory"), "{message}");
}

#[test]
fn a_data_dir_that_is_a_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let message = open_error(&file);
    assert!(
        message.contains("cannot create the data directory"),
        "{message}"
    );
    assert!(message.contains(&file.display().to_string()), "{message}");
}

#[tokio::test]
async fn the_server_does_not_start_on_a_damaged_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ashley.sqlite3");
    std::fs::write(&path, vec![0xA5_u8; 8192]).unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let Err(err) = AppState::new(config) else {
        panic!("started on a damaged database");
    };
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("damaged"), "{message}");
}

#[tokio::test]
async fn the_usage_writer_reports_a_full_database_too() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        max_page_count: Some(1),
    };
    let store = SqliteStore::open(dir.path(), options).unwrap();
    let row = UsageRecord {
        source: "app".to_owned(),
        persona: "ashley".repeat(50),
        outcome: "complete".to_owned(),
        ..UsageRecord::default()
    };
    // More rows than the usage table's one page holds.
    for _ in 0..200 {
        store.record_usage(row.clone());
    }
    wait_for_health(&store, StoreHealth::Full).await;
    store.set_max_page_count(1_000_000).await.unwrap();
    store.record_usage(row);
    wait_for_health(&store, StoreHealth::Ok).await;
}

async fn wait_for_health(store: &SqliteStore, wanted: StoreHealth) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.health() != wanted {
        assert!(
            tokio::time::Instant::now() < deadline,
            "health stayed {:?}, wanted {wanted:?}",
            store.health()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
