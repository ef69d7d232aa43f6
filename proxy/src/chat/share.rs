//! Read-only links to a conversation and its pages: share, look, stop sharing; all by the owner only.

use super::{Action, Caller, Chat, ChatError, validate};
use crate::{
    accounts::Token,
    api::{HistoryMessage, Share},
    store::{OwnerId, Snapshot},
};

impl Chat {
    /// A new link to a snapshot of the conversation as it is now; an earlier link stops working.
    pub async fn share(&self, caller: &Caller, id: &str) -> Result<Share, ChatError> {
        let owner = self
            .owner_for(caller, Action::ChangeSession(id), id)
            .await?;
        let token = Token::generate()?;
        let mut share = self
            .inner
            .store
            .share_conversation(owner, id, token.hash())
            .await?
            .ok_or_else(ChatError::unknown_session)?;
        share.path = Some(format!("/s/{}", token.expose()));
        Ok(share)
    }

    /// The conversation's live link, without its path (only the token's hash is kept); `None`:
    /// not shared.
    pub async fn share_of(&self, caller: &Caller, id: &str) -> Result<Option<Share>, ChatError> {
        let owner = self.owner_for(caller, Action::ReadSession(id), id).await?;
        if self.inner.store.conversation(owner, id).await?.is_none() {
            return Err(ChatError::unknown_session());
        }
        Ok(self.inner.store.conversation_share(owner, id).await?)
    }

    /// Ends the conversation's link; ending one that is not there is no error.
    pub async fn unshare(&self, caller: &Caller, id: &str) -> Result<(), ChatError> {
        let owner = self
            .owner_for(caller, Action::ChangeSession(id), id)
            .await?;
        self.inner.store.unshare_conversation(owner, id).await?;
        Ok(())
    }

    /// What a link shows; `None` for a link that never was or has ended.
    pub async fn shared(&self, token: &str) -> Result<Option<Snapshot>, ChatError> {
        let Some(token) = Token::parse(token) else {
            return Ok(None);
        };
        Ok(self.inner.store.shared_snapshot(token.hash()).await?)
    }

    /// One of the caller's own conversations, whole, for its page (`/c/{id}`).
    pub async fn own_page(&self, caller: &Caller, id: &str) -> Result<Snapshot, ChatError> {
        let owner = self.owner_for(caller, Action::ReadSession(id), id).await?;
        let summary = self
            .inner
            .store
            .conversation(owner, id)
            .await?
            .ok_or_else(ChatError::unknown_session)?;
        let messages: Vec<HistoryMessage> = self.history(caller, id).await?;
        Ok(Snapshot {
            title: summary.title,
            created_at_ms: summary.updated_at_ms,
            messages,
        })
    }

    /// The display name of a persona id (a persona no longer configured: its id).
    pub fn persona_name(&self, id: &str) -> String {
        self.inner
            .personas
            .get(id)
            .map_or_else(|| id.to_owned(), |persona| persona.name.clone())
    }

    pub(super) async fn owner_for(
        &self,
        caller: &Caller,
        action: Action<'_>,
        id: &str,
    ) -> Result<OwnerId, ChatError> {
        validate::session_id(id)?;
        self.authorize(caller, action).await?;
        caller.owner.ok_or_else(ChatError::unknown_session)
    }
}
