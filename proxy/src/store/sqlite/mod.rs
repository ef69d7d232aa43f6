//! The SQLite store: one file in WAL mode, one request connection and a usage writer thread.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError, mpsc},
    time::Duration,
};

use async_trait::async_trait;
use rusqlite::Connection;

use super::{
    ApiKeyRecord, ConversationChange, CredentialKind, ImportedConversation, MessageId,
    NewCredential, OwnerId, OwnerUsage, PendingSignIn, Profile, Regeneration, SessionOwner,
    SignedIn, Snapshot, Store, StoreError, StoreHealth, TitleSource, TokenHash, Turn, UsageRecord,
    UsageReport, UserMessage, UserProfile, now_ms, trouble::Trouble,
};
use crate::api::{
    ConversationSummary, ExportedConversation, HistoryMessage, ReplyStats, SearchHit,
    SessionSummary, Share, StoreStats,
};

mod admin;
mod conversations;
mod errors;
mod messages;
mod migrations;
mod open;
mod owners;
mod search;
mod shares;
#[cfg(test)]
mod test_support;
mod transfer;
mod turns;
mod usage;

use usage::UsageCommand;

/// How to open the store; the defaults are what the server uses.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// Caps the database at this many pages (`PRAGMA max_page_count`): lets tests fill the
    /// "disk" without root or a real full disk.
    #[doc(hidden)]
    pub max_page_count: Option<u64>,
}

/// The SQLite implementation of [`Store`]. Every call runs on tokio's blocking pool behind
/// the one request connection; usage rows go to their own thread and connection.
pub struct SqliteStore {
    db: Arc<Mutex<Connection>>,
    usage: mpsc::Sender<UsageCommand>,
    trouble: Arc<Trouble>,
}

impl SqliteStore {
    /// Opens (creating as needed) `ashley.sqlite3` in `data_dir`, upgrading its schema. A file
    /// that is damaged, read-only, or written by a newer Ashley stops here with a message
    /// saying what to do.
    pub fn open(data_dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let path = data_dir.join("ashley.sqlite3");
        let db = open::request_connection(data_dir, &path)?;
        let usage_db = open::connection(&path)?;
        if let Some(pages) = options.max_page_count {
            set_max_page_count(&db, pages)?;
            set_max_page_count(&usage_db, pages)?;
        }
        let trouble = Arc::new(Trouble::new(path.display().to_string()));
        let (usage, receiver) = mpsc::channel();
        let writer_trouble = trouble.clone();
        std::thread::Builder::new()
            .name("ashley-usage".to_owned())
            .spawn(move || usage::write_usage(&usage_db, &receiver, &writer_trouble))
            .map_err(|err| StoreError::other(format!("cannot start the usage writer: {err}")))?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            usage,
            trouble,
        })
    }

    /// Tests: changes the page limit on both connections (see [`StoreOptions`]).
    #[doc(hidden)]
    pub async fn set_max_page_count(&self, pages: u64) -> Result<(), StoreError> {
        self.run(false, move |db| set_max_page_count(db, pages))
            .await?;
        let (done, applied) = tokio::sync::oneshot::channel();
        self.usage
            .send(UsageCommand::SetMaxPageCount(pages, done))
            .map_err(|_| StoreError::other("the usage writer has stopped"))?;
        applied
            .await
            .map_err(|_| StoreError::other("the usage writer has stopped"))
    }

    /// Runs `work` with the request connection on the blocking pool and notes the outcome in
    /// the store's health; `wrote`: the work writes (so success proves there is space).
    async fn run<T, F>(&self, wrote: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        let result = tokio::task::spawn_blocking(move || {
            let db = db.lock().unwrap_or_else(PoisonError::into_inner);
            work(&db).map_err(StoreError::from)
        })
        .await
        .unwrap_or_else(|err| Err(StoreError::other(format!("store task failed: {err}"))));
        self.trouble.observe(wrote, &result);
        result
    }
}

/// A transaction that writes: it takes the write lock as it begins (`BEGIN IMMEDIATE`), waiting
/// for it under the busy timeout. A deferred one that reads first and writes after fails at once
/// with `SQLITE_BUSY` when the other connection (the usage writer) commits in between, which no
/// timeout waits out: a share made just after a reply answered "store busy" that way.
pub(super) fn write_transaction(db: &Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(db, rusqlite::TransactionBehavior::Immediate)
}

