//! Owners and their credentials: guests, signed-in users, and which sessions are whose.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::store::{CredentialKind, OwnerId, SessionOwner, TokenHash};

fn kind_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Cookie => "cookie",
        CredentialKind::Bearer => "bearer",
    }
}

/// A new guest and its first credential, as one transaction.
pub(super) fn create_guest(
    db: &Connection,
    token: TokenHash,
    kind: CredentialKind,
    now_ms: i64,
    expires_at_ms: i64,
) -> rusqlite::Result<OwnerId> {
    let transaction = db.unchecked_transaction()?;
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

/// The owner of an unexpired credential.
pub(super) fn owner_of(
    db: &Connection,
    token: TokenHash,
    now_ms: i64,
) -> rusqlite::Result<Option<OwnerId>> {
    db.prepare_cached(
        "SELECT owner_id FROM credentials WHERE token_hash = ?1 AND expires_at_ms > ?2",
    )?
    .query_row(params![&token.0[..], now_ms], |row| row.get(0))
    .optional()
    .map(|owner| owner.map(OwnerId))
}

/// Ends a credential (sign-out); its owner and what it owns stay.
pub(super) fn revoke(db: &Connection, token: TokenHash) -> rusqlite::Result<()> {
    db.prepare_cached("DELETE FROM credentials WHERE token_hash = ?1")?
        .execute(params![&token.0[..]])?;
    Ok(())
}

/// Who the session belongs to; `None`: no such session.
pub(super) fn session_owner(db: &Connection, id: &str) -> rusqlite::Result<Option<SessionOwner>> {
    db.prepare_cached("SELECT owner_id FROM sessions WHERE id = ?1")?
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
    let transaction = db.unchecked_transaction()?;
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
    use crate::store::sqlite::messages::create_session;

    fn memory() -> Connection {
        let mut db = Connection::open_in_memory().unwrap();
        db.pragma_update(None, "foreign_keys", "ON").unwrap();
        crate::store::sqlite::migrations::upgrade(&mut db, std::path::Path::new(":memory:"))
            .unwrap();
        db
    }

    #[test]
    fn a_credential_finds_its_owner_until_it_expires_or_is_revoked() {
        let db = memory();
        let token = TokenHash([7; 32]);
        let owner = create_guest(&db, token, CredentialKind::Cookie, 1_000, 2_000).unwrap();
        assert_eq!(owner_of(&db, token, 1_500).unwrap(), Some(owner));
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
