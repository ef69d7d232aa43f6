//! The OpenAI-compatible API under `/v1`: personas as models, chat completions streamed or not.

use std::{
    fmt::Write as _,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::{FromRequestParts, State},
    http::{StatusCode, header, request::Parts},
    response::Response,
    routing::{get, post},
};

use crate::{
    accounts::keys,
    api::ErrorCode,
    chat::{Caller, Turn, validate},
    config::V1Access,
    error::{ApiError, AppJson, AppPath},
    personas::Persona,
    routes::client_ip,
    state::AppState,
    store::CredentialKind,
};

mod non_stream;
mod request;
mod stream;
mod wire;

use wire::{CompletionRequest, ModelList, ModelObject};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/models", get(models))
        .route("/models/{id}", get(model))
        .route("/chat/completions", post(chat_completions))
}

/// Who calls `/v1`: the owner of a personal API key, the operator (one of `ASHLEY_API_KEYS`:
/// no owner), or with `ASHLEY_V1=open` anyone. Cookies count for nothing here, so another
/// site's page cannot spend a visitor's quota.
pub struct V1Caller(pub Caller);

impl FromRequestParts<AppState> for V1Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let accounts = &state.config().accounts;
        if accounts.v1 == V1Access::Off {
            return Err(ApiError::not_found(
                ErrorCode::UnknownEndpoint,
                "The OpenAI-compatible API is turned off on this Ashley (ASHLEY_V1=off).",
            ));
        }
        let mut caller = Caller {
            ip: client_ip(parts, state.config().trusted_proxies),
            owner: None,
            presented: None,
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        let mut known = false;
        if let Some(presented) = presented {
            if let Some(hash) = keys::parse(presented) {
                caller.presented = Some(CredentialKind::ApiKey);
                caller.owner = state
                    .store()
                    .owner_of(hash)
                    .await?
                    .filter(|(_, kind)| *kind == CredentialKind::ApiKey)
                    .map(|(owner, _)| owner);
                if caller.owner.is_some() {
                    known = true;
                    let store = state.store().clone();
                    state.tasks().spawn(async move {
                        let _ = store.touch_credential(hash).await;
                    });
                }
            } else {
                known = keys::is_operator_key(&accounts.api_keys, presented);
            }
        }
        if accounts.v1 == V1Access::Keys && !known {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                ErrorCode::InvalidApiKey,
                if presented.is_some() {
                    "Incorrect API key provided. Create a key in Ashley's Account panel (signed in), or ask the operator for one."
                } else {
                    "You didn't provide an API key. Send it as `Authorization: Bearer KEY`; signed-in users create keys in Ashley's Account panel."
                },
            ));
        }
        Ok(Self(caller))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn model_object(persona: &Persona) -> ModelObject {
    ModelObject {
        id: persona.id.clone(),
        object: "model",
        created: 1_735_689_600,
        owned_by: "ashley",
    }
}

async fn models(State(state): State<AppState>, _caller: V1Caller) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: state.config().personas.iter().map(model_object).collect(),
    })
}

async fn model(
    State(state): State<AppState>,
    _caller: V1Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<ModelObject>, ApiError> {
    let persona = validate::model(&state.config().personas, &id)?;
    Ok(Json(model_object(persona)))
}

/// `chatcmpl-` and 24 random hex digits, like OpenAI's ids.
fn completion_id() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    let mut id = String::with_capacity(9 + 2 * bytes.len());
    id.push_str("chatcmpl-");
    for byte in bytes {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

async fn chat_completions(
    State(state): State<AppState>,
    V1Caller(caller): V1Caller,
    AppJson(request): AppJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let (conversation, asked) = request::conversation(request)?;
    let reply = state
        .chat()
        .turn(caller, Turn::Complete(conversation))
        .await?;
    if asked.stream {
        stream::respond(reply, asked.include_usage).await
    } else {
        non_stream::respond(reply).await
    }
}
