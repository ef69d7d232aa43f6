//! Keeps conversations across restarts where the only persistent storage is a mounted Storage
//! Bucket: the live database stays on local disk; snapshots are copied to the backup directory
//! every few seconds and at shutdown, and the newest good one is restored at start.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, mpsc},
    thread::JoinHandle,
    time::Instant,
};

use rusqlite::Connection;

use crate::{api::StorageInfo, config::Config};

mod names;
mod settings;
mod snapshot;

pub use names::SnapshotName;
pub use settings::{BackupArgs, BackupSettings};

/// The live database's file name inside the data directory (the store opens the same file).
pub const DATABASE_FILE: &str = "ashley.sqlite3";
/// Staging files on local disk, beside the live database.
const SNAPSHOT_STAGING: &str = "ashley-snapshot.tmp";
const RESTORE_STAGING: &str = "ashley-restore.tmp";

/// The backup handle: cheap to clone; [`Self::finish`] takes the last snapshot at shutdown.
#[derive(Clone)]
pub struct Backups {
    shared: Arc<Shared>,
}

struct Shared {
    database: PathBuf,
    settings: BackupSettings,
    saved: Mutex<Saved>,
    worker: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

#[derive(Default)]
struct Saved {
    last_ms: Option<i64>,
    error: Option<String>,
}

/// What the snapshot thread remembers between rounds.
struct Round {
    source: Option<Connection>,
    /// `PRAGMA data_version` when the last snapshot was read: equal means nothing changed.
    saved_version: Option<i64>,
    last_seq: u64,
}

impl Backups {
    /// Restores the newest good snapshot when the local database is missing, then starts the
    /// periodic snapshots. Call before the store opens the database.
    pub fn start(config: &Config) -> Result<Self, String> {
        let database = config.data_dir.join(DATABASE_FILE);
        let shown = absolute(&database);
        let shared = Arc::new(Shared {
            database,
            settings: config.backup.clone(),
            saved: Mutex::new(Saved::default()),
            worker: Mutex::new(None),
        });
        let backups = Self { shared };
        let Some(dir) = config.backup.dir.as_deref() else {
            tracing::info!(
                "database {shown}; backups are off (ASHLEY_BACKUP_DIR), so on a Space it is \
                 lost when the container restarts"
            );
            return Ok(backups);
        };
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("ASHLEY_BACKUP_DIR: cannot create {}: {err}", dir.display()))?;
        std::fs::create_dir_all(&config.data_dir).map_err(|err| {
            format!(
                "ASHLEY_DATA_DIR: cannot create {}: {err}",
                config.data_dir.display()
            )
        })?;
        let mut round = Round {
            source: None,
            saved_version: None,
            last_seq: 0,
        };
        if backups.shared.database.exists() {
            tracing::info!("database {shown} found; snapshots go to {}", dir.display());
        } else {
            backups.restore(dir, &mut round)?;
        }
        let (stop, stopped) = mpsc::channel();
        let shared = backups.shared.clone();
        let thread = std::thread::Builder::new()
            .name("ashley-backup".to_owned())
            .spawn(move || shared.run(&stopped, round))
            .map_err(|err| format!("cannot start the backup thread: {err}"))?;
        *backups.shared.lock_worker() = Some((stop, thread));
        Ok(backups)
    }

    fn restore(&self, dir: &Path, round: &mut Round) -> Result<(), String> {
        let shared = &self.shared;
        let staging = staging(&shared.database, RESTORE_STAGING);
        let (restored, skipped) = snapshot::restore(dir, &shared.database, &staging)?;
        for skip in skipped {
            tracing::error!(
                "skipping snapshot {}: {}; trying the next older one",
                skip.path.display(),
                skip.reason
            );
        }
        let shown = absolute(&shared.database);
        let Some(name) = restored else {
            tracing::info!(
                "database {shown} is new: no snapshot to restore in {}",
                dir.display()
            );
            return Ok(());
        };
        tracing::info!(
            "restored database {shown} from snapshot {} (saved {} ago)",
            dir.join(name.file_name()).display(),
            age(now_ms().saturating_sub(name.at_ms))
        );
        // What was restored is what the snapshot holds: no new snapshot until it changes.
        let source = snapshot::open_source(&shared.database)?;
        round.saved_version = data_version(&source).ok();
        round.source = Some(source);
        round.last_seq = name.seq;
        shared.lock_saved().last_ms = Some(name.at_ms);
        Ok(())
    }

