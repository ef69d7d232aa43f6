//! The OpenAI-compatible API under `/v1`: personas as models, chat completions streamed or not.

use std::{
    convert::Infallible,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, Sse},
    },
    routing::{get, post},
};
use tokio::sync::mpsc;

use super::openai_wire::{
    ChatChunk, ChatCompletion, ChunkChoice, ChunkDelta, CompletionChoice, CompletionRequest,
    ModelList, ModelObject, OutMessage, UsageField,
};
use crate::{
    api::MAX_MESSAGE_CHARS,
    chat::{Producer, millis},
    demo,
    error::{ApiError, AppJson, AppPath},
    metrics::Outcome,
    moderation::Decision,
    personas::Persona,
    routes::{ClientIp, app::no_proxy_buffering},
    state::AppState,
    store::{self, UsageRecord},
    upstream::{ChatParams, UpstreamError, Usage, WireMessage},
};

/// Messages accepted in one request.
const MAX_MESSAGES: usize = 200;

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

/// A checked request: the context to send and what the client asked for.
pub struct Prepared {
    pub persona: Persona,
    pub params: ChatParams,
    pub user_texts: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
}

/// Validates an OpenAI request and builds the upstream context: the persona's system prompt,
/// then the client's messages. The persona's temperature and max_tokens apply unless the
/// client sets them; max_tokens never exceeds the persona's.
pub fn prepare(state: &AppState, request: CompletionRequest) -> Result<Prepared, ApiError> {
    let persona = find_model(state, &request.model)?.clone();
    if request.n.is_some_and(|n| n != 1) {
        return Err(
            ApiError::invalid("unsupported_parameter", "Only n = 1 is supported.").with_param("n"),
        );
    }
    if request.tools.is_some() {
        return Err(ApiError::invalid(
            "unsupported_parameter",
            "Tools are not supported by this API.",
        )
        .with_param("tools"));
    }
    if request.messages.is_empty() || request.messages.len() > MAX_MESSAGES {
        return Err(ApiError::invalid(
            "invalid_messages",
            format!("Send between 1 and {MAX_MESSAGES} messages."),
        )
        .with_param("messages"));
    }
    let temperature = request.temperature.unwrap_or(persona.temperature);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(
            "invalid_temperature",
            "temperature must be between 0 and 2.",
        )
        .with_param("temperature"));
    }
    let max_tokens = request
        .max_completion_tokens
        .or(request.max_tokens)
        .map_or(persona.max_tokens, |asked| asked.min(persona.max_tokens));
    if max_tokens == 0 {
        return Err(
            ApiError::invalid("invalid_max_tokens", "max_tokens must be at least 1.")
                .with_param("max_tokens"),
        );
    }
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    messages.push(WireMessage {
        role: "system",
        content: persona.system_prompt.clone(),
    });
    let mut user_texts = Vec::new();
    for (index, message) in request.messages.iter().enumerate() {
        let param = format!("messages[{index}]");
        let role = match message.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            other => {
                return Err(ApiError::invalid(
                    "unsupported_role",
                    format!("Messages with role \"{other}\" are not supported; use system, user or assistant."),
                )
                .with_param(&param));
            }
        };
        let text = match &message.content {
            Some(content) => content.text().map_err(|kind| {
                ApiError::invalid(
                    "unsupported_content",
                    format!("Content parts of type \"{kind}\" are not supported; send text."),
                )
                .with_param(&param)
            })?,
            None => String::new(),
        };
        let chars = text.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(ApiError::invalid(
                "message_too_long",
                format!(
                    "Message {index} is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}."
                ),
            )
            .with_param(&param));
        }
        if role == "user" {
            user_texts.push(text.clone());
        }
        messages.push(WireMessage {
            role,
            content: text,
        });
    }
    if user_texts.last().is_none_or(|text| text.trim().is_empty()) {
        return Err(ApiError::invalid(
            "empty_message",
            "The request has no non-empty user message.",
        )
        .with_param("messages"));
    }
    Ok(Prepared {
        persona,
        params: ChatParams {
            messages,
            temperature,
            max_tokens,
        },
        user_texts,
        stream: request.stream.unwrap_or(false),
        include_usage: request
            .stream_options
            .and_then(|options| options.include_usage)
            .unwrap_or(false),
    })
}

