//! HTTP routes: the app's API, the OpenAI-compatible API, health and metrics, and their shared extractors.

use std::{net::IpAddr, time::Instant};

use axum::{
    extract::{FromRequestParts, MatchedPath, Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::ApiError, limits, state::AppState};

pub mod app;
pub mod events;
pub mod openai;

/// The client's address for rate limiting (see [`limits::client_ip`]).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(limits::client_ip(
            parts,
            state.config().trusted_proxies,
        )))
    }
}

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics().render(state.upstream().in_flight());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Unknown `/api` and `/v1` paths get a JSON 404, never the web app's index page.
pub async fn api_not_found(request: Request) -> ApiError {
    ApiError::not_found(
        "unknown_endpoint",
        format!(
            "There is no endpoint {} {}.",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A known path with the wrong method.
pub async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method_not_allowed",
        format!(
            "{} is not allowed on {}.",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Counts every request by route and status, with its latency to the response head.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("static");
    state
        .metrics()
        .record_http(route, response.status().as_u16(), started.elapsed());
    response
}
