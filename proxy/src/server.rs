//! The thin first slice of the server: health, status and the static web bundle.

use std::{path::PathBuf, sync::Arc, time::Instant};

use axum::{Json, Router, extract::State, routing::get};
use tower_http::services::{ServeDir, ServeFile};

use crate::api::{Health, Mode, Status, StoreStats};

/// Settings the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub web_dir: PathBuf,
    pub model: String,
}

/// Shared state: one `Clone` struct of `Arc`s.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    started: Instant,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                started: Instant::now(),
            }),
        }
    }
}

/// Every route and layer, assembled in one place; `main` and the tests both call it.
pub fn router(state: AppState) -> Router {
    let web_dir = &state.inner.config.web_dir;
    let static_files = ServeDir::new(web_dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(ServeFile::new(web_dir.join("index.html")));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/status", get(status))
        .fallback_service(static_files)
        .with_state(state)
}

async fn status(State(state): State<AppState>) -> Json<Status> {
    let inner = &state.inner;
    Json(Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_secs: inner.started.elapsed().as_secs(),
        requests: 0,
        errors: 0,
        error_rate: 0.0,
        health: Health::Healthy,
        mode: Mode::Demo,
        upstream_configured: false,
        upstream_reachable: None,
        upstream_base_url: String::new(),
        model: inner.config.model.clone(),
        moderation: "local word list".to_owned(),
        store: StoreStats::default(),
        rate_limit_per_minute: 60,
        recent_latencies_ms: Vec::new(),
    })
}
