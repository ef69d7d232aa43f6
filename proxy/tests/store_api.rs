//! The store's domain API on SQLite: turns, regenerate, replies, usage, expiry, through `dyn Store`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{sync::Arc, time::Duration};

use ashley_proxy::{
    api::{ReplyStats, Role, StoreStats},
    store::{
        Regeneration, SqliteStore, Store, StoreHealth, StoreOptions, UsageRecord, UserMessage,
        now_ms,
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

fn open(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir.path(), StoreOptions::default()).unwrap())
}

fn said<'a>(session_id: &'a str, text: &'a str) -> UserMessage<'a> {
    UserMessage {
        session_id,
        persona: "ashley",
        text,
    }
}

fn stats() -> ReplyStats {
    ReplyStats {
        model: "m".to_owned(),
        prompt_tokens: Some(3),
        completion_tokens: Some(4),
        total_tokens: Some(7),
        ttft_ms: Some(12),
        total_ms: 34,
    }
}

#[tokio::test]
async fn a_turn_stores_the_message_and_returns_the_newest_context() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert!(
        store
            .begin_turn(said("nope", "hi"), 5)
            .await
            .unwrap()
            .is_none()
    );
    store
        .create_session("s", guest(&*store).await)
        .await
        .unwrap();
    assert!(store.session_exists("s").await.unwrap());
    for n in 0..3 {
        let turn = store
            .begin_turn(said("s", &format!("q{n}")), 5)
            .await
            .unwrap()
            .unwrap();
        let reply = store.start_reply("s", "ashley", "a").await.unwrap();
        store.save_progress(reply, "an").await.unwrap();
        store
            .finish_reply(reply, &format!("a{n}"), &stats(), false)
            .await
            .unwrap();
        assert_eq!(turn.context.last().unwrap().id, turn.user_message_id);
    }
    let turn = store.begin_turn(said("s", "q3"), 3).await.unwrap().unwrap();
    let texts: Vec<_> = turn.context.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["q2", "a2", "q3"]);
    let history = store.history("s").await.unwrap().unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(history[1].stats, Some(stats()));
    assert!(!history[1].partial);
    assert_eq!(
        store.stats().await.unwrap(),
        StoreStats {
            sessions: 1,
            messages: 7
        }
    );
    assert_eq!(store.health(), StoreHealth::Ok);
}

#[tokio::test]
async fn regenerate_tells_an_unknown_session_from_one_with_nothing_to_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(
        store.begin_regenerate("nope", 5).await.unwrap(),
        Regeneration::UnknownSession
    );
    store
        .create_session("s", guest(&*store).await)
        .await
        .unwrap();
    assert_eq!(
        store.begin_regenerate("s", 5).await.unwrap(),
        Regeneration::NothingToRegenerate
    );
    store.begin_turn(said("s", "q"), 5).await.unwrap().unwrap();
    let reply = store.start_reply("s", "ashley", "cut").await.unwrap();
    store
        .finish_reply(reply, "cut short", &stats(), true)
        .await
        .unwrap();
    let Regeneration::Ready { last_user, context } = store.begin_regenerate("s", 5).await.unwrap()
    else {
        panic!("expected a regeneration");
    };
    assert_eq!(last_user.content, "q");
    assert_eq!(context.len(), 1, "the old reply is gone");
    assert!(store.delete_session("s").await.unwrap());
    assert!(store.history("s").await.unwrap().unwrap().is_empty());
    assert!(!store.delete_session("nope").await.unwrap());
}

#[tokio::test]
async fn a_user_message_is_saved_alone_and_a_cut_reply_stays_partial() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(
        store.save_user_message(said("s", "hi")).await.unwrap(),
        None
    );
    store
        .create_session("s", guest(&*store).await)
        .await
        .unwrap();
    let id = store
        .save_user_message(said("s", "unmoderated"))
        .await
        .unwrap()
        .unwrap();
    let reply = store.start_reply("s", "ashley", "half").await.unwrap();
    let history = store.history("s").await.unwrap().unwrap();
    assert_eq!(history[0].id, id);
    assert_eq!(history[0].role, Role::User);
    assert!(history[1].partial, "a reply is partial until finished");
    assert_eq!(history[1].stats, None);
    store
        .finish_reply(reply, "half a reply", &stats(), true)
        .await
        .unwrap();
    let history = store.history("s").await.unwrap().unwrap();
    assert!(history[1].partial);
    assert_eq!(history[1].content, "half a reply");
}

#[tokio::test]
async fn usage_rows_are_written_in_the_background_and_idle_sessions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for n in 0..3 {
        store.record_usage(UsageRecord {
            at_ms: n,
            source: "app".to_owned(),
            outcome: "complete".to_owned(),
            ..UsageRecord::default()
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = store.usage().await.unwrap();
        if rows.len() == 3 {
            break rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage rows: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        rows.iter().map(|row| row.at_ms).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    store
        .create_session("s", guest(&*store).await)
        .await
        .unwrap();
    // Idle for at least a millisecond, so an idle time of zero covers it.
    let created = now_ms();
    while now_ms() <= created {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        store
            .expire_idle_sessions(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.expire_idle_sessions(Duration::ZERO).await.unwrap(), 1);
    assert!(!store.session_exists("s").await.unwrap());
}
