//! A signed-in user's API keys for `/v1`: list, create (the key is shown once), revoke.
//! Guests have none: a key outlives a browser, so it belongs to an account.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get},
};

use crate::{
    accounts::keys,
    api::{CreatedKey, ErrorCode, KeyInfo, KeyList, MAX_KEY_NAME_CHARS, NewKey},
    chat::{Caller, ChatError},
    error::{ApiError, AppJson, AppPath, app_error},
    routes::ClientCaller,
    state::AppState,
    store::{CredentialKind, NewCredential, OwnerId, Profile, now_ms},
};

/// The most keys one account may hold.
const MAX_KEYS: usize = 25;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list).post(create))
        .route("/keys/{id}", delete(revoke))
}

/// The caller's account; a guest or nobody is refused.
async fn account(state: &AppState, caller: &Caller) -> Result<OwnerId, ApiError> {
    let owner = caller.owner.ok_or(app_error(ChatError::NoIdentity))?;
    match state.store().profile(owner).await? {
        Some(Profile::User(_)) => Ok(owner),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            ErrorCode::AccountRequired,
            "Sign in to create and use API keys: a guest has none.",
        )),
    }
}

async fn list(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<Json<KeyList>, ApiError> {
    let owner = account(&state, &caller).await?;
    let keys = state
        .store()
        .api_keys(owner)
        .await?
        .into_iter()
        .map(|record| KeyInfo {
            id: keys::key_id(&record.hash),
            name: record.name,
            created_at_ms: record.created_at_ms,
            last_used_ms: record.last_used_ms,
        })
        .collect();
    Ok(Json(KeyList { keys }))
}

async fn create(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppJson(body): AppJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let owner = account(&state, &caller).await?;
    let name = body.name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > MAX_KEY_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            ErrorCode::InvalidBody,
            format!(
                "Give the key a name of 1 to {MAX_KEY_NAME_CHARS} characters (say, where it is used)."
            ),
        ));
    }
    if state.store().api_keys(owner).await?.len() >= MAX_KEYS {
        return Err(ApiError::invalid(
            ErrorCode::InvalidBody,
            format!("An account may hold {MAX_KEYS} keys; revoke one you no longer use first."),
        ));
    }
    let (key, hash) = keys::generate().map_err(app_error)?;
    state
        .store()
        .issue_credential(
            owner,
            NewCredential {
                token: hash,
                kind: CredentialKind::ApiKey,
                name: Some(name.clone()),
                // Until revoked.
                expires_at_ms: i64::MAX,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            info: KeyInfo {
                id: keys::key_id(&hash),
                name,
                created_at_ms: now_ms(),
                last_used_ms: None,
            },
            key,
        }),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let owner = account(&state, &caller).await?;
    let unknown = || ApiError::not_found(ErrorCode::UnknownEndpoint, "There is no such key.");
    let prefix = parse_id(&id).ok_or_else(unknown)?;
    if state.store().revoke_api_key(owner, prefix).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(unknown())
    }
}

/// A key's public id (16 hex digits) as the bytes it names.
pub(crate) fn parse_id(id: &str) -> Option<[u8; 8]> {
    if id.len() != 16 {
        return None;
    }
    let mut bytes = [0_u8; 8];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(id.get(2 * index..2 * index + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_16_hex_digits() {
        assert_eq!(
            parse_id("00ff10a0b0c0d0e0"),
            Some([0, 0xff, 0x10, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0])
        );
        assert_eq!(parse_id("00ff"), None);
        assert_eq!(parse_id("zzff10a0b0c0d0e0"), None);
    }
}
