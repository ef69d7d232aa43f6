//! Checking an OpenAI request: the persona it names, its parameters and messages, and moderation.

use std::time::Instant;

use axum::http::StatusCode;

use super::{ReplyFigures, find_model, record, wire::CompletionRequest};
use crate::{
    api::MAX_MESSAGE_CHARS,
    error::ApiError,
    metrics::Outcome,
    moderation::Decision,
    personas::Persona,
    state::AppState,
    upstream::{ChatParams, WireMessage},
};

/// Messages accepted in one request.
const MAX_MESSAGES: usize = 200;

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
    for (index, message) in request.messages.into_iter().enumerate() {
        let param = || format!("messages[{index}]");
        let role = match message.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            other => {
                return Err(ApiError::invalid(
                    "unsupported_role",
                    format!("Messages with role \"{other}\" are not supported; use system, user or assistant."),
                )
                .with_param(&param()));
            }
        };
        let text = match message.content {
            Some(content) => content.into_text().map_err(|kind| {
                ApiError::invalid(
                    "unsupported_content",
                    format!("Content parts of type \"{kind}\" are not supported; send text."),
                )
                .with_param(&param())
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
            .with_param(&param()));
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
pub(super) async fn moderate(
    state: &AppState,
    prepared: &Prepared,
    started: Instant,
) -> Result<(), ApiError> {
    for text in &prepared.user_texts {
        match state.moderator().check(text).await {
            Decision::Allow | Decision::AllowUnchecked { .. } => {}
            Decision::Refuse { message, .. } => {
                record(
                    state,
                    prepared,
                    Outcome::Refused,
                    ReplyFigures::default(),
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