/// Owned copy of a [`UserMessage`], to move onto the blocking pool.
struct OwnedUserMessage {
    session_id: String,
    persona: String,
    text: String,
}

impl OwnedUserMessage {
    fn new(message: UserMessage<'_>) -> Self {
        Self {
            session_id: message.session_id.to_owned(),
            persona: message.persona.to_owned(),
            text: message.text.to_owned(),
        }
    }

    fn borrow(&self) -> UserMessage<'_> {
        UserMessage {
            session_id: &self.session_id,
            persona: &self.persona,
            text: &self.text,
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_session(&self, id: &str, owner: OwnerId) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.run(true, move |db| {
            messages::create_session(db, &id, Some(owner), now_ms())
        })
        .await
    }

    async fn sessions_of(
        &self,
        owner: OwnerId,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.run(false, move |db| messages::sessions_of(db, owner, limit))
            .await
    }

    async fn session_owner(&self, id: &str) -> Result<Option<SessionOwner>, StoreError> {
        let id = id.to_owned();
        self.run(false, move |db| owners::session_owner(db, &id))
            .await
    }

    async fn adopt_session(&self, id: &str, owner: OwnerId) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(true, move |db| owners::adopt_session(db, &id, owner))
            .await
    }

    async fn create_guest(
        &self,
        token: TokenHash,
        kind: CredentialKind,
        expires_at_ms: i64,
    ) -> Result<OwnerId, StoreError> {
        self.run(true, move |db| {
            owners::create_guest(db, token, kind, now_ms(), expires_at_ms)
        })
        .await
    }

    async fn owner_of(
        &self,
        token: TokenHash,
    ) -> Result<Option<(OwnerId, CredentialKind)>, StoreError> {
        self.run(false, move |db| owners::owner_of(db, token, now_ms()))
            .await
    }

    async fn profile(&self, owner: OwnerId) -> Result<Option<Profile>, StoreError> {
        self.run(false, move |db| owners::profile(db, owner)).await
    }

    async fn issue_credential(
        &self,
        owner: OwnerId,
        credential: NewCredential,
    ) -> Result<(), StoreError> {
        self.run(true, move |db| {
            owners::issue_credential(db, owner, &credential, now_ms())
        })
        .await
    }

    async fn take_credential(
        &self,
        token: TokenHash,
        kind: CredentialKind,
    ) -> Result<Option<OwnerId>, StoreError> {
        self.run(false, move |db| {
            owners::take_credential(db, token, kind, now_ms())
        })
        .await
    }

    async fn save_sign_in(
        &self,
        state: TokenHash,
        pending: PendingSignIn,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.run(true, move |db| {
            owners::save_sign_in(db, state, &pending, now_ms(), expires_at_ms)
        })
        .await
    }

    async fn take_sign_in(&self, state: TokenHash) -> Result<Option<PendingSignIn>, StoreError> {
        self.run(false, move |db| owners::take_sign_in(db, state, now_ms()))
            .await
    }

    async fn sign_in_user(
        &self,
        profile: UserProfile,
        guest: Option<OwnerId>,
        credential: NewCredential,
    ) -> Result<SignedIn, StoreError> {
        self.run(true, move |db| {
            owners::sign_in_user(db, &profile, guest, &credential, now_ms())
        })
        .await
    }

    async fn merge_guest(&self, guest: OwnerId, user: OwnerId) -> Result<usize, StoreError> {
        self.run(false, move |db| owners::merge_guest(db, guest, user))
            .await
    }

    async fn usage_since(
        &self,
        owner: OwnerId,
        since_ms: i64,
    ) -> Result<Option<OwnerUsage>, StoreError> {
        self.run(false, move |db| usage::usage_since(db, owner, since_ms))
            .await
    }

    async fn flush_usage(&self) -> Result<(), StoreError> {
        let (done, written) = tokio::sync::oneshot::channel();
        self.usage
            .send(UsageCommand::Flush(done))
            .map_err(|_| StoreError::other("the usage writer has stopped"))?;
        written
            .await
            .map_err(|_| StoreError::other("the usage writer has stopped"))
    }

    async fn api_keys(&self, owner: OwnerId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.run(false, move |db| owners::api_keys(db, owner)).await
    }

    async fn revoke_api_key(&self, owner: OwnerId, id_prefix: [u8; 8]) -> Result<bool, StoreError> {
        self.run(false, move |db| {
            owners::revoke_api_key(db, owner, id_prefix)
        })
        .await
    }

    async fn usage_report(
        &self,
        since_ms: i64,
        day_ms: i64,
        max_owners: usize,
    ) -> Result<UsageReport, StoreError> {
        self.run(false, move |db| {
            admin::usage_report(db, since_ms, day_ms, max_owners)
        })
        .await
    }

    async fn set_blocked(&self, owner: OwnerId, blocked: bool) -> Result<bool, StoreError> {
        self.run(true, move |db| {
            admin::set_blocked(db, owner, blocked, now_ms())
        })
        .await
    }

    async fn revoke_any_api_key(&self, id_prefix: [u8; 8]) -> Result<bool, StoreError> {
        self.run(true, move |db| admin::revoke_any_api_key(db, id_prefix))
            .await
    }

    async fn touch_credential(&self, token: TokenHash) -> Result<(), StoreError> {
        self.run(false, move |db| {
            owners::touch_credential(db, token, now_ms())
        })
        .await
    }

    async fn delete_owner(&self, owner: OwnerId) -> Result<bool, StoreError> {
        self.run(false, move |db| owners::delete_owner(db, owner))
            .await
    }

    async fn revoke(&self, token: TokenHash) -> Result<(), StoreError> {
        self.run(true, move |db| owners::revoke(db, token)).await
    }

    async fn expire_credentials(&self) -> Result<usize, StoreError> {
        self.run(false, move |db| owners::expire_credentials(db, now_ms()))
            .await
    }

    async fn session_exists(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(false, move |db| messages::session_exists(db, &id))
            .await
    }

    async fn history(&self, id: &str) -> Result<Option<Vec<HistoryMessage>>, StoreError> {
        let id = id.to_owned();
        self.run(false, move |db| messages::history(db, &id, now_ms()))
            .await
    }

    async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(true, move |db| messages::clear_session(db, &id, now_ms()))
            .await
    }

    async fn save_user_message(
        &self,
        message: UserMessage<'_>,
    ) -> Result<Option<MessageId>, StoreError> {
        let message = OwnedUserMessage::new(message);
        self.run(true, move |db| {
            turns::save_user_message(db, message.borrow())
        })
        .await
    }

    async fn begin_turn(
        &self,
        message: UserMessage<'_>,
        context_messages: usize,
    ) -> Result<Option<Turn>, StoreError> {
        let message = OwnedUserMessage::new(message);
        self.run(true, move |db| {
            turns::begin_turn(db, message.borrow(), context_messages)
        })
        .await
    }

    async fn begin_regenerate(
        &self,
        session_id: &str,
        context_messages: usize,
    ) -> Result<Regeneration, StoreError> {
        let session_id = session_id.to_owned();
        self.run(true, move |db| {
            turns::begin_regenerate(db, &session_id, context_messages)
        })
        .await
    }

    async fn start_reply(
        &self,
        session_id: &str,
        persona: &str,
        text: &str,
    ) -> Result<MessageId, StoreError> {
        let (session_id, persona, text) =
            (session_id.to_owned(), persona.to_owned(), text.to_owned());
        self.run(true, move |db| {
            turns::start_reply(db, &session_id, &persona, &text)
        })
        .await
    }

    async fn save_progress(&self, reply_id: MessageId, text: &str) -> Result<(), StoreError> {
        let text = text.to_owned();
        self.run(true, move |db| {
            messages::update_reply_text(db, reply_id, &text)
        })
        .await
    }

    async fn finish_reply(
        &self,
        reply_id: MessageId,
        text: &str,
        stats: &ReplyStats,
        partial: bool,
    ) -> Result<(), StoreError> {
        let (text, stats) = (text.to_owned(), stats.clone());
        self.run(true, move |db| {
            messages::finalise_reply(db, reply_id, &text, &stats, partial)
        })
        .await
    }

    fn record_usage(&self, record: UsageRecord) {
        if self.usage.send(UsageCommand::Record(record)).is_err() {
            tracing::warn!("usage writer stopped; a usage row was dropped");
        }
    }

    async fn usage(&self) -> Result<Vec<UsageRecord>, StoreError> {
        self.run(false, usage::usage_rows).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.run(false, messages::stats).await
    }

    async fn expire_idle_sessions(&self, idle_for: Duration) -> Result<usize, StoreError> {
        let idle_ms = i64::try_from(idle_for.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(idle_ms);
        // Deleting nothing succeeds on a full disk too: it proves no space.
        self.run(false, move |db| messages::expire_idle_sessions(db, cutoff))
            .await
    }

    async fn conversations_of(
        &self,
        owner: OwnerId,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.run(false, move |db| {
            conversations::conversations_of(db, owner, limit)
        })
        .await
    }

    async fn conversation(
        &self,
        owner: OwnerId,
        id: &str,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let id = id.to_owned();
        self.run(false, move |db| conversations::conversation(db, owner, &id))
            .await
    }

    async fn change_conversation(
        &self,
        owner: OwnerId,
        id: &str,
        change: ConversationChange,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let id = id.to_owned();
        self.run(true, move |db| {
            conversations::change_conversation(db, owner, &id, &change)
        })
        .await
    }

    async fn delete_conversation(&self, owner: OwnerId, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(true, move |db| {
            conversations::delete_conversation(db, owner, &id, now_ms())
        })
        .await
    }

    async fn restore_conversation(
        &self,
        owner: OwnerId,
        id: &str,
        undo: Duration,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let id = id.to_owned();
        let since = now_ms().saturating_sub(duration_ms(undo));
        self.run(true, move |db| {
            conversations::restore_conversation(db, owner, &id, since)
        })
        .await
    }

    async fn purge_deleted(&self, undo: Duration) -> Result<usize, StoreError> {
        let cutoff = now_ms().saturating_sub(duration_ms(undo));
        // Deleting nothing succeeds on a full disk too: it proves no space.
        self.run(false, move |db| conversations::purge_deleted(db, cutoff))
            .await
    }

    async fn search(
        &self,
        owner: OwnerId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let query = query.to_owned();
        self.run(false, move |db| search::search(db, owner, &query, limit))
            .await
    }

    async fn title_source(&self, id: &str) -> Result<Option<TitleSource>, StoreError> {
        let id = id.to_owned();
        self.run(false, move |db| conversations::title_source(db, &id))
            .await
    }

    async fn set_model_title(&self, id: &str, title: &str) -> Result<bool, StoreError> {
        let (id, title) = (id.to_owned(), title.to_owned());
        self.run(true, move |db| {
            conversations::set_model_title(db, &id, &title)
        })
        .await
    }

    async fn share_conversation(
        &self,
        owner: OwnerId,
        id: &str,
        token: TokenHash,
    ) -> Result<Option<Share>, StoreError> {
        let id = id.to_owned();
        self.run(true, move |db| {
            shares::share(db, owner, &id, token, now_ms())
        })
        .await
    }

    async fn conversation_share(
        &self,
        owner: OwnerId,
        id: &str,
    ) -> Result<Option<Share>, StoreError> {
        let id = id.to_owned();
        self.run(false, move |db| shares::share_of(db, owner, &id))
            .await
    }

    async fn unshare_conversation(&self, owner: OwnerId, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(true, move |db| shares::unshare(db, owner, &id))
            .await
    }

    async fn shared_snapshot(&self, token: TokenHash) -> Result<Option<Snapshot>, StoreError> {
        self.run(false, move |db| shares::snapshot(db, token)).await
    }

    async fn export_conversations(
        &self,
        owner: OwnerId,
        id: Option<&str>,
    ) -> Result<Option<Vec<ExportedConversation>>, StoreError> {
        let id = id.map(str::to_owned);
        self.run(false, move |db| transfer::export(db, owner, id.as_deref()))
            .await
    }

    async fn import_conversations(
        &self,
        owner: OwnerId,
        conversations: Vec<ImportedConversation>,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.run(true, move |db| {
            transfer::import(db, owner, &conversations, now_ms())
        })
        .await
    }

    fn health(&self) -> StoreHealth {
        self.trouble.health()
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn set_max_page_count(db: &Connection, pages: u64) -> rusqlite::Result<()> {
    db.pragma_update(None, "max_page_count", to_sql_int(pages))
}

fn to_sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql_int(value: Option<i64>) -> Option<u64> {
    value.and_then(|value| u64::try_from(value).ok())
}
