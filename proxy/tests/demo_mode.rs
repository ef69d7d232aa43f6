//! Behaviour 6: without a key the proxy answers from its offline demo backend, and says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::api::{ChatEvent, Mode, Status};
use common::{Harness, data_lines, reply_text};
use serde_json::{Value, json};

#[tokio::test]
async fn demo_replies_stream_in_small_labelled_deterministic_deltas() {
    let harness = Harness::demo_with(|config| config).await;
    let session = harness.new_session().await;
    let first = harness.send(&session, "technical", "What is Rust?").await;
    let ChatEvent::Started { demo, model, .. } = &first[0] else {
        panic!("{first:?}");
    };
    assert!(demo);
    assert_eq!(model, "ashley-demo");
    let text = reply_text(&first);
    assert!(text.starts_with("**Demo mode**"));
    assert!(text.contains("OPENAI_API_KEY"));
    assert!(text.contains("Technical Expert"));
    let deltas = first
        .iter()
        .filter(|e| matches!(e, ChatEvent::Delta { .. }))
        .count();
    assert!(deltas > 20, "small deltas: {deltas}");
    assert!(
        matches!(first.last(), Some(ChatEvent::Done { stats, .. }) if stats.model == "ashley-demo")
    );

    let other = harness.new_session().await;
    let second = harness.send(&other, "technical", "What is Rust?").await;
    assert_eq!(reply_text(&second), text);
}

#[tokio::test]
async fn status_reports_demo_mode() {
    let harness = Harness::demo_with(|config| config).await;
    let status: Status = harness.get("/api/status").await.json().await.unwrap();
    assert_eq!(status.mode, Mode::Demo);
    assert!(!status.upstream_configured);
    assert_eq!(status.upstream_reachable, None);
}

#[tokio::test]
async fn the_openai_api_works_in_demo_mode_too() {
    let harness = Harness::demo_with(|config| config).await;
    let request = json!({"model": "creative", "messages": [{"role": "user", "content": "hello"}]});
    let body: Value = harness
        .post_json("/v1/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["model"], "ashley-demo");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("**Demo mode**")
    );
    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let text = harness
        .post_json("/v1/chat/completions", &streamed)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(data_lines(&text).last().unwrap(), "[DONE]");
}