/// Every user message is moderated (cached verdicts make repeated history free).
async fn moderate(state: &AppState, prepared: &Prepared, started: Instant) -> Result<(), ApiError> {
    for text in &prepared.user_texts {
        match state.moderator().check(text).await {
            Decision::Allow | Decision::AllowUnchecked { .. } => {}
            Decision::Refuse { message, .. } => {
                record(
                    state,
                    &prepared.persona,
                    prepared,
                    Outcome::Refused,
                    0,
                    None,
                    None,
                    started,
                );
                return Err(ApiError::invalid("content_flagged", message).with_param("messages"));
            }
            Decision::Unavailable { message } => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    "moderation_unavailable",
                    message,
                ));
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record(
    state: &AppState,
    persona: &Persona,
    prepared: &Prepared,
    outcome: Outcome,
    reply_chars: usize,
    usage: Option<Usage>,
    ttft: Option<std::time::Duration>,
    started: Instant,
) {
    let total = started.elapsed();
    let tokens = (
        usage.map(|u| u.prompt_tokens),
        usage.map(|u| u.completion_tokens),
    );
    state
        .metrics()
        .record_reply("v1", outcome, ttft, total, tokens);
    let message_chars = prepared
        .user_texts
        .last()
        .map_or(0, |text| text.chars().count());
    state.store().record_usage(UsageRecord {
        at_ms: store::now_ms(),
        source: "v1".to_owned(),
        persona: persona.id.clone(),
        outcome: outcome.name().to_owned(),
        message_chars: u64::try_from(message_chars).unwrap_or(u64::MAX),
        reply_chars: u64::try_from(reply_chars).unwrap_or(u64::MAX),
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
        total_tokens: usage.map(|u| u.total_tokens),
        ttft_ms: ttft.map(millis),
        total_ms: millis(total),
    });
}

fn completion_id() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("chatcmpl-{hex}")
}

async fn chat_completions(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppJson(request): AppJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    state.check_rate(client)?;
    let prepared = prepare(&state, request)?;
    moderate(&state, &prepared, started).await?;
    if prepared.stream {
        return stream_completion(state, prepared, started).await;
    }
    let model = state.upstream().model().to_owned();
    let failed = |state: &AppState, prepared: &Prepared, err: UpstreamError| {
        record(
            state,
            &prepared.persona,
            prepared,
            Outcome::Error,
            0,
            None,
            None,
            started,
        );
        err.to_api_error(&model)
    };
    let (model, content, finish_reason, usage) = if state.is_live() {
        let completion = match state.upstream().complete_chat(&prepared.params).await {
            Ok(completion) => completion,
            Err(err) => return Err(failed(&state, &prepared, err)),
        };
        (
            completion.model,
            completion.content,
            completion.finish_reason,
            completion.usage,
        )
    } else {
        // The demo text at once: pacing only matters when streaming.
        let last_user = prepared.user_texts.last().map_or("", String::as_str);
        let text = demo::reply(&prepared.persona, last_user);
        let prompt_tokens = prepared
            .params
            .messages
            .iter()
            .map(|message| demo::estimate_tokens(&message.content))
            .sum();
        let completion_tokens = demo::estimate_tokens(&text);
        let usage = Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        };
        (
            demo::DEMO_MODEL.to_owned(),
            text,
            "stop".to_owned(),
            Some(usage),
        )
    };
    record(
        &state,
        &prepared.persona,
        &prepared,
        Outcome::Complete,
        content.chars().count(),
        usage,
        Some(started.elapsed()),
        started,
    );
    Ok(Json(ChatCompletion {
        id: completion_id(),
        object: "chat.completion",
        created: unix_now(),
        model,
        choices: [CompletionChoice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content,
                refusal: None,
            },
            logprobs: None,
            finish_reason,
        }],
        usage,
        system_fingerprint: None,
    })
    .into_response())
}

