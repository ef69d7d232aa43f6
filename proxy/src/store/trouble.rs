//! Storage trouble over time: health from the latest operations, logged at most once a minute.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use super::{StoreError, StoreErrorKind};

/// Whether the store can take writes, as its latest operations found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreHealth {
    Ok,
    /// Writes fail for lack of space; reads work. Clears by itself with the next write that works.
    Full,
    /// The database could not be reached (busy, locked, I/O). Clears with the next success.
    Unavailable,
}

impl StoreHealth {
    /// A stable name for `/api/status` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Full => "full",
            Self::Unavailable => "unavailable",
        }
    }

    /// How `/api/status` reports it.
    pub fn to_api(self) -> crate::api::StorageHealth {
        match self {
            Self::Ok => crate::api::StorageHealth::Ok,
            Self::Full => crate::api::StorageHealth::Full,
            Self::Unavailable => crate::api::StorageHealth::Unavailable,
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Full,
            2 => Self::Unavailable,
            _ => Self::Ok,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Full => 1,
            Self::Unavailable => 2,
        }
    }
}

/// A failure that keeps happening is logged once per this interval, with a count of the rest.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Tracks `Full` and `Unavailable` failures of one store: they are logged here, rate-limited,
/// so a full disk under load writes one line a minute instead of one per request.
pub(crate) struct Trouble {
    /// What the store is (e.g. its file), for the log lines.
    location: String,
    /// A copy of `log.health`, so the success path (every operation) takes no lock.
    health: AtomicU8,
    log: Mutex<Log>,
}

struct Log {
    health: StoreHealth,
    logged_at: Option<Instant>,
    suppressed: u64,
}

impl Trouble {
    pub(crate) fn new(location: String) -> Self {
        Self {
            location,
            health: AtomicU8::new(StoreHealth::Ok.to_u8()),
            log: Mutex::new(Log {
                health: StoreHealth::Ok,
                logged_at: None,
                suppressed: 0,
            }),
        }
    }

    pub(crate) fn health(&self) -> StoreHealth {
        StoreHealth::from_u8(self.health.load(Ordering::Relaxed))
    }

    /// Notes how an operation went; `wrote`: it needed to write (only a write shows space is back).
    pub(crate) fn observe<T>(&self, wrote: bool, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.succeeded(wrote),
            Err(err) => self.failed(err),
        }
    }

    fn succeeded(&self, wrote: bool) {
        let health = self.health();
        let recovered = match health {
            StoreHealth::Ok => return,
            StoreHealth::Full => wrote,
            StoreHealth::Unavailable => true,
        };
        if !recovered {
            return;
        }
        let mut log = self.lock();
        if log.health == StoreHealth::Ok {
            return;
        }
        tracing::info!(
            "the conversation store ({}) works again after being {} ({} more failures were not logged)",
            self.location,
            log.health.as_str(),
            log.suppressed
        );
        self.set(&mut log, StoreHealth::Ok);
    }

    fn failed(&self, err: &StoreError) {
        let health = match err.kind() {
            StoreErrorKind::Full => StoreHealth::Full,
            StoreErrorKind::Unavailable => StoreHealth::Unavailable,
            StoreErrorKind::Other => return,
        };
        let mut log = self.lock();
        let due = log.health != health || log.logged_at.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if !due {
            log.suppressed = log.suppressed.saturating_add(1);
            return;
        }
        let repeats = log.suppressed;
        match health {
            StoreHealth::Full => tracing::error!(
                "the conversation store ({}) is out of space: new messages and replies are not saved until space is freed; reading still works ({}; {repeats} similar failures since the last report)",
                self.location,
                err.detail()
            ),
            _ => tracing::warn!(
                "the conversation store ({}) is unavailable ({}; {repeats} similar failures since the last report)",
                self.location,
                err.detail()
            ),
        }
        self.set(&mut log, health);
        log.logged_at = Some(Instant::now());
    }

    /// Sets the health and starts a new count of unlogged failures.
    fn set(&self, log: &mut Log, health: StoreHealth) {
        log.health = health;
        log.suppressed = 0;
        self.health.store(health.to_u8(), Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Result<(), StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Full,
            "database or disk is full",
        ))
    }

    #[test]
    fn full_clears_only_with_a_write_that_works() {
        let trouble = Trouble::new("test".to_owned());
        trouble.observe(true, &full());
        assert_eq!(trouble.health(), StoreHealth::Full);
        trouble.observe(false, &Ok(()));
        assert_eq!(trouble.health(), StoreHealth::Full, "a read shows no space");
        trouble.observe(true, &Ok(()));
        assert_eq!(trouble.health(), StoreHealth::Ok);
    }

    #[test]
    fn repeats_within_the_interval_are_counted_not_logged() {
        let trouble = Trouble::new("test".to_owned());
        for _ in 0..5 {
            trouble.observe(true, &full());
        }
        assert_eq!(trouble.lock().suppressed, 4);
        let other: Result<(), StoreError> = Err(StoreError::other("bug"));
        trouble.observe(true, &other);
        assert_eq!(
            trouble.health(),
            StoreHealth::Full,
            "other errors are not health"
        );
    }
}
