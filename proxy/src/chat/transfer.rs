//! Export and import of a person's conversations: reading out their own, and taking in a whole
//! file (ours or ChatGPT's) as new conversations, all of it or none.

use super::{Action, Caller, Chat, ChatError, new_session_id};
use crate::{
    accounts::NewGuest,
    api::{EXPORT_VERSION, ExportFile, ImportResult},
    provider::ProviderError,
    store::ImportedConversation,
    transfer::{self, ImportProblem},
};

impl Chat {
    /// One of the caller's conversations (`Some(id)`) or all of them, as an export file.
    pub async fn export(&self, caller: &Caller, id: Option<&str>) -> Result<ExportFile, ChatError> {
        let owner = match id {
            Some(id) => Some(self.owner_for(caller, Action::ReadSession(id), id).await?),
            None => caller.owner,
        };
        let conversations = match owner {
            Some(owner) => self
                .inner
                .store
                .export_conversations(owner, id)
                .await?
                .ok_or_else(ChatError::unknown_session)?,
            None => Vec::new(),
        };
        Ok(ExportFile {
            ashley_export: EXPORT_VERSION,
            conversations,
        })
    }

    /// Reads `file` whole and stores its conversations as new ones of the caller's, in one
    /// transaction; a problem anywhere in the file imports nothing. A browser without an
    /// identity becomes a guest, as with a new conversation.
    pub async fn import(
        &self,
        caller: &Caller,
        file: bytes::Bytes,
    ) -> Result<(ImportResult, Option<NewGuest>), ChatError> {
        self.authorize(caller, Action::CreateSession).await?;
        self.check_rate(caller)?;
        // A large file takes a while to read: off the async workers.
        let parsed = match tokio::task::spawn_blocking(move || transfer::parse(&file)).await {
            Ok(parsed) => parsed?,
            // The server's panic handler answers a panic; a task that never ran: shutting down.
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => return Err(ProviderError::ShuttingDown.into()),
        };
        let imported = parsed
            .conversations
            .into_iter()
            .map(|conversation| {
                Ok(ImportedConversation {
                    id: new_session_id()?,
                    conversation,
                })
            })
            .collect::<Result<Vec<_>, ChatError>>()?;
        let (owner, guest) = self.owner_or_new_guest(caller).await?;
        let conversations = self
            .inner
            .store
            .import_conversations(owner, imported)
            .await?;
        let result = ImportResult {
            format: parsed.format,
            conversations,
            skipped: parsed.skipped,
        };
        Ok((result, guest))
    }
}

impl From<ImportProblem> for ChatError {
    fn from(problem: ImportProblem) -> Self {
        Self::Invalid {
            code: problem.code,
            message: problem.message,
            param: problem.field,
        }
    }
}
