//! The conversation store as the rest of the proxy sees it: a domain API, no database driver.
//!
//! Callers hold an `Arc<dyn Store>` chosen once at start-up ([`open`]); SQLite is the
//! implementation today and PostgreSQL is meant to be one more module beside it.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;

use crate::api::{
    AdminDay, AdminPersona, AdminTotals, ConversationSummary, ExportedConversation, HistoryMessage,
    ReplyStats, SearchHit, SessionSummary, Share, StoreStats,
};

mod error;
pub mod sqlite;
mod trouble;

pub use error::{StoreError, StoreErrorKind};
pub use sqlite::{SqliteStore, StoreOptions};
pub use trouble::StoreHealth;

/// Id of a stored message (a user message or a reply).
pub type MessageId = i64;

/// Who owns stored things: a guest or a signed-in user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OwnerId(pub i64);

/// The SHA-256 of a credential: the only form in which the store keeps one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    /// Never printed: a hash is not the secret, but logs have no use for it either.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TokenHash(..)")
    }
}

/// What a credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A browser's, in an HttpOnly cookie.
    Cookie,
    /// The desktop app's `Authorization: Bearer` token.
    Bearer,
    /// A named key for `/v1`.
    ApiKey,
    /// The one-time code that carries a desktop sign-in from the browser to the app.
    Handoff,
}

/// A credential to store (its hash only).
#[derive(Clone, Debug)]
pub struct NewCredential {
    pub token: TokenHash,
    pub kind: CredentialKind,
    /// An API key's name.
    pub name: Option<String>,
    pub expires_at_ms: i64,
}

/// A person as their OpenID Connect provider describes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserProfile {
    pub issuer: String,
    pub subject: String,
    pub name: Option<String>,
    /// The provider's user name (`preferred_username`: a Hugging Face username).
    pub username: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
}

/// Who an owner is, for `/api/me`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    Guest,
    User(UserProfile),
}

/// An owner's use over some time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerUsage {
    pub user: bool,
    pub messages: u64,
    pub tokens: u64,
}

/// One API key as stored (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub hash: TokenHash,
    pub name: String,
    pub created_at_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// The operator's view of usage since a day's start (see [`Store::usage_report`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageReport {
    /// Only days with use, oldest first.
    pub days: Vec<AdminDay>,
    pub personas: Vec<AdminPersona>,
    pub owners: Vec<OwnerReport>,
    pub keys: Vec<KeyReport>,
    pub totals: AdminTotals,
}

/// An owner and what it used in the report's period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerReport {
    pub id: OwnerId,
    /// `None`: a guest.
    pub user: Option<UserProfile>,
    pub messages: u64,
    pub tokens: u64,
    pub errors: u64,
    pub last_seen_ms: i64,
    pub blocked: bool,
}

/// Any user's API key, with whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyReport {
    pub key: ApiKeyRecord,
    pub owner: OwnerId,
    pub owner_name: Option<String>,
}

/// The browser went to the provider; this waits for it to come back (`/auth/callback`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignIn {
    pub nonce: String,
    pub pkce_verifier: String,
    /// The guest signing in: its conversations move to the account.
    pub guest: Option<OwnerId>,
    /// A desktop sign-in: the app's loopback address and its own `state`.
    pub desktop: Option<DesktopReturn>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesktopReturn {
    pub redirect: String,
    pub state: String,
}

/// How a sign-in ended in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedIn {
    /// The account (new or known); the guest's sessions, if any, are now its.
    Account(OwnerId),
    /// An admin blocked this account: no credential was issued.
    Blocked,
}

/// Who a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionOwner {
    Owner(OwnerId),
    /// Stored before owners existed (v0.1.0): the first owner to use it adopts it.
    Unowned,
}

/// What a person sent, to be stored as the start of a turn.
#[derive(Clone, Copy, Debug)]
pub struct UserMessage<'a> {
    pub session_id: &'a str,
    pub persona: &'a str,
    pub text: &'a str,
}

/// A turn that has begun: the stored user message and the context to send upstream.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    pub user_message_id: MessageId,
    /// The newest messages of the session (the new one included), oldest first.
    pub context: Vec<HistoryMessage>,
}

