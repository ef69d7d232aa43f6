//! Issue 6.1: every upstream fault gives the app a clear event and `/v1` an OpenAI error; nothing typed is lost.
//!
//! Faults covered: 429 with retry-after, 500, 503, an HTML 500, connection refused (a port
//! bound then released), a listener that accepts and never answers (the first-byte/overall
//! timeout; the *connect* timeout is in reliability_connect.rs), a stream that stalls after two
//! deltas, a stream cut mid-way (by the fake's `[[disconnect]]` and by a raw close), malformed
//! SSE (not JSON, invalid UTF-8, garbage after good chunks, wrong types), a truncated JSON
//! completion, and the moderation endpoint failing (500 and refused) under both policies. Raw
//! faults come from a scripted raw-TCP upstream; moderation then goes to the regular fake upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod reliability_support;

use std::time::{Duration, Instant};

use ashley_proxy::{api::ChatEvent, config::FailurePolicy};
use reliability_support::*;

/// The answer of the scripted upstream, chosen by a magic word in the request.
fn raw_script(request: &str) -> Vec<Step> {
    let streaming = request.contains("\"stream\":true");
    if request.contains("[[raw-silent]]") {
        return vec![Step::Stall];
    }
    if request.contains("[[raw-stall]]") {
        return vec![
            sse_head(),
            sse_chunk("Hello"),
            sse_chunk(" world"),
            Step::Stall,
        ];
    }
    if request.contains("[[raw-cut]]") {
        // The connection closes without a finish reason or `[DONE]`.
        return vec![sse_head(), sse_chunk("Hello"), sse_chunk(" world")];
    }
    if request.contains("[[raw-garbage-sse]]") {
        return vec![
            sse_head(),
            Step::text("data: {\"choices\": [{\"delta\": {\"content\": \"x\"\n\n"),
            Step::Stall,
        ];
    }
    if request.contains("[[raw-binary-sse]]") {
        return vec![
            sse_head(),
            Step::Write(b"data: \xff\xfe\x00\x9f\n\n".to_vec()),
            Step::Stall,
        ];
    }
    if request.contains("[[raw-garbage-after]]") {
        // Good chunks and the garbage in one write, as one read of the proxy may well see them.
        let mut bytes = Vec::new();
        for step in [
            sse_chunk("Hello"),
            sse_chunk(" world"),
            Step::text("data: <html>oops</html>\n\n"),
        ] {
            if let Step::Write(part) = step {
                bytes.extend(part);
            }
        }
        return vec![sse_head(), Step::Write(bytes), Step::Stall];
    }
    if request.contains("[[raw-wrong-types]]") {
        return if streaming {
            vec![
                sse_head(),
                Step::text("data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n"),
                Step::Stall,
            ]
        } else {
            vec![whole_response(
                "200 OK",
                "application/json",
                "{\"choices\":[{\"message\":{\"content\":5}}]}",
            )]
        };
    }
    if request.contains("[[raw-truncated-json]]") {
        return vec![whole_response(
            "200 OK",
            "application/json",
            "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"Hel",
        )];
    }
    if request.contains("[[raw-html-500]]") {
        return vec![whole_response(
            "500 Internal Server Error",
            "text/html",
            "<html><body>Internal error Sorry about that</body></html>",
        )];
    }
    if streaming {
        let finish = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        return vec![
            sse_head(),
            sse_chunk("All"),
            sse_chunk(" good"),
            Step::text(finish),
        ];
    }
    vec![whole_response(
        "200 OK",
        "application/json",
        "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"raw-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"All good\"},\"finish_reason\":\"stop\"}]}",
    )]
}

/// A proxy whose chat upstream is the scripted raw-TCP server (moderation stays on the fake).
async fn raw_proxy(
    change: impl FnOnce(ashley_proxy::Config) -> ashley_proxy::Config,
) -> (Proxy, ScriptedUpstream) {
    let raw = ScriptedUpstream::start_with(raw_script).await;
    let proxy = Proxy::live_at(start_fake().await, &raw.base_url(), change).await;
    (proxy, raw)
}

/// The reply began (user message acknowledged) and ended in one clear `error` event with `code`.
fn assert_clear_error_event(reply: &Reply, code: &str) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        matches!(
            reply.events.first(),
            Some(ChatEvent::Started {
                user_message_id: Some(_),
                ..
            })
        ),
        "{reply:?}"
    );
    assert!(
        !reply.ended_early,
        "the stream must end with a final event: {reply:?}"
    );
    let Some(ChatEvent::Error { error }) = reply.last() else {
        panic!("expected a final error event, got {reply:?}");
    };
    assert_eq!(
        error.code.map(ashley_proxy::api::ErrorCode::as_str),
        Some(code),
        "{reply:?}"
    );
    assert_clear_message(&error.message);
}

