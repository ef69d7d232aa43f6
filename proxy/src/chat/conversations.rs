//! Conversations as a list: create, rename, pin, delete and undo, and search; all by their owner only.

use std::time::Duration;

use super::{Action, Caller, Chat, ChatError, validate};
use crate::{
    accounts::NewGuest,
    api::{
        ConversationPatch, ConversationSummary, MAX_SEARCH_HITS, SearchResults, UNDO_DELETE_SECS,
    },
    store::{ConversationChange, OwnerId},
};

/// The most conversations `GET /api/conversations` lists.
const CONVERSATION_LIST_LIMIT: usize = 10_000;

/// How long a deleted conversation can be restored before the sweep purges it.
pub const UNDO_DELETE: Duration = Duration::from_secs(UNDO_DELETE_SECS);

impl Chat {
    /// The caller's conversations, pinned first (none without an identity).
    pub async fn conversations(
        &self,
        caller: &Caller,
    ) -> Result<Vec<ConversationSummary>, ChatError> {
        let Some(owner) = caller.owner else {
            return Ok(Vec::new());
        };
        let mut list = self
            .inner
            .store
            .conversations_of(owner, CONVERSATION_LIST_LIMIT)
            .await?;
        for summary in &mut list {
            summary.writing = self.live.is_busy(&summary.id);
        }
        Ok(list)
    }

    /// A new, empty conversation; a caller without an identity becomes a guest (as with
    /// [`Chat::create_session`]).
    pub async fn create_conversation(
        &self,
        caller: &Caller,
    ) -> Result<(ConversationSummary, Option<NewGuest>), ChatError> {
        let (id, guest) = self.create_session(caller).await?;
        let owner = guest
            .as_ref()
            .map(|guest| guest.owner)
            .or(caller.owner)
            .ok_or(ChatError::NoIdentity)?;
        let summary = self
            .inner
            .store
            .conversation(owner, &id)
            .await?
            .ok_or_else(ChatError::unknown_session)?;
        Ok((summary, guest))
    }

    /// Renames (the owner's title: the model no longer names it) and/or pins.
    pub async fn change_conversation(
        &self,
        caller: &Caller,
        id: &str,
        patch: ConversationPatch,
    ) -> Result<ConversationSummary, ChatError> {
        validate::session_id(id)?;
        let title = patch.title.as_deref().map(validate::title).transpose()?;
        let owner = self.may_change(caller, id).await?;
        let change = ConversationChange {
            title,
            pinned: patch.pinned,
        };
        self.inner
            .store
            .change_conversation(owner, id, change)
            .await?
            .ok_or_else(ChatError::unknown_session)
    }

    /// Hides a conversation everywhere; it can be restored for [`UNDO_DELETE`].
    pub async fn delete_conversation(&self, caller: &Caller, id: &str) -> Result<(), ChatError> {
        validate::session_id(id)?;
        let owner = self.may_change(caller, id).await?;
        if self.inner.store.delete_conversation(owner, id).await? {
            Ok(())
        } else {
            Err(ChatError::unknown_session())
        }
    }

    /// Undoes a delete made less than [`UNDO_DELETE`] ago.
    pub async fn restore_conversation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ConversationSummary, ChatError> {
        validate::session_id(id)?;
        self.authorize(caller, Action::RestoreSession(id)).await?;
        let owner = caller.owner.ok_or_else(ChatError::unknown_session)?;
        self.inner
            .store
            .restore_conversation(owner, id, UNDO_DELETE)
            .await?
            .ok_or_else(ChatError::unknown_session)
    }

    /// The caller's best matches for `query` (none without an identity).
    pub async fn search(&self, caller: &Caller, query: &str) -> Result<SearchResults, ChatError> {
        let query = validate::query(query)?;
        let Some(owner) = caller.owner else {
            return Ok(SearchResults {
                query,
                hits: Vec::new(),
            });
        };
        let hits = self
            .inner
            .store
            .search(owner, &query, MAX_SEARCH_HITS)
            .await?;
        Ok(SearchResults { query, hits })
    }

    /// Deletes for good the conversations deleted longer than [`UNDO_DELETE`] ago.
    pub async fn purge_deleted(&self) -> Result<usize, crate::store::StoreError> {
        self.inner.store.purge_deleted(UNDO_DELETE).await
    }

    async fn may_change(&self, caller: &Caller, id: &str) -> Result<OwnerId, ChatError> {
        self.authorize(caller, Action::ChangeSession(id)).await?;
        caller.owner.ok_or_else(ChatError::unknown_session)
    }
}
