//! Why a turn (or a session request) did not go as asked, in the core's own terms; the HTTP edge maps it.

use crate::{api::ErrorCode, provider::ProviderError, store::StoreError};

/// A failed turn. Everything but `Provider` and `Store` carries the sentence a person sees.
#[derive(Debug)]
pub enum ChatError {
    /// The request breaks a rule (empty message, unknown persona...): fixing it is up to the sender.
    Invalid {
        code: ErrorCode,
        message: String,
        param: Option<String>,
    },
    /// No such session (or one this caller may not see), or no such model on `/v1`.
    NotFound {
        code: ErrorCode,
        message: String,
        param: Option<String>,
    },
    /// The caller's address is over the rate limit.
    RateLimited { retry_after_secs: u64 },
    /// Today's budget is used up; it starts again at `resets_at_ms` (midnight UTC).
    QuotaExceeded {
        what: QuotaKind,
        limit: u64,
        resets_at_ms: i64,
        retry_after_secs: u64,
    },
    /// Moderation flagged the message; it was not sent to the model.
    Refused {
        message: String,
        categories: Vec<String>,
    },
    /// Moderation failed and the fail-closed policy keeps the message back (it is stored).
    ModerationUnavailable { message: String },
    /// The conversation does not fit the model's context, even with only its newest message;
    /// `limit` in tokens when known.
    ContextTooLong { limit: Option<u32> },
    /// The model provider failed (or the server is shutting down).
    Provider(ProviderError),
    /// The conversation store failed.
    Store(StoreError),
    /// The reply finished but could not be saved.
    NotSaved,
    /// Randomness for a session id was not available.
    NoRandomness,
    /// The request needs an identity (a guest's or a user's credential) and has none.
    NoIdentity,
    /// Guests are off (`ASHLEY_GUESTS=off`) and the caller has not signed in.
    GuestsOff,
    /// A reply is already being written in this conversation.
    ReplyInProgress,
}

impl ChatError {
    pub(crate) fn invalid(code: ErrorCode, message: impl Into<String>, param: &str) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }

    pub(crate) fn unknown_session() -> Self {
        Self::NotFound {
            code: ErrorCode::UnknownSession,
            message: "This conversation does not exist (it may have expired after being idle); start a new one.".to_owned(),
            param: None,
        }
    }

    /// The machine code where the core already knows it (for tests and logs).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Invalid { code, .. } | Self::NotFound { code, .. } => Some(*code),
            Self::RateLimited { .. } => Some(ErrorCode::RateLimited),
            Self::QuotaExceeded { .. } => Some(ErrorCode::InsufficientQuota),
            Self::Refused { .. } => Some(ErrorCode::ContentFlagged),
            Self::ModerationUnavailable { .. } => Some(ErrorCode::ModerationUnavailable),
            Self::ContextTooLong { .. } => Some(ErrorCode::ContextTooLong),
            Self::Provider(_) | Self::Store(_) => None,
            Self::NotSaved | Self::NoRandomness => Some(ErrorCode::InternalError),
            Self::NoIdentity | Self::GuestsOff => Some(ErrorCode::SignInRequired),
            Self::ReplyInProgress => Some(ErrorCode::ReplyInProgress),
        }
    }
}

impl From<ProviderError> for ChatError {
    /// A context overflow is the conversation's length, not the provider failing.
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::ContextOverflow { limit } => Self::ContextTooLong { limit },
            other => Self::Provider(other),
        }
    }
}

impl From<StoreError> for ChatError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Which daily budget ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaKind {
    Messages,
    Tokens,
}