    /// Where the data lives and when it was last saved, for `/api/status`.
    pub fn storage_info(&self) -> StorageInfo {
        let saved = self.shared.lock_saved();
        StorageInfo {
            database: absolute(&self.shared.database),
            backup_dir: self.shared.settings.dir.as_deref().map(absolute),
            last_backup_ms: saved.last_ms,
            last_backup_error: saved.error.clone(),
            health: crate::api::StorageHealth::default(),
        }
    }

    /// Stops the periodic snapshots after taking a last one (when anything changed). Call once
    /// the server has stopped and the replies in flight are stored.
    pub async fn finish(&self) {
        let Some((stop, thread)) = self.shared.lock_worker().take() else {
            return;
        };
        drop(stop);
        if tokio::task::spawn_blocking(move || thread.join().is_err())
            .await
            .unwrap_or(true)
        {
            tracing::error!("the backup thread panicked; the last snapshot may be missing");
        }
    }
}

impl Shared {
    fn lock_saved(&self) -> std::sync::MutexGuard<'_, Saved> {
        self.saved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[allow(clippy::type_complexity)]
    fn lock_worker(&self) -> std::sync::MutexGuard<'_, Option<(mpsc::Sender<()>, JoinHandle<()>)>> {
        self.worker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot every `every`; a last one when the sender is dropped.
    fn run(&self, stopped: &mpsc::Receiver<()>, mut round: Round) {
        loop {
            let last = !matches!(
                stopped.recv_timeout(self.settings.every),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            let outcome = self.snapshot(&mut round);
            self.record(outcome, last);
            if last {
                return;
            }
        }
    }

    fn record(&self, outcome: Result<Option<(SnapshotName, u64, u128)>, String>, last: bool) {
        let mut saved = self.lock_saved();
        match outcome {
            Ok(Some((name, bytes, ms))) => {
                saved.last_ms = Some(name.at_ms);
                saved.error = None;
                if last {
                    tracing::info!(
                        "final snapshot {} ({bytes} bytes, {ms} ms)",
                        name.file_name()
                    );
                } else {
                    tracing::debug!("snapshot {} ({bytes} bytes, {ms} ms)", name.file_name());
                }
            }
            Ok(None) if last => tracing::info!("no final snapshot needed: nothing changed"),
            Ok(None) => {}
            Err(err) => {
                // Said once per new failure; `/api/status` shows it until a snapshot succeeds.
                if saved.error.as_deref() != Some(err.as_str()) {
                    tracing::warn!("backup failed (the data is safe on local disk): {err}");
                }
                saved.error = Some(err);
            }
        }
    }

    /// Takes a snapshot when the database changed; returns its name, size and duration.
    fn snapshot(&self, round: &mut Round) -> Result<Option<(SnapshotName, u64, u128)>, String> {
        let Some(dir) = self.settings.dir.as_deref() else {
            return Ok(None);
        };
        if round.source.is_none() {
            if !self.database.exists() {
                return Ok(None);
            }
            round.source = Some(snapshot::open_source(&self.database)?);
        }
        let Some(source) = round.source.as_ref() else {
            return Ok(None);
        };
        let started = Instant::now();
        let version = match data_version(source) {
            Ok(version) => version,
            Err(err) => {
                // Reopened next round, in case the file was replaced underneath.
                round.source = None;
                return Err(err);
            }
        };
        if round.saved_version == Some(version) {
            return Ok(None);
        }
        let staging = staging(&self.database, SNAPSHOT_STAGING);
        snapshot::write_local_copy(source, &staging)?;
        let name = names::next_name(now_ms(), &snapshot::list(dir)?, round.last_seq);
        let bytes = snapshot::publish(&staging, dir, name)?;
        round.last_seq = name.seq;
        round.saved_version = Some(version);
        snapshot::prune(dir, self.settings.keep)?;
        Ok(Some((name, bytes, started.elapsed().as_millis())))
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn data_version(db: &Connection) -> Result<i64, String> {
    db.query_row("PRAGMA data_version", [], |row| row.get(0))
        .map_err(|err| format!("cannot read the database's change counter: {err}"))
}

fn staging(database: &Path, name: &str) -> PathBuf {
    database.with_file_name(name)
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// A duration for people: `42 s`, `7 min`, `3 h`, `2 days`.
fn age(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(-5), "0 s");
        assert_eq!(age(42_000), "42 s");
        assert_eq!(age(7 * 60_000), "7 min");
        assert_eq!(age(3 * 3_600_000), "3 h");
        assert_eq!(age(3 * 86_400_000), "3 days");
    }
}
