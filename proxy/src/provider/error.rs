//! Provider failures: which are retried, how long to wait, and how they read in a log.

use std::time::Duration;

use reqwest::Response;

/// Why a provider call failed. Never carries the provider's raw body (it can echo the key).
/// The HTTP edge turns it into the answer a person sees (`From<ProviderError> for ApiError`).
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderError {
    /// The provider answered with an error status.
    Status {
        status: u16,
        /// The provider's machine code (e.g. `context_length_exceeded`), for logs and mapping.
        code: Option<String>,
        retry_after: Option<Duration>,
        /// The model's context in tokens, when the provider states it in its error.
        context_limit: Option<u32>,
    },
    /// The prompt is longer than the model's context; `limit` in tokens when the provider says.
    ContextOverflow {
        limit: Option<u32>,
    },
    /// The provider does not serve the configured model (HTTP 404).
    ModelNotFound {
        model: String,
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
pub(crate) fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut scrubbed = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        if scrubbed.len() >= 8 && secret.contains(scrubbed.as_str()) {
            return "[redacted]".to_owned();
        }
        scrubbed = scrubbed.replace(secret.as_str(), "[redacted]");
    }
    scrubbed
}

/// OpenAI's `context_length_exceeded` code, or llama.cpp's 400 `exceed_context_size_error` type.
fn is_context_overflow(status: u16, code: Option<&str>) -> bool {
    match code {
        Some("context_length_exceeded") => true,
        Some("exceed_context_size_error") => status == 400,
        _ => false,
    }
}

/// The model's context in tokens: llama.cpp's `n_ctx`, or the number in OpenAI's "maximum
/// context length is N tokens". Only digits are taken from the message, never its text.
fn context_limit(error: &serde_json::Value) -> Option<u32> {
    if let Some(n_ctx) = error.get("n_ctx").and_then(serde_json::Value::as_u64) {
        return u32::try_from(n_ctx).ok();
    }
    let message = error.get("message").and_then(serde_json::Value::as_str)?;
    let (_, after) = message.split_once("context length is ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
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

impl ProviderError {
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
                context_limit,
            } => Self::Status {
                status,
                code: scrub_code(code),
                retry_after,
                context_limit,
            },
            Self::InStream(code) => Self::InStream(scrub_code(code)),
            Self::Connect(text) => Self::Connect(scrub_text(&text, secrets)),
            Self::Transport(text) => Self::Transport(scrub_text(&text, secrets)),
            Self::Protocol(text) => Self::Protocol(scrub_text(&text, secrets)),
            other @ (Self::Timeout
            | Self::Disconnected
            | Self::ShuttingDown
            | Self::ContextOverflow { .. }
            | Self::ModelNotFound { .. }) => other,
        }
    }

    pub async fn from_response(response: Response) -> Self {
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let body = response.bytes().await.unwrap_or_default();
        let error = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|mut value| value.get_mut("error").map(serde_json::Value::take));
        let code = error.as_ref().and_then(error_code);
        Self::Status {
            status,
            context_limit: error.as_ref().and_then(context_limit),
            code,
            retry_after,
        }
    }

    /// How a failed chat call reads to the core: a context overflow and an unknown model get
    /// their own variants. (Moderation sees the raw status: a guard model's overflow is the
    /// message's problem, not the conversation's.)
    #[must_use]
    pub fn for_chat(self, model: &str) -> Self {
        match self {
            Self::Status {
                status,
                code,
                context_limit,
                ..
            } if is_context_overflow(status, code.as_deref()) => Self::ContextOverflow {
                limit: context_limit,
            },
            Self::Status { status: 404, .. } => Self::ModelNotFound {
                model: model.to_owned(),
            },
            other => other,
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
            Self::ContextOverflow { limit } => match limit {
                Some(limit) => format!("prompt over the model's context ({limit} tokens)"),
                None => "prompt over the model's context".to_owned(),
            },
            Self::ModelNotFound { model } => format!("model {model:?} not found"),
        }
    }

    /// Seconds to wait before trying again, as the provider asked (at least 1).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Status {
                retry_after: Some(wait),
                ..
            } => Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An HTTP failure with no code (the error tests of the HTTP edge use it too).
    pub(crate) fn status(status: u16, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Status {
            status,
            code: None,
            retry_after,
            context_limit: None,
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
        assert!(ProviderError::Timeout.retry_delay(0, base).is_none());
        assert!(ProviderError::Disconnected.retry_delay(0, base).is_none());
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
    fn context_overflows_are_recognised_with_their_limit() {
        let llama = serde_json::json!({"code": 400, "message": "the request exceeds the available context size", "type": "exceed_context_size_error", "n_prompt_tokens": 2100, "n_ctx": 2048});
        assert!(is_context_overflow(400, error_code(&llama).as_deref()));
        assert_eq!(context_limit(&llama), Some(2048));
        let openai = serde_json::json!({"code": "context_length_exceeded", "type": "invalid_request_error", "message": "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens."});
        assert!(is_context_overflow(400, error_code(&openai).as_deref()));
        assert_eq!(context_limit(&openai), Some(8192));
        let other = serde_json::json!({"code": "invalid_api_key", "type": "invalid_request_error"});
        assert!(!is_context_overflow(401, error_code(&other).as_deref()));
        let refused = ProviderError::Status {
            status: 400,
            code: error_code(&llama),
            retry_after: None,
            context_limit: context_limit(&llama),
        };
        assert_eq!(
            refused.for_chat("m"),
            ProviderError::ContextOverflow { limit: Some(2048) }
        );
        assert_eq!(
            status(404, None).for_chat("gpt-x"),
            ProviderError::ModelNotFound {
                model: "gpt-x".to_owned()
            }
        );
    }
}