/// What `begin_regenerate` found.
#[derive(Clone, Debug, PartialEq)]
pub enum Regeneration {
    UnknownSession,
    /// The session has no user message to answer again.
    NothingToRegenerate,
    /// The old reply is gone; answer `last_user` again with `context`.
    Ready {
        last_user: HistoryMessage,
        context: Vec<HistoryMessage>,
    },
}

/// What a rename or a pin changes (`None`: unchanged). A title here is its owner's: checked
/// by the caller, and never replaced by the model's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConversationChange {
    pub title: Option<String>,
    pub pinned: Option<bool>,
}

/// A conversation as it was when it was shared.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub title: String,
    pub created_at_ms: i64,
    pub messages: Vec<HistoryMessage>,
}

/// A conversation from an import file, under the new id it is stored as.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedConversation {
    pub id: String,
    pub conversation: ExportedConversation,
}

/// What the model names an untitled conversation from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TitleSource {
    pub first_message: String,
    pub first_reply: String,
}

/// One row of the usage analytics table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageRecord {
    pub at_ms: i64,
    /// Whose turn it was (quotas count by it); `None`: an operator's key or an open `/v1`.
    pub owner: Option<OwnerId>,
    /// `app` or `v1`.
    pub source: String,
    pub persona: String,
    /// `complete`, `partial`, `error`, `refused`.
    pub outcome: String,
    pub message_chars: u64,
    pub reply_chars: u64,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub total_tokens: Option<u32>,
    pub ttft_ms: Option<u64>,
    pub total_ms: u64,
}

