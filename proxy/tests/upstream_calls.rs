//! Behaviour 8: retries with backoff on transient failures, at most 2, never after the first byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use ashley_proxy::{Config, api::ChatEvent};
use common::{Harness, reply_text};
use serde_json::{Value, json};

fn completion(message: &str) -> Value {
    json!({"model": "ashley", "messages": [{"role": "user", "content": message}]})
}

#[tokio::test]
async fn transient_failures_are_retried_then_succeed() {
    let harness = Harness::live().await;
    for code in [500, 502, 503, 408, 409, 429] {
        harness.fake().reset();
        let message = format!("[[fail:2:{code}]]");
        let response = harness
            .post_json("/v1/chat/completions", &completion(&message))
            .await;
        assert_eq!(response.status(), 200, "after two {code}s");
        assert_eq!(harness.fake().chat_requests().len(), 3);
    }
}

#[tokio::test]
async fn at_most_two_retries() {
    let harness = Harness::live().await;
    let response = harness
        .post_json("/v1/chat/completions", &completion("[[fail:3:503]]"))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(harness.fake().chat_requests().len(), 3);
    let metrics = harness.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("ashley_upstream_retries_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let harness = Harness::live().await;
    let response = harness
        .post_json("/v1/chat/completions", &completion("[[status:404]]"))
        .await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_model_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("OPENAI_MODEL")
    );
    assert_eq!(harness.fake().chat_requests().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    // Backoff alone would wait ~1 s per retry; the fake's retry-after-ms of 20 is honoured instead.
    let harness = Harness::live_with(|config| Config {
        upstream_retry_base: Duration::from_secs(1),
        ..config
    })
    .await;
    let started = std::time::Instant::now();
    let response = harness
        .post_json("/v1/chat/completions", &completion("[[fail:2:429]]"))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn nothing_is_retried_once_the_first_byte_was_forwarded() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let events = harness
        .send(&session, "ashley", "[[disconnect]] once")
        .await;
    assert_eq!(reply_text(&events), "Hello! This");
    assert!(matches!(events.last(), Some(ChatEvent::Error { .. })));
    assert_eq!(harness.fake().chat_requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_clear_message() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        rate_limit_per_minute: 0,
        upstream_retry_base: Duration::from_millis(5),
        moderation: ashley_proxy::config::ModerationMode::Local,
        ..Config::live(common::FAKE_KEY, &format!("http://127.0.0.1:{port}/v1")).unwrap()
    };
    let harness = Harness::start(None, config, data_dir).await;
    let session = harness.new_session().await;
    let events = harness.send(&session, "ashley", "hello").await;
    let ChatEvent::Error { error } = events.last().unwrap() else {
        panic!("{events:?}");
    };
    assert_eq!(
        error.code.map(ashley_proxy::api::ErrorCode::as_str),
        Some("upstream_unreachable")
    );
    assert_eq!(
        error.message,
        "Cannot reach the model provider at 127.0.0.1; try again in a moment. If this keeps happening, the operator needs to check OPENAI_BASE_URL."
    );
}

#[tokio::test]
async fn a_silent_upstream_times_out() {
    let harness = Harness::live_with(|config| Config {
        upstream_timeout: Duration::from_millis(300),
        ..config
    })
    .await;
    let response = harness
        .post_json("/v1/chat/completions", &completion("[[hang]]"))
        .await;
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn upstream_rate_limits_become_a_sentence_with_the_wait() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let events = harness.send(&session, "ashley", "[[status:429]]").await;
    let ChatEvent::Error { error } = events.last().unwrap() else {
        panic!("{events:?}");
    };
    assert_eq!(
        error.message,
        "The model provider is rate-limiting us; try again in 1 s."
    );
    assert_eq!(error.retry_after_secs, Some(1));
}
