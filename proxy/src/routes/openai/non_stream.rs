//! Non-streamed `/v1/chat/completions`: the core's whole reply as one `chat.completion` object.

use axum::{
    Json,
    response::{IntoResponse as _, Response},
};

use super::{
    completion_id, unix_now,
    wire::{ChatCompletion, CompletionChoice, OutMessage},
};
use crate::{chat::Reply, error::ApiError};

pub(super) async fn respond(reply: Reply) -> Result<Response, ApiError> {
    let completion = reply.complete().await?;
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
