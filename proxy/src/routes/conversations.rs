//! `/api/conversations` and `/api/search` (documented in `api.rs`): the list, rename, pin, delete and undo, and search.
//!
//! Sending, regenerating and reading a conversation are the `/api/sessions` handlers under the
//! new name: one pipeline.

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{ClientCaller, app, events::live_event_stream};
use crate::{
    api::{ConversationList, ConversationPatch, ConversationSummary, ErrorCode, SearchResults},
    error::{ApiError, AppJson, AppPath},
    state::AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/conversations",
            get(list_conversations).post(create_conversation),
        )
        .route(
            "/conversations/{id}",
            get(app::history)
                .patch(change_conversation)
                .delete(delete_conversation),
        )
        .route("/conversations/{id}/restore", post(restore_conversation))
        .route("/conversations/{id}/messages", post(app::send_message))
        .route("/conversations/{id}/regenerate", post(app::regenerate))
        .route(
            "/conversations/{id}/replies/{reply}/events",
            get(reply_events),
        )
        .route("/conversations/{id}/replies/{reply}/stop", post(stop_reply))
        .route("/search", get(search))
}

async fn list_conversations(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<Json<ConversationList>, ApiError> {
    let conversations = state.chat().conversations(&caller).await?;
    Ok(Json(ConversationList { conversations }))
}

/// As `POST /api/sessions`: a browser's first conversation makes it a guest (the cookie).
async fn create_conversation(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<Response, ApiError> {
    let (summary, guest) = state.chat().create_conversation(&caller).await?;
    let response = (StatusCode::CREATED, Json(summary)).into_response();
    Ok(app::with_guest_cookie(&state, response, guest.as_ref()))
}

async fn change_conversation(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
    AppJson(patch): AppJson<ConversationPatch>,
) -> Result<Json<ConversationSummary>, ApiError> {
    let summary = state
        .chat()
        .change_conversation(&caller, &id, patch)
        .await?;
    Ok(Json(summary))
}

async fn delete_conversation(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.chat().delete_conversation(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore_conversation(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConversationSummary>, ApiError> {
    let summary = state.chat().restore_conversation(&caller, &id).await?;
    Ok(Json(summary))
}

#[derive(Deserialize)]
struct ReattachQuery {
    from_seq: Option<u64>,
}

/// Reattaches to a reply being written: its events from `?from_seq=N` (the first one wanted),
/// or after `Last-Event-ID: N` (the last one seen, as `EventSource` sends it), else from the
/// first; every event once, in order, then the rest as it is written.
async fn reply_events(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath((id, reply)): AppPath<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<ReattachQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::invalid(
            ErrorCode::InvalidQuery,
            format!(
                "`from_seq` must be a whole number (the first event wanted): {}",
                rejection.body_text()
            ),
        )
    })?;
    let after_last_seen = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::InvalidQuery,
                        "`Last-Event-ID` must be the number of the last event seen.",
                    )
                })?
                .saturating_add(1),
        ),
    };
    let first_seq = query.from_seq.max(after_last_seen).unwrap_or(1);
    let live = state.chat().live_reply(&caller, &id, &reply).await?;
    Ok(live_event_stream(live, first_seq))
}

/// Stops a reply being written, from any client: its readers get `stopped` after the last
/// delta, and what arrived is stored.
async fn stop_reply(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath((id, reply)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.chat().stop_reply(&caller, &id, &reply).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::invalid(
            ErrorCode::InvalidQuery,
            format!("The search could not be read: {}", rejection.body_text()),
        )
    })?;
    Ok(Json(state.chat().search(&caller, &query.q).await?))
}
