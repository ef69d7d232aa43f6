//! Issue 6.2 fuzz targets, as proptest properties that run on stable in `make test`: request parsing and the upstream SSE decoder.
//!
//! Requests go through `router(state)` in-process (demo mode, so no upstream is involved):
//! whatever the bytes, JSON, strings or paths, the answer is below 500 and every error is an
//! OpenAI-shaped JSON body. The decoder property: however the bytes are split into reads, the
//! same events come out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{sync::OnceLock, time::Duration};

use ashley_proxy::{AppState, Config, api::MAX_MESSAGE_CHARS, sse::SseDecoder};
use axum::{body::Body, http::Request};
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt as _;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    session: String,
    /// `Authorization` of the guest that owns `session`.
    bearer: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = runtime.block_on(async {
            AppState::new(Config {
                data_dir: dir.path().join("data"),
                web_dir: dir.path().join("web"),
                rate_limit_per_minute: 0,
                demo_delay: Duration::ZERO,
                accounts: ashley_proxy::config::Accounts {
                    v1: ashley_proxy::config::V1Access::Open,
                    quotas: ashley_proxy::config::Quotas {
                        user: ashley_proxy::config::Limits {
                            messages: 0,
                            tokens: 0,
                        },
                        guest: ashley_proxy::config::Limits {
                            messages: 0,
                            tokens: 0,
                        },
                    },
                    ..ashley_proxy::config::Accounts::default()
                },
                ..Config::default()
            })
            .unwrap()
        });
        let json = |request: Request<Body>| {
            runtime.block_on(async {
                let response = ashley_proxy::router(state.clone())
                    .oneshot(request)
                    .await
                    .unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                serde_json::from_slice::<Value>(&body).unwrap()
            })
        };
        let guest = json(
            Request::post("/api/auth/guest")
                .body(Body::empty())
                .unwrap(),
        );
        let bearer = format!("Bearer {}", guest["token"].as_str().unwrap());
        let created = json(
            Request::post("/api/sessions")
                .header("authorization", &bearer)
                .body(Body::empty())
                .unwrap(),
        );
        let session = created["session_id"].as_str().unwrap().to_owned();
        Fixture {
            runtime,
            state,
            session,
            bearer,
            _dir: dir,
        }
    })
}

/// Status, content type and body of one request through the router, as the fixture's guest.
fn call(mut request: Request<Body>) -> (u16, String, Vec<u8>) {
    let fixture = fixture();
    request.headers_mut().insert(
        "authorization",
        fixture.bearer.parse().expect("a valid header value"),
    );
    fixture.runtime.block_on(async {
        let response = ashley_proxy::router(fixture.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
            .await
            .expect("the body ends within 10 s")
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, content_type, body)
    })
}

fn post_json(path: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    call(
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap(),
    )
}

