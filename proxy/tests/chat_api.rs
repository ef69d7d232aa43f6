//! Behaviours 2 and 3: the app's chat API, server-side sessions, context, partial replies, usage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use ashley_proxy::api::{ChatEvent, Role};
use common::{FAKE_KEY, Harness, eventually, reply_text};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

#[tokio::test]
async fn a_message_streams_started_deltas_done_and_is_stored_with_stats() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let events = harness
        .send(&session, "technical", "How do lifetimes work?")
        .await;

    let ChatEvent::Started {
        user_message_id,
        persona,
        model,
        demo,
        ..
    } = &events[0]
    else {
        panic!("first event {:?}", events[0]);
    };
    assert!(user_message_id.is_some());
    assert_eq!(persona, "technical");
    assert_eq!(model, "gpt-4");
    assert!(!demo);
    let deltas = events
        .iter()
        .filter(|event| matches!(event, ChatEvent::Delta { .. }))
        .count();
    assert_eq!(deltas, 7, "one delta per upstream chunk: {events:?}");
    assert_eq!(
        reply_text(&events),
        "Hello! This is the fake upstream speaking."
    );
    let ChatEvent::Done { reply_id, stats } = events.last().unwrap() else {
        panic!("last event {:?}", events.last());
    };
    assert_eq!(stats.model, "gpt-4-fake");
    assert_eq!(stats.completion_tokens, Some(7));
    assert!(stats.total_tokens.unwrap() > 7);
    assert!(stats.ttft_ms.is_some());
    assert_eq!(events.iter().filter(|event| event.is_final()).count(), 1);

    let history = harness.history(&session).await;
    assert_eq!(history.messages.len(), 2);
    assert_eq!(history.messages[0].role, Role::User);
    assert_eq!(history.messages[0].content, "How do lifetimes work?");
    assert_eq!(history.messages[0].persona, "technical");
    let reply = &history.messages[1];
    assert_eq!(reply.id, *reply_id);
    assert_eq!(reply.role, Role::Assistant);
    assert!(!reply.partial);
    assert_eq!(reply.stats.as_ref().unwrap().completion_tokens, Some(7));
    assert!(reply.created_at_ms > 0);
}

#[tokio::test]
async fn the_upstream_gets_the_persona_prompt_parameters_and_the_key() {
    let harness = Harness::live().await;
    let personas = ashley_proxy::personas::Personas::builtin();
    let session = harness.new_session().await;
    for (persona, temperature, max_tokens) in [
        ("ashley", 0.7, 2000),
        ("technical", 0.3, 3000),
        ("creative", 0.9, 2500),
    ] {
        harness.fake().reset();
        harness.send(&session, persona, "hi").await;
        let sent = harness.fake().chat_requests();
        assert_eq!(sent.len(), 1);
        let body = &sent[0].body;
        assert_eq!(body["model"], "gpt-4");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert!((body["temperature"].as_f64().unwrap() - temperature).abs() < 1e-6);
        assert_eq!(body["max_tokens"], max_tokens);
        let messages = sent[0].messages();
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(
            messages[0]["content"],
            personas.get(persona).unwrap().system_prompt.as_str()
        );
        assert_eq!(
            sent[0].authorization.as_deref(),
            Some(format!("Bearer {FAKE_KEY}").as_str())
        );
    }
}

#[tokio::test]
async fn context_is_the_system_prompt_the_last_20_messages_and_the_new_one() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    for n in 0..12 {
        harness
            .send(&session, "ashley", &format!("message {n}"))
            .await;
    }
    harness.fake().reset();
    harness.send(&session, "ashley", "the new one").await;
    let messages = harness.fake().chat_requests()[0].messages();
    assert_eq!(messages.len(), 1 + 20 + 1);
    assert_eq!(messages[0]["role"], "system");
    // 24 stored before: the oldest 4 (messages 0 and 1 with their replies) fall out.
    assert_eq!(messages[1]["content"], "message 2");
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[21]["content"], "the new one");
    assert_eq!(messages[21]["role"], "user");
}

