//! Counters and histograms for `/metrics` (Prometheus text format) and `/api/status`.

use std::{
    collections::{BTreeMap, VecDeque},
    fmt::Write as _,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

/// Seconds; fine at the low end because the proxy's own latency is sub-millisecond.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];
const RECENT_LATENCIES: usize = 50;
const HEALTH_WINDOW: usize = 100;

/// A cumulative histogram with atomic buckets.
pub struct Histogram {
    buckets: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(buckets: &'static [f64]) -> Self {
        Self {
            buckets,
            counts: buckets.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        if let Some(slot) = self
            .buckets
            .iter()
            .position(|bound| seconds <= *bound)
            .and_then(|index| self.counts.get(index))
        {
            slot.fetch_add(1, Relaxed);
        }
        self.sum_micros.fetch_add(
            u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
        self.count.fetch_add(1, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in self.buckets.iter().zip(&self.counts) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
            );
        }
        let total = self.count.load(Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {total}"
        );
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {total}");
    }
}

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

#[derive(Default)]
struct RouteCounts {
    by_status: BTreeMap<u16, u64>,
}

/// Everything `/metrics` and `/api/status` report.
pub struct Metrics {
    pub started: Instant,
    requests: AtomicU64,
    errors: AtomicU64,
    routes: Mutex<BTreeMap<String, RouteCounts>>,
    http_latency: Histogram,
    ttft: Histogram,
    reply_duration: Histogram,
    replies: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    pub upstream_requests: AtomicU64,
    pub upstream_retries: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub upstream_queued: AtomicU64,
    pub moderation_calls: AtomicU64,
    pub moderation_cache_hits: AtomicU64,
    pub moderation_flagged: AtomicU64,
    pub moderation_failures: AtomicU64,
    pub rate_limited: AtomicU64,
    recent_latencies: Mutex<VecDeque<u64>>,
    recent_failures: Mutex<VecDeque<bool>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            routes: Mutex::new(BTreeMap::new()),
            http_latency: Histogram::new(&LATENCY_BUCKETS),
            ttft: Histogram::new(&LATENCY_BUCKETS),
            reply_duration: Histogram::new(&LATENCY_BUCKETS),
            replies: Mutex::new(BTreeMap::new()),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
            upstream_requests: AtomicU64::new(0),
            upstream_retries: AtomicU64::new(0),
            upstream_failures: AtomicU64::new(0),
            upstream_queued: AtomicU64::new(0),
            moderation_calls: AtomicU64::new(0),
            moderation_cache_hits: AtomicU64::new(0),
            moderation_flagged: AtomicU64::new(0),
            moderation_failures: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            recent_latencies: Mutex::new(VecDeque::with_capacity(RECENT_LATENCIES)),
            recent_failures: Mutex::new(VecDeque::with_capacity(HEALTH_WINDOW)),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// One HTTP request finished. Server errors (5xx) count as errors.
    pub fn record_http(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests.fetch_add(1, Relaxed);
        let failed = status >= 500;
        if failed {
            self.errors.fetch_add(1, Relaxed);
        }
        self.http_latency.observe(elapsed);
        {
            let mut routes = lock(&self.routes);
            let counts = match routes.get_mut(route) {
                Some(counts) => counts,
                None => routes.entry(route.to_owned()).or_default(),
            };
            *counts.by_status.entry(status).or_default() += 1;
        }
        if route.starts_with("/api/sessions") || route.starts_with("/v1/chat") {
            self.push_failure(failed);
        }
    }

    /// A chat stream that began with 200 but ended in an error also counts as an error.
    pub fn record_stream_error(&self) {
        self.errors.fetch_add(1, Relaxed);
        self.push_failure(true);
    }

    fn push_failure(&self, failed: bool) {
        let mut recent = lock(&self.recent_failures);
        if recent.len() == HEALTH_WINDOW {
            recent.pop_front();
        }
        recent.push_back(failed);
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
        *lock(&self.replies).entry((source, outcome)).or_default() += 1;
        if let Some(ttft) = ttft {
            self.ttft.observe(ttft);
        }
        if outcome == Outcome::Refused {
            return;
        }
        self.reply_duration.observe(total);
        self.prompt_tokens
            .fetch_add(u64::from(tokens.0.unwrap_or(0)), Relaxed);
        self.completion_tokens
            .fetch_add(u64::from(tokens.1.unwrap_or(0)), Relaxed);
        if outcome == Outcome::Error {
            return;
        }
        let mut recent = lock(&self.recent_latencies);
        if recent.len() == RECENT_LATENCIES {
            recent.pop_front();
        }
        recent.push_back(u64::try_from(total.as_millis()).unwrap_or(u64::MAX));
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }

    pub fn recent_latencies_ms(&self) -> Vec<u64> {
        lock(&self.recent_latencies).iter().copied().collect()
    }

    /// Share of failures among the recent chat requests (0.0 with none).
    pub fn recent_failure_rate(&self) -> f64 {
        let recent = lock(&self.recent_failures);
        if recent.is_empty() {
            return 0.0;
        }
        recent.iter().filter(|failed| **failed).count() as f64 / recent.len() as f64
    }

    /// The Prometheus text exposition; `in_flight` is the upstream calls now running.
    pub fn render(&self, in_flight: usize) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            &mut out,
            "ashley_uptime_seconds",
            "Seconds since the proxy started.",
            self.started.elapsed().as_secs_f64(),
        );
        let _ = writeln!(
            out,
            "# HELP ashley_http_requests_total HTTP requests by route and status.\n# TYPE ashley_http_requests_total counter"
        );
        for (route, counts) in lock(&self.routes).iter() {
            for (status, count) in &counts.by_status {
                let route = route.replace('"', "");
                let _ = writeln!(
                    out,
                    "ashley_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        counter(
            &mut out,
            "ashley_http_errors_total",
            "Server errors: 5xx responses and chat streams that ended in an error.",
            self.errors(),
        );
        let _ = writeln!(
            out,
            "# HELP ashley_http_request_duration_seconds Time to the response head.\n# TYPE ashley_http_request_duration_seconds histogram"
        );
        self.http_latency
            .render(&mut out, "ashley_http_request_duration_seconds", "");
        let _ = writeln!(
            out,
            "# HELP ashley_chat_ttft_seconds Time from the request to the first token.\n# TYPE ashley_chat_ttft_seconds histogram"
        );
        self.ttft.render(&mut out, "ashley_chat_ttft_seconds", "");
        let _ = writeln!(
            out,
            "# HELP ashley_chat_reply_duration_seconds Time from the request to the last token.\n# TYPE ashley_chat_reply_duration_seconds histogram"
        );
        self.reply_duration
            .render(&mut out, "ashley_chat_reply_duration_seconds", "");
        let _ = writeln!(
            out,
            "# HELP ashley_chat_replies_total Chat replies by API and outcome.\n# TYPE ashley_chat_replies_total counter"
        );
        for ((source, outcome), count) in lock(&self.replies).iter() {
            let _ = writeln!(
                out,
                "ashley_chat_replies_total{{api=\"{source}\",outcome=\"{}\"}} {count}",
                outcome.name()
            );
        }
        let _ = writeln!(
            out,
            "# HELP ashley_tokens_total Tokens reported by the model.\n# TYPE ashley_tokens_total counter"
        );
        let _ = writeln!(
            out,
            "ashley_tokens_total{{kind=\"prompt\"}} {}",
            self.prompt_tokens.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "ashley_tokens_total{{kind=\"completion\"}} {}",
            self.completion_tokens.load(Relaxed)
        );
        counter(
            &mut out,
            "ashley_upstream_requests_total",
            "Upstream HTTP attempts.",
            self.upstream_requests.load(Relaxed),
        );
        counter(
            &mut out,
            "ashley_upstream_retries_total",
            "Upstream retries.",
            self.upstream_retries.load(Relaxed),
        );
        counter(
            &mut out,
            "ashley_upstream_failures_total",
            "Upstream calls that failed after retries.",
            self.upstream_failures.load(Relaxed),
        );
        gauge(
            &mut out,
            "ashley_upstream_in_flight",
            "Upstream calls running now.",
            in_flight as f64,
        );
        gauge(
            &mut out,
            "ashley_upstream_queued",
            "Requests waiting for an upstream slot.",
            self.upstream_queued.load(Relaxed) as f64,
        );
        counter(
            &mut out,
            "ashley_moderation_calls_total",
            "Moderation checks (cache misses that called the moderator).",
            self.moderation_calls.load(Relaxed),
        );
        counter(
            &mut out,
            "ashley_moderation_cache_hits_total",
            "Moderation verdicts served from the cache.",
            self.moderation_cache_hits.load(Relaxed),
        );
        counter(
            &mut out,
            "ashley_moderation_flagged_total",
            "Messages refused by moderation.",
            self.moderation_flagged.load(Relaxed),
        );
        counter(
            &mut out,
            "ashley_moderation_failures_total",
            "Moderation calls that failed.",
            self.moderation_failures.load(Relaxed),
        );
        counter(
            &mut out,
            "ashley_rate_limited_total",
            "Requests answered 429 by the per-client limit.",
            self.rate_limited.load(Relaxed),
        );
        out
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
        assert!(text.contains("ashley_http_request_duration_seconds_count 2"));
        assert!(text.contains("ashley_upstream_in_flight 1"));
        assert_eq!(metrics.errors(), 1);
        assert!((metrics.recent_failure_rate() - 0.5).abs() < 1e-9);
    }
}
