//! Behaviour 5: the OpenAI-compatible API in OpenAI's exact wire format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{Harness, data_lines};
use serde_json::{Value, json};

fn request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "user", "content": "earlier question"},
            {"role": "assistant", "content": "earlier answer"},
            {"role": "user", "content": [{"type": "text", "text": "now this"}]},
        ],
    })
}

#[tokio::test]
async fn models_are_the_personas() {
    let harness = Harness::live().await;
    let body: Value = harness.get("/v1/models").await.json().await.unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ashley", "technical", "creative"]);
    assert_eq!(body["data"][0]["object"], "model");
    assert!(body["data"][0]["created"].is_u64());
    assert!(body["data"][0]["owned_by"].is_string());
    assert_eq!(harness.get("/v1/models/technical").await.status(), 200);
    assert_eq!(harness.get("/v1/models/gpt-5").await.status(), 404);
}

#[tokio::test]
async fn a_completion_applies_the_persona_and_has_openais_shape() {
    let harness = Harness::live().await;
    let response = harness
        .post_json("/v1/chat/completions", &request("technical", false))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].is_u64());
    assert_eq!(body["model"], "gpt-4-fake");
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello! This is the fake upstream speaking."
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0].get("logprobs").is_some());
    assert_eq!(body["usage"]["completion_tokens"], 7);

    let sent = &harness.fake().chat_requests()[0];
    assert_eq!(sent.body["stream"], false);
    assert!((sent.body["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(sent.body["max_tokens"], 3000);
    let messages = sent.messages();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("You are a technical expert")
    );
    assert_eq!(messages[3]["content"], "now this");
}

#[tokio::test]
async fn client_parameters_apply_within_the_persona_limits() {
    let harness = Harness::live().await;
    let mut body = request("creative", false);
    body["temperature"] = json!(0.2);
    body["max_tokens"] = json!(99_999);
    assert_eq!(
        harness
            .post_json("/v1/chat/completions", &body)
            .await
            .status(),
        200
    );
    let sent = &harness.fake().chat_requests()[0];
    assert!((sent.body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(sent.body["max_tokens"], 2500);
}

#[tokio::test]
async fn a_stream_is_chunks_then_done() {
    let harness = Harness::live().await;
    let response = harness
        .post_json("/v1/chat/completions", &request("ashley", true))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let lines = data_lines(&response.text().await.unwrap());
    assert_eq!(lines.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = chunks[0]["id"].as_str().unwrap();
    let mut text = String::new();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], id);
        assert!(
            chunk.get("usage").is_none(),
            "no usage without include_usage"
        );
        if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(piece);
        }
    }
    assert_eq!(text, "Hello! This is the fake upstream speaking.");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
}

#[tokio::test]
async fn include_usage_adds_the_usage_chunk() {
    let harness = Harness::live().await;
    let mut body = request("ashley", true);
    body["stream_options"] = json!({"include_usage": true});
    let text = harness
        .post_json("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let lines = data_lines(&text);
    assert_eq!(lines.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for chunk in &chunks[..chunks.len() - 1] {
        assert!(chunk["usage"].is_null() && chunk.get("usage").is_some());
    }
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 7);
    assert!(usage_chunk["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

async fn error_of(harness: &Harness, body: &Value) -> (u16, Value, Option<String>) {
    let response = harness.post_json("/v1/chat/completions", body).await;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    for field in ["message", "type", "param", "code"] {
        assert!(
            body["error"].get(field).is_some(),
            "{field} missing in {body}"
        );
    }
    (status, body, retry_after)
}

#[tokio::test]
async fn errors_use_openais_shape_and_status_codes() {
    let harness = Harness::live().await;
    let (status, body, _) = error_of(&harness, &request("gpt-5", false)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["param"], "model");

    let (status, body, _) = error_of(&harness, &json!({"model": "ashley", "messages": []})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let (status, body, _) = error_of(&harness, &json!({"model": "ashley"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_body");

    let upstream_down =
        json!({"model": "ashley", "messages": [{"role": "user", "content": "[[status:500]]"}]});
    let (status, body, _) = error_of(&harness, &upstream_down).await;
    assert!(status >= 500, "{status}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");

    let limited = json!({"model": "ashley", "stream": true, "messages": [{"role": "user", "content": "[[status:429]]"}]});
    let (status, body, retry_after) = error_of(&harness, &limited).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(
        body["error"]["message"],
        "The model provider is rate-limiting us; try again in 1 s."
    );
}

#[tokio::test]
async fn a_stream_cut_upstream_ends_with_an_error_chunk_and_no_done() {
    let harness = Harness::live().await;
    let body = json!({"model": "ashley", "stream": true, "messages": [{"role": "user", "content": "[[disconnect]]"}]});
    let text = harness
        .post_json("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let lines = data_lines(&text);
    assert_ne!(lines.last().unwrap(), "[DONE]");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_disconnected");
}
