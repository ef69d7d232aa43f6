//! The file side: a consistent copy through SQLite's online backup API, publishing it to the
//! backup directory as a new file, pruning, and a checked restore.
//!
//! SQLite never opens a file in the backup directory: on a Storage Bucket mount there is no
//! locking and renames may not be atomic. Snapshots are made on local disk and copied over
//! whole; restores copy back to local disk before SQLite looks at them.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{
    Connection, OpenFlags,
    backup::{Backup, StepResult},
};

use super::names::{self, SnapshotName};

/// The snapshots in `dir`, newest first.
pub fn list(dir: &Path) -> Result<Vec<SnapshotName>, String> {
    let entries =
        fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    let file_names = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok());
    Ok(names::newest_first(file_names))
}

/// Opens the live database for reading snapshots; never creates it.
pub fn open_source(database: &Path) -> Result<Connection, String> {
    let db = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|err| format!("cannot open {}: {err}", database.display()))?;
    db.busy_timeout(Duration::from_secs(5))
        .map_err(|err| err.to_string())?;
    Ok(db)
}

/// Copies the live database into `local_copy` as one self-contained file.
pub fn write_local_copy(source: &Connection, local_copy: &Path) -> Result<(), String> {
    remove_if_present(local_copy)?;
    let failed = |err: rusqlite::Error| format!("backup to {}: {err}", local_copy.display());
    let mut copy = Connection::open(local_copy).map_err(failed)?;
    copy_all_pages(source, &mut copy).map_err(failed)?;
    // The copy inherits WAL mode from the live header: make it a plain file that opens
    // without -wal and -shm companions.
    copy.pragma_update(None, "journal_mode", "DELETE")
        .map_err(failed)?;
    copy.close().map_err(|(_, err)| failed(err))
}

/// All pages in one step: one read transaction, so the copy is a single consistent state (in
/// WAL mode that reader never blocks the proxy's writers). Busy only while another connection
/// holds an exclusive lock (a checkpoint truncating the WAL): retried a few times.
fn copy_all_pages(source: &Connection, copy: &mut Connection) -> rusqlite::Result<()> {
    const ATTEMPTS: u32 = 50;
    let backup = Backup::new(source, copy)?;
    for _ in 0..ATTEMPTS {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked => {
                std::thread::sleep(Duration::from_millis(20));
            }
            // `StepResult` is non-exhaustive: treat anything new as "try again".
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("the database stayed locked".to_owned()),
    ))
}

/// Copies `local_copy` into `dir` under `name` (a new file, never an existing one), closes it,
/// and removes the local copy. Returns the snapshot's size in bytes.
pub fn publish(local_copy: &Path, dir: &Path, name: SnapshotName) -> Result<u64, String> {
    let target = dir.join(name.file_name());
    let copied = copy_new(local_copy, &target);
    if copied.is_err() {
        // A partial file would fail its integrity check at restore anyway; do not leave it.
        let _ = fs::remove_file(&target);
    }
    let bytes = copied.map_err(|err| format!("cannot write {}: {err}", target.display()))?;
    remove_if_present(local_copy)?;
    Ok(bytes)
}

fn copy_new(from: &Path, to: &Path) -> io::Result<u64> {
    let mut source = fs::File::open(from)?;
    let mut target = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    let bytes = io::copy(&mut source, &mut target)?;
    match target.sync_all() {
        // Some FUSE mounts do not implement fsync; closing the file is what uploads it there.
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::InvalidInput
            ) => {}
        other => other?,
    }
    drop(target);
    Ok(bytes)
}

/// Deletes the snapshots beyond the newest `keep`; returns how many went and the first failure.
pub fn prune(dir: &Path, keep: usize) -> Result<usize, String> {
    let newest = list(dir)?;
    let mut removed = 0;
    for name in names::beyond_keep(&newest, keep) {
        let path = dir.join(name.file_name());
        fs::remove_file(&path).map_err(|err| format!("cannot delete {}: {err}", path.display()))?;
        removed += 1;
    }
    Ok(removed)
}

/// Why one snapshot could not be restored.
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Restores the newest snapshot in `dir` that passes `PRAGMA integrity_check` as `database`,
/// staging it in `local_copy`. Returns the one restored (if any) and those skipped.
pub fn restore(
    dir: &Path,
    database: &Path,
    local_copy: &Path,
) -> Result<(Option<SnapshotName>, Vec<Skipped>), String> {
    let mut skipped = Vec::new();
    for name in list(dir)? {
        let path = dir.join(name.file_name());
        match checked_copy(&path, local_copy) {
            Ok(()) => {
                install(local_copy, database)?;
                return Ok((Some(name), skipped));
            }
            Err(reason) => {
                remove_if_present(local_copy)?;
                skipped.push(Skipped { path, reason });
            }
        }
    }
    Ok((None, skipped))
}

/// Copies `snapshot` to local disk and checks it there.
fn checked_copy(snapshot: &Path, local_copy: &Path) -> Result<(), String> {
    remove_if_present(local_copy)?;
    fs::copy(snapshot, local_copy).map_err(|err| format!("cannot copy it: {err}"))?;
    let db = Connection::open_with_flags(local_copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|err| format!("cannot open it: {err}"))?;
    let verdict: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|err| format!("integrity check failed: {err}"))?;
    if verdict != "ok" {
        return Err(format!("integrity check failed: {verdict}"));
    }
    db.close()
        .map_err(|(_, err)| format!("cannot close it: {err}"))
}

/// Moves the checked copy into place (same local file system, so the rename is atomic). A
/// stale `-wal` or `-shm` of an earlier database would be replayed onto it: they go first.
fn install(local_copy: &Path, database: &Path) -> Result<(), String> {
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_present(&companion(database, suffix))?;
        remove_if_present(&companion(local_copy, suffix))?;
    }
    fs::rename(local_copy, database).map_err(|err| {
        format!(
            "cannot move {} to {}: {err}",
            local_copy.display(),
            database.display()
        )
    })
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(format!("cannot delete {}: {err}", path.display()))
        }
        _ => Ok(()),
    }
}
