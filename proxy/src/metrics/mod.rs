//! The proxy's metrics: Prometheus counters, gauges and histograms for `/metrics`, and the recent state `/api/status` reads.

mod handles;
mod recent;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use ::metrics::{Counter, Gauge, Histogram, counter, gauge, histogram, with_local_recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::store::StoreHealth;
pub use handles::{ConnectionCounters, Count, Level};
use handles::{HTTP_REQUESTS, REPLIES, ReplyCounters, describe};
use recent::Recent;

/// Seconds; fine at the low end because the proxy's own latency is sub-millisecond.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];
/// The exporter buffers histogram samples until it aggregates them (at each render). Without a
/// scraper that buffer would grow with every request, so every this many requests we aggregate.
const UPKEEP_EVERY: u64 = 1024;

/// How a chat reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Complete,
    Partial,
    Error,
    Refused,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Partial => "partial",
            Self::Error => "error",
            Self::Refused => "refused",
        }
    }
}

/// Everything `/metrics` and `/api/status` report. Each instance has its own recorder (not the
/// process-wide one), so every `AppState`, e.g. each test's, counts on its own.
pub struct Metrics {
    pub started: Instant,
    /// Registers the handles whose labels are known only at run time (routes).
    recorder: Arc<PrometheusRecorder>,
    exposition: PrometheusHandle,
    /// Read by `/api/status`; `errors` is copied into its counter at each render.
    requests: AtomicU64,
    errors: AtomicU64,
    errors_total: Counter,
    uptime: Gauge,
    in_flight: Gauge,
    store_full: Gauge,
    store_up: Gauge,
    /// Handles by route and status, so a request after the first of its kind is a lookup and an add.
    routes: Mutex<HashMap<String, HashMap<u16, Counter>>>,
    http_latency: Histogram,
    ttft: Histogram,
    reply_duration: Histogram,
    app_replies: ReplyCounters,
    v1_replies: ReplyCounters,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    pub upstream_requests: Count,
    pub upstream_retries: Count,
    pub upstream_failures: Count,
    pub upstream_queued: Level,
    pub moderation_calls: Count,
    pub moderation_cache_hits: Count,
    pub moderation_flagged: Count,
    pub moderation_failures: Count,
    pub rate_limited: Count,
    pub connections: ConnectionCounters,
    recent: Recent,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = Arc::new(
            PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                // The only error is an empty bucket list; ours is a non-empty constant.
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder(),
        );
        let metrics = with_local_recorder(recorder.as_ref(), || {
            describe();
            let count = |name: &'static str| Count(counter!(name));
            Self {
                started: Instant::now(),
                recorder: recorder.clone(),
                exposition: recorder.handle(),
                requests: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                errors_total: counter!("ashley_http_errors_total"),
                uptime: gauge!("ashley_uptime_seconds"),
                in_flight: gauge!("ashley_upstream_in_flight"),
                store_full: gauge!("ashley_store_full"),
                store_up: gauge!("ashley_store_up"),
                routes: Mutex::new(HashMap::new()),
                http_latency: histogram!("ashley_http_request_duration_seconds"),
                ttft: histogram!("ashley_chat_ttft_seconds"),
                reply_duration: histogram!("ashley_chat_reply_duration_seconds"),
                app_replies: ReplyCounters::register("app"),
                v1_replies: ReplyCounters::register("v1"),
                prompt_tokens: counter!("ashley_tokens_total", "kind" => "prompt"),
                completion_tokens: counter!("ashley_tokens_total", "kind" => "completion"),
                upstream_requests: count("ashley_upstream_requests_total"),
                upstream_retries: count("ashley_upstream_retries_total"),
                upstream_failures: count("ashley_upstream_failures_total"),
                upstream_queued: Level(gauge!("ashley_upstream_queued")),
                moderation_calls: count("ashley_moderation_calls_total"),
                moderation_cache_hits: count("ashley_moderation_cache_hits_total"),
                moderation_flagged: count("ashley_moderation_flagged_total"),
                moderation_failures: count("ashley_moderation_failures_total"),
                rate_limited: count("ashley_rate_limited_total"),
                connections: ConnectionCounters::register(),
                recent: Recent::default(),
            }
        });
        // The proxy does not start without its store, so a running proxy starts with it up.
        metrics.set_store_health(StoreHealth::Ok);
        metrics
    }
}

impl Metrics {
    /// One HTTP request finished. Server errors (5xx) count as errors.
    pub fn record_http(&self, route: &str, status: u16, elapsed: Duration) {
        let requests = self.requests.fetch_add(1, Relaxed) + 1;
        let failed = status >= 500;
        if failed {
            self.errors.fetch_add(1, Relaxed);
        }
        self.http_latency.record(elapsed.as_secs_f64());
        {
            let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
            let by_status = match routes.get_mut(route) {
                Some(by_status) => by_status,
                None => routes.entry(route.to_owned()).or_default(),
            };
            by_status
                .entry(status)
                .or_insert_with(|| {
                    with_local_recorder(self.recorder.as_ref(), || {
                        counter!(HTTP_REQUESTS, "route" => route.to_owned(), "status" => status.to_string())
                    })
                })
                .increment(1);
        }
        if route.starts_with("/api/sessions") || route.starts_with("/v1/chat") {
            self.recent.push_outcome(failed);
        }
        if requests.is_multiple_of(UPKEEP_EVERY) {
            self.exposition.run_upkeep();
        }
    }

    /// A chat stream that began with 200 but ended in an error also counts as an error.
    pub fn record_stream_error(&self) {
        self.errors.fetch_add(1, Relaxed);
        self.recent.push_outcome(true);
    }

