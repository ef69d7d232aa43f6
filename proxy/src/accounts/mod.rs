//! Who is asking: credentials (a browser's cookie, the desktop app's bearer token), guests, and
//! the one ownership check every session request passes through (the chat core's hook).
//!
//! A credential is 32 random bytes, sent as 64 hex digits and stored only as its SHA-256. A
//! browser gets a guest cookie the first time it creates a session; the desktop app asks
//! `POST /api/auth/guest` for a bearer token once and keeps it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use ring::digest;

use crate::{
    chat::{Action, Authorize, Caller, ChatError},
    store::{CredentialKind, OwnerId, SessionOwner, Store, StoreError, TokenHash, now_ms},
};

mod cookie;
pub mod keys;
mod oidc;
mod pages;

pub use cookie::{
    COOKIE_NAME, CookiePolicy, SIGN_IN_COOKIE, credential, cross_site, sign_in_cookie,
};
pub use oidc::{Begun, Oidc, SignInError};
pub use pages::page;

/// Bytes of randomness in a credential.
const TOKEN_BYTES: usize = 32;

/// A credential as the client holds it (64 hex digits). Never logged or shown but once.
pub struct Token(String);

impl Token {
    /// A new credential from the OS's random source.
    pub fn generate() -> Result<Self, ChatError> {
        let mut bytes = [0_u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|err| {
            tracing::error!("no randomness for a credential: {err}");
            ChatError::NoRandomness
        })?;
        Ok(Self(
            bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
        ))
    }

    /// What the client sent, when it has the shape of one of ours (else it cannot be valid).
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == 2 * TOKEN_BYTES
            && text
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        well_formed.then(|| Self(text.to_owned()))
    }

    /// The only form the store keeps.
    pub fn hash(&self) -> TokenHash {
        hash_text(&self.0)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Token(..)")
    }
}

/// The SHA-256 of any secret text (a sign-in's `state`): how the store keys it.
pub fn hash_text(text: &str) -> TokenHash {
    let digest = digest::digest(&digest::SHA256, text.as_bytes());
    let mut hash = [0_u8; 32];
    hash.copy_from_slice(digest.as_ref());
    TokenHash(hash)
}

/// A guest's new credential, as the store has just recorded it.
pub struct NewGuest {
    pub owner: OwnerId,
    pub token: Token,
    pub expires_at_ms: i64,
}

impl NewGuest {
    /// Seconds until the credential expires (a cookie's `Max-Age`).
    pub fn max_age_secs(&self) -> i64 {
        (self.expires_at_ms - now_ms()).max(0) / 1000
    }
}

/// Makes a guest with a fresh credential of `kind`, valid for `lifetime_ms`.
pub async fn new_guest(
    store: &dyn Store,
    kind: CredentialKind,
    lifetime_ms: i64,
) -> Result<NewGuest, ChatError> {
    let token = Token::generate()?;
    let expires_at_ms = now_ms().saturating_add(lifetime_ms);
    let owner = store
        .create_guest(token.hash(), kind, expires_at_ms)
        .await
        .map_err(ChatError::Store)?;
    Ok(NewGuest {
        owner,
        token,
        expires_at_ms,
    })
}

/// The owner a credential stands for, when it is of one of the `kinds` this route takes; `None`
/// for a credential that is malformed, unknown, expired, revoked or of another kind (all the
/// same to the caller: it has no identity).
pub async fn owner_of(
    store: &dyn Store,
    token: Option<Token>,
    kinds: &[CredentialKind],
) -> Result<Option<OwnerId>, StoreError> {
    let Some(token) = token else {
        return Ok(None);
    };
    Ok(store
        .owner_of(token.hash())
        .await?
        .filter(|(_, kind)| kinds.contains(kind))
        .map(|(owner, _)| owner))
}

/// The ownership rule: a session is reachable only by its owner. A session the caller may not
/// see answers exactly like one that does not exist, so ids reveal nothing. Sessions from
/// before owners existed go to the first owner that uses them.
pub struct OwnerCheck {
    store: Arc<dyn Store>,
}

impl OwnerCheck {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    async fn may_use(&self, caller: &Caller, session_id: &str) -> Result<(), ChatError> {
        let Some(owner) = caller.owner else {
            return Err(ChatError::unknown_session());
        };
        match self.store.session_owner(session_id).await? {
            Some(SessionOwner::Owner(found)) if found == owner => Ok(()),
            Some(SessionOwner::Unowned) if self.store.adopt_session(session_id, owner).await? => {
                Ok(())
            }
            _ => Err(ChatError::unknown_session()),
        }
    }
}

impl Authorize for OwnerCheck {
    fn authorize<'a>(
        &'a self,
        caller: &'a Caller,
        action: Action<'a>,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            match action {
                // Without an identity, the core makes the caller a guest.
                Action::CreateSession => Ok(()),
                Action::ReadSession(id)
                | Action::ClearSession(id)
                | Action::ChangeSession(id)
                | Action::Chat(id) => self.may_use(caller, id).await,
                // A deleted conversation has no owner to check here: the store restores only
                // the caller's own.
                Action::RestoreSession(_) if caller.owner.is_some() => Ok(()),
                Action::RestoreSession(_) => Err(ChatError::unknown_session()),
                // `/v1` keys come with the accounts' API keys; until then it is what it was.
                Action::Complete => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_only_their_hash_is_kept() {
        let token = Token::generate().unwrap();
        assert_eq!(token.expose().len(), 64);
        assert!(Token::parse(token.expose()).is_some());
        assert_eq!(Token::parse(token.expose()).unwrap().hash(), token.hash());
        assert_ne!(Token::generate().unwrap().hash(), token.hash());
        for bad in ["", "abc", &"g".repeat(64), &"A".repeat(64), &"a".repeat(65)] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(format!("{token:?}"), "Token(..)");
    }
}
