//! The handles other modules bump, the reply counters by outcome, and each metric's HELP line.

use std::sync::atomic::Ordering;

use ::metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, describe_histogram};

use super::Outcome;

pub(super) const HTTP_REQUESTS: &str = "ashley_http_requests_total";
pub(super) const REPLIES: &str = "ashley_chat_replies_total";

/// A counter the upstream, moderator and limiter bump. It keeps `AtomicU64`'s spelling so they
/// did not change with the exporter; the exporter's own ordering (at least `Release`) applies.
pub struct Count(pub(super) Counter);

impl Count {
    pub fn fetch_add(&self, value: u64, _ordering: Ordering) {
        self.0.increment(value);
    }
}

/// A gauge bumped up and down, spelled like `AtomicU64` for the same reason as [`Count`].
pub struct Level(pub(super) Gauge);

impl Level {
    pub fn fetch_add(&self, value: u64, _ordering: Ordering) {
        self.0.increment(value as f64);
    }

    pub fn fetch_sub(&self, value: u64, _ordering: Ordering) {
        self.0.decrement(value as f64);
    }
}

/// What happens to connections before any route sees them (`serve`): how many are open, shed
/// over the cap, refused for their header size, and closed for a timeout, by phase.
pub struct ConnectionCounters {
    pub open: Level,
    pub shed: Count,
    pub headers_too_large: Count,
    pub timed_out_head: Count,
    pub timed_out_idle: Count,
    pub timed_out_body: Count,
}

impl ConnectionCounters {
    pub(super) fn register() -> Self {
        let timed_out = |phase: &'static str| {
            Count(counter!("ashley_connections_timed_out_total", "phase" => phase))
        };
        Self {
            open: Level(::metrics::gauge!("ashley_connections_open")),
            shed: Count(counter!("ashley_connections_shed_total")),
            headers_too_large: Count(counter!("ashley_headers_too_large_total")),
            timed_out_head: timed_out("head"),
            timed_out_idle: timed_out("idle"),
            timed_out_body: timed_out("body"),
        }
    }
}

/// One API's reply counters, one per outcome, registered up front so a reply costs one add.
pub(super) struct ReplyCounters([Counter; 4]);

impl ReplyCounters {
    pub(super) fn register(api: &'static str) -> Self {
        let by = |outcome: Outcome| counter!(REPLIES, "api" => api, "outcome" => outcome.name());
        Self([
            by(Outcome::Complete),
            by(Outcome::Partial),
            by(Outcome::Error),
            by(Outcome::Refused),
        ])
    }

    pub(super) fn get(&self, outcome: Outcome) -> &Counter {
        let [complete, partial, error, refused] = &self.0;
        match outcome {
            Outcome::Complete => complete,
            Outcome::Partial => partial,
            Outcome::Error => error,
            Outcome::Refused => refused,
        }
    }
}

/// The HELP lines; registered once per recorder.
pub(super) fn describe() {
    describe_gauge!("ashley_uptime_seconds", "Seconds since the proxy started.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route and status.");
    describe_counter!(
        "ashley_http_errors_total",
        "Server errors: 5xx responses and chat streams that ended in an error."
    );
    describe_histogram!(
        "ashley_http_request_duration_seconds",
        "Time to the response head."
    );
    describe_histogram!(
        "ashley_chat_ttft_seconds",
        "Time from the request to the first token."
    );
    describe_histogram!(
        "ashley_chat_reply_duration_seconds",
        "Time from the request to the last token."
    );
    describe_counter!(REPLIES, "Chat replies by API and outcome.");
    describe_counter!("ashley_tokens_total", "Tokens reported by the model.");
    describe_counter!("ashley_upstream_requests_total", "Upstream HTTP attempts.");
    describe_counter!("ashley_upstream_retries_total", "Upstream retries.");
    describe_counter!(
        "ashley_upstream_failures_total",
        "Upstream calls that failed after retries."
    );
    describe_gauge!("ashley_upstream_in_flight", "Upstream calls running now.");
    describe_gauge!(
        "ashley_upstream_queued",
        "Requests waiting for an upstream slot."
    );
    describe_counter!(
        "ashley_moderation_calls_total",
        "Moderation checks (cache misses that called the moderator)."
    );
    describe_counter!(
        "ashley_moderation_cache_hits_total",
        "Moderation verdicts served from the cache."
    );
    describe_counter!(
        "ashley_moderation_flagged_total",
        "Messages refused by moderation."
    );
    describe_counter!(
        "ashley_moderation_failures_total",
        "Moderation calls that failed."
    );
    describe_counter!(
        "ashley_rate_limited_total",
        "Requests answered 429 by the per-client limit."
    );
    describe_gauge!("ashley_connections_open", "Client connections open now.");
    describe_counter!(
        "ashley_connections_shed_total",
        "Connections over ASHLEY_MAX_CONNECTIONS, answered 503 or closed."
    );
    describe_counter!(
        "ashley_headers_too_large_total",
        "Requests answered 431: head over ASHLEY_MAX_HEADER_BYTES."
    );
    describe_counter!(
        "ashley_connections_timed_out_total",
        "Connections closed for silence: a slow head or body (ASHLEY_HEADER_TIMEOUT_SECS) or idle keep-alive (ASHLEY_IDLE_TIMEOUT_SECS)."
    );
    describe_gauge!(
        "ashley_store_full",
        "1 while the store refuses writes because its disk budget is used up."
    );
    describe_gauge!(
        "ashley_store_up",
        "1 while the store answers, 0 when it fails."
    );
}
