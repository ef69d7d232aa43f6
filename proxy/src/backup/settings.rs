//! The backup settings: flags and environment variables, their defaults, and their checks.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use crate::config::ConfigError;

/// Where a Space mounts its Storage Bucket (Settings → Volumes) in the README's guide.
const SPACE_VOLUME: &str = "/data";

/// The backup flags, flattened into [`crate::Cli`].
#[derive(clap::Args, Debug, Clone)]
pub struct BackupArgs {
    /// Directory that receives snapshots of the database (a Storage Bucket mounted as a
    /// volume), or `off` [default: /data when it exists and is writable].
    #[arg(long, env = "ASHLEY_BACKUP_DIR")]
    pub backup_dir: Option<String>,
    /// Seconds between snapshots; a snapshot is skipped when nothing changed since the last.
    #[arg(long, env = "ASHLEY_BACKUP_SECS", default_value_t = 60)]
    pub backup_secs: u64,
    /// Snapshots kept in the backup directory; older ones are deleted.
    #[arg(long, env = "ASHLEY_BACKUP_KEEP", default_value_t = 5)]
    pub backup_keep: usize,
}

/// The checked backup settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSettings {
    /// `None`: backups are off.
    pub dir: Option<PathBuf>,
    pub every: Duration,
    pub keep: usize,
}

impl Default for BackupSettings {
    /// Off (embedding and tests opt in by setting `dir`).
    fn default() -> Self {
        Self {
            dir: None,
            every: Duration::from_secs(60),
            keep: 5,
        }
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

impl BackupSettings {
    /// Resolves the flags for a live database in `data_dir`.
    pub fn from_args(args: &BackupArgs, data_dir: &Path) -> Result<Self, ConfigError> {
        Self::resolve(args, data_dir, Path::new(SPACE_VOLUME))
    }

    fn resolve(args: &BackupArgs, data_dir: &Path, volume: &Path) -> Result<Self, ConfigError> {
        if args.backup_secs == 0 {
            return Err(invalid("ASHLEY_BACKUP_SECS", "must be at least 1"));
        }
        if args.backup_keep == 0 {
            return Err(invalid("ASHLEY_BACKUP_KEEP", "must be at least 1"));
        }
        let dir = match args.backup_dir.as_deref().map(str::trim) {
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some("") => {
                return Err(invalid(
                    "ASHLEY_BACKUP_DIR",
                    "is empty; give a directory or `off`",
                ));
            }
            Some(dir) => {
                let dir = PathBuf::from(dir);
                if same_dir(&dir, data_dir) {
                    return Err(invalid(
                        "ASHLEY_BACKUP_DIR",
                        "is the data directory; snapshots must go elsewhere (or set it to `off`)",
                    ));
                }
                Some(dir)
            }
            // A data dir on the volume itself (self-hosting on a real disk) needs no snapshots.
            None if volume.is_dir()
                && !same_dir(volume, data_dir)
                && can_create_files_in(volume) =>
            {
                Some(volume.to_path_buf())
            }
            None => None,
        };
        Ok(Self {
            dir,
            every: Duration::from_secs(args.backup_secs),
            keep: args.backup_keep,
        })
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let absolute = |path: &Path| {
        path.canonicalize()
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    absolute(a) == absolute(b)
}

/// Whether this process may create files in `dir`. The mode bits alone do not tell: a root-owned
/// 0755 `/data` (a fresh Docker volume) has write bits, but not for the Space's uid 1000.
fn can_create_files_in(dir: &Path) -> bool {
    let probe = dir.join(format!(".ashley-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .is_ok()
        && std::fs::remove_file(&probe).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(dir: Option<&str>) -> BackupArgs {
        BackupArgs {
            backup_dir: dir.map(str::to_owned),
            backup_secs: 60,
            backup_keep: 5,
        }
    }

    #[test]
    fn the_volume_is_the_default_only_when_this_process_can_write_there() {
        let volume = tempfile::tempdir().unwrap();
        let data = Path::new("data");
        let chosen = BackupSettings::resolve(&args(None), data, volume.path()).unwrap();
        assert_eq!(chosen.dir.as_deref(), Some(volume.path()));
        assert_eq!(
            std::fs::read_dir(volume.path()).unwrap().count(),
            0,
            "the write probe must not be left behind"
        );
        let missing = volume.path().join("not-mounted");
        assert_eq!(
            BackupSettings::resolve(&args(None), data, &missing)
                .unwrap()
                .dir,
            None
        );
        let a_file = volume.path().join("plain-file");
        std::fs::write(&a_file, b"").unwrap();
        assert_eq!(
            BackupSettings::resolve(&args(None), data, &a_file)
                .unwrap()
                .dir,
            None
        );
        // The live database on the volume itself: nothing to copy it to by default.
        let on_volume = BackupSettings::resolve(&args(None), volume.path(), volume.path()).unwrap();
        assert_eq!(on_volume.dir, None);
    }

    #[test]
    fn off_disables_and_bad_values_are_named() {
        let volume = tempfile::tempdir().unwrap();
        let data = Path::new("data");
        for off in ["off", "OFF", " off "] {
            let settings = BackupSettings::resolve(&args(Some(off)), data, volume.path()).unwrap();
            assert_eq!(settings.dir, None, "{off:?}");
        }
        let explicit = BackupSettings::resolve(&args(Some("/somewhere")), data, volume.path());
        assert_eq!(explicit.unwrap().dir, Some(PathBuf::from("/somewhere")));
        let same = BackupSettings::resolve(&args(Some("./data")), data, volume.path()).unwrap_err();
        assert_eq!(same.setting, "ASHLEY_BACKUP_DIR");
        let empty = BackupSettings::resolve(&args(Some(" ")), data, volume.path()).unwrap_err();
        assert_eq!(empty.setting, "ASHLEY_BACKUP_DIR");
        let zero = BackupArgs {
            backup_keep: 0,
            ..args(None)
        };
        assert_eq!(
            BackupSettings::resolve(&zero, data, volume.path())
                .unwrap_err()
                .setting,
            "ASHLEY_BACKUP_KEEP"
        );
        let zero = BackupArgs {
            backup_secs: 0,
            ..args(None)
        };
        assert_eq!(
            BackupSettings::resolve(&zero, data, volume.path())
                .unwrap_err()
                .setting,
            "ASHLEY_BACKUP_SECS"
        );
    }
}
