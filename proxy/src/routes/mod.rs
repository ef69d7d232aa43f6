//! HTTP routes: the app's API, the OpenAI-compatible API, health and metrics, and their shared extractors.

use std::{
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    accounts, api::ErrorCode, chat::Caller, error::ApiError, state::AppState, store::CredentialKind,
};

pub mod admin;
pub mod app;
pub mod auth;
pub mod conversations;
pub mod events;
pub mod keys;
pub mod openai;
pub mod share;
pub mod transfer;

/// Who is asking, for the chat core: the client's address (see [`client_ip`]) and the owner its
/// credential stands for. A cookie on a state-changing request from another site's page
/// stands for nobody (CSRF).
pub struct ClientCaller(pub Caller);

impl FromRequestParts<AppState> for ClientCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, state.config().trusted_proxies);
        let credential = accounts::credential(&parts.headers);
        let presented = credential.as_ref().map(|(_, kind)| *kind);
        let token = credential.and_then(|(token, kind)| {
            let forged = kind == CredentialKind::Cookie
                && !parts.method.is_safe()
                && accounts::cross_site(&parts.headers);
            (!forged).then_some(token)
        });
        // A cookie or the desktop app's token; an API key is for `/v1` only.
        let owner = accounts::owner_of(
            &**state.store(),
            token,
            &[CredentialKind::Cookie, CredentialKind::Bearer],
        )
        .await?;
        Ok(Self(Caller {
            ip,
            owner,
            presented,
        }))
    }
}

/// The client's address: the TCP peer, or with `trusted_proxies = n > 0` the n-th address from
/// the right of `X-Forwarded-For` (each trusted proxy appends the address it saw).
pub fn client_ip(parts: &Parts, trusted_proxies: usize) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
    if trusted_proxies == 0 {
        return peer;
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    forwarded
        .len()
        .checked_sub(trusted_proxies)
        .and_then(|index| forwarded.get(index).copied())
        .or_else(|| forwarded.first().copied())
        .unwrap_or(peer)
}

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics().set_store_health(state.store().health());
    let body = state.metrics().render(state.provider().in_flight());
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
        ErrorCode::UnknownEndpoint,
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
        ErrorCode::MethodNotAllowed,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::Request;

    #[test]
    fn forwarded_for_is_trusted_only_when_configured() {
        let request = Request::builder()
            .header("x-forwarded-for", "1.1.1.1, 2.2.2.2")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([9, 9, 9, 9], 1))));
        assert_eq!(client_ip(&parts, 0), IpAddr::from([9, 9, 9, 9]));
        assert_eq!(client_ip(&parts, 1), IpAddr::from([2, 2, 2, 2]));
        assert_eq!(client_ip(&parts, 2), IpAddr::from([1, 1, 1, 1]));
    }
}
