//! Opening the database file: start-up problems are named with the file and what to do.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, MAIN_DB};

use super::{errors::kind_of, schema};
use crate::store::StoreError;

/// The connection requests use: schema brought up to date, never checkpointing.
pub(super) fn request_connection(data_dir: &Path, path: &Path) -> Result<Connection, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|err| {
        StoreError::other(format!(
            "cannot create the data directory {}: {err}; choose a folder the user running Ashley can write",
            data_dir.display()
        ))
    })?;
    if path.is_dir() {
        return Err(StoreError::other(format!(
            "{} is a directory, not a database file; move it away or choose another data directory",
            path.display()
        )));
    }
    let db = connection(path)?;
    schema::upgrade(&db, path)?;
    // SQLite checkpoints the WAL inside whichever commit crosses 1,000 pages; on this
    // connection that would be a request's commit (a multi-millisecond stall at p99). The
    // usage writer's connection keeps the automatic checkpoint and checkpoints when idle.
    db.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(|err| explain(path, &err))?;
    Ok(db)
}

/// A configured connection to `path` (WAL, foreign keys, busy timeout).
pub(super) fn connection(path: &Path) -> Result<Connection, StoreError> {
    let db = configure(path).map_err(|err| explain(path, &err))?;
    if db.is_readonly(MAIN_DB).map_err(|err| explain(path, &err))? {
        return Err(StoreError::other(format!(
            "{} can only be opened read-only; make it and its folder writable by the user running Ashley",
            path.display()
        )));
    }
    Ok(db)
}

fn configure(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    // The first statement that reads the file: a file that is not a database fails here.
    db.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(db)
}

/// Start-up failures in words a person can act on.
pub(super) fn explain(path: &Path, err: &rusqlite::Error) -> StoreError {
    let path = path.display();
    let message = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => format!(
            "{path} is not an SQLite database or is damaged ({err}); move it aside (Ashley then starts with an empty store) or restore it from a backup"
        ),
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            format!(
                "cannot open {path} for writing ({err}); it must be a file the user running Ashley can write, in a folder it can write (SQLite keeps -wal and -shm files beside it)"
            )
        }
        _ => format!("cannot open {path}: {err}"),
    };
    StoreError::new(kind_of(err), message)
}
