//! SQLite's result codes sorted into the store's kinds of trouble.

use rusqlite::ErrorCode;

use crate::store::{StoreError, StoreErrorKind};

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        Self::new(kind_of(&err), err.to_string())
    }
}

/// `SQLITE_FULL` covers both a full disk and the `max_page_count` limit.
pub(super) fn kind_of(err: &rusqlite::Error) -> StoreErrorKind {
    match err.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreErrorKind::Full,
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::NoLargeFileSupport,
        ) => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Other,
    }
}

pub(super) fn is_full(err: &rusqlite::Error) -> bool {
    kind_of(err) == StoreErrorKind::Full
}
