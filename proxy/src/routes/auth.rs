//! Who is asking and signing in: the browser's sign-in pages (`/auth/login`, `/auth/callback`,
//! `/auth/logout`) and the app's `/api/me` and `/api/auth/*`.
//!
//! A sign-in under way lives in the store (keyed by the hash of its `state`, taken once), so
//! any replica can finish it; a short `Lax` cookie ties it to the browser that started it.

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::{
    accounts::{self, SignInError, Token, page},
    api::{ErrorCode, GuestToken, Identity, Me, SignInInfo, TokenExchange},
    chat::ChatError,
    error::{ApiError, AppJson, app_error},
    routes::ClientCaller,
    state::AppState,
    store::{
        CredentialKind, DesktopReturn, NewCredential, PendingSignIn, Profile, SignedIn, now_ms,
    },
};

/// How long a person has at the provider before the sign-in must start again.
const SIGN_IN_SECS: i64 = 10 * 60;
/// How long the desktop app has to swap its one-time code.
const HANDOFF_MS: i64 = 2 * 60 * 1000;

/// `/auth/*`, for the browser.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
}

/// `/api/me` and `/api/auth/*`, for the app.
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/me", get(me).delete(delete_me))
        .route("/auth/guest", post(new_guest_token))
        .route("/auth/token", post(exchange_code))
        .route("/auth/logout", post(logout))
}

/// `GET /api/me`.
async fn me(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<Json<Me>, ApiError> {
    let mut me = Me::anonymous();
    me.guests_allowed = state.config().accounts.guests;
    me.sign_in = state.oidc().map(|oidc| SignInInfo {
        provider: oidc.settings().name.clone(),
        login_path: "/auth/login".to_owned(),
    });
    if let Some(owner) = caller.owner {
        me.quota = state.chat().quota(owner).await.map_err(app_error)?;
        match state.store().profile(owner).await? {
            Some(Profile::Guest) => me.identity = Identity::Guest,
            Some(Profile::User(user)) => {
                me.identity = Identity::User;
                me.admin = state.config().accounts.is_admin(&user);
                me.name = user.name;
                me.email = user.email;
                me.avatar_url = user.avatar_url;
            }
            None => {}
        }
    }
    Ok(Json(me))
}

/// `DELETE /api/me`: the account (or guest) and everything it owns, gone for good.
async fn delete_me(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<Response, ApiError> {
    let owner = caller.owner.ok_or(app_error(ChatError::NoIdentity))?;
    state.store().delete_owner(owner).await?;
    tracing::info!("an owner deleted their data");
    Ok(signed_out(&state))
}

/// `POST /api/auth/guest`: a bearer token for a client without cookies (the desktop app).
async fn new_guest_token(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<(StatusCode, Json<GuestToken>), ApiError> {
    state.chat().check_rate(&caller).map_err(app_error)?;
    let accounts = &state.config().accounts;
    if !accounts.guests {
        return Err(app_error(ChatError::GuestsOff));
    }
    let guest = accounts::new_guest(
        &**state.store(),
        CredentialKind::Bearer,
        accounts.credential_lifetime_ms(),
    )
    .await
    .map_err(app_error)?;
    Ok((
        StatusCode::CREATED,
        Json(GuestToken {
            token: guest.token.expose().to_owned(),
            expires_at_ms: guest.expires_at_ms,
        }),
    ))
}

/// `POST /api/auth/token`: the desktop app swaps the one-time code its loopback address
/// received for its own bearer token; the guest it was moves into the account.
async fn exchange_code(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppJson(body): AppJson<TokenExchange>,
) -> Result<(StatusCode, Json<GuestToken>), ApiError> {
    state.chat().check_rate(&caller).map_err(app_error)?;
    let spent = || {
        ApiError::invalid(
            ErrorCode::InvalidSignInCode,
            "This sign-in code has expired or was used already; sign in again.",
        )
    };
    let code = Token::parse(body.code.trim()).ok_or_else(spent)?;
    let owner = state
        .store()
        .take_credential(code.hash(), CredentialKind::Handoff)
        .await?
        .ok_or_else(spent)?;
    if let Some(guest) = caller.owner {
        state.store().merge_guest(guest, owner).await?;
    }
    let token = Token::generate().map_err(app_error)?;
    let expires_at_ms = now_ms().saturating_add(state.config().accounts.credential_lifetime_ms());
    state
        .store()
        .issue_credential(
            owner,
            NewCredential {
                token: token.hash(),
                kind: CredentialKind::Bearer,
                name: None,
                expires_at_ms,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GuestToken {
            token: token.expose().to_owned(),
            expires_at_ms,
        }),
    ))
}

/// `POST /api/auth/logout` (and `/auth/logout`): the credential ends and the cookie goes. A
/// signed-in user's conversations stay with the account; a guest's are unreachable from then
/// on and are cleaned up.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some((token, _)) = accounts::credential(&headers) {
        state.store().revoke(token.hash()).await?;
    }
    Ok(signed_out(&state))
}

