//! Non-streamed `/v1/chat/completions`: one upstream call, one `chat.completion` object.

use std::time::Instant;

use axum::{
    Json,
    response::{IntoResponse as _, Response},
};

use super::{
    Prepared, ReplyFigures, completion_id, record, unix_now,
    wire::{ChatCompletion, CompletionChoice, OutMessage},
};
use crate::{
    demo,
    error::ApiError,
    metrics::Outcome,
    state::AppState,
    upstream::{Completion, Usage},
};

pub(super) async fn complete(
    state: &AppState,
    prepared: &Prepared,
    started: Instant,
) -> Result<Response, ApiError> {
    let completion = if state.is_live() {
        match state.upstream().complete_chat(&prepared.params).await {
            Ok(completion) => completion,
            Err(err) => {
                record(
                    state,
                    prepared,
                    Outcome::Error,
                    ReplyFigures::default(),
                    started,
                );
                return Err(err.to_api_error(state.upstream().model()));
            }
        }
    } else {
        demo_completion(prepared)
    };
    let reply = ReplyFigures {
        chars: completion.content.chars().count(),
        usage: completion.usage,
        ttft: Some(started.elapsed()),
    };
    record(state, prepared, Outcome::Complete, reply, started);
    Ok(Json(ChatCompletion {
        id: completion_id(),
        object: "chat.completion",
        created: unix_now(),
        model: completion.model,
        choices: [CompletionChoice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content: completion.content,
                refusal: None,
            },
            logprobs: None,
            finish_reason: completion.finish_reason,
        }],
        usage: completion.usage,
        system_fingerprint: None,
    })
    .into_response())
}

/// The demo text at once: pacing only matters when streaming.
fn demo_completion(prepared: &Prepared) -> Completion {
    let last_user = prepared.user_texts.last().map_or("", String::as_str);
    let text = demo::reply(&prepared.persona, last_user);
    let prompt_tokens = prepared
        .params
        .messages
        .iter()
        .map(|message| demo::estimate_tokens(&message.content))
        .sum();
    let completion_tokens = demo::estimate_tokens(&text);
    Completion {
        model: demo::DEMO_MODEL.to_owned(),
        content: text,
        finish_reason: "stop".to_owned(),
        usage: Some(Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }),
    }
}