/// A sentence for a person: not empty, not the provider's raw body, never the key.
fn assert_clear_message(message: &str) {
    assert!(message.len() > 10, "too short to act on: {message:?}");
    for raw in ["Sorry about that", "<html", "chatcmpl", KEY_TAIL, "{"] {
        assert!(
            !message.contains(raw),
            "raw upstream text {raw:?} in {message:?}"
        );
    }
}

fn user_message_id(reply: &Reply) -> i64 {
    match reply.events.first() {
        Some(ChatEvent::Started {
            user_message_id: Some(id),
            ..
        }) => *id,
        other => panic!("no Started event with a message id: {other:?}"),
    }
}

/// The user's message is in the history, with the id the Started event announced.
async fn assert_user_message_stored(proxy: &Proxy, session: &str, text: &str, id: Option<i64>) {
    let history = proxy.history(session).await;
    let stored = history
        .messages
        .iter()
        .find(|message| message.content == text)
        .unwrap_or_else(|| panic!("the user's message {text:?} is not stored: {history:?}"));
    assert_eq!(stored.role, ashley_proxy::api::Role::User);
    if let Some(id) = id {
        assert_eq!(stored.id, id);
    }
}

/// The session ends with a reply holding exactly `text`, marked partial.
async fn assert_partial_reply_stored(proxy: &Proxy, session: &str, text: &str) {
    let history = proxy.history(session).await;
    let last = history.messages.last().expect("messages");
    assert_eq!(
        last.role,
        ashley_proxy::api::Role::Assistant,
        "no reply stored: {history:?}"
    );
    assert_eq!(last.content, text);
    assert!(
        last.partial,
        "the cut-off reply is not marked partial: {last:?}"
    );
}

/// No assistant message was stored (nothing arrived before the failure).
async fn assert_no_reply_stored(proxy: &Proxy, session: &str) {
    let history = proxy.history(session).await;
    assert!(
        history
            .messages
            .iter()
            .all(|message| message.role == ashley_proxy::api::Role::User),
        "{history:?}"
    );
}

