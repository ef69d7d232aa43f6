//! The OpenAI-compatible API under `/v1`: personas as models, chat completions streamed or not.

use std::{
    fmt::Write as _,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::State,
    response::Response,
    routing::{get, post},
};

use crate::{
    chat::{Turn, validate},
    error::{ApiError, AppJson, AppPath},
    personas::Persona,
    routes::ClientCaller,
    state::AppState,
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

async fn models(State(state): State<AppState>) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: state.config().personas.iter().map(model_object).collect(),
    })
}

async fn model(
    State(state): State<AppState>,
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
    ClientCaller(caller): ClientCaller,
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
