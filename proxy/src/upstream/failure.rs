//! Upstream failures: which are retried, how long to wait, and what people are told.

use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Response;

use crate::error::ApiError;

/// Why an upstream call failed. Never carries the provider's raw body (it can echo the key).
#[derive(Clone, Debug, PartialEq)]
pub enum UpstreamError {
    /// The provider answered with an error status.
    Status {
        status: u16,
        /// The provider's machine code (e.g. `context_length_exceeded`), for logs and mapping.
        code: Option<String>,
        retry_after: Option<Duration>,
    },
    Connect(String),
    Timeout,
    Transport(String),
    Protocol(String),
    /// The stream ended before the reply was complete.
    Disconnected,
    /// The stream carried an error object (its code).
    InStream(Option<String>),
    ShuttingDown,
}

/// A transport error without its URL (which is harmless, but keeps logs short).
pub fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "upstream");
    }
    text
}

/// Whether an upstream code looks like a real machine code (`^[a-z0-9_]{1,40}$`): anything
/// else (a hostile upstream echoing the key, free text) is never logged or returned.
fn is_known_code_shape(code: &str) -> bool {
    (1..=40).contains(&code.len())
        && code
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// The `code` (or `type`) of an OpenAI error object, never its message; `None` unless it has
/// the shape of a machine code.
pub fn error_code(error: &serde_json::Value) -> Option<String> {
    error
        .get("code")
        .and_then(serde_json::Value::as_str)
        .filter(|code| is_known_code_shape(code))
        .or_else(|| {
            error
                .get("type")
                .and_then(serde_json::Value::as_str)
                .filter(|code| is_known_code_shape(code))
        })
        .map(str::to_owned)
}

/// Replaces every occurrence of a secret in `text`; a text that is itself a piece of a secret
/// (at least 8 characters of it) is dropped whole.
fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut scrubbed = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        if scrubbed.len() >= 8 && secret.contains(scrubbed.as_str()) {
            return "[redacted]".to_owned();
        }
        scrubbed = scrubbed.replace(secret.as_str(), "[redacted]");
    }
    scrubbed
}

fn retry_after(response: &Response) -> Option<Duration> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|value| value.is_finite() && *value >= 0.0)
    };
    header("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| header("retry-after").map(Duration::from_secs_f64))
}

impl UpstreamError {
    /// The same failure with every trace of `secrets` (the configured keys) removed from what
    /// the upstream sent or what describes it: these texts reach logs and error bodies.
    #[must_use]
    pub fn redact(self, secrets: &[String]) -> Self {
        let scrub_code = |code: Option<String>| {
            code.map(|code| scrub_text(&code, secrets))
                .filter(|code| is_known_code_shape(code))
        };
        match self {
            Self::Status {
                status,
                code,
                retry_after,
            } => Self::Status {
                status,
                code: scrub_code(code),
                retry_after,
            },
            Self::InStream(code) => Self::InStream(scrub_code(code)),
            Self::Connect(text) => Self::Connect(scrub_text(&text, secrets)),
            Self::Transport(text) => Self::Transport(scrub_text(&text, secrets)),
            Self::Protocol(text) => Self::Protocol(scrub_text(&text, secrets)),
            other @ (Self::Timeout | Self::Disconnected | Self::ShuttingDown) => other,
        }
    }

