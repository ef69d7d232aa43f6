//! Read-only links and pages: `/api/conversations/{id}/share` (make, look, stop), `/s/{token}`
//! (a shared snapshot, for anyone with the link) and `/c/{id}` (one's own conversation).

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};

use super::ClientCaller;
use crate::{
    accounts,
    api::Share,
    chat::ChatError,
    error::{ApiError, AppPath},
    share::{
        html_response,
        render::{PageHeading, conversation_page, utc_display},
    },
    state::AppState,
    store::Snapshot,
};

/// Under `/api`.
pub fn api() -> Router<AppState> {
    Router::new().route(
        "/conversations/{id}/share",
        get(share_of).post(share).delete(unshare),
    )
}

/// The HTML pages, at the top level.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/s/{token}", get(shared_page))
        .route("/c/{id}", get(own_page))
}

async fn share(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let share = state.chat().share(&caller, &id).await?;
    Ok((StatusCode::CREATED, Json(share)).into_response())
}

async fn share_of(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<Json<Option<Share>>, ApiError> {
    Ok(Json(state.chat().share_of(&caller, &id).await?))
}

async fn unshare(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.chat().unshare(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn shared_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.chat().shared(&token).await {
        Ok(Some(snapshot)) => {
            let note = format!(
                "A shared conversation · {} · as it was on {}",
                messages_label(snapshot.messages.len()),
                utc_display(snapshot.created_at_ms)
            );
            render(&state, &snapshot, &note)
        }
        Ok(None) => accounts::page(
            StatusCode::NOT_FOUND,
            "This link does not work",
            "Nothing is shared under this link: its owner stopped sharing the conversation, \
             deleted it, or the link was copied incompletely.",
        ),
        Err(err) => trouble(&err),
    }
}

/// The caller's own conversation. A GET: the cookie goes along even when another site links
/// here, and the page shows the caller only what is already theirs.
async fn own_page(
    State(state): State<AppState>,
    caller: Result<ClientCaller, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let Ok(ClientCaller(caller)) = caller else {
        return unavailable();
    };
    match state.chat().own_page(&caller, &id).await {
        Ok(snapshot) => {
            let note = format!(
                "Your conversation · {} · last active {}",
                messages_label(snapshot.messages.len()),
                utc_display(snapshot.created_at_ms)
            );
            render(&state, &snapshot, &note)
        }
        Err(ChatError::NotFound { .. } | ChatError::Invalid { .. }) => accounts::page(
            StatusCode::NOT_FOUND,
            "No such conversation here",
            "This browser has no conversation under this address. Open it from the app's list \
             in the browser (or account) that owns it.",
        ),
        Err(ChatError::NoIdentity | ChatError::GuestsOff) => accounts::page(
            StatusCode::NOT_FOUND,
            "No such conversation here",
            "Sign in (or open Ashley in the browser that has this conversation) to see it.",
        ),
        Err(err) => trouble(&err),
    }
}

fn render(state: &AppState, snapshot: &Snapshot, note: &str) -> Response {
    let heading = PageHeading {
        title: &snapshot.title,
        note,
    };
    let chat = state.chat();
    let body = conversation_page(&heading, &snapshot.messages, |id| chat.persona_name(id));
    html_response(StatusCode::OK, body)
}

fn messages_label(count: usize) -> String {
    if count == 1 {
        "1 message".to_owned()
    } else {
        format!("{count} messages")
    }
}

fn trouble(err: &ChatError) -> Response {
    tracing::warn!("a conversation page could not be read: {err:?}");
    unavailable()
}

fn unavailable() -> Response {
    accounts::page(
        StatusCode::SERVICE_UNAVAILABLE,
        "This page cannot be shown right now",
        "The server could not read its conversations just now. Reload the page in a minute.",
    )
}