/// `/v1` answered `status` with an OpenAI error body (`Retry-After` when 429).
async fn assert_v1_error(proxy: &Proxy, message: &str, stream: bool, status: u16) -> V1Answer {
    let answer = v1_call(&proxy.client, proxy.addr, &v1_body(message, stream)).await;
    assert_eq!(
        answer.status, status,
        "/v1 stream={stream} for {message}: {answer:?}"
    );
    let error = answer
        .error()
        .unwrap_or_else(|| panic!("no error object: {answer:?}"));
    assert_openai_error(&error, message);
    assert_clear_message(error["error"]["message"].as_str().unwrap());
    if status == 429 {
        let retry_after = answer
            .headers
            .get("retry-after")
            .expect("Retry-After on a 429");
        assert!(retry_after.to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }
    answer
}

/// A 200 stream on `/v1` whose deltas arrived and that then carried an OpenAI error chunk.
async fn assert_v1_stream_broke(proxy: &Proxy, message: &str, delivered: &str) {
    let answer = v1_call(&proxy.client, proxy.addr, &v1_body(message, true)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.streamed_text(), delivered);
    let error = answer
        .error()
        .unwrap_or_else(|| panic!("the broken stream carried no error chunk: {answer:?}"));
    assert_openai_error(&error, message);
    assert!(
        !answer.data.iter().any(|data| data == "[DONE]"),
        "a broken stream must not claim [DONE]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_429_is_retried_with_its_retry_after_then_reported_with_the_wait() {
    let proxy = Proxy::live(|config| config).await;
    let session = proxy.create_session().await;
    let started = Instant::now();
    let reply = proxy.send(&session, "hello [[status:429]]").await;
    assert_clear_error_event(&reply, "upstream_rate_limited");
    let Some(ChatEvent::Error { error }) = reply.last() else {
        unreachable!()
    };
    assert!(
        error.retry_after_secs.is_some_and(|secs| secs >= 1),
        "{error:?}"
    );
    assert_eq!(error.kind, "rate_limit_error");
    // One call and two retries after the fake's `retry-after-ms: 20`: quick, and exactly three hits.
    assert_eq!(proxy.fake.chat_requests().len(), 3, "1 call + 2 retries");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_user_message_stored(
        &proxy,
        &session,
        "hello [[status:429]]",
        Some(user_message_id(&reply)),
    )
    .await;
    assert_no_reply_stored(&proxy, &session).await;

    proxy.fake.reset();
    assert_v1_error(&proxy, "v1 [[status:429]]", false, 429).await;
    assert_v1_error(&proxy, "v1s [[status:429]]", true, 429).await;
    assert_eq!(proxy.fake.chat_requests().len(), 6);

    // Two 429s then success: the retries carry the reply through.
    proxy.fake.reset();
    let reply = proxy.send(&session, "again [[fail:2:429]]").await;
    assert!(
        matches!(reply.last(), Some(ChatEvent::Done { .. })),
        "{reply:?}"
    );
    assert_eq!(proxy.fake.chat_requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_500_and_503_are_retried_twice_then_reported() {
    let proxy = Proxy::live(|config| config).await;
    for code in [500, 503] {
        proxy.fake.reset();
        let session = proxy.create_session().await;
        let text = format!("hello [[status:{code}]]");
        let reply = proxy.send(&session, &text).await;
        assert_clear_error_event(&reply, "upstream_unavailable");
        assert_eq!(
            proxy.fake.chat_requests().len(),
            3,
            "HTTP {code}: 1 call + 2 retries"
        );
        assert_user_message_stored(&proxy, &session, &text, Some(user_message_id(&reply))).await;
        assert_no_reply_stored(&proxy, &session).await;
        for stream in [false, true] {
            let answer = assert_v1_error(
                &proxy,
                &format!("v1 {stream} [[status:{code}]]"),
                stream,
                503,
            )
            .await;
            assert_eq!(answer.error().unwrap()["error"]["type"], "api_error");
        }
        assert_eq!(proxy.fake.chat_requests().len(), 9);
    }
    // Transient: one 503, then a full reply.
    proxy.fake.reset();
    let session = proxy.create_session().await;
    let reply = proxy.send(&session, "once [[fail:1:503]]").await;
    assert!(
        matches!(reply.last(), Some(ChatEvent::Done { .. })),
        "{reply:?}"
    );
    assert_eq!(proxy.fake.chat_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_error_page_and_a_truncated_json_completion_become_clear_errors() {
    let (proxy, raw) = raw_proxy(|config| config).await;
    let session = proxy.create_session().await;
    let reply = proxy.send(&session, "page [[raw-html-500]]").await;
    assert_clear_error_event(&reply, "upstream_unavailable");
    assert_eq!(raw.hits(), 3, "an HTML 500 is still a 5xx: retried twice");
    assert_user_message_stored(&proxy, &session, "page [[raw-html-500]]", None).await;
    assert_v1_error(&proxy, "v1 [[raw-html-500]]", false, 503).await;

    let before = raw.hits();
    assert_v1_error(&proxy, "v1 [[raw-truncated-json]]", false, 502).await;
    assert_v1_error(&proxy, "v1 [[raw-wrong-types]]", false, 502).await;
    assert_eq!(
        raw.hits() - before,
        2,
        "a 200 with an unreadable body is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_retried_then_reported_as_unreachable() {
    let fake = start_fake().await;
    let chat_base = format!("http://127.0.0.1:{}/v1", refused_port());
    let proxy = Proxy::live_at(fake, &chat_base, |config| config).await;
    let session = proxy.create_session().await;
    let attempts_before = proxy.metric("ashley_upstream_requests_total").await;
    let reply = proxy.send(&session, "anyone there?").await;
    assert_clear_error_event(&reply, "upstream_unreachable");
    let attempts = proxy.metric("ashley_upstream_requests_total").await - attempts_before;
    // The moderation call (1) and the chat call with its two retries (3).
    assert_eq!(attempts, 4.0, "connection errors are retried twice");
    assert_user_message_stored(
        &proxy,
        &session,
        "anyone there?",
        Some(user_message_id(&reply)),
    )
    .await;
    for stream in [false, true] {
        assert_v1_error(&proxy, "v1 anyone?", stream, 502).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_accepts_and_never_answers_times_out_while_others_are_served() {
    let silent = SilentUpstream::start().await;
    let proxy = Proxy::live_at(start_fake().await, &silent.base_url(), |config| {
        ashley_proxy::Config {
            upstream_timeout: Duration::from_millis(1500),
            ..config
        }
    })
    .await;
    let session = proxy.create_session().await;
    let started = Instant::now();
    let (client, addr, hung_session) = (proxy.client.clone(), proxy.addr, session.clone());
    let hung = tokio::spawn(async move { send(&client, addr, &hung_session, "hello?").await });
    // Meanwhile: health, personas and status keep answering.
    wait_until(
        Duration::from_secs(5),
        "the silent upstream to get the call",
        async || silent.accepted() >= 1,
    )
    .await;
    for path in ["/healthz", "/api/personas", "/api/status", "/v1/models"] {
        let response = proxy.client.get(proxy.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} while the upstream hangs");
    }
    assert!(
        !hung.is_finished(),
        "the hung call ended before the others were served"
    );
    let reply = hung.await.unwrap();
    let waited = started.elapsed();
    assert_clear_error_event(&reply, "upstream_timeout");
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert_user_message_stored(&proxy, &session, "hello?", Some(user_message_id(&reply))).await;
    assert_v1_error(&proxy, "v1 hello?", false, 504).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stalls_keeps_its_partial_reply_while_other_requests_are_served() {
    let (proxy, raw) = raw_proxy(|config| ashley_proxy::Config {
        upstream_timeout: Duration::from_millis(1500),
        ..config
    })
    .await;
    let session = proxy.create_session().await;
    let response = proxy
        .client
        .post(proxy.url(&format!("/api/sessions/{session}/messages")))
        .json(&serde_json::json!({"persona": "ashley", "message": "tell me [[raw-stall]]"}))
        .send()
        .await
        .unwrap();
    let mut stalled = EventReader::new(response);
    let mut events = Vec::new();
    while events
        .iter()
        .filter(|event| matches!(event, ChatEvent::Delta { .. }))
        .count()
        < 2
    {
        events.push(
            tokio::time::timeout(Duration::from_secs(5), stalled.next())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // The stream is stalled now; a normal reply on another session and /v1 still complete.
    let other = proxy.create_session().await;
    let normal = proxy.send(&other, "a normal question").await;
    assert!(
        matches!(normal.last(), Some(ChatEvent::Done { .. })),
        "{normal:?}"
    );
    assert_eq!(normal.text(), "All good");
    let v1 = v1_call(&proxy.client, proxy.addr, &v1_body("normal v1", false)).await;
    assert_eq!(v1.status, 200, "{v1:?}");
    // Then the stall is noticed: one clear error, what arrived is kept and marked.
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), stalled.next())
        .await
        .unwrap()
    {
        let last = event.is_final();
        events.push(event);
        if last {
            break;
        }
    }
    let reply = Reply {
        status: 200,
        events,
        error: None,
        ended_early: false,
    };
    assert_clear_error_event(&reply, "upstream_timeout");
    assert_eq!(reply.text(), "Hello world");
    assert_user_message_stored(
        &proxy,
        &session,
        "tell me [[raw-stall]]",
        Some(user_message_id(&reply)),
    )
    .await;
    assert_partial_reply_stored(&proxy, &session, "Hello world").await;
    assert_eq!(
        raw.hits(),
        3,
        "one stalled call, the normal reply and the /v1 call: no retry after the first byte"
    );
    assert_v1_stream_broke(&proxy, "v1 [[raw-stall]]", "Hello world").await;
    assert_eq!(raw.hits(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_way_is_not_retried_and_its_partial_reply_is_marked() {
    let proxy = Proxy::live(|config| config).await;
    let session = proxy.create_session().await;
    let reply = proxy.send(&session, "long story [[disconnect]]").await;
    assert_clear_error_event(&reply, "upstream_disconnected");
    // The fake's server may drop its last buffered chunks when it aborts the connection, so
    // what arrived varies; the raw cut below pins the exact text.
    let delivered = reply.text();
    assert_eq!(
        proxy.fake.chat_requests().len(),
        1,
        "no retry once the stream began"
    );
    assert_user_message_stored(
        &proxy,
        &session,
        "long story [[disconnect]]",
        Some(user_message_id(&reply)),
    )
    .await;
    if delivered.is_empty() {
        assert_no_reply_stored(&proxy, &session).await;
    } else {
        assert_partial_reply_stored(&proxy, &session, &delivered).await;
    }
    let answer = v1_call(
        &proxy.client,
        proxy.addr,
        &v1_body("v1 [[disconnect]]", true),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_openai_error(
        &answer.error().expect("an error chunk after the cut"),
        "v1 disconnect",
    );
    assert_eq!(proxy.fake.chat_requests().len(), 2);

    // The same cut, made by closing a raw socket without finish reason or [DONE].
    let (proxy, raw) = raw_proxy(|config| config).await;
    let session = proxy.create_session().await;
    let reply = proxy.send(&session, "cut [[raw-cut]]").await;
    assert_clear_error_event(&reply, "upstream_disconnected");
    assert_eq!(reply.text(), "Hello world");
    assert_partial_reply_stored(&proxy, &session, "Hello world").await;
    assert_eq!(raw.hits(), 1);
    assert_v1_stream_broke(&proxy, "v1 [[raw-cut]]", "Hello world").await;
    assert_eq!(raw.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sse_ends_in_a_clear_error_and_keeps_what_arrived() {
    let (proxy, raw) = raw_proxy(|config| config).await;
    for word in [
        "[[raw-garbage-sse]]",
        "[[raw-binary-sse]]",
        "[[raw-wrong-types]]",
    ] {
        let session = proxy.create_session().await;
        let hits = raw.hits();
        let text = format!("bad stream {word}");
        let reply = proxy.send(&session, &text).await;
        assert_clear_error_event(&reply, "upstream_invalid_response");
        assert_eq!(
            raw.hits() - hits,
            1,
            "{word}: a 200 stream is never retried"
        );
        assert_user_message_stored(&proxy, &session, &text, Some(user_message_id(&reply))).await;
        assert_no_reply_stored(&proxy, &session).await;
        let answer = v1_call(
            &proxy.client,
            proxy.addr,
            &v1_body(&format!("v1 {word}"), true),
        )
        .await;
        let error = answer
            .error()
            .unwrap_or_else(|| panic!("{word}: no OpenAI error from /v1: {answer:?}"));
        assert_openai_error(&error, word);
        assert!(answer.status == 200 || answer.status >= 500, "{answer:?}");
    }
    let session = proxy.create_session().await;
    let reply = proxy
        .send(&session, "then garbage [[raw-garbage-after]]")
        .await;
    assert_clear_error_event(&reply, "upstream_invalid_response");
    assert_eq!(reply.text(), "Hello world");
    assert_partial_reply_stored(&proxy, &session, "Hello world").await;
    assert_v1_stream_broke(&proxy, "v1 [[raw-garbage-after]]", "Hello world").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_down_fail_closed_tells_the_person_and_keeps_the_message() {
    let proxy = Proxy::live(|config| config).await;
    let session = proxy.create_session().await;
    let text = "is this ok? [[moderation-error]]";
    let reply = proxy.send(&session, text).await;
    // A clear answer the app shows: an error event or a JSON error, naming moderation.
    assert_eq!(
        reply.error_code().as_deref(),
        Some("moderation_unavailable"),
        "{reply:?}"
    );
    assert_clear_message(&reply.error_message().unwrap());
    assert!(
        proxy.fake.chat_requests().is_empty(),
        "an unmoderated message must not reach the model"
    );
    assert_v1_error(&proxy, "v1 [[moderation-error]]", false, 503).await;
    assert_v1_error(&proxy, "v1s [[moderation-error]]", true, 503).await;
    // Issue 6.1: the user's message is stored even when moderation is down.
    assert_user_message_stored(&proxy, &session, text, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_unreachable_fail_open_sends_with_a_notice() {
    let fake = start_fake().await;
    let chat_base = fake.base_url();
    let proxy = Proxy::live_at(fake, &chat_base, |config| ashley_proxy::Config {
        moderation_failure: FailurePolicy::Open,
        moderation: ashley_proxy::config::ModerationMode::OpenAi {
            base_url: ashley_proxy::config::base_url(&format!(
                "http://127.0.0.1:{}/v1",
                refused_port()
            ))
            .unwrap(),
        },
        ..config
    })
    .await;
    let session = proxy.create_session().await;
    let reply = proxy.send(&session, "unchecked please").await;
    assert!(
        reply.events.iter().any(|event| matches!(event, ChatEvent::Notice { message } if message.contains("without moderation"))),
        "the person must be told the message went unchecked: {reply:?}"
    );
    assert!(
        matches!(reply.last(), Some(ChatEvent::Done { .. })),
        "{reply:?}"
    );
    assert_user_message_stored(
        &proxy,
        &session,
        "unchecked please",
        Some(user_message_id(&reply)),
    )
    .await;
    let answer = v1_call(&proxy.client, proxy.addr, &v1_body("v1 unchecked", false)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}