#[tokio::test]
async fn deltas_are_forwarded_as_they_arrive_not_buffered() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": "[[slow:300]] [[words:3]]"}),
        )
        .await;
    let started = std::time::Instant::now();
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    // The first delta arrives well before the 2 further 300 ms gaps of the full reply.
    assert!(
        started.elapsed() < Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn history_clear_and_regenerate() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    harness.send(&session, "ashley", "[[echo]] first").await;
    harness.fake().reset();

    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/regenerate"),
            &json!({"persona": "creative"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let events = common::parse_events(&response.text().await.unwrap());
    assert!(
        matches!(&events[0], ChatEvent::Started { user_message_id: None, persona, .. } if persona == "creative")
    );
    assert!(matches!(events.last(), Some(ChatEvent::Done { .. })));
    let sent = harness.fake().chat_requests();
    let messages = sent[0].messages();
    assert_eq!(
        messages.len(),
        2,
        "system + the user message, old reply dropped"
    );
    assert_eq!(messages[1]["content"], "[[echo]] first");
    let history = harness.history(&session).await;
    assert_eq!(history.messages.len(), 2);
    assert_eq!(history.messages[1].persona, "creative");

    let cleared = harness
        .client
        .delete(harness.url(&format!("/api/sessions/{session}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(harness.history(&session).await.messages.is_empty());
    let again = harness
        .post_json(
            &format!("/api/sessions/{session}/regenerate"),
            &json!({"persona": "ashley"}),
        )
        .await;
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "nothing_to_regenerate");
}

#[tokio::test]
async fn session_ids_are_random_and_unknown_ones_are_404() {
    let harness = Harness::live().await;
    let first = harness.new_session().await;
    let second = harness.new_session().await;
    assert_ne!(first, second);
    assert!(first.len() >= 32 && first.bytes().all(|b| b.is_ascii_hexdigit()));
    for path in [
        "/api/sessions/0000000000000000000000000000000000000000",
        "/api/sessions/nope",
    ] {
        let response = harness.get(path).await;
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unknown_session");
    }
    // The list is the caller's own sessions only.
    let listed: ashley_proxy::api::SessionList =
        harness.get("/api/sessions").await.json().await.unwrap();
    let mut ids: Vec<_> = listed.sessions.into_iter().map(|s| s.session_id).collect();
    ids.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(ids, expected);
    let stranger = common::guest_client(harness.addr).await;
    let theirs: ashley_proxy::api::SessionList = stranger
        .get(harness.url("/api/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        theirs.sessions.is_empty(),
        "another guest sees none of them"
    );
}

#[tokio::test]
async fn the_user_message_survives_an_upstream_failure() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let events = harness
        .send(&session, "ashley", "[[status:401]] keep me")
        .await;
    let ChatEvent::Error { error } = events.last().unwrap() else {
        panic!("{events:?}");
    };
    assert_eq!(
        error.code.map(ashley_proxy::api::ErrorCode::as_str),
        Some("upstream_auth")
    );
    let history = harness.history(&session).await;
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].content, "[[status:401]] keep me");
}

#[tokio::test]
async fn a_reply_cut_off_upstream_is_stored_as_partial() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let events = harness.send(&session, "ashley", "[[disconnect]]").await;
    assert_eq!(reply_text(&events), "Hello! This");
    let ChatEvent::Error { error } = events.last().unwrap() else {
        panic!("{events:?}");
    };
    assert_eq!(
        error.code.map(ashley_proxy::api::ErrorCode::as_str),
        Some("upstream_disconnected")
    );
    let history = harness.history(&session).await;
    assert_eq!(history.messages.len(), 2);
    assert!(history.messages[1].partial);
    assert_eq!(history.messages[1].content, "Hello! This");
}

#[tokio::test]
async fn leaving_the_stream_does_not_stop_the_reply_on_the_old_routes_either() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": "[[slow:100]] [[words:50]]"}),
        )
        .await;
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while seen.matches("event: delta").count() < 2 {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    drop(body); // the tab was closed: the reply goes on (Stop is its own endpoint)
    let history = eventually("the whole reply", async || {
        let history = harness.history(&session).await;
        (history.messages.len() == 2 && history.live_reply.is_none()).then_some(history)
    })
    .await;
    let reply = &history.messages[1];
    assert!(!reply.partial);
    assert!(reply.content.starts_with("w1 w2"), "{}", reply.content);
    assert!(reply.content.ends_with("w50"), "{}", reply.content);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let harness = Harness::live_with(|config| ashley_proxy::Config {
        guest_ttl: Duration::from_millis(50),
        ..config
    })
    .await;
    let session = harness.new_session().await;
    harness.send(&session, "ashley", "hello").await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let removed = harness.state.expire_idle_sessions().await.unwrap();
    assert!(removed >= 1);
    assert_eq!(
        harness
            .get(&format!("/api/sessions/{session}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn usage_is_recorded_for_analytics() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    harness.send(&session, "creative", "twelve chars").await;
    let rows = eventually("a usage row", async || {
        let rows = harness.state.store().usage().await.unwrap();
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    let row = &rows[0];
    assert_eq!(row.source, "app");
    assert_eq!(row.persona, "creative");
    assert_eq!(row.outcome, "complete");
    assert_eq!(row.message_chars, 12);
    assert_eq!(row.reply_chars, 42);
    assert_eq!(row.completion_tokens, Some(7));
    assert!(row.ttft_ms.is_some());
}

#[tokio::test]
async fn personas_are_listed_for_the_app() {
    let harness = Harness::live().await;
    let list: ashley_proxy::api::PersonaList =
        harness.get("/api/personas").await.json().await.unwrap();
    assert_eq!(list.default, "ashley");
    let names: Vec<_> = list
        .personas
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("ashley", "Ashley"),
            ("technical", "Technical Expert"),
            ("creative", "Creative Assistant")
        ]
    );
    assert_eq!(
        list.personas[2].description,
        "Specialized in writing, brainstorming, and creative endeavors"
    );
}
