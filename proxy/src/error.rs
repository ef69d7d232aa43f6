//! The one error type of the HTTP layer: OpenAI-shaped JSON, a stable code, the right status.

use axum::{
    Json,
    extract::rejection::JsonRejection,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    api::{ErrorBody, ErrorCode, ErrorResponse},
    chat::{ChatError, QuotaKind},
    provider::ProviderError,
    store::{StoreError, StoreErrorKind},
};

/// An error answered as `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &str,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                message: message.into(),
                kind: kind.to_owned(),
                param: None,
                code: Some(code),
                retry_after_secs: None,
            },
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    /// 404 `invalid_request_error`.
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            code,
            message,
        )
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            ErrorCode::RateLimited,
            format!("Too many requests from your address; try again in {retry_after_secs} s."),
        );
        error.body.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 429 for a daily budget that ran out, with the wait until it starts again.
    pub fn quota_exceeded(
        kind: &str,
        code: ErrorCode,
        what: QuotaKind,
        limit: u64,
        retry_after_secs: u64,
    ) -> Self {
        let what = match what {
            QuotaKind::Messages => "messages",
            QuotaKind::Tokens => "tokens",
        };
        let (hours, minutes) = (retry_after_secs / 3600, retry_after_secs % 3600 / 60);
        let wait = if hours > 0 {
            format!("{hours} h {minutes} min")
        } else {
            format!("{} min", minutes.max(1))
        };
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            kind,
            code,
            format!(
                "You have used today's {limit} {what}. The quota starts again at midnight UTC, in {wait}."
            ),
        );
        error.body.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 500 for what should not happen; the details go to the log, not to the client.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            ErrorCode::InternalError,
            message,
        )
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.body.param = Some(param.to_owned());
        self
    }

    fn with_optional_param(mut self, param: Option<String>) -> Self {
        self.body.param = param;
        self
    }

    pub fn code(&self) -> Option<ErrorCode> {
        self.body.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.body.retry_after_secs;
        let mut response = (self.status, Json(ErrorResponse { error: self.body })).into_response();
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    /// Malformed JSON, a wrong content type or an over-large body: a 4xx that says which.
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        match rejection {
            JsonRejection::JsonDataError(err) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                ErrorCode::InvalidBody,
                format!("The request body has the wrong shape: {}", err.body_text()),
            ),
            JsonRejection::JsonSyntaxError(err) => Self::invalid(
                ErrorCode::MalformedJson,
                format!(
                    "The request body is not valid JSON (or not UTF-8): {}",
                    err.body_text()
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                ErrorCode::UnsupportedMediaType,
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            other if status == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                ErrorCode::BodyTooLarge,
                format!("The request body is too large: {}", other.body_text()),
            ),
            other => Self::new(
                if status.is_client_error() {
                    status
                } else {
                    StatusCode::BAD_REQUEST
                },
                "invalid_request_error",
                ErrorCode::InvalidBody,
                format!("The request body could not be read: {}", other.body_text()),
            ),
        }
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    /// A path segment that is not valid UTF-8 (e.g. `%ff`) or does not fit: a JSON 400.
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::invalid(
            ErrorCode::InvalidPath,
            format!("The request path is not valid: {}", rejection.body_text()),
        )
    }
}

/// `Path<T>` whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

/// The HTTP answer to a failed turn. The app's one difference (a plain sentence for a context
/// overflow) is made by its adapter before this.
impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::Invalid {
                code,
                message,
                param,
            } => Self::invalid(code, message).with_optional_param(param),
            ChatError::NotFound {
                code,
                message,
                param,
            } => Self::not_found(code, message).with_optional_param(param),
            ChatError::RateLimited { retry_after_secs } => Self::rate_limited(retry_after_secs),
            // OpenAI's words for a budget that ran out.
            ChatError::QuotaExceeded {
                what,
                limit,
                retry_after_secs,
                ..
            } => Self::quota_exceeded(
                "insufficient_quota",
                ErrorCode::InsufficientQuota,
                what,
                limit,
                retry_after_secs,
            ),
            ChatError::Refused { message, .. } => {
                Self::invalid(ErrorCode::ContentFlagged, message).with_param("messages")
            }
            ChatError::ModerationUnavailable { message } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                ErrorCode::ModerationUnavailable,
                message,
            ),
            ChatError::ContextTooLong { limit } => ProviderError::ContextOverflow { limit }.into(),
            ChatError::Provider(err) => err.into(),
            ChatError::Store(err) => err.into(),
            ChatError::NotSaved => Self::internal("The reply could not be saved; try again."),
            ChatError::NoRandomness => Self::internal("Could not create a session; try again."),
            ChatError::NoIdentity => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                ErrorCode::SignInRequired,
                "Your sign-in is no longer valid (it expired or was signed out); reload the page or restart the app to continue as a guest.",
            ),
            ChatError::GuestsOff => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                ErrorCode::SignInRequired,
                "Sign in to chat: this Ashley does not take guests.",
            ),
            ChatError::ReplyInProgress => Self::new(
                StatusCode::CONFLICT,
                "invalid_request_error",
                ErrorCode::ReplyInProgress,
                "A reply is still being written in this conversation (perhaps in another tab): wait for it to finish or stop it, then send again. Your message is still in the box.",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    /// A full disk and a busy database say so; anything else goes to the log (the store logs
    /// the first two itself) and the person is told to try again.
    fn from(err: StoreError) -> Self {
        match err.kind() {
            StoreErrorKind::Full => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "api_error",
                ErrorCode::StorageFull,
                "Ashley's storage is full, so this message could not be saved. The operator has been told; your message is still in the box — send it again later.",
            ),
            StoreErrorKind::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                ErrorCode::StoreUnavailable,
                "The conversation store is busy right now; try again in a moment.",
            ),
            StoreErrorKind::Other => {
                tracing::error!("{err}");
                Self::internal(
                    "The conversation store failed unexpectedly (the details are in the server's log); try again, and tell the operator if it keeps failing.",
                )
            }
        }
    }
}

