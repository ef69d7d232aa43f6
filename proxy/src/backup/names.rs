//! Snapshot file names (`ashley-<UTC timestamp>-<seq>.sqlite3`), their order, and which to prune.

const PREFIX: &str = "ashley-";
const SUFFIX: &str = ".sqlite3";
const MS_PER_DAY: i64 = 86_400_000;

/// One snapshot's identity. Ordered oldest first by sequence number, which only grows (see
/// [`next_name`]), then by time: a clock that steps back cannot make a new snapshot look old.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotName {
    pub seq: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub at_ms: i64,
}

impl SnapshotName {
    /// e.g. `ashley-20261201T115300.123Z-000042.sqlite3`: fixed width, so people reading a
    /// directory listing see them in time order.
    pub fn file_name(&self) -> String {
        let (year, month, day, hour, minute, second, milli) = civil(self.at_ms);
        format!(
            "{PREFIX}{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}.{milli:03}Z-{:06}{SUFFIX}",
            self.seq
        )
    }

    /// The inverse of [`Self::file_name`]; `None` for any other file (the live database,
    /// temporary files, whatever else shares the directory).
    pub fn parse(name: &str) -> Option<Self> {
        let body = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
        let (stamp, seq) = body.split_once("Z-")?;
        if seq.is_empty() || !seq.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let seq = seq.parse().ok()?;
        let (date, time) = stamp.split_once('T')?;
        let (hms, milli) = time.split_once('.')?;
        if date.len() != 8 || hms.len() != 6 || milli.len() != 3 {
            return None;
        }
        let number = |text: &str, range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            part.bytes()
                .all(|byte| byte.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let (year, month, day) = (
            number(date, 0..4)?,
            number(date, 4..6)?,
            number(date, 6..8)?,
        );
        let (hour, minute, second) = (number(hms, 0..2)?, number(hms, 2..4)?, number(hms, 4..6)?);
        let milli = number(milli, 0..3)?;
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let at_ms = days_from_civil(year, month, day) * MS_PER_DAY
            + ((hour * 60 + minute) * 60 + second) * 1000
            + milli;
        let parsed = Self { at_ms, seq };
        // Rejects dates such as 20260231 that do not round-trip.
        (parsed.file_name() == name).then_some(parsed)
    }
}

/// The snapshots among `file_names`, newest first; other files are ignored.
pub fn newest_first<I, S>(file_names: I) -> Vec<SnapshotName>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut names: Vec<SnapshotName> = file_names
        .into_iter()
        .filter_map(|name| SnapshotName::parse(name.as_ref()))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    names.dedup();
    names
}

/// The snapshots to delete so that the newest `keep` remain (`newest` as from [`newest_first`]).
pub fn beyond_keep(newest: &[SnapshotName], keep: usize) -> &[SnapshotName] {
    newest.get(keep..).unwrap_or_default()
}

/// The next snapshot's name: now, with a sequence number above every existing one, so that
/// names never repeat even when the clock steps back or two snapshots share a millisecond.
pub fn next_name(now_ms: i64, existing: &[SnapshotName], last_seq: u64) -> SnapshotName {
    let highest = existing.iter().map(|name| name.seq).max().unwrap_or(0);
    SnapshotName {
        at_ms: now_ms,
        seq: highest.max(last_seq).saturating_add(1),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day, hour, minute, second, millisecond) in UTC of `at_ms`.
fn civil(at_ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = at_ms.div_euclid(MS_PER_DAY);
    let in_day = at_ms.rem_euclid(MS_PER_DAY);
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let seconds = in_day / 1000;
    (
        year,
        month,
        day,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        in_day % 1000,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_show_utc_time_and_round_trip() {
        let name = SnapshotName {
            at_ms: 1_796_125_980_123,
            seq: 42,
        };
        assert_eq!(
            name.file_name(),
            "ashley-20261201T115300.123Z-000042.sqlite3"
        );
        assert_eq!(SnapshotName::parse(&name.file_name()), Some(name));
        for at_ms in [0, 951_782_400_000, 4_107_542_399_999, 1_709_164_800_000] {
            let name = SnapshotName { at_ms, seq: 1 };
            assert_eq!(
                SnapshotName::parse(&name.file_name()),
                Some(name),
                "{at_ms}"
            );
        }
        assert_eq!(
            SnapshotName {
                at_ms: 951_782_400_000,
                seq: 1
            }
            .file_name(),
            "ashley-20000229T000000.000Z-000001.sqlite3",
            "a leap day"
        );
    }

    #[test]
    fn other_files_are_not_snapshots() {
        for name in [
            "ashley.sqlite3",
            "ashley.sqlite3-wal",
            "ashley-20261201T113320.123Z-000042.sqlite3.tmp",
            "ashley-20261201T113320.123Z-.sqlite3",
            "ashley-20261201T113320.123Z-00004x.sqlite3",
            "ashley-20260231T113320.123Z-000001.sqlite3",
            "ashley-20261301T113320.123Z-000001.sqlite3",
            "ashley-2026121T113320.123Z-000001.sqlite3",
            "notes.txt",
        ] {
            assert_eq!(SnapshotName::parse(name), None, "{name}");
        }
    }

    #[test]
    fn newest_first_orders_by_sequence_then_time_and_ignores_the_rest() {
        let a = SnapshotName {
            at_ms: 1_000,
            seq: 1,
        };
        let b = SnapshotName {
            at_ms: 3_000,
            seq: 2,
        };
        // The clock stepped back between b and c: c is still the newer one.
        let c = SnapshotName {
            at_ms: 2_000,
            seq: 3,
        };
        let files = [
            b.file_name(),
            "ashley.sqlite3".to_owned(),
            c.file_name(),
            a.file_name(),
        ];
        assert_eq!(newest_first(&files), vec![c, b, a]);
    }

    #[test]
    fn pruning_keeps_the_newest() {
        let names: Vec<SnapshotName> = (0..7)
            .rev()
            .map(|seq| SnapshotName {
                at_ms: seq * 1_000,
                seq: seq.unsigned_abs(),
            })
            .collect();
        let dropped = beyond_keep(&names, 5);
        assert_eq!(dropped.len(), 2);
        assert!(dropped.iter().all(|name| name.seq < 2), "{dropped:?}");
        assert!(beyond_keep(&names, 7).is_empty());
        assert!(beyond_keep(&names, 50).is_empty());
    }

    #[test]
    fn sequence_numbers_never_repeat() {
        let existing = [SnapshotName {
            at_ms: 5_000,
            seq: 9,
        }];
        let next = next_name(4_000, &existing, 3);
        assert_eq!(
            next,
            SnapshotName {
                at_ms: 4_000,
                seq: 10
            }
        );
        assert_eq!(next_name(4_000, &[], 3).seq, 4);
        assert_eq!(next_name(4_000, &[], 0).seq, 1);
    }
}
