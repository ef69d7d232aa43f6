//! The one place that asks "may this caller do this to this session": a hook the accounts feature fills.

use std::net::IpAddr;

use futures_util::future::BoxFuture;

use super::ChatError;
use crate::store::{CredentialKind, OwnerId};

/// Who is asking: the address (for rate limiting) and the owner its credential stands for
/// (`None`: no valid credential, or a cookie sent from another site's page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub ip: IpAddr,
    pub owner: Option<OwnerId>,
    /// The kind of credential the request presented, valid or not: a client that holds a
    /// bearer token (the desktop app) is told its token no longer counts instead of being
    /// handed a cookie it cannot keep.
    pub presented: Option<CredentialKind>,
}

/// What the caller wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    CreateSession,
    ReadSession(&'a str),
    ClearSession(&'a str),
    /// Rename, pin or delete a conversation.
    ChangeSession(&'a str),
    /// Undo a conversation's delete (the store finds only the caller's own).
    RestoreSession(&'a str),
    /// Send a message to, or regenerate in, a stored session.
    Chat(&'a str),
    /// A stateless `/v1` completion.
    Complete,
}

/// Decides whether a caller may take an action. A refusal is a [`ChatError`] of the
/// implementor's choosing; a session the caller may not see should answer as unknown
/// ([`ChatError::unknown_session`]) so that its existence is not revealed.
pub trait Authorize: Send + Sync + 'static {
    fn authorize<'a>(
        &'a self,
        caller: &'a Caller,
        action: Action<'a>,
    ) -> BoxFuture<'a, Result<(), ChatError>>;
}

/// Everyone may do everything (tests of the core that are not about ownership).
pub struct AllowAll;

impl Authorize for AllowAll {
    fn authorize<'a>(
        &'a self,
        _caller: &'a Caller,
        _action: Action<'a>,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
