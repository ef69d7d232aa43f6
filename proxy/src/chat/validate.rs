//! The rules a turn's input must meet, the same whichever API it came through.

use super::{ChatError, Conversation, Speaker};
use crate::{
    api::{ErrorCode, MAX_MESSAGE_CHARS, MAX_QUERY_CHARS, MAX_TITLE_CHARS},
    personas::{Persona, Personas},
};

/// Bytes of randomness in a session id: 160 bits, written as 40 hex digits.
pub const SESSION_ID_BYTES: usize = 20;

/// Messages accepted in one `/v1` request.
pub const MAX_MESSAGES: usize = 200;

/// Ids that cannot be ours are answered without touching the store.
pub fn session_id(id: &str) -> Result<(), ChatError> {
    let well_formed = id.len() == SESSION_ID_BYTES * 2
        && id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if well_formed {
        Ok(())
    } else {
        Err(ChatError::unknown_session())
    }
}

/// The app's persona: a 400 naming the choices.
pub fn persona<'a>(personas: &'a Personas, id: &str) -> Result<&'a Persona, ChatError> {
    personas.get(id).ok_or_else(|| {
        ChatError::invalid(
            ErrorCode::UnknownPersona,
            format!(
                "There is no persona \"{id}\"; choose one of: {}.",
                personas.ids()
            ),
            "persona",
        )
    })
}

/// `/v1`'s model, which is a persona: a 404 as OpenAI answers it.
pub fn model<'a>(personas: &'a Personas, id: &str) -> Result<&'a Persona, ChatError> {
    personas.get(id).ok_or_else(|| ChatError::NotFound {
        code: ErrorCode::ModelNotFound,
        message: format!(
            "The model `{id}` does not exist. The models here are the personas: {}.",
            personas.ids()
        ),
        param: Some("model".to_owned()),
    })
}

/// The message rules: not empty, at most [`MAX_MESSAGE_CHARS`] characters.
pub fn message(text: &str) -> Result<(), ChatError> {
    if text.trim().is_empty() {
        return Err(ChatError::invalid(
            ErrorCode::EmptyMessage,
            "The message is empty; type something first.",
            "message",
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(ChatError::invalid(
            ErrorCode::MessageTooLong,
            format!(
                "The message is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}. Shorten it and send again."
            ),
            "message",
        ));
    }
    Ok(())
}

/// A conversation title its owner chose: trimmed, 1 to [`MAX_TITLE_CHARS`] characters on one
/// line. Returns it trimmed.
pub fn title(text: &str) -> Result<String, ChatError> {
    let title = text.trim();
    let invalid = |message: String| ChatError::invalid(ErrorCode::InvalidTitle, message, "title");
    if title.is_empty() {
        return Err(invalid(
            "The title is empty; type a name for the conversation.".to_owned(),
        ));
    }
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(invalid(format!(
            "The title is {chars} characters long; the limit is {MAX_TITLE_CHARS}. Shorten it and save again."
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(invalid(
            "The title has a line break, tab or other control character; use one line of plain text."
                .to_owned(),
        ));
    }
    Ok(title.to_owned())
}

/// A search query: trimmed, 1 to [`MAX_QUERY_CHARS`] characters. Returns it trimmed.
pub fn query(text: &str) -> Result<String, ChatError> {
    let query = text.trim();
    let invalid = |message: String| ChatError::invalid(ErrorCode::InvalidQuery, message, "q");
    if query.is_empty() {
        return Err(invalid(
            "The search is empty; type a word to look for.".to_owned(),
        ));
    }
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(invalid(format!(
            "The search is {chars} characters long; the limit is {MAX_QUERY_CHARS}. Use fewer words."
        )));
    }
    Ok(query.to_owned())
}

/// A `/v1` conversation: 1 to [`MAX_MESSAGES`] messages of at most [`MAX_MESSAGE_CHARS`]
/// characters ending in a non-empty user message, and sane sampling settings. Returns the
/// temperature and max_tokens to use: the persona's unless the client sets them, and never
/// more tokens than the persona allows.
pub fn conversation(
    persona: &Persona,
    conversation: &Conversation,
) -> Result<(f32, u32), ChatError> {
    let messages = &conversation.messages;
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        return Err(ChatError::invalid(
            ErrorCode::InvalidMessages,
            format!("Send between 1 and {MAX_MESSAGES} messages."),
            "messages",
        ));
    }
    let temperature = conversation.temperature.unwrap_or(persona.temperature);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ChatError::invalid(
            ErrorCode::InvalidTemperature,
            "temperature must be between 0 and 2.",
            "temperature",
        ));
    }
    let max_tokens = conversation
        .max_tokens
        .map_or(persona.max_tokens, |asked| asked.min(persona.max_tokens));
    if max_tokens == 0 {
        return Err(ChatError::invalid(
            ErrorCode::InvalidMaxTokens,
            "max_tokens must be at least 1.",
            "max_tokens",
        ));
    }
    for (index, said) in messages.iter().enumerate() {
        let chars = said.text.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(ChatError::invalid(
                ErrorCode::MessageTooLong,
                format!(
                    "Message {index} is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}."
                ),
                &format!("messages[{index}]"),
            ));
        }
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|said| said.speaker == Speaker::User);
    if last_user.is_none_or(|said| said.text.trim().is_empty()) {
        return Err(ChatError::invalid(
            ErrorCode::EmptyMessage,
            "The request has no non-empty user message.",
            "messages",
        ));
    }
    Ok((temperature, max_tokens))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn session_ids_must_be_40_hex_digits() {
        assert!(session_id(&"ab".repeat(20)).is_ok());
        assert!(session_id("../../etc").is_err());
        assert!(session_id(&"AB".repeat(20)).is_err());
    }

    #[test]
    fn messages_are_checked_for_emptiness_and_length() {
        assert_eq!(
            message(" \n\t").unwrap_err().code(),
            Some(ErrorCode::EmptyMessage)
        );
        let long = "é".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            message(&long).unwrap_err().code(),
            Some(ErrorCode::MessageTooLong)
        );
        assert!(message(&"é".repeat(MAX_MESSAGE_CHARS)).is_ok());
    }
}
