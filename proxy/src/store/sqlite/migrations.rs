//! Versioned schema migrations: numbered SQL files applied in order, counted in `PRAGMA user_version`.

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::open::explain;
use crate::store::StoreError;

/// Every schema version this build knows, oldest first; version N is `MIGRATIONS[N - 1]`.
/// Never edit a released entry: add a new file.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/0001_initial.sql")),
    M::up(include_str!("migrations/0002_owners.sql")),
    M::up(include_str!("migrations/0003_usernames.sql")),
    M::up(include_str!("migrations/0004_conversations.sql")),
    M::up(include_str!("migrations/0005_shares.sql")),
];

/// Brings the file's schema up to this build's version, in one transaction. A file from a newer
/// Ashley is refused: this build would not know what its tables mean.
pub(super) fn upgrade(db: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = db
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|err| explain(path, &err))?;
    let known = MIGRATIONS.len();
    if !usize::try_from(found).is_ok_and(|found| found <= known) {
        return Err(StoreError::other(format!(
            "{} was written by a newer Ashley (schema version {found}; this build knows versions up to {known}); run that newer version, or move the file aside to start with an empty store",
            path.display()
        )));
    }
    Migrations::from_slice(MIGRATIONS)
        .to_latest(db)
        .map_err(|err| {
            StoreError::other(format!(
                "cannot upgrade {} to schema version {known}: {err}",
                path.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_valid() {
        assert!(Migrations::from_slice(MIGRATIONS).validate().is_ok());
    }
}
