//! The operator's view, for the users listed in `ASHLEY_ADMINS`: usage per day, persona and
//! user, error rate and latency; block a user, revoke anyone's key. Everyone else is refused.

use axum::{
    Json, Router,
    extract::{RawQuery, State},
    http::StatusCode,
    routing::{delete, get, put},
};

use crate::{
    accounts::keys,
    api::{AdminDay, AdminKey, AdminReport, AdminUser, BlockUser, ErrorCode, MAX_ADMIN_DAYS},
    chat::{Caller, ChatError},
    error::{ApiError, AppJson, AppPath, app_error},
    routes::{ClientCaller, keys::parse_id},
    state::AppState,
    store::{OwnerId, Profile, now_ms},
};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Days shown when the request does not say.
const DEFAULT_DAYS: u32 = 14;
/// Owners listed, busiest first.
const MAX_USERS: usize = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(report))
        .route("/admin/users/{id}/blocked", put(block))
        .route("/admin/keys/{id}", delete(revoke_key))
}

/// The caller, when it is a signed-in user listed in `ASHLEY_ADMINS`; everyone else gets 403.
async fn admin(state: &AppState, caller: &Caller) -> Result<OwnerId, ApiError> {
    let owner = caller.owner.ok_or(app_error(ChatError::NoIdentity))?;
    match state.store().profile(owner).await? {
        Some(Profile::User(user)) if state.config().accounts.is_admin(&user) => Ok(owner),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            ErrorCode::AdminRequired,
            "The Admin panel is for the operator's admins (ASHLEY_ADMINS).",
        )),
    }
}

/// `days=N` from the query string, 1 to [`MAX_ADMIN_DAYS`].
fn days(query: Option<&str>) -> Result<u32, ApiError> {
    let Some(value) = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("days="))
    else {
        return Ok(DEFAULT_DAYS);
    };
    value
        .parse()
        .ok()
        .filter(|days| (1..=MAX_ADMIN_DAYS).contains(days))
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidBody,
                format!("days must be a whole number from 1 to {MAX_ADMIN_DAYS}, not {value:?}."),
            )
        })
}

/// `GET /api/admin[?days=N]`: the last N days (today included), every day present.
async fn report(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    RawQuery(query): RawQuery,
) -> Result<Json<AdminReport>, ApiError> {
    admin(&state, &caller).await?;
    let days = days(query.as_deref())?;
    let today = now_ms().div_euclid(DAY_MS) * DAY_MS;
    let since_ms = today - i64::from(days - 1) * DAY_MS;
    // Quotas and the report count the same rows: the ones still queued are written first.
    state.store().flush_usage().await?;
    let usage = state
        .store()
        .usage_report(since_ms, DAY_MS, MAX_USERS)
        .await?;
    let accounts = &state.config().accounts;
    let days = (0..i64::from(days))
        .map(|index| {
            let start_ms = since_ms + index * DAY_MS;
            usage
                .days
                .iter()
                .find(|day| day.start_ms == start_ms)
                .copied()
                .unwrap_or(AdminDay {
                    start_ms,
                    ..AdminDay::default()
                })
        })
        .collect();
    let users = usage
        .owners
        .into_iter()
        .map(|owner| {
            let admin = owner
                .user
                .as_ref()
                .is_some_and(|user| accounts.is_admin(user));
            AdminUser {
                id: owner.id.0,
                guest: owner.user.is_none(),
                name: owner
                    .user
                    .as_ref()
                    .and_then(|user| user.name.clone().or_else(|| user.username.clone())),
                email: owner.user.and_then(|user| user.email),
                messages: owner.messages,
                tokens: owner.tokens,
                errors: owner.errors,
                last_seen_ms: owner.last_seen_ms,
                blocked: owner.blocked,
                admin,
            }
        })
        .collect();
    let keys = usage
        .keys
        .into_iter()
        .map(|key| AdminKey {
            id: keys::key_id(&key.key.hash),
            name: key.key.name,
            owner_id: key.owner.0,
            owner_name: key.owner_name,
            created_at_ms: key.key.created_at_ms,
            last_used_ms: key.key.last_used_ms,
        })
        .collect();
    Ok(Json(AdminReport {
        since_ms,
        days,
        personas: usage.personas,
        users,
        keys,
        totals: usage.totals,
    }))
}

/// `PUT /api/admin/users/{id}/blocked`: a blocked user's credentials all stop working and
/// sign-in is refused; unblocking restores the ones that have not expired.
async fn block(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<BlockUser>,
) -> Result<StatusCode, ApiError> {
    let me = admin(&state, &caller).await?;
    let target = OwnerId(id);
    let unknown = || ApiError::not_found(ErrorCode::UnknownEndpoint, "There is no such user.");
    let profile = state.store().profile(target).await?.ok_or_else(unknown)?;
    if body.blocked {
        let refusal = if target == me {
            Some("You cannot block yourself.")
        } else if matches!(&profile, Profile::User(user) if state.config().accounts.is_admin(user))
        {
            Some("Admins cannot be blocked here: take them out of ASHLEY_ADMINS first.")
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return Err(ApiError::invalid(ErrorCode::InvalidBody, refusal));
        }
    }
    if !state.store().set_blocked(target, body.blocked).await? {
        return Err(unknown());
    }
    tracing::info!(
        "admin {} {} owner {}",
        me.0,
        if body.blocked { "blocked" } else { "unblocked" },
        target.0
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/admin/keys/{id}`: any user's key, by the id the report lists.
async fn revoke_key(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let me = admin(&state, &caller).await?;
    let unknown = || ApiError::not_found(ErrorCode::UnknownEndpoint, "There is no such key.");
    let prefix = parse_id(&id).ok_or_else(unknown)?;
    if !state.store().revoke_any_api_key(prefix).await? {
        return Err(unknown());
    }
    tracing::info!("admin {} revoked the API key {id}", me.0);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_default_to_two_weeks_and_stay_in_range() {
        assert_eq!(days(None).ok(), Some(DEFAULT_DAYS));
        assert_eq!(days(Some("x=1&days=30")).ok(), Some(30));
        for bad in ["days=0", "days=91", "days=-1", "days=two", "days="] {
            assert!(days(Some(bad)).is_err(), "{bad}");
        }
    }
}
