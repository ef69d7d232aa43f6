//! A full store, seen from outside: the message answers 507 `storage_full` with words a person
//! can act on, `/api/status` and `/metrics` say the store is full, and everything recovers by
//! itself once space returns (here: a conversation is deleted, freeing its pages).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::{
    Config,
    api::{ChatEvent, ErrorCode, ErrorResponse, Health, Status, StorageHealth},
};
use common::Harness;
use serde_json::json;

/// Small enough to fill in a few dozen messages, large enough for the schema and a few turns.
const PAGES: u64 = 48;

/// What one message did to a full or nearly full store.
enum Sent {
    Answered,
    Full(ErrorResponse),
}

async fn send(harness: &Harness, session: &str, text: &str) -> Sent {
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": text}),
        )
        .await;
    let status = response.status().as_u16();
    if status == 507 {
        return Sent::Full(response.json().await.unwrap());
    }
    assert_eq!(status, 200, "{:?}", response.text().await);
    let events = common::parse_events(&response.text().await.unwrap());
    match events.last() {
        Some(ChatEvent::Done { .. }) => Sent::Answered,
        // The user message fitted but the reply did not: the same error, inside the stream.
        Some(ChatEvent::Error { error }) => Sent::Full(ErrorResponse {
            error: error.clone(),
        }),
        other => panic!("unexpected end of stream: {other:?}"),
    }
}

async fn status(harness: &Harness) -> Status {
    harness.get("/api/status").await.json().await.unwrap()
}

async fn metrics(harness: &Harness) -> String {
    harness.get("/metrics").await.text().await.unwrap()
}

#[tokio::test]
async fn a_full_store_is_named_everywhere_and_recovers_when_space_returns() {
    let harness = Harness::demo_with(|config| Config {
        store_max_pages: Some(PAGES),
        ..config
    })
    .await;
    assert_eq!(status(&harness).await.storage.health, StorageHealth::Ok);
    assert!(metrics(&harness).await.contains("ashley_store_full 0"));

    // Fill it: long messages (each is a few pages with its reply) until the store says full.
    let filler = "Plenty of words to take up room in the conversation store. ".repeat(80);
    let first = harness.new_session().await;
    let mut answered = 0;
    let refusal = loop {
        match send(&harness, &first, &filler).await {
            Sent::Answered => answered += 1,
            Sent::Full(refusal) => break refusal,
        }
        assert!(answered < 200, "the store never filled up");
    };
    assert!(answered > 0, "the store was full before the first message");
    assert_eq!(refusal.error.code, Some(ErrorCode::StorageFull));
    let message = refusal.error.message.to_lowercase();
    assert!(message.contains("storage is full"), "{message}");
    assert!(message.contains("operator"), "{message}");
    assert!(!message.contains("in a moment"), "{message}");

    // The usage writer's small rows may still fit and report the store well again for a
    // moment, so the condition is read right after a refusal, a few refusals over.
    let (mut status_full, mut metrics_full) = (false, false);
    for _ in 0..20 {
        let full = status(&harness).await;
        if full.storage.health == StorageHealth::Full {
            assert_eq!(full.health, Health::Degraded);
            status_full = true;
        }
        let text = metrics(&harness).await;
        if text.contains("ashley_store_full 1") {
            assert!(text.contains("ashley_store_up 1"), "{text}");
            metrics_full = true;
        }
        if status_full && metrics_full {
            break;
        }
        // Another refusal (a message cannot fit; only a small usage row may).
        send(&harness, &first, &filler).await;
    }
    assert!(status_full, "/api/status never reported the store full");
    assert!(metrics_full, "/metrics never reported the store full");
    // Reads still work while writes cannot.
    assert!(harness.history(&first).await.messages.len() >= 2 * answered);

    // Space returns: deleting the long conversation frees its pages for new ones.
    let deleted = harness
        .client
        .delete(harness.url(&format!("/api/sessions/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let second = harness.new_session().await;
    assert!(matches!(
        send(&harness, &second, "Hello again").await,
        Sent::Answered
    ));
    let recovered = status(&harness).await;
    assert_eq!(recovered.storage.health, StorageHealth::Ok);
    assert!(metrics(&harness).await.contains("ashley_store_full 0"));
}