fn signed_out(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.cookies().clear_cookie());
    response
}

#[derive(Deserialize)]
struct LoginQuery {
    client: Option<String>,
    port: Option<String>,
    state: Option<String>,
}

/// `GET /auth/login`: off to the provider. `?client=desktop&port=P&state=S`: a desktop app
/// listening on `http://127.0.0.1:P/callback` gets the result there, with its `state`.
async fn login(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(oidc) = state.oidc() else {
        return page(
            StatusCode::NOT_FOUND,
            "Sign-in is not set up",
            "This Ashley has no sign-in provider configured; you can chat as a guest.",
        );
    };
    if state.chat().check_rate(&caller).is_err() {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts",
            "Wait a minute, then try again.",
        );
    }
    let desktop = match query.client.as_deref() {
        None | Some("web") => None,
        Some("desktop") => match desktop_return(query.port.as_deref(), query.state.as_deref()) {
            Some(desktop) => Some(desktop),
            None => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in link is incomplete",
                    "A desktop sign-in needs the port and state the app chose. Use the app's Sign in button.",
                );
            }
        },
        Some(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                "Use the Sign in button in Ashley.",
            );
        }
    };
    // The guest signing in brings its conversations along (a browser's, by its cookie; the
    // desktop app's come with its token exchange).
    let guest = match (caller.owner, &desktop) {
        (Some(owner), None) => match state.store().profile(owner).await {
            Ok(Some(Profile::Guest)) => Some(owner),
            Ok(_) => None,
            Err(err) => return store_trouble(&err.into()),
        },
        _ => None,
    };
    let begun = match oidc.begin().await {
        Ok(begun) => begun,
        Err(err) => {
            tracing::warn!("sign-in could not start: {err}");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable right now",
                &format!("{}. Try again in a minute.", capitalised(&err.to_string())),
            );
        }
    };
    let pending = PendingSignIn {
        nonce: begun.nonce,
        pkce_verifier: begun.pkce_verifier,
        guest,
        desktop,
    };
    let expires_at_ms = now_ms().saturating_add(SIGN_IN_SECS * 1000);
    if let Err(err) = state
        .store()
        .save_sign_in(accounts::hash_text(&begun.state), pending, expires_at_ms)
        .await
    {
        return store_trouble(&err.into());
    }
    let mut response = redirect(begun.authorize_url.as_str());
    response.headers_mut().append(
        header::SET_COOKIE,
        state.cookies().set_sign_in(&begun.state, SIGN_IN_SECS),
    );
    response
}

