//! The app's chat API under `/api` (documented in `api.rs`): thin handlers over plain functions.

use std::time::Instant;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::sync::mpsc;

use crate::{
    api::{
        ChatEvent, History, MAX_MESSAGE_CHARS, PersonaList, Regenerate, SendMessage,
        SessionCreated, Status,
    },
    chat::{self, AppReply},
    error::{ApiError, AppJson, AppPath},
    moderation::Decision,
    personas::Persona,
    routes::{ClientIp, events::event_stream_of_one},
    state::AppState,
    store::{self, Regeneration, Turn, UsageRecord, UserMessage},
};

pub use super::events::{event_stream, no_proxy_buffering};

/// Bytes of randomness in a session id: 160 bits, written as 40 hex digits.
const SESSION_ID_BYTES: usize = 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/personas", get(personas))
        .route("/sessions", post(create_session))
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

/// A new unguessable session id from the OS's random source.
pub fn new_session_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; SESSION_ID_BYTES];
    getrandom::fill(&mut bytes).map_err(|err| {
        tracing::error!("no randomness for a session id: {err}");
        ApiError::internal("Could not create a session; try again.")
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn unknown_session() -> ApiError {
    ApiError::not_found(
        "unknown_session",
        "This conversation does not exist (it may have expired after being idle); start a new one.",
    )
}

/// Ids that cannot be ours are answered without touching the store.
fn check_session_id(id: &str) -> Result<(), ApiError> {
    let well_formed = id.len() == SESSION_ID_BYTES * 2
        && id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if well_formed {
        Ok(())
    } else {
        Err(unknown_session())
    }
}

fn store_failure(err: store::StoreError) -> ApiError {
    tracing::error!("{err}");
    ApiError::internal("The conversation store failed; try again in a moment.")
}

/// The message rules: not empty, at most [`MAX_MESSAGE_CHARS`] characters.
pub fn validate_message(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::invalid(
            "empty_message",
            "The message is empty; type something first.",
        )
        .with_param("message"));
    }
    let chars = text.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(ApiError::invalid(
            "message_too_long",
            format!("The message is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}. Shorten it and send again."),
        )
        .with_param("message"));
    }
    Ok(())
}

fn find_persona<'a>(state: &'a AppState, id: &str) -> Result<&'a Persona, ApiError> {
    state.persona(id).ok_or_else(|| {
        ApiError::invalid(
            "unknown_persona",
            format!(
                "There is no persona \"{id}\"; choose one of: {}.",
                state.config().personas.ids()
            ),
        )
        .with_param("persona")
    })
}

async fn create_session(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
) -> Result<Response, ApiError> {
    state.check_rate(client)?;
    let session_id = new_session_id()?;
    state
        .store()
        .create_session(&session_id)
        .await
        .map_err(store_failure)?;
    Ok((StatusCode::CREATED, Json(SessionCreated { session_id })).into_response())
}

async fn history(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<History>, ApiError> {
    check_session_id(&id)?;
    let messages = state
        .store()
        .history(&id)
        .await
        .map_err(store_failure)?
        .ok_or_else(unknown_session)?;
    Ok(Json(History {
        session_id: id,
        messages,
    }))
}

async fn clear_session(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    check_session_id(&id)?;
    let existed = state
        .store()
        .delete_session(&id)
        .await
        .map_err(store_failure)?;
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(unknown_session())
    }
}

