//! `/api/conversations` and `/api/search` (documented in `api.rs`): the list, rename, pin, delete and undo, and search.
//!
//! Sending, regenerating and reading a conversation are the `/api/sessions` handlers under the
//! new name: one pipeline.

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{ClientCaller, app};
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
