//! The operator's view: usage per day, persona and owner, every API key; blocking owners.

use rusqlite::{Connection, params};

use super::from_sql_int;
use crate::{
    api::{AdminDay, AdminPersona, AdminTotals},
    store::{ApiKeyRecord, KeyReport, OwnerId, OwnerReport, TokenHash, UsageReport, UserProfile},
};

/// A row's tokens: the provider's count, else about four characters a token (as quotas count).
const TOKENS: &str = "coalesce(total_tokens, (message_chars + reply_chars + 3) / 4)";

fn count(value: Option<i64>) -> u64 {
    from_sql_int(value).unwrap_or(0)
}

/// Everything the Admin panel shows, read in one transaction so its parts agree.
pub(super) fn usage_report(
    db: &Connection,
    since_ms: i64,
    day_ms: i64,
    max_owners: usize,
) -> rusqlite::Result<UsageReport> {
    let transaction = db.unchecked_transaction()?;
    let report = UsageReport {
        days: days(&transaction, since_ms, day_ms)?,
        personas: personas(&transaction, since_ms)?,
        owners: owners(&transaction, since_ms, max_owners)?,
        keys: keys(&transaction)?,
        totals: totals(&transaction, since_ms)?,
    };
    transaction.commit()?;
    Ok(report)
}