async fn send_message(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<SendMessage>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    state.check_rate(client)?;
    check_session_id(&id)?;
    let persona = find_persona(&state, &body.persona)?.clone();
    validate_message(&body.message)?;
    let user_chars = u64::try_from(body.message.chars().count()).unwrap_or(u64::MAX);
    // A clean verdict that needs no call (the local list, a cached verdict) lets the session
    // check share the store trip that stores the message; otherwise an unknown session is
    // answered before any moderation call is made.
    let notice = if state.moderator().clean_without_call(&body.message) {
        None
    } else {
        let exists = state
            .store()
            .session_exists(&id)
            .await
            .map_err(store_failure)?;
        if !exists {
            return Err(unknown_session());
        }
        match state.moderator().check(&body.message).await {
            Decision::Allow => None,
            Decision::AllowUnchecked { notice } => Some(notice),
            Decision::Refuse {
                message,
                categories,
            } => {
                record_refusal(&state, &persona, user_chars, started);
                return Ok(event_stream_of_one(ChatEvent::Refused {
                    message,
                    categories,
                }));
            }
            Decision::Unavailable { message } => {
                // Fail closed, but keep what the person typed: nothing reached the model.
                let said = UserMessage {
                    session_id: &id,
                    persona: &persona.id,
                    text: &body.message,
                };
                state
                    .store()
                    .save_user_message(said)
                    .await
                    .map_err(store_failure)?;
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    "moderation_unavailable",
                    message,
                ));
            }
        }
    };
    // Stored before the upstream call: no upstream failure can lose what the person typed.
    let history_len = state.config().history_messages + 1;
    let message = UserMessage {
        session_id: &id,
        persona: &persona.id,
        text: &body.message,
    };
    let stored = state
        .store()
        .begin_turn(message, history_len)
        .await
        .map_err(store_failure)?;
    let Some(Turn {
        user_message_id,
        context: recent,
    }) = stored
    else {
        return Err(unknown_session());
    };
    let params = chat::context(&persona, &recent);
    Ok(spawn_reply(
        &state,
        AppReply {
            session_id: id,
            persona,
            params,
            user_message_id: Some(user_message_id),
            user_chars,
            notice,
            started,
        },
    ))
}

async fn regenerate(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<Regenerate>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    state.check_rate(client)?;
    check_session_id(&id)?;
    let persona = find_persona(&state, &body.persona)?.clone();
    let history_len = state.config().history_messages + 1;
    let found = state
        .store()
        .begin_regenerate(&id, history_len)
        .await
        .map_err(store_failure)?;
    let (last_user, recent) = match found {
        Regeneration::Ready { last_user, context } => (last_user, context),
        Regeneration::UnknownSession => return Err(unknown_session()),
        Regeneration::NothingToRegenerate => {
            return Err(ApiError::invalid(
                "nothing_to_regenerate",
                "There is no message to answer again in this conversation.",
            ));
        }
    };
    let params = chat::context(&persona, &recent);
    Ok(spawn_reply(
        &state,
        AppReply {
            session_id: id,
            persona,
            params,
            user_message_id: None,
            user_chars: u64::try_from(last_user.content.chars().count()).unwrap_or(u64::MAX),
            notice: None,
            started,
        },
    ))
}

fn record_refusal(state: &AppState, persona: &Persona, user_chars: u64, started: Instant) {
    let total = started.elapsed();
    state.metrics().record_reply(
        "app",
        crate::metrics::Outcome::Refused,
        None,
        total,
        (None, None),
    );
    state.store().record_usage(UsageRecord {
        at_ms: store::now_ms(),
        source: "app".to_owned(),
        persona: persona.id.clone(),
        outcome: "refused".to_owned(),
        message_chars: user_chars,
        total_ms: chat::millis(total),
        ..UsageRecord::default()
    });
}

/// Starts the reply task and answers with its event stream.
fn spawn_reply(state: &AppState, job: AppReply) -> Response {
    let (sender, receiver) = mpsc::channel(64);
    state
        .tasks()
        .spawn(chat::run_app_reply(state.clone(), job, sender));
    event_stream(receiver)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn session_ids_are_160_random_bits_in_hex() {
        let first = new_session_id().unwrap();
        assert_eq!(first.len(), 40);
        assert!(check_session_id(&first).is_ok());
        assert_ne!(first, new_session_id().unwrap());
        assert!(check_session_id("../../etc").is_err());
    }

    #[test]
    fn messages_are_checked_for_emptiness_and_length() {
        assert_eq!(
            validate_message(" \n\t").unwrap_err().code(),
            "empty_message"
        );
        let long = "é".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            validate_message(&long).unwrap_err().code(),
            "message_too_long"
        );
        assert!(validate_message(&"é".repeat(MAX_MESSAGE_CHARS)).is_ok());
    }
}
