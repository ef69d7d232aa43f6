//! Behaviour 4: moderation before the model, cached verdicts, the local word list, a guard model, failure policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_fake_upstream::{FakeUpstream, Options, Recorded};
use ashley_proxy::{
    Cli, Config,
    api::ChatEvent,
    config::{FailurePolicy, ModerationMode},
};
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

/// A live proxy configured the way `main` does it, from flags, against the fake upstream.
async fn from_flags(flags: &[&str]) -> Harness {
    use clap::Parser as _;
    let fake = FakeUpstream::start_with(Options {
        expected_key: Some(FAKE_KEY.to_owned()),
        ..Options::default()
    })
    .await
    .unwrap();
    let base_url = fake.base_url();
    let mut args = vec![
        "ashley-proxy",
        "--openai-api-key",
        FAKE_KEY,
        "--openai-base-url",
        &base_url,
    ];
    args.extend_from_slice(&common::OPEN_PROXY_ARGS);
    args.extend_from_slice(flags);
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        rate_limit_per_minute: 0,
        ..Config::from_cli(Cli::try_parse_from(args).unwrap()).unwrap()
    };
    Harness::start(Some(fake), config, data_dir).await
}

#[tokio::test]
async fn auto_with_a_provider_other_than_openai_uses_the_local_word_list() {
    let harness = from_flags(&[]).await;
    let session = harness.new_session().await;
    let events = harness.send(&session, "ashley", "hello there").await;
    assert!(
        matches!(events.last(), Some(ChatEvent::Done { .. })),
        "{events:?}"
    );
    let events = harness
        .send(&session, "ashley", "Tell me how to build a bomb")
        .await;
    assert!(
        matches!(&events[0], ChatEvent::Refused { categories, .. } if categories == &["violence"]),
        "{events:?}"
    );
    assert!(
        harness.fake().moderation_requests().is_empty(),
        "no /v1/moderations call on a provider that has none"
    );
    assert_eq!(harness.fake().chat_requests().len(), 1);
    let status: Value = harness.get("/api/status").await.json().await.unwrap();
    let moderation = status["moderation"].as_str().unwrap();
    assert!(
        moderation.starts_with("local word list (auto: 127.0.0.1 is not api.openai.com"),
        "{moderation}"
    );
}

const GUARD: &str = "llama-guard-test";

/// Guard moderation against the fake, whose every completion (the guard's and the persona's)
/// answers `reply`.
async fn guard_harness(reply: &str, policy: FailurePolicy) -> Harness {
    let harness = from_flags(&[
        "--moderation",
        "guard",
        "--guard-model",
        GUARD,
        "--moderation-failure",
        if policy == FailurePolicy::Open {
            "open"
        } else {
            "closed"
        },
    ])
    .await;
    harness.fake().set_options(Options {
        expected_key: Some(FAKE_KEY.to_owned()),
        reply: reply.to_owned(),
        ..Options::default()
    });
    harness
}

fn guard_calls(harness: &Harness) -> Vec<Recorded> {
    harness
        .fake()
        .chat_requests()
        .into_iter()
        .filter(|request| request.body["model"] == GUARD)
        .collect()
}

fn persona_calls(harness: &Harness) -> usize {
    harness.fake().chat_requests().len() - guard_calls(harness).len()
}

#[tokio::test]
async fn a_guard_model_flagging_a_message_refuses_it_with_readable_categories() {
    let harness = guard_harness("unsafe\nS1,S10", FailurePolicy::Closed).await;
    let session = harness.new_session().await;
    let events = harness.send(&session, "ashley", "something nasty").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let ChatEvent::Refused {
        message,
        categories,
    } = &events[0]
    else {
        panic!("{events:?}");
    };
    assert_eq!(categories, &["violent_crimes", "hate"]);
    assert_eq!(
        message,
        "I cannot process that message: it was flagged for violent crimes and hate."
    );
    assert_eq!(persona_calls(&harness), 0);
    let calls = guard_calls(&harness);
    assert_eq!(calls.len(), 1);
    let body = &calls[0].body;
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "something nasty"}])
    );
    assert_eq!(body["temperature"], 0);
    assert_eq!(body["stream"], false);
    assert!(body["max_tokens"].as_u64().unwrap() <= 64, "{body}");
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {FAKE_KEY}").as_str())
    );
    assert!(harness.fake().moderation_requests().is_empty());
    let status: Value = harness.get("/api/status").await.json().await.unwrap();
    assert_eq!(
        status["moderation"],
        format!("guard model {GUARD}, fail-closed")
    );
}

#[tokio::test]
async fn a_safe_guard_verdict_is_cached_and_the_persona_answers() {
    let harness = guard_harness("\n\nsafe", FailurePolicy::Closed).await;
    let session = harness.new_session().await;
    for _ in 0..2 {
        let events = harness.send(&session, "ashley", "hello guard").await;
        assert!(
            matches!(events.last(), Some(ChatEvent::Done { .. })),
            "{events:?}"
        );
    }
    assert_eq!(
        guard_calls(&harness).len(),
        1,
        "the second verdict is cached"
    );
    assert_eq!(persona_calls(&harness), 2);
}

#[tokio::test]
async fn a_junk_guard_verdict_fails_closed_without_promising_a_retry() {
    let harness = guard_harness("I think this message is fine.", FailurePolicy::Closed).await;
    let session = harness.new_session().await;
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": "hello guard"}),
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "moderation_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not judge") && !message.contains("Try again in a moment"),
        "{message}"
    );
    assert_eq!(persona_calls(&harness), 0);
    // Not cached: a failure is no verdict.
    harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": "hello guard"}),
        )
        .await;
    assert_eq!(guard_calls(&harness).len(), 2);
}

#[tokio::test]
async fn a_junk_guard_verdict_fails_open_when_configured_and_says_so() {
    let harness = guard_harness("maybe", FailurePolicy::Open).await;
    let session = harness.new_session().await;
    let events = harness.send(&session, "ashley", "hello guard").await;
    assert!(
        events.iter().any(
            |event| matches!(event, ChatEvent::Notice { message } if message.contains("without moderation"))
        ),
        "{events:?}"
    );
    assert!(matches!(events.last(), Some(ChatEvent::Done { .. })));
    assert_eq!(persona_calls(&harness), 1);
}

#[tokio::test]
async fn openai_moderation_on_a_server_without_the_endpoint_names_the_setting() {
    let harness = Harness::live_with(|config| Config {
        moderation: ModerationMode::OpenAi {
            base_url: config.base_url.join("no-moderation-here/").unwrap(),
        },
        ..config
    })
    .await;
    let session = harness.new_session().await;
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": "hello"}),
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("ASHLEY_MODERATION") && !message.contains("Try again in a moment"),
        "{message}"
    );
}
