//! The OpenAI-compatible API under `/v1`: personas as models, chat completions streamed or not.

use std::{
    fmt::Write as _,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::State,
    response::Response,
    routing::{get, post},
};

use crate::{
    chat::millis,
    error::{ApiError, AppJson, AppPath},
    metrics::Outcome,
    personas::Persona,
    routes::ClientIp,
    state::AppState,
    store::{self, UsageRecord},
    upstream::Usage,
};

mod non_stream;
mod request;
mod stream;
mod wire;

pub use request::{Prepared, prepare};
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
    let persona = find_model(&state, &id)?;
    Ok(Json(model_object(persona)))
}

fn find_model<'a>(state: &'a AppState, id: &str) -> Result<&'a Persona, ApiError> {
    state.persona(id).ok_or_else(|| {
        ApiError::not_found(
            "model_not_found",
            format!(
                "The model `{id}` does not exist. The models here are the personas: {}.",
                state.config().personas.ids()
            ),
        )
        .with_param("model")
    })
}

/// What came back, for metrics and the usage table.
#[derive(Clone, Copy, Default)]
struct ReplyFigures {
    chars: usize,
    usage: Option<Usage>,
    ttft: Option<Duration>,
}

/// Counts one finished (or refused, or failed) request in the metrics and the usage table;
/// neither waits on anything (the usage row is queued for a background writer).
fn record(
    state: &AppState,
    prepared: &Prepared,
    outcome: Outcome,
    reply: ReplyFigures,
    started: Instant,
) {
    let total = started.elapsed();
    let usage = reply.usage;
    let tokens = (
        usage.map(|u| u.prompt_tokens),
        usage.map(|u| u.completion_tokens),
    );
    state
        .metrics()
        .record_reply("v1", outcome, reply.ttft, total, tokens);
    let message_chars = prepared
        .user_texts
        .last()
        .map_or(0, |text| text.chars().count());
    state.store().record_usage(UsageRecord {
        at_ms: store::now_ms(),
        source: "v1".to_owned(),
        persona: prepared.persona.id.clone(),
        outcome: outcome.name().to_owned(),
        message_chars: u64::try_from(message_chars).unwrap_or(u64::MAX),
        reply_chars: u64::try_from(reply.chars).unwrap_or(u64::MAX),
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
        total_tokens: usage.map(|u| u.total_tokens),
        ttft_ms: reply.ttft.map(millis),
        total_ms: millis(total),
    });
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
    ClientIp(client): ClientIp,
    AppJson(request): AppJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    state.check_rate(client)?;
    let prepared = prepare(&state, request)?;
    request::moderate(&state, &prepared, started).await?;
    if prepared.stream {
        stream::stream_completion(state, prepared, started).await
    } else {
        non_stream::complete(&state, &prepared, started).await
    }
}