/// Sessions, their messages and usage analytics.
///
/// Errors carry a [`StoreErrorKind`]; the store itself logs `Full` and `Unavailable` (at most
/// once a minute) and reports them through [`Store::health`], so callers log only `Other`.
#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a new, empty session under `id`, owned by `owner`.
    async fn create_session(&self, id: &str, owner: OwnerId) -> Result<(), StoreError>;

    /// The owner's sessions, most recently active first, at most `limit`.
    async fn sessions_of(
        &self,
        owner: OwnerId,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, StoreError>;

    /// Who the session belongs to; `None`: no such session.
    async fn session_owner(&self, id: &str) -> Result<Option<SessionOwner>, StoreError>;

    /// Gives an unowned session to `owner`; false when another owner adopted it first.
    async fn adopt_session(&self, id: &str, owner: OwnerId) -> Result<bool, StoreError>;

    /// A new guest with its first credential (valid until `expires_at_ms`).
    async fn create_guest(
        &self,
        token: TokenHash,
        kind: CredentialKind,
        expires_at_ms: i64,
    ) -> Result<OwnerId, StoreError>;

    /// The owner of an unexpired credential and what kind it is; `None` also for a blocked owner.
    async fn owner_of(
        &self,
        token: TokenHash,
    ) -> Result<Option<(OwnerId, CredentialKind)>, StoreError>;

    /// Who the owner is; `None`: no such owner.
    async fn profile(&self, owner: OwnerId) -> Result<Option<Profile>, StoreError>;

    /// Stores a credential for an existing owner.
    async fn issue_credential(
        &self,
        owner: OwnerId,
        credential: NewCredential,
    ) -> Result<(), StoreError>;

    /// Removes an unexpired credential of `kind` and returns its owner (a one-time code).
    async fn take_credential(
        &self,
        token: TokenHash,
        kind: CredentialKind,
    ) -> Result<Option<OwnerId>, StoreError>;

    /// Remembers a sign-in under way (keyed by the hash of its `state`) until `expires_at_ms`.
    async fn save_sign_in(
        &self,
        state: TokenHash,
        pending: PendingSignIn,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;

    /// Takes a sign-in under way: the second take of a `state`, or a late one, finds nothing.
    async fn take_sign_in(&self, state: TokenHash) -> Result<Option<PendingSignIn>, StoreError>;

    /// One transaction: the account for `profile` (made or updated), the guest's sessions moved
    /// to it and the guest removed, and the new credential.
    async fn sign_in_user(
        &self,
        profile: UserProfile,
        guest: Option<OwnerId>,
        credential: NewCredential,
    ) -> Result<SignedIn, StoreError>;

    /// Moves a guest's sessions to `user` and removes the guest; does nothing unless `guest`
    /// is a guest. Returns the sessions moved.
    async fn merge_guest(&self, guest: OwnerId, user: OwnerId) -> Result<usize, StoreError>;

    /// What the owner used since `since_ms` (turns that reached the model, and their tokens as
    /// the provider counted them, else estimated from the text), and whether it is a signed-in
    /// user; `None`: no such owner.
    async fn usage_since(
        &self,
        owner: OwnerId,
        since_ms: i64,
    ) -> Result<Option<OwnerUsage>, StoreError>;

    /// Waits until every usage row queued so far is written (so a count that follows sees it).
    async fn flush_usage(&self) -> Result<(), StoreError>;

    /// The owner's API keys: hash, name, created, last used.
    async fn api_keys(&self, owner: OwnerId) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes the owner's API key whose hash starts with `id_prefix` (its public id); false
    /// when the owner has no such key.
    async fn revoke_api_key(&self, owner: OwnerId, id_prefix: [u8; 8]) -> Result<bool, StoreError>;

    /// Usage per day (UTC days of `day_ms`), persona and owner since `since_ms`, and every API
    /// key: the Admin panel. At most `max_owners` owners, busiest first (signed-in users are
    /// listed even when idle).
    async fn usage_report(
        &self,
        since_ms: i64,
        day_ms: i64,
        max_owners: usize,
    ) -> Result<UsageReport, StoreError>;

    /// Blocks (every credential stops working, sign-in is refused) or unblocks an owner; false:
    /// no such owner.
    async fn set_blocked(&self, owner: OwnerId, blocked: bool) -> Result<bool, StoreError>;

    /// Revokes any owner's API key by its public id (an admin's action); false: no such key.
    async fn revoke_any_api_key(&self, id_prefix: [u8; 8]) -> Result<bool, StoreError>;

    /// Notes that a credential was just used (at most once a minute is written).
    async fn touch_credential(&self, token: TokenHash) -> Result<(), StoreError>;

    /// Removes the owner and everything it owns: sessions, messages, credentials, usage.
    async fn delete_owner(&self, owner: OwnerId) -> Result<bool, StoreError>;

    /// Ends a credential (sign-out); the owner and what it owns stay.
    async fn revoke(&self, token: TokenHash) -> Result<(), StoreError>;

    /// Drops expired credentials and the guests left without one, with everything they own;
    /// returns how many guests went.
    async fn expire_credentials(&self) -> Result<usize, StoreError>;

    /// Whether the session exists, without marking it active.
    async fn session_exists(&self, id: &str) -> Result<bool, StoreError>;

    /// Every message of the session, oldest first, and marks it active; `None`: no such session.
    async fn history(&self, id: &str) -> Result<Option<Vec<HistoryMessage>>, StoreError>;

    /// Removes every message of the session (the id stays valid); false: no such session.
    async fn delete_session(&self, id: &str) -> Result<bool, StoreError>;

    /// Stores what a person sent without starting a reply (used when it could not be
    /// moderated); `None`: no such session.
    async fn save_user_message(
        &self,
        message: UserMessage<'_>,
    ) -> Result<Option<MessageId>, StoreError>;

    /// As one transaction: marks the session active, stores the user message and reads the
    /// newest `context_messages` messages; `None`: no such session.
    async fn begin_turn(
        &self,
        message: UserMessage<'_>,
        context_messages: usize,
    ) -> Result<Option<Turn>, StoreError>;

    /// As one transaction: drops the session's last reply and reads the context.
    async fn begin_regenerate(
        &self,
        session_id: &str,
        context_messages: usize,
    ) -> Result<Regeneration, StoreError>;

    /// Stores the first text of a reply, marked partial until [`Store::finish_reply`].
    async fn start_reply(
        &self,
        session_id: &str,
        persona: &str,
        text: &str,
    ) -> Result<MessageId, StoreError>;

    /// Replaces the text of a reply that is still streaming (it stays partial).
    async fn save_progress(&self, reply_id: MessageId, text: &str) -> Result<(), StoreError>;

    /// Writes a reply's final text and stats; `partial` when it was cut short.
    async fn finish_reply(
        &self,
        reply_id: MessageId,
        text: &str,
        stats: &ReplyStats,
        partial: bool,
    ) -> Result<(), StoreError>;

    /// Queues a usage row without waiting; rows are written in batches in the background.
    fn record_usage(&self, record: UsageRecord);

    /// Every usage row, oldest first (analytics and tests).
    async fn usage(&self) -> Result<Vec<UsageRecord>, StoreError>;

    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Deletes sessions idle for longer than `idle_for`, with their messages; returns how many.
    async fn expire_idle_sessions(&self, idle_for: Duration) -> Result<usize, StoreError>;

    /// The owner's live conversations, pinned first, then by their last message (or creation),
    /// at most `limit`; a title is the owner's, the model's, or the first message's first words.
    async fn conversations_of(
        &self,
        owner: OwnerId,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// One live conversation of the owner's; `None` for an unknown, deleted or another's.
    async fn conversation(
        &self,
        owner: OwnerId,
        id: &str,
    ) -> Result<Option<ConversationSummary>, StoreError>;

    /// Renames and/or pins one of the owner's live conversations; `None`: no such conversation.
    async fn change_conversation(
        &self,
        owner: OwnerId,
        id: &str,
        change: ConversationChange,
    ) -> Result<Option<ConversationSummary>, StoreError>;

    /// Hides one of the owner's conversations everywhere (a soft delete) until it is restored
    /// or purged; false: no such live conversation.
    async fn delete_conversation(&self, owner: OwnerId, id: &str) -> Result<bool, StoreError>;

    /// Undoes a delete made within `undo`; a live conversation comes back as it is. `None`: no
    /// such conversation of the owner's, or deleted longer ago.
    async fn restore_conversation(
        &self,
        owner: OwnerId,
        id: &str,
        undo: Duration,
    ) -> Result<Option<ConversationSummary>, StoreError>;

    /// Deletes for good the conversations deleted longer than `undo` ago; returns how many.
    async fn purge_deleted(&self, undo: Duration) -> Result<usize, StoreError>;

    /// The owner's best matches for `query` in titles and message text, at most `limit`. Each
    /// word is literal, all must match, the last is a prefix; deleted conversations never match.
    async fn search(
        &self,
        owner: OwnerId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// For an untitled conversation with a reply: what the model names it from; `None` once it
    /// has a title (its owner's or the model's), or with no reply yet.
    async fn title_source(&self, id: &str) -> Result<Option<TitleSource>, StoreError>;

    /// Stores the model's title unless the conversation has one by now; false then.
    async fn set_model_title(&self, id: &str, title: &str) -> Result<bool, StoreError>;

    /// Takes a snapshot of one of the owner's live conversations for a read-only link under
    /// `token` (replacing an earlier link of it); `None`: no such conversation.
    async fn share_conversation(
        &self,
        owner: OwnerId,
        id: &str,
        token: TokenHash,
    ) -> Result<Option<Share>, StoreError>;

    /// The conversation's live link (its `path` unknown: only its hash is kept); `None`: not
    /// shared, or no such conversation of the owner's.
    async fn conversation_share(
        &self,
        owner: OwnerId,
        id: &str,
    ) -> Result<Option<Share>, StoreError>;

    /// Ends the conversation's link; false: it had none (or is not the owner's).
    async fn unshare_conversation(&self, owner: OwnerId, id: &str) -> Result<bool, StoreError>;

    /// The snapshot a link shows; `None` for an unknown or ended link, or a deleted conversation.
    async fn shared_snapshot(&self, token: TokenHash) -> Result<Option<Snapshot>, StoreError>;

    /// The owner's live conversations whole, oldest first, without ids (the one `id` only, when
    /// given); `None`: `id` is not a live conversation of the owner's.
    async fn export_conversations(
        &self,
        owner: OwnerId,
        id: Option<&str>,
    ) -> Result<Option<Vec<ExportedConversation>>, StoreError>;

    /// As one transaction, all or nothing: stores each conversation under its id for `owner`,
    /// keeping its title, pin, times and messages; returns their summaries in the same order.
    async fn import_conversations(
        &self,
        owner: OwnerId,
        conversations: Vec<ImportedConversation>,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// Whether writes are working, as the last operations found (cheap: no query).
    fn health(&self) -> StoreHealth;
}

/// Opens the configured store: the SQLite file `ashley.sqlite3` in `data_dir`, capped at
/// `max_page_count` pages when given (tests fill the "disk" with it).
pub fn open(data_dir: &Path, max_page_count: Option<u64>) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqliteStore::open(
        data_dir,
        StoreOptions { max_page_count },
    )?))
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
