//! ashley-proxy: the only process that holds the API key. `api` (the wire contract) and `sse`
//! (the one SSE decoder) are shared with the app; everything else is the server, behind the
//! default `server` feature.

pub mod api;
pub mod calendar;
pub mod sse;

#[cfg(feature = "server")]
pub mod accounts;
#[cfg(feature = "server")]
pub mod backup;
#[cfg(feature = "server")]
pub mod chat;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod limits;
#[cfg(feature = "server")]
pub mod logging;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod moderation;
#[cfg(feature = "server")]
pub mod personas;
#[cfg(feature = "server")]
pub mod provider;
#[cfg(feature = "server")]
pub mod routes;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
pub mod share;
#[cfg(feature = "server")]
pub mod state;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod transfer;
#[cfg(feature = "server")]
pub mod web;

#[cfg(feature = "server")]
pub use config::{Cli, Config};
#[cfg(feature = "server")]
pub use serve::{serve, spawn_local};
#[cfg(feature = "server")]
pub use state::AppState;

/// Every route and layer, assembled in one place; `main` and the tests both call it.
#[cfg(feature = "server")]
pub fn router(state: AppState) -> axum::Router {
    use axum::{Router, extract::DefaultBodyLimit, middleware, routing::get};
    use tower_http::{
        catch_panic::CatchPanicLayer, set_header::SetResponseHeaderLayer, trace::TraceLayer,
    };

    let api = routes::app::routes()
        .merge(routes::conversations::routes())
        .merge(routes::share::api())
        .merge(routes::transfer::routes(state.config().max_import_bytes))
        .merge(routes::auth::api())
        .merge(routes::keys::routes())
        .merge(routes::admin::routes())
        .fallback(routes::api_not_found)
        .method_not_allowed_fallback(routes::method_not_allowed);
    let openai = routes::openai::routes()
        .fallback(routes::api_not_found)
        .method_not_allowed_fallback(routes::method_not_allowed);
    let web = web::WebBundle::new(state.config().web_dir.clone());
    // Other sites' pages read nothing unless the operator lists them; even then no cookies go
    // along (they call with a bearer token or an API key).
    let cors = {
        use axum::http::{HeaderValue, Method, header};
        let origins: Vec<HeaderValue> = state
            .config()
            .accounts
            .cors_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        (!origins.is_empty()).then(|| {
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(std::time::Duration::from_secs(600))
        })
    };
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .merge(routes::auth::pages())
        .merge(routes::share::pages())
        .nest("/api", api)
        .nest("/v1", openai)
        .fallback_service(tower::service_fn(move |request| web.clone().serve(request)))
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config().max_body_bytes))
        .layer(tower::util::option_layer(cors))
        // On every answer: no MIME sniffing, no address leaks to other sites.
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            axum::http::HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::REFERRER_POLICY,
            axum::http::HeaderValue::from_static("same-origin"),
        ))
        .layer(middleware::from_fn_with_state(state.clone(), routes::track))
        // Spans name the method and path only: headers (Authorization) are never recorded.
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(error::ApiError::internal(
                "The server hit an unexpected error; try again.",
            ))
        }))
        .with_state(state)
}
