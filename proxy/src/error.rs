//! The one error type of the HTTP layer: OpenAI-shaped JSON, a stable code, the right status.

use axum::{
    Json,
    extract::rejection::JsonRejection,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::api::{ErrorBody, ErrorResponse};

/// An error answered as `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                message: message.into(),
                kind: kind.to_owned(),
                param: None,
                code: serde_json::from_value(serde_json::Value::from(code)).ok(),
                retry_after_secs: None,
            },
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    /// 404 `invalid_request_error`.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
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
            "rate_limited",
            format!("Too many requests from your address; try again in {retry_after_secs} s."),
        );
        error.body.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 500 for what should not happen; the details go to the log, not to the client.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            message,
        )
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.body.param = Some(param.to_owned());
        self
    }

    pub fn code(&self) -> &str {
        self.body.code.map_or("", crate::api::ErrorCode::as_str)
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
                "invalid_body",
                format!("The request body has the wrong shape: {}", err.body_text()),
            ),
            JsonRejection::JsonSyntaxError(err) => Self::invalid(
                "malformed_json",
                format!(
                    "The request body is not valid JSON (or not UTF-8): {}",
                    err.body_text()
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                "unsupported_media_type",
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            other if status == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "body_too_large",
                format!("The request body is too large: {}", other.body_text()),
            ),
            other => Self::new(
                if status.is_client_error() {
                    status
                } else {
                    StatusCode::BAD_REQUEST
                },
                "invalid_request_error",
                "invalid_body",
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
            "invalid_path",
            format!("The request path is not valid: {}", rejection.body_text()),
        )
    }
}

/// `Path<T>` whose rejections are [`ApiError`]s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);
