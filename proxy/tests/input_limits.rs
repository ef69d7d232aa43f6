//! Behaviour 7: strict input (4xx JSON, never 5xx), per-client rate limits, the queueing cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use ashley_proxy::{Config, api::ChatEvent};
use common::Harness;
use serde_json::{Value, json};

async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    body
}

#[tokio::test]
async fn bad_input_gets_a_4xx_json_error_that_says_what_is_wrong() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let path = format!("/api/sessions/{session}/messages");
    let send = async |body: Value| harness.post_json(&path, &body).await;

    let long = "x".repeat(5001);
    let body = expect_error(
        send(json!({"persona": "ashley", "message": long})).await,
        400,
        "message_too_long",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("5000"));
    assert_eq!(body["error"]["param"], "message");
    expect_error(
        send(json!({"persona": "ashley", "message": "  \n "})).await,
        400,
        "empty_message",
    )
    .await;
    expect_error(
        send(json!({"persona": "pirate", "message": "hi"})).await,
        400,
        "unknown_persona",
    )
    .await;
    expect_error(
        send(json!({"persona": "ashley"})).await,
        400,
        "invalid_body",
    )
    .await;

    let raw = |bytes: Vec<u8>| {
        harness
            .client
            .post(harness.url(&path))
            .header("content-type", "application/json")
            .body(bytes)
            .send()
    };
    expect_error(
        raw(b"{not json".to_vec()).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    let mut invalid_utf8 = br#"{"persona":"ashley","message":"caf"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""}"#);
    expect_error(raw(invalid_utf8).await.unwrap(), 400, "malformed_json").await;
    expect_error(
        raw(vec![b' '; 2 * 1024 * 1024]).await.unwrap(),
        413,
        "body_too_large",
    )
    .await;
    let no_type = harness
        .client
        .post(harness.url(&path))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(no_type, 415, "unsupported_media_type").await;

    let unknown = harness
        .post_json(
            "/api/sessions/ffffffffffffffffffffffffffffffffffffffff/messages",
            &json!({"persona": "ashley", "message": "hi"}),
        )
        .await;
    expect_error(unknown, 404, "unknown_session").await;
    // Exactly 5000 characters (multi-byte) is fine.
    let events = harness.send(&session, "ashley", &"é".repeat(5000)).await;
    assert!(matches!(events.last(), Some(ChatEvent::Done { .. })));
    assert!(
        harness.fake().chat_requests().len() == 1,
        "nothing invalid went upstream"
    );
}

#[tokio::test]
async fn clients_over_the_rate_limit_get_429_with_retry_after() {
    let harness = Harness::live_with(|config| Config {
        rate_limit_per_minute: 3,
        ..config
    })
    .await;
    // The harness's guest token took the first of the three.
    for _ in 0..2 {
        harness.new_session().await;
    }
    let response = harness
        .client
        .post(harness.url("/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let v1 = harness
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "ashley", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(v1.status(), 429);
    // Reading is not limited.
    assert_eq!(harness.get("/api/personas").await.status(), 200);
}

#[tokio::test]
async fn forwarded_for_identifies_clients_only_when_trusted() {
    let harness = Harness::live_with(|config| Config {
        rate_limit_per_minute: 1,
        trusted_proxies: 1,
        ..config
    })
    .await;
    let create = |ip: &'static str| {
        harness
            .client
            .post(harness.url("/api/sessions"))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(create("1.1.1.1").await.unwrap().status(), 201);
    assert_eq!(create("2.2.2.2").await.unwrap().status(), 201);
    assert_eq!(create("1.1.1.1").await.unwrap().status(), 429);

    // Two: the harness's guest token (from the same peer) takes one.
    let untrusting = Harness::live_with(|config| Config {
        rate_limit_per_minute: 2,
        ..config
    })
    .await;
    let create = |ip: &'static str| {
        untrusting
            .client
            .post(untrusting.url("/api/sessions"))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(create("1.1.1.1").await.unwrap().status(), 201);
    assert_eq!(
        create("2.2.2.2").await.unwrap().status(),
        429,
        "spoofed header ignored"
    );
}

#[tokio::test]
async fn the_upstream_cap_queues_requests_instead_of_failing_them() {
    let harness = Harness::live_with(|config| Config {
        max_upstream_concurrency: 1,
        ..config
    })
    .await;
    let body =
        json!({"model": "ashley", "messages": [{"role": "user", "content": "[[slow:1]] hi"}]});
    let started = std::time::Instant::now();
    let calls = (0..6).map(|_| harness.post_json("/v1/chat/completions", &body));
    let responses = futures_util::future::join_all(calls).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(harness.fake().chat_requests().len(), 6);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn requests_queue_while_the_slot_is_busy() {
    let harness = Harness::live_with(|config| Config {
        max_upstream_concurrency: 1,
        ..config
    })
    .await;
    let session = harness.new_session().await;
    let slow = harness
        .client
        .post(harness.url(&format!("/api/sessions/{session}/messages")))
        .json(&json!({"persona": "ashley", "message": "[[slow:60]] [[words:5]]"}))
        .send();
    let slow = tokio::spawn(async move { slow.await.unwrap().text().await.unwrap() });
    common::eventually("the slow stream to hold the slot", async || {
        (harness.state.provider().in_flight() == 1).then_some(())
    })
    .await;
    let queued = harness
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "ashley", "messages": [{"role": "user", "content": "next"}]}),
        )
        .await;
    assert_eq!(queued.status(), 200);
    let slow_text = slow.await.unwrap();
    assert!(slow_text.contains("event: done"));
}