    /// One chat reply ended (app or `/v1`).
    pub fn record_reply(
        &self,
        source: &'static str,
        outcome: Outcome,
        ttft: Option<Duration>,
        total: Duration,
        tokens: (Option<u32>, Option<u32>),
    ) {
        match source {
            "app" => self.app_replies.get(outcome).increment(1),
            "v1" => self.v1_replies.get(outcome).increment(1),
            // An API added without its own handles: correct, only slower (a registry lookup).
            other => with_local_recorder(self.recorder.as_ref(), || {
                counter!(REPLIES, "api" => other, "outcome" => outcome.name()).increment(1);
            }),
        }
        if let Some(ttft) = ttft {
            self.ttft.record(ttft.as_secs_f64());
        }
        if outcome == Outcome::Refused {
            return;
        }
        self.reply_duration.record(total.as_secs_f64());
        self.prompt_tokens
            .increment(u64::from(tokens.0.unwrap_or(0)));
        self.completion_tokens
            .increment(u64::from(tokens.1.unwrap_or(0)));
        if outcome == Outcome::Error {
            return;
        }
        let millis = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
        self.recent.push_latency(millis);
    }

    /// The store's condition: `ashley_store_full` (writes refused for lack of space) and
    /// `ashley_store_up` (the database answers). Set from the store on every scrape.
    pub fn set_store_health(&self, health: StoreHealth) {
        let full = health == StoreHealth::Full;
        let up = health != StoreHealth::Unavailable;
        self.store_full.set(f64::from(u8::from(full)));
        self.store_up.set(f64::from(u8::from(up)));
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }

    pub fn recent_latencies_ms(&self) -> Vec<u64> {
        self.recent.latencies_ms()
    }

    /// Share of failures among the recent chat requests (0.0 with none).
    pub fn recent_failure_rate(&self) -> f64 {
        self.recent.failure_rate()
    }

    /// The Prometheus text exposition; `in_flight` is the upstream calls now running.
    pub fn render(&self, in_flight: usize) -> String {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        self.in_flight.set(in_flight as f64);
        self.errors_total.absolute(self.errors());
        self.exposition.render()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_render() {
        let metrics = Metrics::default();
        metrics.record_http("/v1/chat/completions", 200, Duration::from_micros(300));
        metrics.record_http("/v1/chat/completions", 502, Duration::from_millis(30));
        let text = metrics.render(1);
        assert!(text.contains(
            "ashley_http_requests_total{route=\"/v1/chat/completions\",status=\"502\"} 1"
        ));
        assert!(text.contains("ashley_http_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("ashley_http_request_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("ashley_http_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("ashley_http_request_duration_seconds_count 2"));
        assert!(text.contains("ashley_upstream_in_flight 1"));
        assert!(text.contains("ashley_http_errors_total 1"));
        assert_eq!(metrics.errors(), 1);
        assert!((metrics.recent_failure_rate() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn each_instance_counts_on_its_own() {
        let busy = Metrics::default();
        let idle = Metrics::default();
        busy.rate_limited.fetch_add(3, Relaxed);
        busy.record_reply(
            "v1",
            Outcome::Partial,
            None,
            Duration::ZERO,
            (Some(2), None),
        );
        assert!(busy.render(0).contains("ashley_rate_limited_total 3"));
        assert!(
            busy.render(0)
                .contains("ashley_chat_replies_total{api=\"v1\",outcome=\"partial\"} 1")
        );
        let idle = idle.render(0);
        assert!(idle.contains("ashley_rate_limited_total 0"), "{idle}");
        assert!(idle.contains("ashley_chat_replies_total{api=\"v1\",outcome=\"partial\"} 0"));
        assert!(idle.contains("ashley_tokens_total{kind=\"prompt\"} 0"));
    }

    #[test]
    fn gauges_follow_their_setters() {
        let metrics = Metrics::default();
        assert!(metrics.render(0).contains("ashley_store_up 1"));
        metrics.set_store_health(StoreHealth::Full);
        metrics.upstream_queued.fetch_add(2, Relaxed);
        metrics.upstream_queued.fetch_sub(1, Relaxed);
        let text = metrics.render(0);
        assert!(text.contains("ashley_store_full 1"), "{text}");
        assert!(text.contains("ashley_store_up 1"));
        assert!(text.contains("ashley_upstream_queued 1"));
        metrics.set_store_health(StoreHealth::Unavailable);
        let text = metrics.render(0);
        assert!(text.contains("ashley_store_full 0"), "{text}");
        assert!(text.contains("ashley_store_up 0"));
    }

    #[test]
    fn an_api_without_handles_still_counts() {
        let metrics = Metrics::default();
        for _ in 0..2 {
            metrics.record_reply(
                "other",
                Outcome::Refused,
                None,
                Duration::ZERO,
                (None, None),
            );
        }
        assert!(
            metrics
                .render(0)
                .contains("ashley_chat_replies_total{api=\"other\",outcome=\"refused\"} 2")
        );
    }

    #[test]
    fn upkeep_keeps_histogram_counts_exact() {
        let metrics = Metrics::default();
        for _ in 0..UPKEEP_EVERY + 5 {
            metrics.record_http("/healthz", 200, Duration::from_millis(1));
        }
        let text = metrics.render(0);
        let expected = format!(
            "ashley_http_request_duration_seconds_count {}",
            UPKEEP_EVERY + 5
        );
        assert!(text.contains(&expected), "{text}");
    }
}
