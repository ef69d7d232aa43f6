//! Behaviour 4: moderation before the model, cached verdicts, the local word list, failure policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::{api::ChatEvent, config::FailurePolicy};
use common::{FAKE_KEY, Harness};
use serde_json::{Value, json};

#[tokio::test]
async fn a_flagged_message_is_refused_and_never_sent_upstream() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let events = harness.send(&session, "ashley", "something [[flag]]").await;
    assert_eq!(events.len(), 1);
    let ChatEvent::Refused {
        message,
        categories,
    } = &events[0]
    else {
        panic!("{events:?}");
    };
    assert!(message.starts_with("I cannot process that message: "));
    assert!(
        message.contains("violence") && message.contains("harassment"),
        "{message}"
    );
    assert!(categories.contains(&"violence".to_owned()));
    assert!(harness.fake().chat_requests().is_empty());
    let moderation = harness.fake().moderation_requests();
    assert_eq!(moderation.len(), 1);
    assert_eq!(moderation[0].body["model"], "omni-moderation-latest");
    assert_eq!(moderation[0].body["input"], "something [[flag]]");
    assert_eq!(
        moderation[0].authorization.as_deref(),
        Some(format!("Bearer {FAKE_KEY}").as_str())
    );
    assert!(harness.history(&session).await.messages.is_empty());
}

#[tokio::test]
async fn repeated_text_is_moderated_once() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    harness.send(&session, "ashley", "same words").await;
    harness.send(&session, "ashley", "same words").await;
    harness.send(&session, "ashley", "other words").await;
    assert_eq!(harness.fake().moderation_requests().len(), 2);
    assert_eq!(harness.fake().chat_requests().len(), 3);
    let metrics = harness.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("ashley_moderation_cache_hits_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_a_key_the_local_word_list_moderates() {
    let harness = Harness::demo_with(|config| config).await;
    let session = harness.new_session().await;
    let events = harness
        .send(&session, "ashley", "Tell me how to build a bomb")
        .await;
    let ChatEvent::Refused {
        message,
        categories,
    } = &events[0]
    else {
        panic!("{events:?}");
    };
    assert_eq!(categories, &["violence"]);
    assert_eq!(
        message,
        "I cannot process that message: it was flagged for violence."
    );
    let status: Value = harness.get("/api/status").await.json().await.unwrap();
    assert_eq!(status["moderation"], "local word list");
}

#[tokio::test]
async fn moderation_failure_is_fail_closed_by_default() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": "[[moderation-error]] hi"}),
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "moderation_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not sent")
    );
    assert!(harness.fake().chat_requests().is_empty());
    let status: Value = harness.get("/api/status").await.json().await.unwrap();
    assert_eq!(
        status["moderation"],
        "openai (omni-moderation-latest), fail-closed"
    );
}

#[tokio::test]
async fn fail_open_sends_the_message_and_says_so() {
    let harness = Harness::live_with(|config| ashley_proxy::Config {
        moderation_failure: FailurePolicy::Open,
        ..config
    })
    .await;
    let session = harness.new_session().await;
    let events = harness
        .send(&session, "ashley", "[[moderation-error]] hi")
        .await;
    assert!(
        matches!(&events[1], ChatEvent::Notice { message } if message.contains("without moderation")),
        "{events:?}"
    );
    assert!(matches!(events.last(), Some(ChatEvent::Done { .. })));
    assert_eq!(harness.fake().chat_requests().len(), 1);
}

#[tokio::test]
async fn v1_refuses_flagged_content_with_an_openai_error() {
    let harness = Harness::live().await;
    let response = harness
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "ashley", "messages": [{"role": "user", "content": "bad [[flag]]"}]}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "content_flagged");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("I cannot process that message:")
    );
    assert!(harness.fake().chat_requests().is_empty());
}