/// Opens the upstream first, so failures before the first byte get a real HTTP status; then
/// forwards each delta as a chunk the moment it arrives.
async fn stream_completion(
    state: AppState,
    prepared: Prepared,
    started: Instant,
) -> Result<Response, ApiError> {
    let producer = match Producer::start(&state, &prepared.persona, &prepared.params).await {
        Ok(producer) => producer,
        Err(err) => {
            record(
                &state,
                &prepared.persona,
                &prepared,
                Outcome::Error,
                0,
                None,
                None,
                started,
            );
            return Err(err.to_api_error(state.upstream().model()));
        }
    };
    let (sender, receiver) = mpsc::channel::<String>(64);
    state.tasks().spawn(forward_chunks(
        state.clone(),
        prepared,
        producer,
        sender,
        started,
    ));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let data = receiver.recv().await?;
        Some((Ok::<_, Infallible>(Event::default().data(data)), receiver))
    });
    Ok(no_proxy_buffering(Sse::new(stream).into_response()))
}

async fn forward_chunks(
    state: AppState,
    prepared: Prepared,
    mut producer: Producer,
    sender: mpsc::Sender<String>,
    started: Instant,
) {
    let id = completion_id();
    let created = unix_now();
    let model = producer.model(state.upstream().model());
    let usage_field = || {
        if prepared.include_usage {
            UsageField::Null
        } else {
            UsageField::Absent
        }
    };
    let chunk =
        |delta: ChunkDelta<'_>, finish_reason: Option<&str>, usage: UsageField, choices: bool| {
            let choices = if choices {
                vec![ChunkChoice {
                    index: 0,
                    delta,
                    logprobs: None,
                    finish_reason,
                }]
            } else {
                Vec::new()
            };
            serde_json::to_string(&ChatChunk {
                id: &id,
                object: "chat.completion.chunk",
                created,
                model: &model,
                system_fingerprint: None,
                choices,
                usage,
            })
            .unwrap_or_default()
        };
    let opening = chunk(
        ChunkDelta {
            role: Some("assistant"),
            content: Some(""),
        },
        None,
        usage_field(),
        true,
    );
    if sender.send(opening).await.is_err() {
        return;
    }
    let shutdown = state.shutdown_token();
    let mut reply_chars = 0;
    let mut ttft = None;
    let failure = loop {
        tokio::select! {
            piece = producer.next() => match piece {
                Some(Ok(text)) => {
                    ttft.get_or_insert_with(|| started.elapsed());
                    reply_chars += text.chars().count();
                    let frame = chunk(ChunkDelta { role: None, content: Some(&text) }, None, usage_field(), true);
                    if sender.send(frame).await.is_err() {
                        break Some(None);
                    }
                }
                Some(Err(err)) => break Some(Some(err)),
                None => break None,
            },
            () = sender.closed() => break Some(None),
            () = shutdown.cancelled() => break Some(Some(UpstreamError::ShuttingDown)),
        }
    };
    let usage = producer.usage();
    match failure {
        None => {
            let finish_reason = producer.finish_reason();
            let _ = sender
                .send(chunk(
                    ChunkDelta::default(),
                    Some(&finish_reason),
                    usage_field(),
                    true,
                ))
                .await;
            if prepared.include_usage {
                let totals = UsageField::Totals(usage.unwrap_or_default());
                let _ = sender
                    .send(chunk(ChunkDelta::default(), None, totals, false))
                    .await;
            }
            let _ = sender.send("[DONE]".to_owned()).await;
            record(
                &state,
                &prepared.persona,
                &prepared,
                Outcome::Complete,
                reply_chars,
                usage,
                ttft,
                started,
            );
        }
        Some(err) => {
            let outcome = if reply_chars > 0 {
                Outcome::Partial
            } else {
                Outcome::Error
            };
            record(
                &state,
                &prepared.persona,
                &prepared,
                outcome,
                reply_chars,
                usage,
                ttft,
                started,
            );
            if let Some(err) = err {
                state.metrics().record_stream_error();
                // OpenAI's SDKs raise an APIError for a chunk carrying `error`.
                let body = crate::api::ErrorResponse {
                    error: err.to_api_error(&model).body,
                };
                let _ = sender
                    .send(serde_json::to_string(&body).unwrap_or_default())
                    .await;
            }
        }
    }
}