fn days(db: &Connection, since_ms: i64, day_ms: i64) -> rusqlite::Result<Vec<AdminDay>> {
    let mut days = db
        .prepare(&format!(
            "SELECT at_ms / ?2 AS day, count(DISTINCT owner_id), count(*),
             sum(CASE WHEN outcome <> 'refused' THEN {TOKENS} ELSE 0 END),
             sum(outcome = 'error')
             FROM usage WHERE at_ms >= ?1 GROUP BY day ORDER BY day"
        ))?
        .query_map(params![since_ms, day_ms], |row| {
            Ok(AdminDay {
                start_ms: row.get::<_, i64>(0)?.saturating_mul(day_ms),
                active_users: count(row.get(1)?),
                messages: count(row.get(2)?),
                tokens: count(row.get(3)?),
                errors: count(row.get(4)?),
                p50_ms: None,
                p95_ms: None,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Nearest-rank percentiles of each day's complete replies.
    let mut latencies = db.prepare(
        "WITH ranked AS (
             SELECT at_ms / ?2 AS day, total_ms,
             row_number() OVER (PARTITION BY at_ms / ?2 ORDER BY total_ms) AS rank,
             count(*) OVER (PARTITION BY at_ms / ?2) AS n
             FROM usage WHERE at_ms >= ?1 AND outcome = 'complete')
         SELECT day, max(CASE WHEN rank = (n * 50 + 99) / 100 THEN total_ms END),
         max(CASE WHEN rank = (n * 95 + 99) / 100 THEN total_ms END)
         FROM ranked GROUP BY day",
    )?;
    let rows = latencies.query_map(params![since_ms, day_ms], |row| {
        Ok((
            row.get::<_, i64>(0)?.saturating_mul(day_ms),
            from_sql_int(row.get(1)?),
            from_sql_int(row.get(2)?),
        ))
    })?;
    for row in rows {
        let (start_ms, p50, p95) = row?;
        if let Some(day) = days.iter_mut().find(|day| day.start_ms == start_ms) {
            day.p50_ms = p50;
            day.p95_ms = p95;
        }
    }
    Ok(days)
}

/// The nearest-rank percentile `percent` of `column` over the period's complete replies.
fn percentile(
    db: &Connection,
    column: &str,
    since_ms: i64,
    percent: i64,
) -> rusqlite::Result<Option<u64>> {
    let value: Option<i64> = db
        .query_row(
            &format!(
                "WITH kept AS (SELECT {column} AS value FROM usage
             WHERE at_ms >= ?1 AND outcome = 'complete' AND {column} IS NOT NULL)
             SELECT value FROM kept ORDER BY value
             LIMIT 1 OFFSET max((SELECT count(*) FROM kept) * ?2 + 99, 100) / 100 - 1"
            ),
            params![since_ms, percent],
            |row| row.get(0),
        )
        .or_else(|err| match err {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })?;
    Ok(from_sql_int(value))
}

fn totals(db: &Connection, since_ms: i64) -> rusqlite::Result<AdminTotals> {
    let mut totals = db.query_row(
        &format!(
            "SELECT count(*), sum(CASE WHEN outcome <> 'refused' THEN {TOKENS} ELSE 0 END),
             sum(outcome = 'error'), sum(outcome = 'refused') FROM usage WHERE at_ms >= ?1"
        ),
        params![since_ms],
        |row| {
            Ok(AdminTotals {
                messages: count(row.get(0)?),
                tokens: count(row.get(1)?),
                errors: count(row.get(2)?),
                refused: count(row.get(3)?),
                ..AdminTotals::default()
            })
        },
    )?;
    totals.p50_ms = percentile(db, "total_ms", since_ms, 50)?;
    totals.p95_ms = percentile(db, "total_ms", since_ms, 95)?;
    totals.ttft_p50_ms = percentile(db, "ttft_ms", since_ms, 50)?;
    Ok(totals)
}

fn personas(db: &Connection, since_ms: i64) -> rusqlite::Result<Vec<AdminPersona>> {
    db.prepare(&format!(
        "SELECT persona, count(*), sum(CASE WHEN outcome <> 'refused' THEN {TOKENS} ELSE 0 END),
         sum(outcome = 'error') FROM usage WHERE at_ms >= ?1
         GROUP BY persona ORDER BY count(*) DESC, persona"
    ))?
    .query_map(params![since_ms], |row| {
        Ok(AdminPersona {
            persona: row.get(0)?,
            messages: count(row.get(1)?),
            tokens: count(row.get(2)?),
            errors: count(row.get(3)?),
        })
    })?
    .collect()
}

fn owners(db: &Connection, since_ms: i64, max_owners: usize) -> rusqlite::Result<Vec<OwnerReport>> {
    db.prepare(&format!(
        "SELECT owners.id, owners.kind, owners.issuer, owners.subject, owners.name,
         owners.username, owners.email, owners.avatar_url, owners.last_seen_ms,
         owners.blocked_at_ms IS NOT NULL, count(usage.id),
         sum(CASE WHEN usage.outcome <> 'refused' THEN {TOKENS} ELSE 0 END),
         sum(usage.outcome = 'error')
         FROM owners LEFT JOIN usage ON usage.owner_id = owners.id AND usage.at_ms >= ?1
         GROUP BY owners.id HAVING owners.kind = 'user' OR count(usage.id) > 0
         ORDER BY count(usage.id) DESC, owners.last_seen_ms DESC LIMIT ?2"
    ))?
    .query_map(
        params![since_ms, i64::try_from(max_owners).unwrap_or(i64::MAX)],
        |row| {
            let user = (row.get::<_, String>(1)? == "user").then_some(UserProfile {
                issuer: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                subject: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                name: row.get(4)?,
                username: row.get(5)?,
                email: row.get(6)?,
                avatar_url: row.get(7)?,
            });
            Ok(OwnerReport {
                id: OwnerId(row.get(0)?),
                user,
                last_seen_ms: row.get(8)?,
                blocked: row.get(9)?,
                messages: count(row.get(10)?),
                tokens: count(row.get(11)?),
                errors: count(row.get(12)?),
            })
        },
    )?
    .collect()
}

fn keys(db: &Connection) -> rusqlite::Result<Vec<KeyReport>> {
    db.prepare(
        "SELECT credentials.token_hash, credentials.name, credentials.created_at_ms,
         credentials.last_used_ms, owners.id, coalesce(owners.name, owners.username, owners.email)
         FROM credentials JOIN owners ON owners.id = credentials.owner_id
         WHERE credentials.kind = 'api_key'
         ORDER BY credentials.created_at_ms DESC, credentials.rowid DESC",
    )?
    .query_map([], |row| {
        let bytes: Vec<u8> = row.get(0)?;
        let mut hash = [0_u8; 32];
        if let Some(bytes) = bytes.get(..32) {
            hash.copy_from_slice(bytes);
        }
        Ok(KeyReport {
            key: ApiKeyRecord {
                hash: TokenHash(hash),
                name: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                created_at_ms: row.get(2)?,
                last_used_ms: row.get(3)?,
            },
            owner: OwnerId(row.get(4)?),
            owner_name: row.get(5)?,
        })
    })?
    .collect()
}

/// Blocks or unblocks an owner (the time of the first block is kept).
pub(super) fn set_blocked(
    db: &Connection,
    owner: OwnerId,
    blocked: bool,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let changed = db
        .prepare_cached(
            "UPDATE owners SET blocked_at_ms = CASE WHEN ?2 THEN coalesce(blocked_at_ms, ?3) END
             WHERE id = ?1",
        )?
        .execute(params![owner.0, blocked, now_ms])?;
    Ok(changed > 0)
}

/// Revokes the API key whose hash starts with `id_prefix`, whoever holds it.
pub(super) fn revoke_any_api_key(db: &Connection, id_prefix: [u8; 8]) -> rusqlite::Result<bool> {
    let removed = db
        .prepare_cached(
            "DELETE FROM credentials WHERE kind = 'api_key' AND substr(token_hash, 1, 8) = ?1",
        )?
        .execute(params![&id_prefix[..]])?;
    Ok(removed > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::store::{
        CredentialKind, NewCredential, UsageRecord,
        sqlite::{owners, test_support::memory, usage},
    };

    const DAY: i64 = 86_400_000;

    fn row(at_ms: i64, owner: OwnerId, persona: &str, outcome: &str, total_ms: u64) -> UsageRecord {
        UsageRecord {
            at_ms,
            owner: Some(owner),
            source: "app".to_owned(),
            persona: persona.to_owned(),
            outcome: outcome.to_owned(),
            message_chars: 8,
            reply_chars: 32,
            total_tokens: (outcome == "complete").then_some(100),
            ttft_ms: Some(total_ms / 10),
            total_ms,
            ..UsageRecord::default()
        }
    }

    #[test]
    fn the_report_counts_days_personas_and_owners_and_blocking_stops_credentials() {
        let db = memory();
        let guest =
            owners::create_guest(&db, TokenHash([1; 32]), CredentialKind::Cookie, 0, i64::MAX)
                .unwrap();
        let idle =
            owners::create_guest(&db, TokenHash([2; 32]), CredentialKind::Cookie, 0, 9).unwrap();
        let user = match owners::sign_in_user(
            &db,
            &UserProfile {
                issuer: "https://id.example".to_owned(),
                subject: "ada".to_owned(),
                username: Some("ada".to_owned()),
                ..UserProfile::default()
            },
            None,
            &NewCredential {
                token: TokenHash([3; 32]),
                kind: CredentialKind::Bearer,
                name: None,
                expires_at_ms: i64::MAX,
            },
            DAY,
        )
        .unwrap()
        {
            crate::store::SignedIn::Account(user) => user,
            crate::store::SignedIn::Blocked => unreachable!(),
        };
        let rows = [
            row(10 * DAY + 1, guest, "ashley", "complete", 100),
            row(10 * DAY + 2, guest, "ashley", "complete", 300),
            row(10 * DAY + 3, user, "technical", "error", 50),
            row(11 * DAY + 1, user, "technical", "complete", 200),
            row(11 * DAY + 2, user, "creative", "refused", 0),
            // Before the period: not counted.
            row(9 * DAY, guest, "ashley", "complete", 9_000),
        ];
        usage::insert_usage(&db, &rows).unwrap();

        let report = usage_report(&db, 10 * DAY, DAY, 10).unwrap();
        let days: Vec<_> = report
            .days
            .iter()
            .map(|day| {
                (
                    day.start_ms / DAY,
                    day.active_users,
                    day.messages,
                    day.errors,
                )
            })
            .collect();
        assert_eq!(days, [(10, 2, 3, 1), (11, 1, 2, 0)]);
        assert_eq!(report.days[0].p50_ms, Some(100));
        assert_eq!(report.days[0].p95_ms, Some(300));
        // Complete replies count the provider's 100 tokens, the error 10 estimated, the
        // refusal none.
        assert_eq!(report.days[0].tokens, 210);
        assert_eq!(report.totals.messages, 5);
        assert_eq!(report.totals.errors, 1);
        assert_eq!(report.totals.refused, 1);
        assert_eq!(report.totals.p50_ms, Some(200));
        assert_eq!(report.totals.p95_ms, Some(300));
        assert_eq!(report.totals.ttft_p50_ms, Some(20));
        let personas: Vec<_> = report
            .personas
            .iter()
            .map(|persona| (persona.persona.as_str(), persona.messages))
            .collect();
        assert_eq!(personas, [("ashley", 2), ("technical", 2), ("creative", 1)]);
        // The idle guest is left out; the user is listed.
        let listed: Vec<_> = report
            .owners
            .iter()
            .map(|owner| (owner.id, owner.messages, owner.user.is_some()))
            .collect();
        assert_eq!(listed, [(user, 3, true), (guest, 2, false)]);
        assert!(!listed.iter().any(|(id, ..)| *id == idle));

        assert!(set_blocked(&db, user, true, 5).unwrap());
        assert_eq!(owners::owner_of(&db, TokenHash([3; 32]), 6).unwrap(), None);
        let report = usage_report(&db, 10 * DAY, DAY, 10).unwrap();
        assert!(report.owners[0].blocked);
        assert!(set_blocked(&db, user, false, 7).unwrap());
        assert!(
            owners::owner_of(&db, TokenHash([3; 32]), 8)
                .unwrap()
                .is_some()
        );
        assert!(!set_blocked(&db, OwnerId(999), true, 9).unwrap());
    }

    #[test]
    fn an_admin_revokes_anyone_s_key_by_its_id() {
        let db = memory();
        let owner =
            owners::create_guest(&db, TokenHash([1; 32]), CredentialKind::Cookie, 0, i64::MAX)
                .unwrap();
        let mut hash = [0_u8; 32];
        hash[..8].copy_from_slice(&[9, 8, 7, 6, 5, 4, 3, 2]);
        owners::issue_credential(
            &db,
            owner,
            &NewCredential {
                token: TokenHash(hash),
                kind: CredentialKind::ApiKey,
                name: Some("laptop".to_owned()),
                expires_at_ms: i64::MAX,
            },
            1,
        )
        .unwrap();
        let keys = keys(&db).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].owner, owner);
        assert_eq!(keys[0].key.name, "laptop");
        // The guest's own cookie is no API key.
        assert!(!revoke_any_api_key(&db, [1; 8]).unwrap());
        assert!(revoke_any_api_key(&db, [9, 8, 7, 6, 5, 4, 3, 2]).unwrap());
        assert!(!revoke_any_api_key(&db, [9, 8, 7, 6, 5, 4, 3, 2]).unwrap());
        assert!(
            owners::owner_of(&db, TokenHash([1; 32]), 2)
                .unwrap()
                .is_some()
        );
    }
}