impl From<ProviderError> for ApiError {
    /// What the person (or SDK) is told: a sentence to act on and OpenAI's status and code.
    fn from(err: ProviderError) -> Self {
        let unavailable = |code: ErrorCode, message: String| {
            Self::new(StatusCode::BAD_GATEWAY, "api_error", code, message)
        };
        match err {
            ProviderError::Status { status: 429, .. } => {
                let secs = err.retry_after_secs().unwrap_or(10);
                let mut error = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    ErrorCode::UpstreamRateLimited,
                    format!("The model provider is rate-limiting us; try again in {secs} s."),
                );
                error.body.retry_after_secs = Some(secs);
                error
            }
            ProviderError::Status { status: 401 | 403, .. } => unavailable(
                ErrorCode::UpstreamAuth,
                "The model provider rejected the proxy's credentials; the operator needs to check OPENAI_API_KEY.".to_owned(),
            ),
            ProviderError::ModelNotFound { model } => unavailable(
                ErrorCode::UpstreamModelNotFound,
                format!("The model provider does not offer the model \"{model}\"; the operator needs to check OPENAI_MODEL."),
            ),
            ProviderError::ContextOverflow { .. } => Self::invalid(
                ErrorCode::ContextLengthExceeded,
                "The conversation is too long for the model; clear it or start a new one and try again.",
            ),
            ProviderError::Status { status: 400..=499, .. } => unavailable(
                ErrorCode::UpstreamRejected,
                "The model provider rejected the request; try rephrasing, or clear the conversation.".to_owned(),
            ),
            ProviderError::Status { status, .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                ErrorCode::UpstreamUnavailable,
                format!("The model provider is having trouble (HTTP {status}); try again in a moment."),
            ),
            ProviderError::Connect(host) => unavailable(
                ErrorCode::UpstreamUnreachable,
                format!("Cannot reach the model provider at {host}; try again in a moment. If this keeps happening, the operator needs to check OPENAI_BASE_URL."),
            ),
            ProviderError::Timeout => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                ErrorCode::UpstreamTimeout,
                "The model provider took too long to answer; try again.",
            ),
            ProviderError::Transport(_) | ProviderError::Protocol(_) => unavailable(
                ErrorCode::UpstreamInvalidResponse,
                "The model provider sent a response the proxy could not read; try again.".to_owned(),
            ),
            ProviderError::Disconnected | ProviderError::InStream(_) => unavailable(
                ErrorCode::UpstreamDisconnected,
                "The model provider stopped in the middle of the reply; what arrived is kept. Try again to get a full answer.".to_owned(),
            ),
            ProviderError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                ErrorCode::ShuttingDown,
                "The server is restarting; try again in a few seconds.",
            ),
        }
    }
}

/// The app's answer to a failed turn: like [`ApiError::from`], but a conversation longer
/// than the model's context gets a plain sentence and its own code.
pub fn app_error(err: ChatError) -> ApiError {
    match err {
        ChatError::ContextTooLong { limit }
        | ChatError::Provider(ProviderError::ContextOverflow { limit }) => {
            let limit = limit.map_or_else(String::new, |limit| format!(" ({limit} tokens)"));
            ApiError::invalid(
                ErrorCode::ContextTooLong,
                format!(
                    "This conversation is longer than the model can read{limit}, so it was not answered. If your message alone is too long, shorten it; otherwise start a new conversation. What you typed is saved."
                ),
            )
        }
        ChatError::QuotaExceeded {
            what,
            limit,
            retry_after_secs,
            ..
        } => ApiError::quota_exceeded(
            "rate_limit_error",
            ErrorCode::QuotaExceeded,
            what,
            limit,
            retry_after_secs,
        ),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::error::tests::status;

    #[test]
    fn people_get_sentences_with_the_wait() {
        let error = ApiError::from(status(429, Some(std::time::Duration::from_secs(10))));
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error.body.message,
            "The model provider is rate-limiting us; try again in 10 s."
        );
        assert_eq!(error.body.retry_after_secs, Some(10));
        assert_eq!(
            ApiError::from(status(503, None)).code(),
            Some(ErrorCode::UpstreamUnavailable)
        );
    }

    #[test]
    fn a_context_overflow_reads_plainly_in_the_app_and_as_openai_on_v1() {
        let overflow = || ProviderError::ContextOverflow { limit: Some(2048) };
        let app = app_error(ChatError::from(overflow()));
        assert_eq!(app.code(), Some(ErrorCode::ContextTooLong));
        assert_eq!(app.status, StatusCode::BAD_REQUEST);
        assert!(
            app.body.message.starts_with(
                "This conversation is longer than the model can read (2048 tokens), so"
            )
        );
        let v1 = ApiError::from(ChatError::from(overflow()));
        assert_eq!(v1.code(), Some(ErrorCode::ContextLengthExceeded));
    }
}
