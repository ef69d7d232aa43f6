//! The app's API under `/api` (documented in `api.rs`): parse, call the chat core, encode its events as SSE.

use crate::{
    accounts::NewGuest,
    api::{
        ChatEvent, History, PersonaList, Regenerate, SendMessage, SessionCreated, SessionList,
        Status,
    },
    chat::{ChatError, Reply, Turn, TurnEvent},
    error::{ApiError, AppJson, AppPath, app_error},
    routes::{
        ClientCaller,
        events::{event_stream_of_one, live_event_stream},
    },
    state::AppState,
};
use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/personas", get(personas))
        .route("/sessions", get(list_sessions).post(create_session))
        .route("/sessions/{id}", get(history).delete(clear_session))
        .route("/sessions/{id}/messages", post(send_message))
        .route("/sessions/{id}/regenerate", post(regenerate))
        .route("/status", get(status))
}

async fn personas(State(state): State<AppState>) -> Json<PersonaList> {
    Json(state.config().personas.list())
}

async fn status(State(state): State<AppState>) -> Json<Status> {
    Json(state.status().await)
}

/// `GET /api/sessions`: the caller's conversations.
async fn list_sessions(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.chat().sessions(&caller).await?;
    Ok(Json(SessionList { sessions }))
}

/// A browser's first session makes it a guest: the answer sets the cookie that owns it.
async fn create_session(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
) -> Result<Response, ApiError> {
    let (session_id, guest) = state.chat().create_session(&caller).await?;
    let response = (StatusCode::CREATED, Json(SessionCreated { session_id })).into_response();
    Ok(with_guest_cookie(&state, response, guest.as_ref()))
}

/// A new guest's credential goes to the browser as the cookie that owns what it made.
pub(super) fn with_guest_cookie(
    state: &AppState,
    mut response: Response,
    guest: Option<&NewGuest>,
) -> Response {
    if let Some(guest) = guest {
        let cookie = state
            .cookies()
            .set_cookie(&guest.token, guest.max_age_secs());
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) async fn history(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(session_id): AppPath<String>,
) -> Result<Json<History>, ApiError> {
    Ok(Json(state.chat().open_history(&caller, &session_id).await?))
}

async fn clear_session(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.chat().clear_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn send_message(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(session_id): AppPath<String>,
    AppJson(body): AppJson<SendMessage>,
) -> Result<Response, ApiError> {
    let turn = Turn::Send {
        session_id,
        persona: body.persona,
        message: body.message,
    };
    answer(&state, state.chat().turn(caller, turn).await)
}

pub(super) async fn regenerate(
    State(state): State<AppState>,
    ClientCaller(caller): ClientCaller,
    AppPath(session_id): AppPath<String>,
    AppJson(body): AppJson<Regenerate>,
) -> Result<Response, ApiError> {
    let turn = Turn::Regenerate {
        session_id,
        persona: body.persona,
    };
    answer(&state, state.chat().turn(caller, turn).await)
}

/// A begun turn is written detached and its events stream as SSE from the first; a refusal is
/// a stream of one event; anything else is a JSON error.
fn answer(state: &AppState, turn: Result<Reply, ChatError>) -> Result<Response, ApiError> {
    match turn {
        Ok(reply) => {
            let live = state
                .chat()
                .write_detached(reply, app_event)
                .map_err(app_error)?;
            Ok(live_event_stream(live, 1))
        }
        Err(ChatError::Refused {
            message,
            categories,
        }) => Ok(event_stream_of_one(ChatEvent::Refused {
            message,
            categories,
        })),
        Err(err) => Err(app_error(err)),
    }
}

/// A core event as the app's wire event.
fn app_event(event: TurnEvent) -> ChatEvent {
    match event {
        TurnEvent::Started {
            user_message_id,
            persona,
            model,
            demo,
        } => ChatEvent::Started {
            user_message_id,
            persona,
            model,
            demo,
            live_reply: None,
        },
        TurnEvent::Notice(message) => ChatEvent::Notice { message },
        TurnEvent::Delta(text) => ChatEvent::Delta { text },
        TurnEvent::Done(done) => ChatEvent::Done {
            reply_id: done.reply_id.unwrap_or_default(),
            stats: done.stats,
        },
        TurnEvent::Failed(err) => ChatEvent::Error {
            error: app_error(err).body,
        },
    }
}
