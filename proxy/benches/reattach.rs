//! Reattach benchmark (issue 13, replies that survive a closed tab): how soon a page that comes
//! back mid-reply reads the reply again. Target: the first event within 20 ms at p95.
//!
//! `cargo bench -p ashley-proxy --bench reattach`. The proxy is served in this process on
//! loopback (`ashley_proxy::spawn_local`) with its fake upstream writing a long reply at one word
//! per 2 ms. Each round opens a conversation, asks for the reply, reads its first
//! `BACKLOG` words, drops the request (the tab closes), asks
//! `GET /api/conversations/{id}/replies/{reply}/events?from_seq=1` on a fresh connection, and
//! times the first event and the whole backlog (every event the closed tab had read); then it
//! stops the reply. Prints p50, p95 and max of both. Knob: `REATTACH_ROUNDS` (default 200).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

#[path = "../tests/reliability_support/mod.rs"]
mod reliability_support;

use std::time::{Duration, Instant};

use ashley_proxy::api::ChatEvent;
use reliability_support::{EventReader, Proxy, create_session, guest_headers};
use serde_json::json;

/// Words the closed tab had read: the backlog a reattach replays.
const BACKLOG: usize = 200;
const FIRST_EVENT_TARGET: Duration = Duration::from_millis(20);
/// A reply far longer than a round, at one word per 2 ms: it is still being written when the
/// page comes back, and stopped after.
const MESSAGE: &str = "A very long story [[words:100000]] [[slow:2]]";

struct Round {
    first_event: Duration,
    backlog: Duration,
}

/// Sorted samples' p50, p95 and max, in milliseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let at = |fraction: f64| {
        let rank = ((samples.len() as f64) * fraction).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.95), at(1.0))
}

/// `client` holds a guest's token and opens a new connection for each request, as a page that
/// comes back does.
async fn round(proxy: &Proxy, client: &reqwest::Client) -> Round {
    // A session is a conversation (the same stored row) under its older name.
    let conversation = create_session(client, proxy.addr).await;
    let asked = client
        .post(proxy.url(&format!("/api/conversations/{conversation}/messages")))
        .json(&json!({"persona": "ashley", "message": MESSAGE}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200, "{:?}", asked.text().await);
    let mut first_tab = EventReader::new(asked);
    let Some(ChatEvent::Started {
        live_reply: Some(reply),
        ..
    }) = first_tab.next().await
    else {
        panic!("the reply's first event names it");
    };
    let mut read = 1;
    while read <= BACKLOG {
        match first_tab.next().await {
            Some(ChatEvent::Delta { .. } | ChatEvent::Notice { .. }) => read += 1,
            other => panic!("the reply ended before its backlog: {other:?}"),
        }
    }
    drop(first_tab);

    let events = format!("/api/conversations/{conversation}/replies/{reply}/events?from_seq=1");
    let started = Instant::now();
    let response = client.get(proxy.url(&events)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut again = EventReader::new(response);
    assert!(
        matches!(again.next().await, Some(ChatEvent::Started { .. })),
        "a reattach starts from the first event"
    );
    let first_event = started.elapsed();
    for _ in 1..read {
        again.next().await.expect("the backlog is replayed");
    }
    let backlog = started.elapsed();

    let stop = client
        .post(proxy.url(&format!(
            "/api/conversations/{conversation}/replies/{reply}/stop"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 202);
    let mut last = None;
    while let Some(event) = again.next().await {
        last = Some(event);
    }
    assert!(
        matches!(last, Some(ChatEvent::Stopped { .. })),
        "a stopped reply ends with Stopped: {last:?}"
    );
    Round {
        first_event,
        backlog,
    }
}

fn main() {
    let rounds: usize = std::env::var("REATTACH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (first, backlog) = runtime.block_on(async {
        let proxy = Proxy::live(|config| config).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .default_headers(guest_headers(proxy.addr).await)
            .build()
            .unwrap();
        // One round first, not counted: the database's first pages, the caches.
        round(&proxy, &client).await;
        let mut first = Vec::with_capacity(rounds);
        let mut backlog = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let measured = round(&proxy, &client).await;
            first.push(measured.first_event);
            backlog.push(measured.backlog);
        }
        (first, backlog)
    });
    let (first_p50, first_p95, first_max) = summary(first);
    let (backlog_p50, backlog_p95, backlog_max) = summary(backlog);
    println!(
        "reattach bench: {rounds} rounds, a reply {BACKLOG} words in when the page comes back"
    );
    println!(
        "  first event    p50 {first_p50:.2} ms  p95 {first_p95:.2} ms  max {first_max:.2} ms  (target p95 <= {} ms)",
        FIRST_EVENT_TARGET.as_millis()
    );
    println!(
        "  whole backlog  p50 {backlog_p50:.2} ms  p95 {backlog_p95:.2} ms  max {backlog_max:.2} ms  ({} events)",
        BACKLOG + 1
    );
    if first_p95 > FIRST_EVENT_TARGET.as_secs_f64() * 1000.0 {
        println!("reattach bench: FAILED, the first event's p95 is above the target");
        std::process::exit(1);
    }
}
