//! Issue 6.3: one client flooding at ~1,000 requests/s gets 429 with Retry-After while another keeps its latency.
//!
//! The flooder connects from 127.0.0.1, the measured client from 127.0.0.2 (Linux routes the
//! whole 127/8 to loopback), so the proxy's per-IP limiter tells them apart by TCP peer.
//!
//! The outcome depends on counts, not on speed: the flood goes on (switched on and off every
//! 250 ms) until the flooder has sent well over twice what its bucket can have allowed by then,
//! however slowly a busy machine lets it send. The measured client's latency with and without
//! the flood (each sample filed under the phase it started in) is printed, not asserted:
//! timing targets live in `make bench`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod reliability_support;

use std::{
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reliability_support::*;

const PHASE: Duration = Duration::from_millis(250);
/// Flood-on and flood-off phases each.
const PHASES_EACH: usize = 24;
/// Per client per minute: the measured client stays well inside it, the flooder far beyond.
const RATE_LIMIT: u32 = 1500;

#[derive(Default)]
struct FloodCounts {
    sent: AtomicUsize,
    limited_well_formed: AtomicUsize,
    ok: AtomicUsize,
    other: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    rate_while_on: AtomicU64,
}

fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// Sends ~1,000 requests/s while `on`, until `stop`.
async fn flood(url: String, on: Arc<AtomicBool>, stop: Arc<AtomicBool>, counts: Arc<FloodCounts>) {
    let client = client_from([127, 0, 0, 1]);
    let body = v1_body("flood", false);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        if !on.load(Ordering::SeqCst) || counts.in_flight.load(Ordering::SeqCst) >= 200 {
            continue;
        }
        counts.sent.fetch_add(1, Ordering::SeqCst);
        counts.in_flight.fetch_add(1, Ordering::SeqCst);
        let (client, url, body, counts) =
            (client.clone(), url.clone(), body.clone(), counts.clone());
        tokio::spawn(async move {
            let verdict = match client.post(&url).json(&body).send().await {
                Ok(response) if response.status() == 429 => {
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<u64>().ok());
                    let json: serde_json::Value = response.json().await.unwrap_or_default();
                    if retry_after.is_some_and(|secs| secs >= 1)
                        && json["error"]["type"] == "rate_limit_error"
                    {
                        Ok(true)
                    } else {
                        Err(format!(
                            "a 429 without Retry-After or JSON: {retry_after:?} {json}"
                        ))
                    }
                }
                Ok(response) if response.status() == 200 => Ok(false),
                Ok(response) => Err(format!("HTTP {}", response.status())),
                Err(err) => Err(format!("request failed: {err}")),
            };
            match verdict {
                Ok(true) => counts.limited_well_formed.fetch_add(1, Ordering::SeqCst),
                Ok(false) => counts.ok.fetch_add(1, Ordering::SeqCst),
                Err(why) => {
                    counts.other.lock().unwrap().push(why);
                    0
                }
            };
            counts.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
    // Let the requests still in flight land here: dropping this runtime would cancel them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the flooder's bucket can have let through since `started`: the burst plus the refill.
fn allowed_since(started: Instant) -> f64 {
    f64::from(RATE_LIMIT) + started.elapsed().as_secs_f64() * f64::from(RATE_LIMIT) / 60.0 + 5.0
}

/// The flooder has sent two and a half times what it can have been allowed (the half is room
/// for what its bucket refills while the last requests land).
fn flooded_enough(counts: &FloodCounts, started: Instant) -> bool {
    counts.sent.load(Ordering::SeqCst) as f64 >= 2.5 * allowed_since(started)
}

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64) * fraction).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

#[test]
fn a_flooding_client_gets_429_while_another_is_never_limited() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let proxy = server.block_on(Proxy::live(|config| ashley_proxy::Config {
        rate_limit_per_minute: RATE_LIMIT,
        ..config
    }));
    let url = proxy.url("/v1/chat/completions");
    let on = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    let flooder = {
        let (url, on, stop, counts) = (url.clone(), on.clone(), stop.clone(), counts.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(flood(url, on, stop, counts));
        })
    };

    let flood_started = Instant::now();
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (quiet, loaded, failures, flood_on_time) = client_runtime.block_on(async {
        let client = client_from([127, 0, 0, 2]);
        let body = v1_body("measured", false);
        let timed = async || {
            let started = Instant::now();
            let response = client.post(&url).json(&body).send().await;
            let outcome = match response {
                Ok(response) if response.status() == 200 => response
                    .bytes()
                    .await
                    .map(|_| ())
                    .map_err(|err| err.to_string()),
                Ok(response) => Err(format!("HTTP {}", response.status())),
                Err(err) => Err(err.to_string()),
            };
            (started.elapsed(), outcome)
        };
        // Warm-up: connections, moderation cache, allocator; and the flooder burns its burst.
        on.store(true, Ordering::SeqCst);
        let warm_until = Instant::now() + Duration::from_millis(2000);
        while Instant::now() < warm_until {
            let (_, outcome) = timed().await;
            outcome.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut quiet = Vec::new();
        let mut loaded = Vec::new();
        let mut failures = Vec::new();
        let mut flood_on_time = Duration::ZERO;
        let sent_before = counts.sent.load(Ordering::SeqCst);
        let mut phase = 0;
        while phase < PHASES_EACH * 2 || !flooded_enough(&counts, flood_started) {
            assert!(phase < 1000, "the flooder never outran its bucket");
            let flooding = phase % 2 == 1;
            on.store(flooding, Ordering::SeqCst);
            let phase_started = Instant::now();
            let phase_end = phase_started + PHASE;
            while Instant::now() < phase_end {
                let (took, outcome) = timed().await;
                match outcome {
                    Ok(()) if flooding => loaded.push(took),
                    Ok(()) => quiet.push(took),
                    Err(why) => failures.push(why),
                }
                // ~40 requests/s: inside RATE_LIMIT's refill and burst for 100 s.
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            if flooding {
                flood_on_time += phase_started.elapsed();
            }
            phase += 1;
        }
        on.store(false, Ordering::SeqCst);
        counts.rate_while_on.store(
            u64::try_from(
                (counts.sent.load(Ordering::SeqCst) - sent_before) as u128 * 1_000_000_000
                    / flood_on_time.as_nanos().max(1),
            )
            .unwrap(),
            Ordering::SeqCst,
        );
        (quiet, loaded, failures, flood_on_time)
    });
    stop.store(true, Ordering::SeqCst);
    flooder.join().unwrap();
    // Let the flooder's last requests land before reading its counts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }

    let (mut quiet, mut loaded) = (quiet, loaded);
    let flood_rate = counts.rate_while_on.load(Ordering::SeqCst);
    let (sent, limited, ok) = (
        counts.sent.load(Ordering::SeqCst),
        counts.limited_well_formed.load(Ordering::SeqCst),
        counts.ok.load(Ordering::SeqCst),
    );
    let quiet_p50 = percentile(&mut quiet, 0.5);
    let quiet_p99 = percentile(&mut quiet, 0.99);
    let loaded_p50 = percentile(&mut loaded, 0.5);
    let loaded_p99 = percentile(&mut loaded, 0.99);
    eprintln!(
        "flood: {sent} requests sent, {flood_rate}/s while on ({flood_on_time:?} on), {limited} answered 429, {ok} 200; \
         measured client: quiet n={} p50={quiet_p50:?} p99={quiet_p99:?}, flooded n={} p50={loaded_p50:?} p99={loaded_p99:?}",
        quiet.len(),
        loaded.len()
    );
    let other = counts.other.lock().unwrap();
    assert!(
        other.is_empty(),
        "flood requests answered neither 200 nor a proper 429: {:?}",
        &other[..other.len().min(5)]
    );
    // Everything beyond the bucket (its burst plus what refilled meanwhile) was a proper 429.
    let allowed = allowed_since(flood_started);
    assert_eq!(
        limited + ok,
        sent,
        "every flood request got a 200 or a proper 429"
    );
    assert!(
        (ok as f64) <= allowed,
        "the flooder got {ok} requests through; the limit allows {allowed:.0}"
    );
    assert!(
        limited * 2 >= sent,
        "only {limited} of {sent} flood requests were limited"
    );
    assert!(
        failures.is_empty(),
        "the measured client failed: {:?}",
        &failures[..failures.len().min(5)]
    );
    assert!(
        quiet.len() >= 100 && loaded.len() >= 100,
        "too few samples: {} and {}",
        quiet.len(),
        loaded.len()
    );
    drop(proxy);
    drop(server);
}
