//! Owners and their credentials: guests, signed-in users, and which sessions are whose.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::store::{
    ApiKeyRecord, CredentialKind, DesktopReturn, NewCredential, OwnerId, PendingSignIn, Profile,
    SessionOwner, SignedIn, TokenHash, UserProfile,
};

fn kind_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Cookie => "cookie",
        CredentialKind::Bearer => "bearer",
        CredentialKind::ApiKey => "api_key",
        CredentialKind::Handoff => "handoff",
    }
}

fn kind_from_name(name: &str) -> Option<CredentialKind> {
    Some(match name {
        "cookie" => CredentialKind::Cookie,
        "bearer" => CredentialKind::Bearer,
        "api_key" => CredentialKind::ApiKey,
        "handoff" => CredentialKind::Handoff,
        _ => return None,
    })
}

fn insert_credential(
    db: &Connection,
    owner: OwnerId,
    credential: &NewCredential,
    now_ms: i64,
) -> rusqlite::Result<()> {
    db.prepare_cached(
        "INSERT INTO credentials (token_hash, owner_id, kind, name, created_at_ms, expires_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        &credential.token.0[..],
        owner.0,
        kind_name(credential.kind),
        credential.name,
        now_ms,
        credential.expires_at_ms
    ])?;
    Ok(())
}

/// Stores a credential for an existing owner.
pub(super) fn issue_credential(
    db: &Connection,
    owner: OwnerId,
    credential: &NewCredential,
    now_ms: i64,
) -> rusqlite::Result<()> {
    insert_credential(db, owner, credential, now_ms)
}

/// Removes an unexpired credential of `kind`, returning its owner.
pub(super) fn take_credential(
    db: &Connection,
    token: TokenHash,
    kind: CredentialKind,
    now_ms: i64,
) -> rusqlite::Result<Option<OwnerId>> {
    db.prepare_cached(
        "DELETE FROM credentials WHERE token_hash = ?1 AND kind = ?2 AND expires_at_ms > ?3
         RETURNING owner_id",
    )?
    .query_row(params![&token.0[..], kind_name(kind), now_ms], |row| {
        row.get(0)
    })
    .optional()
    .map(|owner| owner.map(OwnerId))
}

