//! Reading an OpenAI request into the chat core's [`Conversation`]: OpenAI's roles, content parts and options.

use super::wire::CompletionRequest;
use crate::{
    api::ErrorCode,
    chat::{Conversation, Said, Speaker},
    error::ApiError,
};

/// How the client wants the answer.
pub struct Asked {
    pub stream: bool,
    pub include_usage: bool,
}

/// The request's conversation and how to answer it. Only what is OpenAI's own is checked
/// here (`n`, tools, roles, content parts); the core checks the rest.
pub fn conversation(request: CompletionRequest) -> Result<(Conversation, Asked), ApiError> {
    if request.n.is_some_and(|n| n != 1) {
        return Err(
            ApiError::invalid(ErrorCode::UnsupportedParameter, "Only n = 1 is supported.")
                .with_param("n"),
        );
    }
    if request.tools.is_some() {
        return Err(ApiError::invalid(
            ErrorCode::UnsupportedParameter,
            "Tools are not supported by this API.",
        )
        .with_param("tools"));
    }
    let mut messages = Vec::with_capacity(request.messages.len());
    for (index, message) in request.messages.into_iter().enumerate() {
        let param = || format!("messages[{index}]");
        let speaker = match message.role.as_str() {
            "system" | "developer" => Speaker::System,
            "user" => Speaker::User,
            "assistant" => Speaker::Assistant,
            other => {
                return Err(ApiError::invalid(
                    ErrorCode::UnsupportedRole,
                    format!("Messages with role \"{other}\" are not supported; use system, user or assistant."),
                )
                .with_param(&param()));
            }
        };
        let text = match message.content {
            Some(content) => content.into_text().map_err(|kind| {
                ApiError::invalid(
                    ErrorCode::UnsupportedContent,
                    format!("Content parts of type \"{kind}\" are not supported; send text."),
                )
                .with_param(&param())
            })?,
            None => String::new(),
        };
        messages.push(Said { speaker, text });
    }
    let conversation = Conversation {
        model: request.model,
        messages,
        temperature: request.temperature,
        max_tokens: request.max_completion_tokens.or(request.max_tokens),
    };
    let asked = Asked {
        stream: request.stream.unwrap_or(false),
        include_usage: request
            .stream_options
            .and_then(|options| options.include_usage)
            .unwrap_or(false),
    };
    Ok((conversation, asked))
}
