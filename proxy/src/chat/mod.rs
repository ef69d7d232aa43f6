//! The chat core, free of HTTP: one `turn` (validate, authorize, limit, moderate, begin, stream, finish) for every API.
//!
//! `/api` and `/v1` are adapters: they parse their request into a [`Turn`], call
//! [`Chat::turn`], and encode the [`Reply`]'s [`TurnEvent`]s in their own format.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    accounts::{self, NewGuest},
    api::{HistoryMessage, SessionSummary, StoreStats},
    config::Quotas,
    limits::RateLimiter,
    metrics::Metrics,
    moderation::Moderator,
    personas::Personas,
    provider::Provider,
    store::{CredentialKind, OwnerId, StoreError},
};

mod authorize;
mod context;
mod conversations;
mod error;
mod event;
pub mod fit;
mod live;
mod persist;
mod quota;
mod reply;
mod reply_row;
mod share;
#[cfg(test)]
mod tests;
mod title;
mod transfer;
mod turn;
pub mod validate;

pub use authorize::{Action, AllowAll, Authorize, Caller};
pub use context::context;
pub use conversations::UNDO_DELETE;
pub use error::{ChatError, QuotaKind};
pub use event::{Completed, Done, TurnEvent};
pub use live::LiveReply;
pub use persist::SharedStore;
pub use reply::Reply;
pub use turn::{Conversation, Said, Speaker, Turn};

/// Which API a turn came through: the label on its metrics and usage rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    App,
    V1,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::V1 => "v1",
        }
    }
}

/// What the core is built from.
pub struct ChatParts {
    pub store: SharedStore,
    pub provider: Arc<dyn Provider>,
    pub moderator: Moderator,
    pub metrics: Arc<Metrics>,
    pub authorizer: Box<dyn Authorize>,
    pub personas: Personas,
    pub rate_limit_per_minute: u32,
    /// Stored messages sent as context besides the new one.
    pub history_messages: usize,
    /// The model's context in tokens; 0: unknown (only the provider's overflow error trims).
    pub context_tokens: usize,
    /// How long a guest's conversation may stay idle before the sweep deletes it (a signed-in
    /// user's stay until deleted).
    pub guest_ttl: Duration,
    /// Whether the model names conversations after their first reply.
    pub model_titles: bool,
    /// How long a new guest's credential lasts; `None`: no guests (`ASHLEY_GUESTS=off`).
    pub guest_lifetime_ms: Option<i64>,
    /// Daily budgets, checked before the model is asked.
    pub quotas: Quotas,
    /// Milliseconds since the epoch: usage rows are dated and days counted by it (tests pass
    /// their own to move through days).
    pub clock: Clock,
    /// Replies still running when it fires store what they have and end.
    pub shutdown: CancellationToken,
    /// Work that outlives a request (finishing a reply); shutdown waits for it.
    pub tasks: TaskTracker,
}

/// The time, in milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system's clock.
pub fn system_clock() -> Clock {
    Arc::new(crate::store::now_ms)
}

impl ChatParts {
    pub(crate) fn now_ms(&self) -> i64 {
        (self.clock)()
    }
}

/// The most sessions `GET /api/sessions` lists.
const SESSION_LIST_LIMIT: usize = 100;

/// The chat core: `Clone` shares everything.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<ChatParts>,
    limiter: Arc<RateLimiter>,
    live: Arc<live::LiveReplies>,
}

impl Chat {
    pub fn new(parts: ChatParts) -> Self {
        Self {
            limiter: Arc::new(RateLimiter::new(parts.rate_limit_per_minute)),
            inner: Arc::new(parts),
            live: Arc::default(),
        }
    }

    pub fn provider(&self) -> &dyn Provider {
        &*self.inner.provider
    }

    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    pub fn rate_limit_per_minute(&self) -> u32 {
        self.limiter.per_minute()
    }

    /// Takes a rate-limit token for the caller.
    pub fn check_rate(&self, caller: &Caller) -> Result<(), ChatError> {
        self.limiter.check(caller.ip).map_err(|retry_after_secs| {
            self.inner.metrics.rate_limited.fetch_add(1, Relaxed);
            ChatError::RateLimited { retry_after_secs }
        })
    }

    async fn authorize(&self, caller: &Caller, action: Action<'_>) -> Result<(), ChatError> {
        self.inner.authorizer.authorize(caller, action).await
    }

    /// A new session with an unguessable id. A caller without an identity (a browser's first
    /// visit) becomes a guest: the new guest comes back for the edge to hand its credential over.
    pub async fn create_session(
        &self,
        caller: &Caller,
    ) -> Result<(String, Option<NewGuest>), ChatError> {
        self.authorize(caller, Action::CreateSession).await?;
        self.check_rate(caller)?;
        let (owner, guest) = self.owner_or_new_guest(caller).await?;
        let id = new_session_id()?;
        persist::create_session(&*self.inner.store, id.clone(), owner).await?;
        Ok((id, guest))
    }

    /// The caller's owner, or a new guest for a browser without an identity (not for a client
    /// whose bearer token stopped counting: it is told so).
    async fn owner_or_new_guest(
        &self,
        caller: &Caller,
    ) -> Result<(OwnerId, Option<NewGuest>), ChatError> {
        match caller.owner {
            Some(owner) => Ok((owner, None)),
            None if caller.presented == Some(CredentialKind::Bearer) => Err(ChatError::NoIdentity),
            None => {
                let lifetime_ms = self.inner.guest_lifetime_ms.ok_or(ChatError::GuestsOff)?;
                let guest =
                    accounts::new_guest(&*self.inner.store, CredentialKind::Cookie, lifetime_ms)
                        .await?;
                Ok((guest.owner, Some(guest)))
            }
        }
    }

    /// The caller's own sessions, most recently active first (none without an identity): the
    /// store's query is by owner, so nobody else's can appear.
    pub async fn sessions(&self, caller: &Caller) -> Result<Vec<SessionSummary>, ChatError> {
        let Some(owner) = caller.owner else {
            return Ok(Vec::new());
        };
        Ok(self
            .inner
            .store
            .sessions_of(owner, SESSION_LIST_LIMIT)
            .await?)
    }

    /// Every message of a session, oldest first.
    pub async fn history(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<HistoryMessage>, ChatError> {
        validate::session_id(id)?;
        self.authorize(caller, Action::ReadSession(id)).await?;
        persist::history(&*self.inner.store, id.to_owned())
            .await?
            .ok_or_else(ChatError::unknown_session)
    }

    /// Removes a session's messages; the id stays valid.
    pub async fn clear_session(&self, caller: &Caller, id: &str) -> Result<(), ChatError> {
        validate::session_id(id)?;
        self.authorize(caller, Action::ClearSession(id)).await?;
        if persist::clear_session(&*self.inner.store, id.to_owned()).await? {
            Ok(())
        } else {
            Err(ChatError::unknown_session())
        }
    }

    pub async fn store_stats(&self) -> Result<StoreStats, StoreError> {
        persist::stats(&*self.inner.store).await
    }

    /// Deletes guests' conversations idle longer than the configured time to live.
    pub async fn expire_idle_sessions(&self) -> Result<usize, StoreError> {
        persist::expire_idle_sessions(&*self.inner.store, self.inner.guest_ttl).await
    }
}

/// 40 hex digits from the OS's random source.
fn new_session_id() -> Result<String, ChatError> {
    let mut bytes = [0u8; validate::SESSION_ID_BYTES];
    getrandom::fill(&mut bytes).map_err(|err| {
        tracing::error!("no randomness for a session id: {err}");
        ChatError::NoRandomness
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
