//! Store failures, named by what a person can do about them (full disk, busy database, other).

/// What kind of trouble a store operation ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// No room to write: the disk (or the database's size limit) is full. Reads still work;
    /// writes work again once space is freed.
    Full,
    /// The database could not be reached for now: busy, locked or an I/O error.
    Unavailable,
    /// Anything else (a bug, a damaged file).
    Other,
}

/// A store failure: its kind for the caller, its detail for the log.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    detail: String,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn other(detail: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Other, detail)
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// What went wrong, for the log (never shown to clients).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "store: {}", self.detail)
    }
}

impl std::error::Error for StoreError {}
