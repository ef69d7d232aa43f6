//! Shared state: one `Clone` handle over the config, the chat core (store, provider, moderator, limits) and metrics.

use std::{
    sync::{Arc, Mutex, PoisonError, Weak},
    time::{Duration, Instant},
};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    accounts::OwnerCheck,
    api::{Health, Mode, Status},
    chat::{Chat, ChatParts},
    config::{Config, display_url},
    metrics::Metrics,
    moderation::Moderator,
    personas::Persona,
    provider::{self, Provider},
    store::{self, StoreError, StoreHealth},
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
    chat: Chat,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    reachability: Mutex<Reachability>,
    backups: crate::backup::Backups,
    /// The sign-in provider, when one is configured.
    oidc: Option<Arc<crate::accounts::Oidc>>,
}

#[derive(Default)]
struct Reachability {
    checked: Option<(Instant, bool)>,
    checking: bool,
}

impl AppState {
    /// Opens the store and chooses the provider (the upstream with a key, else the demo).
    /// Inside a tokio runtime it also starts the idle-session sweeper and the first
    /// reachability check.
    pub fn new(config: Config) -> Result<Self, StartupError> {
        let metrics = Arc::new(Metrics::default());
        let backups = crate::backup::Backups::start(&config).map_err(StartupError)?;
        let store = store::open(&config.data_dir, config.store_max_pages)
            .map_err(|err| StartupError(format!("ASHLEY_DATA_DIR: {err}")))?;
        let (provider, upstream) =
            provider::from_config(&config, metrics.clone()).map_err(StartupError)?;
        let moderator = Moderator::new(
            &config.moderation,
            config.moderation_failure,
            config.moderation_cache,
            upstream,
            metrics.clone(),
        );
        let oidc = match (&config.accounts.provider, &config.public_url) {
            (Some(provider), Some(public_url)) => Some(Arc::new(
                crate::accounts::Oidc::new(provider.clone(), public_url)
                    .map_err(|err| StartupError(format!("OPENID_PROVIDER_URL: {err}")))?,
            )),
            _ => None,
        };
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let authorizer = Box::new(OwnerCheck::new(store.clone()));
        let chat = Chat::new(ChatParts {
            store,
            provider,
            moderator,
            metrics: metrics.clone(),
            authorizer,
            personas: config.personas.clone(),
            rate_limit_per_minute: config.rate_limit_per_minute,
            history_messages: config.history_messages,
            context_tokens: config.context_tokens,
            guest_ttl: config.guest_ttl,
            model_titles: config.model_titles,
            guest_lifetime_ms: config
                .accounts
                .guests
                .then(|| config.accounts.credential_lifetime_ms()),
            quotas: config.accounts.quotas,
            clock: crate::chat::system_clock(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
        });
        let state = Self {
            inner: Arc::new(Inner {
                config,
                chat,
                metrics,
                tasks,
                shutdown,
                reachability: Mutex::new(Reachability::default()),
                backups,
                oidc,
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

    /// How the credential cookie is set, from where people reach Ashley.
    pub fn cookies(&self) -> crate::accounts::CookiePolicy {
        crate::accounts::CookiePolicy::for_public_url(self.inner.config.public_url.as_ref())
    }

    /// The sign-in provider; `None`: nobody signs in.
    pub fn oidc(&self) -> Option<&crate::accounts::Oidc> {
        self.inner.oidc.as_deref()
    }

    /// The chat core every API adapter calls.
    pub fn chat(&self) -> &Chat {
        &self.inner.chat
    }

    /// The conversation store (for operators' tools and tests; requests go through [`Self::chat`]).
    pub fn store(&self) -> &crate::chat::SharedStore {
        self.inner.chat.store()
    }

    /// The provider chosen at start-up.
    pub fn provider(&self) -> &dyn Provider {
        self.inner.chat.provider()
    }

    /// Snapshots of the database to persistent storage; `finish` them at shutdown.
    pub fn backups(&self) -> &crate::backup::Backups {
        &self.inner.backups
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The same metrics, for tasks that outlive a borrow (each connection's).
    pub fn shared_metrics(&self) -> Arc<Metrics> {
        self.inner.metrics.clone()
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

    /// Deletes guests' conversations idle longer than the configured time to live.
    pub async fn expire_idle_sessions(&self) -> Result<usize, StoreError> {
        self.inner.chat.expire_idle_sessions().await
    }

    /// Deletes for good the conversations deleted longer than the undo window ago.
    pub async fn purge_deleted_conversations(&self) -> Result<usize, StoreError> {
        self.inner.chat.purge_deleted().await
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
        if self.provider().mode() != Mode::Live {
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
            let reachable = state.provider().check_reachable().await;
            let mut reachability = state.lock_reachability();
            reachability.checked = reachable.map(|reachable| (Instant::now(), reachable));
            reachability.checking = false;
        });
    }

    /// `GET /api/status`.
    pub async fn status(&self) -> Status {
        let metrics = &self.inner.metrics;
        let config = &self.inner.config;
        let store = match self.inner.chat.store_stats().await {
            Ok(stats) => stats,
            Err(err) => {
                tracing::warn!("status could not read store stats: {err}");
                crate::api::StoreStats::default()
            }
        };
        let requests = metrics.requests();
        let errors = metrics.errors();
        let upstream_reachable = self.upstream_reachable();
        let store_health = self.store().health();
        let degraded = upstream_reachable == Some(false)
            || metrics.recent_failure_rate() > 0.25
            || store_health != StoreHealth::Ok;
        let storage = crate::api::StorageInfo {
            health: store_health.to_api(),
            ..self.inner.backups.storage_info()
        };
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
            mode: self.provider().mode(),
            upstream_configured: self.provider().mode() == Mode::Live,
            upstream_reachable,
            upstream_base_url: display_url(&config.base_url),
            model: self.provider().model().to_owned(),
            moderation: config.moderation_description(),
            store,
            storage,
            rate_limit_per_minute: self.inner.chat.rate_limit_per_minute(),
            recent_latencies_ms: metrics.recent_latencies_ms(),
        }
    }
}

/// Deletes idle guests' conversations and purges deleted ones periodically; stops when the state is dropped.
fn spawn_sweeper(inner: Weak<Inner>) {
    tokio::spawn(async move {
        // Often enough that a deleted conversation goes soon after its undo window.
        let every = Duration::from_secs(600).min(crate::chat::UNDO_DELETE / 2);
        loop {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let every = every
                .min(inner.config.guest_ttl / 4)
                .max(Duration::from_secs(1));
            let state = AppState { inner };
            match state.expire_idle_sessions().await {
                Ok(0) => {}
                Ok(count) => tracing::info!("removed {count} idle sessions"),
                Err(err) => tracing::warn!("could not remove idle sessions: {err}"),
            }
            match state.purge_deleted_conversations().await {
                Ok(0) => {}
                Ok(count) => tracing::info!("purged {count} deleted conversations"),
                Err(err) => tracing::warn!("could not purge deleted conversations: {err}"),
            }
            match state.store().expire_credentials().await {
                Ok(0) => {}
                Ok(count) => tracing::info!("removed {count} guests whose credentials expired"),
                Err(err) => tracing::warn!("could not remove expired credentials: {err}"),
            }
            drop(state);
            tokio::time::sleep(every).await;
        }
    });
}
