//! Behaviour 9 and the key: health, status, metrics, and the key in no response and no log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
mod exposition;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock},
};

use ashley_proxy::api::{Health, Mode, Status};
use common::{FAKE_KEY, Harness, eventually};
use exposition::{bucket_bounds, parse_exposition};
use serde_json::json;

/// Every log line of this test binary, at TRACE for every crate (hyper, reqwest included).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn healthz_is_ok() {
    let harness = Harness::live().await;
    let response = harness.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn status_fills_every_field() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    harness.send(&session, "ashley", "hello").await;
    harness.post_json("/v1/chat/completions", &json!({"model": "ashley", "messages": [{"role": "user", "content": "[[status:500]]"}]})).await;
    let status: Status = eventually("the reachability check", async || {
        let status: Status = harness.get("/api/status").await.json().await.unwrap();
        status.upstream_reachable.is_some().then_some(status)
    })
    .await;
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(status.mode, Mode::Live);
    assert!(status.upstream_configured);
    assert_eq!(status.upstream_reachable, Some(true));
    assert_eq!(
        status.upstream_base_url,
        format!("{}/", harness.fake().base_url())
    );
    assert_eq!(status.model, "gpt-4");
    assert!(
        status
            .moderation
            .starts_with("openai (omni-moderation-latest)")
    );
    assert_eq!(status.store.sessions, 1);
    assert_eq!(status.store.messages, 2);
    assert_eq!(status.rate_limit_per_minute, 0);
    assert!(status.requests >= 3);
    assert!(status.errors >= 1, "the upstream 500 counts: {status:?}");
    assert!(status.error_rate > 0.0 && status.error_rate < 1.0);
    assert_eq!(status.recent_latencies_ms.len(), 1);
    assert!(matches!(status.health, Health::Healthy | Health::Degraded));
    // The reachability check is cached: one GET /v1/models however often status is read.
    harness.get("/api/status").await;
    let checks = harness
        .fake()
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/models")
        .count();
    assert_eq!(checks, 1);
}

