//! Shared state: one `Clone` handle over the config, store, upstream, moderator, limits and metrics.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError, Weak, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    api::{Health, Mode, Status},
    config::{Config, display_url},
    error::ApiError,
    limits::RateLimiter,
    metrics::Metrics,
    moderation::Moderator,
    personas::Persona,
    store::{self, Store, StoreError, StoreHealth},
    upstream::Upstream,
};

/// Why the server could not be built.
#[derive(Debug)]
pub struct StartupError(pub String);

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

/// Shared state: one `Clone` struct of `Arc`s.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    upstream: Upstream,
    moderator: Moderator,
    limiter: RateLimiter,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    reachability: Mutex<Reachability>,
    backups: crate::backup::Backups,
}

#[derive(Default)]
struct Reachability {
    checked: Option<(Instant, bool)>,
    checking: bool,
}

impl AppState {
    /// Opens the store and builds the upstream client. Inside a tokio runtime it also starts
    /// the idle-session sweeper and the first reachability check.
    pub fn new(config: Config) -> Result<Self, StartupError> {
        let metrics = Arc::new(Metrics::default());
        let backups = crate::backup::Backups::start(&config).map_err(StartupError)?;
        let store = store::open(&config.data_dir)
            .map_err(|err| StartupError(format!("ASHLEY_DATA_DIR: {err}")))?;
        let upstream = Upstream::new(&config, metrics.clone()).map_err(StartupError)?;
        let moderator = Moderator::new(
            &config.moderation,
            config.moderation_failure,
            config.moderation_cache,
            upstream.clone(),
            metrics.clone(),
        );
        let state = Self {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(config.rate_limit_per_minute),
                config,
                store,
                upstream,
                moderator,
                metrics,
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                reachability: Mutex::new(Reachability::default()),
                backups,
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            spawn_sweeper(Arc::downgrade(&state.inner));
            state.refresh_reachability_if_stale();
        }
        Ok(state)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn upstream(&self) -> &Upstream {
        &self.inner.upstream
    }

    pub fn moderator(&self) -> &Moderator {
        &self.inner.moderator
    }

    /// Snapshots of the database to persistent storage; `finish` them at shutdown.
    pub fn backups(&self) -> &crate::backup::Backups {
        &self.inner.backups
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A key is configured: replies come from the upstream, not the demo backend.
    pub fn is_live(&self) -> bool {
        self.inner.config.api_key.is_some()
    }

    /// Tasks that outlive their request (streaming replies); shutdown waits for them.
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Fired when the shutdown grace period is over: streams store what they have and end.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    pub fn persona(&self, id: &str) -> Option<&Persona> {
        self.inner.config.personas.get(id)
    }

    /// Takes a rate-limit token for `client` or answers 429.
    pub fn check_rate(&self, client: IpAddr) -> Result<(), ApiError> {
        self.inner.limiter.check(client).map_err(|retry_after| {
            self.inner.metrics.rate_limited.fetch_add(1, Relaxed);
            ApiError::rate_limited(retry_after)
        })
    }

    /// Deletes sessions idle longer than the configured time to live.
    pub async fn expire_idle_sessions(&self) -> Result<usize, StoreError> {
        self.inner
            .store
            .expire_idle_sessions(self.inner.config.session_ttl)
            .await
    }

    /// The cached reachability; starts a background check when the cached one is stale.
    pub fn upstream_reachable(&self) -> Option<bool> {
        self.refresh_reachability_if_stale();
        self.lock_reachability()
            .checked
            .map(|(_, reachable)| reachable)
    }

    fn lock_reachability(&self) -> std::sync::MutexGuard<'_, Reachability> {
        self.inner
            .reachability
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh_reachability_if_stale(&self) {
        if !self.is_live() {
            return;
        }
        {
            let mut reachability = self.lock_reachability();
            let fresh = reachability
                .checked
                .is_some_and(|(at, _)| at.elapsed() < self.inner.config.upstream_check_interval);
            if fresh || reachability.checking {
                return;
            }
            reachability.checking = true;
        }
        let state = self.clone();
        tokio::spawn(async move {
            let reachable = state.inner.upstream.check_reachable().await;
            let mut reachability = state.lock_reachability();
            reachability.checked = Some((Instant::now(), reachable));
            reachability.checking = false;
        });
    }

    /// `GET /api/status`.
    pub async fn status(&self) -> Status {
        let metrics = &self.inner.metrics;
        let config = &self.inner.config;
        let store = match self.inner.store.stats().await {
            Ok(stats) => stats,
            Err(err) => {
                tracing::warn!("status could not read store stats: {err}");
                crate::api::StoreStats::default()
            }
        };
        let requests = metrics.requests();
        let errors = metrics.errors();
        let upstream_reachable = self.upstream_reachable();
        let degraded = upstream_reachable == Some(false)
            || metrics.recent_failure_rate() > 0.25
            || self.inner.store.health() != StoreHealth::Ok;
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: metrics.started.elapsed().as_secs(),
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            health: if degraded {
                Health::Degraded
            } else {
                Health::Healthy
            },
            mode: if self.is_live() {
                Mode::Live
            } else {
                Mode::Demo
            },
            upstream_configured: self.is_live(),
            upstream_reachable,
            upstream_base_url: display_url(&config.base_url),
            model: if self.is_live() {
                config.model.clone()
            } else {
                crate::demo::DEMO_MODEL.to_owned()
            },
            moderation: config.moderation_description(),
            store,
            storage: self.inner.backups.storage_info(),
            rate_limit_per_minute: self.inner.limiter.per_minute(),
            recent_latencies_ms: metrics.recent_latencies_ms(),
        }
    }
}

/// Deletes idle sessions periodically; stops when the state is dropped.
fn spawn_sweeper(inner: Weak<Inner>) {
    tokio::spawn(async move {
        let every = Duration::from_secs(600);
        loop {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let every = every
                .min(inner.config.session_ttl / 4)
                .max(Duration::from_secs(1));
            let state = AppState { inner };
            match state.expire_idle_sessions().await {
                Ok(0) => {}
                Ok(count) => tracing::info!("removed {count} idle sessions"),
                Err(err) => tracing::warn!("could not remove idle sessions: {err}"),
            }
            drop(state);
            tokio::time::sleep(every).await;
        }
    });
}