    pub async fn from_response(response: Response) -> Self {
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let body = response.bytes().await.unwrap_or_default();
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value.get("error").and_then(error_code));
        Self::Status {
            status,
            code,
            retry_after,
        }
    }

    /// The wait before retry number `attempt + 1`, or `None` when this failure is not retried.
    pub fn retry_delay(&self, attempt: u32, base: Duration) -> Option<Duration> {
        let retryable = match self {
            Self::Status { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            Self::Connect(_) => true,
            _ => false,
        };
        if !retryable {
            return None;
        }
        if let Self::Status {
            retry_after: Some(wait),
            ..
        } = self
        {
            return Some(*wait);
        }
        let exponential = base.saturating_mul(2u32.saturating_pow(attempt));
        // Full jitter between half and the whole delay spreads retries of many clients apart.
        let jitter = getrandom::u32().unwrap_or(0) % 1000;
        Some(exponential / 2 + exponential.mul_f64(f64::from(jitter) / 2000.0))
    }

    /// For logs: status and provider code only.
    pub fn log_line(&self) -> String {
        match self {
            Self::Status { status, code, .. } => {
                format!("HTTP {status} ({})", code.as_deref().unwrap_or("no code"))
            }
            Self::Connect(host) => format!("cannot connect to {host}"),
            Self::Timeout => "timed out".to_owned(),
            Self::Transport(text) => format!("transport error: {text}"),
            Self::Protocol(text) => format!("unreadable response: {text}"),
            Self::Disconnected => "stream cut off".to_owned(),
            Self::InStream(code) => format!(
                "error inside the stream ({})",
                code.as_deref().unwrap_or("no code")
            ),
            Self::ShuttingDown => "shutting down".to_owned(),
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Status {
                retry_after: Some(wait),
                ..
            } => Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            _ => None,
        }
    }

    /// What the person (or SDK) is told: a sentence to act on and OpenAI's status code.
    pub fn to_api_error(&self, model: &str) -> ApiError {
        let unavailable = |code: &str, message: String| {
            ApiError::new(StatusCode::BAD_GATEWAY, "api_error", code, message)
        };
        match self {
            Self::Status { status: 429, .. } => {
                let secs = self.retry_after_secs().unwrap_or(10);
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    "upstream_rate_limited",
                    format!("The model provider is rate-limiting us; try again in {secs} s."),
                );
                error.body.retry_after_secs = Some(secs);
                error
            }
            Self::Status { status: 401 | 403, .. } => unavailable(
                "upstream_auth",
                "The model provider rejected the proxy's credentials; the operator needs to check OPENAI_API_KEY.".to_owned(),
            ),
            Self::Status { status: 404, .. } => unavailable(
                "upstream_model_not_found",
                format!("The model provider does not offer the model \"{model}\"; the operator needs to check OPENAI_MODEL."),
            ),
            Self::Status { code: Some(code), .. } if code == "context_length_exceeded" => ApiError::invalid(
                "context_length_exceeded",
                "The conversation is too long for the model; clear it or start a new one and try again.",
            ),
            Self::Status { status: 400..=499, .. } => unavailable(
                "upstream_rejected",
                "The model provider rejected the request; try rephrasing, or clear the conversation.".to_owned(),
            ),
            Self::Status { status, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "upstream_unavailable",
                format!("The model provider is having trouble (HTTP {status}); try again in a moment."),
            ),
            Self::Connect(host) => unavailable(
                "upstream_unreachable",
                format!("Cannot reach the model provider at {host}; try again in a moment."),
            ),
            Self::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                "upstream_timeout",
                "The model provider took too long to answer; try again.",
            ),
            Self::Transport(_) | Self::Protocol(_) => unavailable(
                "upstream_invalid_response",
                "The model provider sent a response the proxy could not read; try again.".to_owned(),
            ),
            Self::Disconnected | Self::InStream(_) => unavailable(
                "upstream_disconnected",
                "The model provider stopped in the middle of the reply; what arrived is kept. Try again to get a full answer.".to_owned(),
            ),
            Self::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "shutting_down",
                "The server is restarting; try again in a few seconds.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<Duration>) -> UpstreamError {
        UpstreamError::Status {
            status,
            code: None,
            retry_after,
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let base = Duration::from_millis(100);
        for code in [408, 409, 429, 500, 502, 503] {
            assert!(status(code, None).retry_delay(0, base).is_some(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(status(code, None).retry_delay(0, base).is_none(), "{code}");
        }
        assert!(UpstreamError::Timeout.retry_delay(0, base).is_none());
        assert!(UpstreamError::Disconnected.retry_delay(0, base).is_none());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_retry_after_wins() {
        let base = Duration::from_millis(100);
        let first = status(503, None).retry_delay(0, base).unwrap_or_default();
        let second = status(503, None).retry_delay(1, base).unwrap_or_default();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        let told = status(429, Some(Duration::from_millis(20))).retry_delay(1, base);
        assert_eq!(told, Some(Duration::from_millis(20)));
    }

    #[test]
    fn people_get_sentences_with_the_wait() {
        let error = status(429, Some(Duration::from_secs(10))).to_api_error("gpt-4");
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error.body.message,
            "The model provider is rate-limiting us; try again in 10 s."
        );
        assert_eq!(error.body.retry_after_secs, Some(10));
        assert_eq!(
            status(503, None).to_api_error("m").code(),
            "upstream_unavailable"
        );
    }
}