/// The owner's API keys, newest first.
pub(super) fn api_keys(db: &Connection, owner: OwnerId) -> rusqlite::Result<Vec<ApiKeyRecord>> {
    let mut query = db.prepare_cached(
        "SELECT token_hash, name, created_at_ms, last_used_ms FROM credentials
         WHERE owner_id = ?1 AND kind = 'api_key' ORDER BY created_at_ms DESC, rowid DESC",
    )?;
    let rows = query.query_map(params![owner.0], |row| {
        let bytes: Vec<u8> = row.get(0)?;
        let mut hash = [0_u8; 32];
        if let Some(bytes) = bytes.get(..32) {
            hash.copy_from_slice(bytes);
        }
        Ok(ApiKeyRecord {
            hash: TokenHash(hash),
            name: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
            created_at_ms: row.get(2)?,
            last_used_ms: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// Revokes the owner's key whose hash starts with `id_prefix`.
pub(super) fn revoke_api_key(
    db: &Connection,
    owner: OwnerId,
    id_prefix: [u8; 8],
) -> rusqlite::Result<bool> {
    let removed = db
        .prepare_cached(
            "DELETE FROM credentials WHERE owner_id = ?1 AND kind = 'api_key'
             AND substr(token_hash, 1, 8) = ?2",
        )?
        .execute(params![owner.0, &id_prefix[..]])?;
    Ok(removed > 0)
}

/// Notes a credential's use, at most once a minute (so a busy key costs few writes).
pub(super) fn touch_credential(
    db: &Connection,
    token: TokenHash,
    now_ms: i64,
) -> rusqlite::Result<()> {
    db.prepare_cached(
        "UPDATE credentials SET last_used_ms = ?2 WHERE token_hash = ?1
         AND (last_used_ms IS NULL OR last_used_ms < ?2 - 60000)",
    )?
    .execute(params![&token.0[..], now_ms])?;
    Ok(())
}

/// Who the owner is.
pub(super) fn profile(db: &Connection, owner: OwnerId) -> rusqlite::Result<Option<Profile>> {
    db.prepare_cached(
        "SELECT kind, issuer, subject, name, email, avatar_url, username FROM owners WHERE id = ?1",
    )?
    .query_row(params![owner.0], |row| {
        let kind: String = row.get(0)?;
        Ok(if kind == "user" {
            Profile::User(UserProfile {
                issuer: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                subject: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                name: row.get(3)?,
                username: row.get(6)?,
                email: row.get(4)?,
                avatar_url: row.get(5)?,
            })
        } else {
            Profile::Guest
        })
    })
    .optional()
}

/// Remembers a sign-in under way.
pub(super) fn save_sign_in(
    db: &Connection,
    state: TokenHash,
    pending: &PendingSignIn,
    now_ms: i64,
    expires_at_ms: i64,
) -> rusqlite::Result<()> {
    // Abandoned sign-ins go first, so the table stays as small as the sign-ins under way.
    db.prepare_cached("DELETE FROM sign_ins WHERE expires_at_ms <= ?1")?
        .execute(params![now_ms])?;
    db.prepare_cached(
        "INSERT INTO sign_ins (state_hash, nonce, pkce_verifier, guest_id, desktop_redirect,
         desktop_state, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        &state.0[..],
        pending.nonce,
        pending.pkce_verifier,
        pending.guest.map(|owner| owner.0),
        pending.desktop.as_ref().map(|desktop| &desktop.redirect),
        pending.desktop.as_ref().map(|desktop| &desktop.state),
        expires_at_ms
    ])?;
    Ok(())
}

/// Takes (deletes) a sign-in under way; an expired one is gone all the same.
pub(super) fn take_sign_in(
    db: &Connection,
    state: TokenHash,
    now_ms: i64,
) -> rusqlite::Result<Option<PendingSignIn>> {
    let found = db
        .prepare_cached(
            "DELETE FROM sign_ins WHERE state_hash = ?1
             RETURNING nonce, pkce_verifier, guest_id, desktop_redirect, desktop_state, expires_at_ms",
        )?
        .query_row(params![&state.0[..]], |row| {
            let desktop = match (row.get::<_, Option<String>>(3)?, row.get(4)?) {
                (Some(redirect), Some(state)) => Some(DesktopReturn { redirect, state }),
                _ => None,
            };
            let pending = PendingSignIn {
                nonce: row.get(0)?,
                pkce_verifier: row.get(1)?,
                guest: row.get::<_, Option<i64>>(2)?.map(OwnerId),
                desktop,
            };
            Ok((pending, row.get::<_, i64>(5)?))
        })
        .optional()?;
    Ok(found.and_then(|(pending, expires_at_ms)| (expires_at_ms > now_ms).then_some(pending)))
}

/// Moves the guest's sessions to `user` and removes the guest (with its credentials).
fn merge_guest_in(db: &Connection, guest: OwnerId, user: OwnerId) -> rusqlite::Result<usize> {
    let is_guest = db
        .prepare_cached("SELECT 1 FROM owners WHERE id = ?1 AND kind = 'guest'")?
        .exists(params![guest.0])?;
    if !is_guest || guest == user {
        return Ok(0);
    }
    // Empty sessions (a page opened, nothing said) are not worth keeping: they would only
    // push the account's real conversations down its list.
    db.prepare_cached(
        "DELETE FROM sessions WHERE owner_id = ?1
         AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.session_id = sessions.id)",
    )?
    .execute(params![guest.0])?;
    let moved = db
        .prepare_cached("UPDATE sessions SET owner_id = ?2 WHERE owner_id = ?1")?
        .execute(params![guest.0, user.0])?;
    db.prepare_cached("UPDATE usage SET owner_id = ?2 WHERE owner_id = ?1")?
        .execute(params![guest.0, user.0])?;
    db.prepare_cached("DELETE FROM owners WHERE id = ?1")?
        .execute(params![guest.0])?;
    Ok(moved)
}

pub(super) fn merge_guest(
    db: &Connection,
    guest: OwnerId,
    user: OwnerId,
) -> rusqlite::Result<usize> {
    let transaction = super::write_transaction(db)?;
    let moved = merge_guest_in(&transaction, guest, user)?;
    transaction.commit()?;
    Ok(moved)
}

/// The account for `profile` (made, or updated with what the provider says now), the guest
/// merged into it, and the new credential; nothing when the account is blocked.
pub(super) fn sign_in_user(
    db: &Connection,
    profile: &UserProfile,
    guest: Option<OwnerId>,
    credential: &NewCredential,
    now_ms: i64,
) -> rusqlite::Result<SignedIn> {
    let transaction = super::write_transaction(db)?;
    let (user, blocked) = transaction
        .prepare_cached(
            "INSERT INTO owners (kind, issuer, subject, name, email, avatar_url, created_at_ms,
             last_seen_ms, username) VALUES ('user', ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
             ON CONFLICT (issuer, subject) DO UPDATE SET name = excluded.name,
             email = excluded.email, avatar_url = excluded.avatar_url,
             last_seen_ms = excluded.last_seen_ms, username = excluded.username
             RETURNING id, blocked_at_ms",
        )?
        .query_row(
            params![
                profile.issuer,
                profile.subject,
                profile.name,
                profile.email,
                profile.avatar_url,
                now_ms,
                profile.username
            ],
            |row| {
                Ok((
                    OwnerId(row.get(0)?),
                    row.get::<_, Option<i64>>(1)?.is_some(),
                ))
            },
        )?;
    if blocked {
        transaction.commit()?;
        return Ok(SignedIn::Blocked);
    }
    if let Some(guest) = guest {
        merge_guest_in(&transaction, guest, user)?;
    }
    insert_credential(&transaction, user, credential, now_ms)?;
    transaction.commit()?;
    Ok(SignedIn::Account(user))
}

/// Removes the owner and everything it owns (sessions and their messages and credentials go
/// by cascade; usage rows have no foreign key and go here).
pub(super) fn delete_owner(db: &Connection, owner: OwnerId) -> rusqlite::Result<bool> {
    let transaction = super::write_transaction(db)?;
    transaction
        .prepare_cached("DELETE FROM usage WHERE owner_id = ?1")?
        .execute(params![owner.0])?;
    let removed = transaction
        .prepare_cached("DELETE FROM owners WHERE id = ?1")?
        .execute(params![owner.0])?;
    transaction.commit()?;
    Ok(removed > 0)
}

/// A new guest and its first credential, as one transaction.
pub(super) fn create_guest(
    db: &Connection,
    token: TokenHash,
    kind: CredentialKind,
    now_ms: i64,
    expires_at_ms: i64,
) -> rusqlite::Result<OwnerId> {
    let transaction = super::write_transaction(db)?;
    transaction
        .prepare_cached(
            "INSERT INTO owners (kind, created_at_ms, last_seen_ms) VALUES ('guest', ?1, ?1)",
        )?
        .execute(params![now_ms])?;
    let owner = transaction.last_insert_rowid();
    transaction
        .prepare_cached(
            "INSERT INTO credentials (token_hash, owner_id, kind, created_at_ms, expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            &token.0[..],
            owner,
            kind_name(kind),
            now_ms,
            expires_at_ms
        ])?;
    transaction.commit()?;
    Ok(OwnerId(owner))
}

/// The owner of an unexpired credential and the credential's kind; nothing for a blocked owner.
pub(super) fn owner_of(
    db: &Connection,
    token: TokenHash,
    now_ms: i64,
) -> rusqlite::Result<Option<(OwnerId, CredentialKind)>> {
    let found = db
        .prepare_cached(
            "SELECT credentials.owner_id, credentials.kind FROM credentials
             JOIN owners ON owners.id = credentials.owner_id
             WHERE credentials.token_hash = ?1 AND credentials.expires_at_ms > ?2
             AND owners.blocked_at_ms IS NULL",
        )?
        .query_row(params![&token.0[..], now_ms], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .optional()?;
    Ok(found.and_then(|(owner, kind)| Some((OwnerId(owner), kind_from_name(&kind)?))))
}

/// Ends a credential (sign-out); its owner and what it owns stay.
pub(super) fn revoke(db: &Connection, token: TokenHash) -> rusqlite::Result<()> {
    db.prepare_cached("DELETE FROM credentials WHERE token_hash = ?1")?
        .execute(params![&token.0[..]])?;
    Ok(())
}

/// Who the session belongs to; `None`: no such session, or a deleted one (hidden everywhere
/// until restored).
pub(super) fn session_owner(db: &Connection, id: &str) -> rusqlite::Result<Option<SessionOwner>> {
    db.prepare_cached("SELECT owner_id FROM sessions WHERE id = ?1 AND deleted_at_ms IS NULL")?
        .query_row(params![id], |row| row.get::<_, Option<i64>>(0))
        .optional()
        .map(|found| {
            found.map(|owner| {
                owner.map_or(SessionOwner::Unowned, |id| SessionOwner::Owner(OwnerId(id)))
            })
        })
}

/// Gives an unowned session (stored before owners existed) to `owner`; false when someone else
/// adopted it first.
pub(super) fn adopt_session(db: &Connection, id: &str, owner: OwnerId) -> rusqlite::Result<bool> {
    let changed = db
        .prepare_cached("UPDATE sessions SET owner_id = ?2 WHERE id = ?1 AND owner_id IS NULL")?
        .execute(params![id, owner.0])?;
    Ok(changed > 0)
}

/// Drops expired credentials and then the guests left with none (their sessions go with them:
/// a guest whose cookie expired can never reach them again). Returns the guests removed.
pub(super) fn expire_credentials(db: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    let transaction = super::write_transaction(db)?;
    transaction.execute(
        "DELETE FROM credentials WHERE expires_at_ms <= ?1",
        params![now_ms],
    )?;
    let guests = transaction.execute(
        "DELETE FROM owners WHERE kind = 'guest'
         AND NOT EXISTS (SELECT 1 FROM credentials WHERE credentials.owner_id = owners.id)",
        [],
    )?;
    transaction.commit()?;
    Ok(guests)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::sqlite::{messages::create_session, test_support::memory};

    #[test]
    fn a_credential_finds_its_owner_until_it_expires_or_is_revoked() {
        let db = memory();
        let token = TokenHash([7; 32]);
        let owner = create_guest(&db, token, CredentialKind::Cookie, 1_000, 2_000).unwrap();
        assert_eq!(
            owner_of(&db, token, 1_500).unwrap(),
            Some((owner, CredentialKind::Cookie))
        );
        assert_eq!(owner_of(&db, token, 2_000).unwrap(), None, "expired");
        assert_eq!(owner_of(&db, TokenHash([8; 32]), 1_500).unwrap(), None);
        revoke(&db, token).unwrap();
        assert_eq!(owner_of(&db, token, 1_500).unwrap(), None, "revoked");
    }

    #[test]
    fn an_unowned_session_is_adopted_once() {
        let db = memory();
        let first = create_guest(&db, TokenHash([1; 32]), CredentialKind::Cookie, 0, 10).unwrap();
        let second = create_guest(&db, TokenHash([2; 32]), CredentialKind::Bearer, 0, 10).unwrap();
        create_session(&db, "old", None, 0).unwrap();
        assert_eq!(
            session_owner(&db, "old").unwrap(),
            Some(SessionOwner::Unowned)
        );
        assert!(adopt_session(&db, "old", first).unwrap());
        assert!(!adopt_session(&db, "old", second).unwrap());
        assert_eq!(
            session_owner(&db, "old").unwrap(),
            Some(SessionOwner::Owner(first))
        );
        assert_eq!(session_owner(&db, "missing").unwrap(), None);
    }

    #[test]
    fn guests_whose_credentials_expired_go_with_their_sessions() {
        let db = memory();
        let gone = create_guest(&db, TokenHash([1; 32]), CredentialKind::Cookie, 0, 10).unwrap();
        let kept = create_guest(&db, TokenHash([2; 32]), CredentialKind::Cookie, 0, 100).unwrap();
        create_session(&db, "gone", Some(gone), 0).unwrap();
        create_session(&db, "kept", Some(kept), 0).unwrap();
        assert_eq!(expire_credentials(&db, 50).unwrap(), 1);
        assert_eq!(session_owner(&db, "gone").unwrap(), None);
        assert_eq!(
            session_owner(&db, "kept").unwrap(),
            Some(SessionOwner::Owner(kept))
        );
    }
}
