//! OpenAI's wire format as the fake writes it: completion objects, SSE chunks, moderation results.

use std::time::Duration;

use axum::{body::Body, response::Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Options;

const CREATED: u64 = 1_700_000_000;

/// What one chat request will answer, decided from its magic words.
pub(crate) struct Script {
    pub words: Vec<String>,
    pub chunk_delay: Duration,
    pub disconnect: bool,
}

impl Script {
    pub fn from_message(last: &str, options: &Options) -> Self {
        let text = if last.contains("[[echo]]") {
            last.to_owned()
        } else if let Some(count) = magic_number(last, "words") {
            (1..=count)
                .map(|n| format!("w{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            options.reply.clone()
        };
        let chunk_delay =
            magic_number(last, "slow").map_or(options.chunk_delay, Duration::from_millis);
        Self {
            words: split_keeping_spaces(&text),
            chunk_delay,
            disconnect: last.contains("[[disconnect]]"),
        }
    }

    fn text(&self) -> String {
        self.words.concat()
    }
}

/// "a b c" -> ["a", " b", " c"]: concatenating the chunks gives back the text exactly.
fn split_keeping_spaces(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if ch == ' ' && !current.trim().is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The content of the last `user` message in a chat request body.
pub fn last_user_message(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    let last = messages
        .iter()
        .rev()
        .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))?;
    match last.get("content")? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// `[[name:N]]` in `text` -> N.
pub fn magic_number(text: &str, name: &str) -> Option<u64> {
    let start = text.find(&format!("[[{name}:"))? + name.len() + 3;
    let rest = text.get(start..)?;
    let end = rest.find("]]")?;
    rest.get(..end)?.parse().ok()
}

/// `[[name:A:B]]` in `text` -> (A, B).
pub fn magic_pair(text: &str, name: &str) -> Option<(u64, u64)> {
    let start = text.find(&format!("[[{name}:"))? + name.len() + 3;
    let rest = text.get(start..)?;
    let end = rest.find("]]")?;
    let (first, second) = rest.get(..end)?.split_once(':')?;
    Some((first.parse().ok()?, second.parse().ok()?))
}

fn count_words(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count()).unwrap_or(u64::MAX)
}

fn prompt_tokens(body: &Value) -> u64 {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    messages
        .iter()
        .map(|message| {
            3 + message
                .get("content")
                .and_then(Value::as_str)
                .map_or(0, count_words)
        })
        .sum()
}

fn usage(body: &Value, completion_tokens: u64) -> Value {
    let prompt = prompt_tokens(body);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    })
}

/// A non-streamed `chat.completion` object.
pub(crate) fn completion(script: &Script, body: &Value, model: &str) -> Value {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": script.text(), "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(body, u64::try_from(script.words.len()).unwrap_or(u64::MAX)),
    })
}

fn chunk(model: &str, delta: Value, finish_reason: Option<&str>, include_usage: bool) -> Value {
    let mut chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": null,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    });
    if include_usage && let Some(object) = chunk.as_object_mut() {
        object.insert("usage".to_owned(), Value::Null);
    }
    chunk
}

fn event(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// A streamed reply: role chunk, one chunk per word, the finish chunk, the usage chunk when
/// asked for, then `data: [DONE]`; or a cut connection for `[[disconnect]]`.
pub(crate) fn stream_response(
    script: Script,
    body: &Value,
    model: &str,
    include_usage: bool,
) -> Response {
    let mut events = vec![event(&chunk(
        model,
        json!({"role": "assistant", "content": ""}),
        None,
        include_usage,
    ))];
    let cut_after = if script.disconnect { Some(2) } else { None };
    for word in script.words.iter().take(cut_after.unwrap_or(usize::MAX)) {
        events.push(event(&chunk(
            model,
            json!({"content": word}),
            None,
            include_usage,
        )));
    }
    if cut_after.is_none() {
        events.push(event(&chunk(model, json!({}), Some("stop"), include_usage)));
        if include_usage {
            let completion_tokens = u64::try_from(script.words.len()).unwrap_or(u64::MAX);
            events.push(event(&json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "system_fingerprint": null,
                "choices": [],
                "usage": usage(body, completion_tokens),
            })));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    let delay = script.chunk_delay;
    let disconnect = script.disconnect;
    let stream = futures_util::stream::unfold(
        (events.into_iter(), true, disconnect),
        move |(mut events, first, disconnect)| async move {
            match events.next() {
                Some(bytes) => {
                    if !first && !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Some((Ok(bytes), (events, false, disconnect)))
                }
                None if disconnect => {
                    // Let hyper flush what was sent (it writes while the body is pending), then
                    // end the chunked body with an error, without its terminator: a cut connection.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut");
                    Some((Err(cut), (events, false, false)))
                }
                None => None,
            }
        },
    );
    crate::sse_response(Body::from_stream(stream))
}

/// A `/v1/moderations` result for one input.
pub(crate) fn moderation_result(input: &str, flagged: bool) -> Value {
    let names = [
        "harassment",
        "harassment/threatening",
        "hate",
        "hate/threatening",
        "illicit",
        "illicit/violent",
        "self-harm",
        "self-harm/instructions",
        "self-harm/intent",
        "sexual",
        "sexual/minors",
        "violence",
        "violence/graphic",
    ];
    let is_flagged =
        |name: &str| flagged && (name == "violence" || name == "harassment/threatening");
    let categories: serde_json::Map<String, Value> = names
        .iter()
        .map(|name| ((*name).to_owned(), Value::Bool(is_flagged(name))))
        .collect();
    let scores: serde_json::Map<String, Value> = names
        .iter()
        .map(|name| {
            let score = if is_flagged(name) { 0.97 } else { 0.0001 };
            ((*name).to_owned(), json!(score))
        })
        .collect();
    json!({
        "id": "modr-fake",
        "model": "omni-moderation-latest",
        "results": [{
            "flagged": flagged,
            "categories": categories,
            "category_scores": scores,
            "category_applied_input_types": {},
            "input_chars": input.chars().count(),
        }],
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn magic_words_parse() {
        assert_eq!(magic_number("x [[slow:40]] y", "slow"), Some(40));
        assert_eq!(magic_pair("[[fail:2:503]]", "fail"), Some((2, 503)));
        assert_eq!(magic_number("nothing", "slow"), None);
    }

    #[test]
    fn chunks_concatenate_to_the_text() {
        let text = "Hello  there, world ";
        assert_eq!(split_keeping_spaces(text).concat(), text);
    }
}