#[tokio::test]
async fn an_unreachable_upstream_makes_status_degraded() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let data_dir = tempfile::tempdir().unwrap();
    let config = ashley_proxy::Config {
        data_dir: data_dir.path().to_path_buf(),
        ..ashley_proxy::Config::live(FAKE_KEY, &format!("http://user:pw@127.0.0.1:{port}/v1"))
            .unwrap()
    };
    let harness = Harness::start(None, config, data_dir).await;
    let status: Status = eventually("the reachability check", async || {
        let status: Status = harness.get("/api/status").await.json().await.unwrap();
        status.upstream_reachable.is_some().then_some(status)
    })
    .await;
    assert_eq!(status.upstream_reachable, Some(false));
    assert_eq!(status.health, Health::Degraded);
    assert!(
        !status.upstream_base_url.contains("pw"),
        "credentials stripped"
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_requests_latency_ttft_and_tokens() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    harness.send(&session, "ashley", "hello").await;
    let response = harness.get("/metrics").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    parse_exposition(&text);
    for needle in [
        "ashley_http_requests_total{route=\"/api/sessions/{id}/messages\",status=\"200\"} 1",
        "# TYPE ashley_http_request_duration_seconds histogram",
        "ashley_chat_ttft_seconds_count 1",
        "ashley_chat_reply_duration_seconds_count 1",
        "ashley_chat_replies_total{api=\"app\",outcome=\"complete\"} 1",
        "ashley_tokens_total{kind=\"completion\"} 7",
        "ashley_http_errors_total 0",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[tokio::test]
async fn a_chat_turn_moves_the_reply_counter_and_histograms_by_exactly_one() {
    let harness = Harness::live().await;
    let session = harness.new_session().await;
    let before = scrape(&harness).await;
    harness.send(&session, "ashley", "hello").await;
    let after = scrape(&harness).await;
    let delta = |series: &str| {
        let value = |samples: &BTreeMap<String, f64>| samples.get(series).copied();
        value(&after).unwrap_or_else(|| panic!("{series} missing")) - value(&before).unwrap_or(0.0)
    };

    let reply = "ashley_chat_replies_total{api=\"app\",outcome=\"complete\"}";
    assert_eq!(delta(reply), 1.0);
    for series in after
        .keys()
        .filter(|s| s.starts_with("ashley_chat_replies_total"))
    {
        if series != reply {
            assert_eq!(delta(series), 0.0, "{series} moved");
        }
    }
    for histogram in [
        "ashley_chat_ttft_seconds",
        "ashley_chat_reply_duration_seconds",
    ] {
        assert_eq!(delta(&format!("{histogram}_count")), 1.0, "{histogram}");
        assert!(delta(&format!("{histogram}_sum")) > 0.0, "{histogram}");
        // One observation: the cumulative buckets move by 0 below it and by 1 from it on.
        let moves: Vec<f64> = bucket_bounds(&after, histogram)
            .iter()
            .map(|le| delta(&format!("{histogram}_bucket{{le=\"{le}\"}}")))
            .collect();
        assert!(
            moves.iter().all(|step| *step == 0.0 || *step == 1.0),
            "{histogram}: {moves:?}"
        );
        assert!(moves.is_sorted(), "{histogram}: {moves:?}");
        assert_eq!(moves.last(), Some(&1.0), "{histogram}: +Inf");
    }
    assert_eq!(delta("ashley_tokens_total{kind=\"completion\"}"), 7.0);
    let turn = "ashley_http_requests_total{route=\"/api/sessions/{id}/messages\",status=\"200\"}";
    assert_eq!(delta(turn), 1.0);
    // The turn and the first scrape (recorded when its head was sent).
    assert_eq!(delta("ashley_http_request_duration_seconds_count"), 2.0);
}

#[tokio::test]
async fn histograms_keep_their_buckets() {
    let harness = Harness::live().await;
    let samples = scrape(&harness).await;
    for histogram in [
        "ashley_http_request_duration_seconds",
        "ashley_chat_ttft_seconds",
        "ashley_chat_reply_duration_seconds",
    ] {
        assert_eq!(
            bucket_bounds(&samples, histogram),
            [
                "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                "0.5", "1", "2.5", "10", "60", "+Inf"
            ],
            "{histogram}"
        );
    }
}

async fn scrape(harness: &Harness) -> BTreeMap<String, f64> {
    parse_exposition(&harness.get("/metrics").await.text().await.unwrap())
}

/// Drives every kind of response (success, upstream errors including OpenAI's 401 that echoes
/// part of the key, moderation, status, metrics) and looks for the key everywhere.
#[tokio::test]
async fn the_key_appears_in_no_response_and_no_log_line() {
    let logs = captured_logs();
    let harness = Harness::live().await;
    let mut bodies = Vec::new();
    let session = harness.new_session().await;
    for message in [
        "hello",
        "[[flag]]",
        "[[status:500]]",
        "[[status:429]]",
        "[[disconnect]]",
        "[[moderation-error]] x",
    ] {
        let response = harness
            .post_json(
                &format!("/api/sessions/{session}/messages"),
                &json!({"persona": "ashley", "message": message}),
            )
            .await;
        bodies.push(format!("{:?}", response.headers()));
        bodies.push(response.text().await.unwrap());
        let v1 = harness
            .post_json("/v1/chat/completions", &json!({"model": "ashley", "stream": true, "messages": [{"role": "user", "content": message}]}))
            .await;
        bodies.push(v1.text().await.unwrap());
    }
    // A provider that rejects the key (its error message quotes part of the key).
    harness.fake().set_options(ashley_fake_upstream::Options {
        expected_key: Some("sk-another-key".to_owned()),
        ..ashley_fake_upstream::Options::default()
    });
    harness.fake().reset();
    let rejected = harness
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "ashley", "messages": [{"role": "user", "content": "new text"}]}),
        )
        .await;
    assert_eq!(
        rejected.status(),
        503,
        "moderation rejected too: fail-closed"
    );
    bodies.push(rejected.text().await.unwrap());
    bodies.push(harness.get("/api/status").await.text().await.unwrap());
    bodies.push(harness.get("/metrics").await.text().await.unwrap());
    bodies.push(
        harness
            .get(&format!("/api/sessions/{session}"))
            .await
            .text()
            .await
            .unwrap(),
    );
    tracing::info!("a marker so the capture is known to work");

    let leaked_prefix = &FAKE_KEY[..12];
    for body in &bodies {
        assert!(!body.contains(FAKE_KEY), "key in a response: {body}");
        assert!(
            !body.contains(leaked_prefix),
            "key prefix in a response: {body}"
        );
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("a marker so the capture is known to work"));
    assert!(
        logs.contains("upstream call failed"),
        "upstream failures are logged"
    );
    assert!(!logs.contains(FAKE_KEY), "key in the logs");
    assert!(!logs.contains(leaked_prefix), "key prefix in the logs");
    assert!(
        !logs.to_lowercase().contains("bearer sk-"),
        "authorization header in the logs"
    );
}

#[tokio::test]
async fn a_refused_key_is_logged_once_naming_the_setting_not_once_per_message() {
    let logs = captured_logs();
    let fake = ashley_fake_upstream::FakeUpstream::start_with(ashley_fake_upstream::Options {
        expected_key: Some("sk-another-key".to_owned()),
        ..ashley_fake_upstream::Options::default()
    })
    .await
    .unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let config = ashley_proxy::Config {
        moderation: ashley_proxy::config::ModerationMode::Local,
        ..common::live_config(&fake, data_dir.path())
    };
    let harness = Harness::start(Some(fake), config, data_dir).await;
    let text = || String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    // The check at start-up finds it before anyone sends a message.
    eventually("the start-up check's log line", async || {
        text().contains("refuses the key").then_some(())
    })
    .await;
    let session = harness.new_session().await;
    for _ in 0..3 {
        let events = harness.send(&session, "ashley", "hello").await;
        let Some(ashley_proxy::api::ChatEvent::Error { error }) = events.last() else {
            panic!("{events:?}");
        };
        assert!(
            error.message.contains("OPENAI_API_KEY"),
            "{}",
            error.message
        );
        harness.get("/api/status").await;
    }
    let logs = text();
    let start_up = logs
        .lines()
        .filter(|line| line.contains("refuses the key"))
        .collect::<Vec<_>>();
    assert_eq!(start_up.len(), 1, "{logs}");
    assert!(start_up[0].contains("OPENAI_API_KEY"), "{logs}");
    assert_eq!(logs.matches("upstream call failed").count(), 1, "{logs}");
}