/// Below 500, and an error is `{"error":{"message","type",..}}`; returns the error code.
fn check_answer(
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<Option<String>, TestCaseError> {
    prop_assert!(
        status < 500,
        "HTTP {status}: {}",
        String::from_utf8_lossy(body)
    );
    if status < 400 {
        return Ok(None);
    }
    prop_assert!(
        content_type.starts_with("application/json"),
        "HTTP {status} with {content_type:?}"
    );
    let json: Value = serde_json::from_slice(body).map_err(|err| {
        TestCaseError::fail(format!(
            "HTTP {status} body is not JSON ({err}): {}",
            String::from_utf8_lossy(body)
        ))
    })?;
    let message = json
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    prop_assert!(!message.trim().is_empty(), "no message: {json}");
    prop_assert!(
        json.pointer("/error/type")
            .and_then(Value::as_str)
            .is_some(),
        "no type: {json}"
    );
    Ok(json
        .pointer("/error/code")
        .and_then(Value::as_str)
        .map(str::to_owned))
}

/// JSON values that use the real field names often, so the structure gets past the first check.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("persona".to_owned()),
        Just("message".to_owned()),
        Just("model".to_owned()),
        Just("messages".to_owned()),
        Just("role".to_owned()),
        Just("content".to_owned()),
        Just("stream".to_owned()),
        Just("max_tokens".to_owned()),
        Just("temperature".to_owned()),
        Just("type".to_owned()),
        Just("text".to_owned()),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(
            |number| serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
        ),
        prop_oneof![
            Just("ashley".to_owned()),
            Just("user".to_owned()),
            Just("technical".to_owned()),
            ".{0,40}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn endpoints() -> impl Strategy<Value = String> {
    let session = fixture().session.clone();
    prop_oneof![
        Just(format!("/api/sessions/{session}/messages")),
        Just(format!("/api/sessions/{session}/regenerate")),
        Just("/v1/chat/completions".to_owned()),
        Just("/api/sessions".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_as_a_body_get_a_4xx_json_error_or_a_reply(path in endpoints(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let (status, content_type, answer) = post_json(&path, body);
        check_answer(status, &content_type, &answer)?;
    }

    #[test]
    fn any_json_as_a_body_gets_a_4xx_json_error_or_a_reply(path in endpoints(), value in json_value()) {
        let (status, content_type, answer) = post_json(&path, serde_json::to_vec(&value).unwrap());
        check_answer(status, &content_type, &answer)?;
    }

    #[test]
    fn messages_are_judged_by_their_persona_and_length_in_characters(
        persona in prop_oneof![Just("ashley".to_owned()), Just("creative".to_owned()), ".{0,12}"],
        message in prop_oneof![".{0,64}", "\\PC{4990,5010}", "[ \t\n]{0,5}"],
    ) {
        let session = &fixture().session;
        let body = serde_json::to_vec(&serde_json::json!({"persona": persona, "message": message})).unwrap();
        let (status, content_type, answer) = post_json(&format!("/api/sessions/{session}/messages"), body);
        let code = check_answer(status, &content_type, &answer)?;
        let known = ["ashley", "technical", "creative"].contains(&persona.as_str());
        let chars = message.chars().count();
        if !known {
            prop_assert_eq!(code.as_deref(), Some("unknown_persona"));
        } else if message.trim().is_empty() {
            prop_assert_eq!(code.as_deref(), Some("empty_message"));
        } else if chars > MAX_MESSAGE_CHARS {
            prop_assert_eq!(code.as_deref(), Some("message_too_long"));
        } else {
            prop_assert_eq!(status, 200);
            prop_assert!(content_type.starts_with("text/event-stream"));
            let text = String::from_utf8_lossy(&answer);
            prop_assert!(text.contains("event: done") || text.contains("event: refused"), "{}", text);
        }
    }

    #[test]
    fn any_path_and_method_get_an_answer_below_500(
        method in prop_oneof![Just("GET"), Just("HEAD"), Just("POST"), Just("DELETE"), Just("PUT"), Just("OPTIONS")],
        prefix in prop_oneof![Just(""), Just("/api/sessions/"), Just("/v1/models/"), Just("/api/"), Just("/v1/"), Just("/assets/")],
        segment in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let encoded: String = segment.iter().map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'/' => char::from(*byte).to_string(),
            other => format!("%{other:02X}"),
        }).collect();
        let path = format!("{}/{encoded}", prefix.trim_end_matches('/'));
        let request = Request::builder().method(method).uri(&path).body(Body::empty()).unwrap();
        let (status, content_type, answer) = call(request);
        prop_assert!(status < 500, "{} {} -> HTTP {}", method, path, status);
        let api = path.starts_with("/api") || path.starts_with("/v1");
        if api && status >= 400 && method != "HEAD" {
            check_answer(status, &content_type, &answer)?;
        }
    }

    #[test]
    fn the_upstream_sse_decoder_gives_the_same_events_however_the_bytes_are_split(
        body in prop::collection::vec(prop_oneof![
            Just(b"data: ".to_vec()), Just(b"\n".to_vec()), Just(b"\r\n".to_vec()), Just(b": ping\n".to_vec()),
            Just(b"data: [DONE]\n\n".to_vec()), Just("data: {\"x\":\"\u{e9}\u{1f600}\"}\n\n".as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
        ], 0..40).prop_map(|parts| parts.concat()),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut whole = SseDecoder::default();
        let expected = whole.push(&body);
        let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(body.len() + 1)).collect();
        points.sort_unstable();
        let mut split = SseDecoder::default();
        let mut got = Vec::new();
        let mut from = 0;
        for point in points.into_iter().chain([body.len()]) {
            got.extend(split.push(&body[from..point]));
            from = point;
        }
        prop_assert_eq!(got, expected);
    }
}