/// The desktop app's loopback address, from a port (above 1023) and a state of its making.
fn desktop_return(port: Option<&str>, state: Option<&str>) -> Option<DesktopReturn> {
    let port = port?.parse::<u16>().ok().filter(|port| *port > 1023)?;
    let state = state.filter(|state| {
        (16..=128).contains(&state.len())
            && state
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
    })?;
    Some(DesktopReturn {
        redirect: format!("http://127.0.0.1:{port}/callback"),
        state: state.to_owned(),
    })
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback`: back from the provider. Every failure is a page saying what happened
/// and stores nothing.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let cookies = state.cookies();
    let mut response = finish_sign_in(&state, &headers, query).await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookies.clear_sign_in());
    response
}

async fn finish_sign_in(state: &AppState, headers: &HeaderMap, query: CallbackQuery) -> Response {
    let Some(oidc) = state.oidc() else {
        return page(
            StatusCode::NOT_FOUND,
            "Sign-in is not set up",
            "This Ashley has no sign-in provider configured.",
        );
    };
    let start_again = "Start again from Ashley's Sign in button.";
    let Some(sign_in_state) = query.state.filter(|state| !state.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            &format!(
                "The provider's answer did not say which sign-in it belongs to. {start_again}"
            ),
        );
    };
    let state_hash = accounts::hash_text(&sign_in_state);
    let pending = match state.store().take_sign_in(state_hash).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired",
                &format!(
                    "It was finished already, or it took longer than {} minutes. {start_again}",
                    SIGN_IN_SECS / 60
                ),
            );
        }
        Err(err) => return store_trouble(&err.into()),
    };
    // Compared by hash: the same cost whatever the cookie holds.
    let same_browser =
        accounts::sign_in_cookie(headers).map(accounts::hash_text) == Some(state_hash);
    if !same_browser {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in was started in another browser",
            &format!("For your safety it cannot be finished here. {start_again}"),
        );
    }
    if let Some(error) = query.error {
        let said = query
            .error_description
            .map_or(error.clone(), |description| {
                format!("{error}: {description}")
            });
        return page(
            StatusCode::UNAUTHORIZED,
            "Sign-in was not completed",
            &format!("The provider said: {said}. {start_again}"),
        );
    }
    let Some(code) = query.code else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            &format!("The provider's answer had no code. {start_again}"),
        );
    };
    let profile = match oidc
        .finish(code, pending.nonce, pending.pkce_verifier)
        .await
    {
        Ok(profile) => profile,
        Err(err) => {
            tracing::warn!("a sign-in was refused: {err}");
            let status = match err {
                SignInError::ProviderUnavailable(_) => StatusCode::BAD_GATEWAY,
                SignInError::CodeRejected(_) | SignInError::TokenInvalid(_) => {
                    StatusCode::UNAUTHORIZED
                }
            };
            return page(
                status,
                "Sign-in failed",
                &format!("{}. {start_again}", capitalised(&err.to_string())),
            );
        }
    };
    if !oidc.settings().allows(profile.email.as_deref()) {
        let who = profile
            .email
            .as_deref()
            .map_or("An account without an e-mail address".to_owned(), |email| {
                email.to_owned()
            });
        return page(
            StatusCode::FORBIDDEN,
            "This account may not sign in here",
            &format!(
                "{who} is not on this Ashley's list of people who may sign in. Ask its operator, or sign in with another account."
            ),
        );
    }
    let Ok(token) = Token::generate() else {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "The server could not make a credential. Try again.",
        );
    };
    let lifetime_ms = state.config().accounts.credential_lifetime_ms();
    let (kind, guest, expires_at_ms) = match &pending.desktop {
        None => (
            CredentialKind::Cookie,
            pending.guest,
            now_ms() + lifetime_ms,
        ),
        Some(_) => (CredentialKind::Handoff, None, now_ms() + HANDOFF_MS),
    };
    let credential = NewCredential {
        token: token.hash(),
        kind,
        name: None,
        expires_at_ms,
    };
    match state.store().sign_in_user(profile, guest, credential).await {
        Ok(SignedIn::Account(_)) => {}
        Ok(SignedIn::Blocked) => {
            return page(
                StatusCode::FORBIDDEN,
                "This account is blocked",
                "The operator of this Ashley has blocked this account.",
            );
        }
        Err(err) => return store_trouble(&err.into()),
    }
    match pending.desktop {
        None => {
            let mut response = redirect("/");
            response.headers_mut().append(
                header::SET_COOKIE,
                state.cookies().set_cookie(&token, lifetime_ms / 1000),
            );
            response
        }
        Some(desktop) => {
            let Ok(mut url) = reqwest::Url::parse(&desktop.redirect) else {
                return page(
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed",
                    &format!("The app's address is not valid. {start_again}"),
                );
            };
            url.query_pairs_mut()
                .append_pair("code", token.expose())
                .append_pair("state", &desktop.state);
            redirect(url.as_str())
        }
    }
}

/// A 303 to `location`, never cached.
fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The store's trouble as a page (the JSON error's words).
fn store_trouble(err: &ApiError) -> Response {
    page(err.status, "Sign-in failed", &err.body.message)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_desktop_return_is_loopback_with_the_apps_own_state() {
        let good = desktop_return(Some("49152"), Some("abcdefghijklmnop")).unwrap();
        assert_eq!(good.redirect, "http://127.0.0.1:49152/callback");
        assert_eq!(good.state, "abcdefghijklmnop");
        assert!(desktop_return(Some("80"), Some("abcdefghijklmnop")).is_none());
        assert!(desktop_return(Some("x"), Some("abcdefghijklmnop")).is_none());
        assert!(desktop_return(Some("49152"), Some("short")).is_none());
        assert!(desktop_return(Some("49152"), Some("abcdefghijklmnop&x=1")).is_none());
        assert!(desktop_return(None, Some("abcdefghijklmnop")).is_none());
    }
}
