//! Streamed `/v1/chat/completions`: each delta becomes a `chat.completion.chunk` the moment it arrives.
//!
//! The response body itself pulls the core's reply, which pulls the provider: no task and no
//! channel sit between the upstream read and the client write, so a delta crosses no thread.
//! A client that goes away drops the body, and with it the reply; the core then counts it as
//! cut short.

use std::convert::Infallible;

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse as _, Response},
};
use bytes::Bytes;

use super::{
    completion_id, unix_now,
    wire::{ChatChunk, ChunkChoice, ChunkDelta, UsageField},
};
use crate::{
    chat::{Reply, TurnEvent},
    error::ApiError,
    provider::Usage,
    routes::events::no_proxy_buffering,
};

/// Opens the provider first, so failures before the first byte get a real HTTP status; then
/// answers with a body that forwards each delta as it arrives.
pub(super) async fn respond(mut reply: Reply, include_usage: bool) -> Result<Response, ApiError> {
    reply.open().await?;
    let frames = ChunkFrames::new(
        completion_id(),
        unix_now(),
        reply.model().to_owned(),
        include_usage,
    );
    let chunks = Chunks {
        reply,
        frames,
        phase: Phase::Opening,
    };
    let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
        let frame = chunks.next_frame().await?;
        Some((Ok::<_, Infallible>(frame), chunks))
    });
    Ok(event_stream_response(Body::from_stream(body)))
}

/// The headers axum's `Sse` sets, over a body of ready-made `data:` frames.
fn event_stream_response(body: Body) -> Response {
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    no_proxy_buffering((headers, body).into_response())
}

enum Phase {
    /// The role chunk is next.
    Opening,
    Streaming,
    /// The last frame went out (or the reply failed): nothing more to write.
    Finished,
}

/// One streamed reply, pulled by the response body.
struct Chunks {
    reply: Reply,
    frames: ChunkFrames,
    phase: Phase,
}

impl Chunks {
    /// The next SSE frame; `None` ends the body.
    async fn next_frame(&mut self) -> Option<Bytes> {
        match self.phase {
            Phase::Opening => {
                self.phase = Phase::Streaming;
                return Some(self.frames.opening());
            }
            Phase::Finished => return None,
            Phase::Streaming => {}
        }
        loop {
            let Some(event) = self.reply.next().await else {
                self.phase = Phase::Finished;
                return None;
            };
            match event {
                TurnEvent::Delta(text) => return Some(self.frames.delta(&text)),
                // Counted by the core before the last frame is written: a client that read
                // `[DONE]` finds its reply in the metrics.
                TurnEvent::Done(done) => {
                    self.phase = Phase::Finished;
                    return Some(self.frames.ending(&done.finish_reason, done.usage));
                }
                TurnEvent::Failed(err) => {
                    self.phase = Phase::Finished;
                    // OpenAI's SDKs raise an APIError for a chunk carrying `error`.
                    let body = crate::api::ErrorResponse {
                        error: ApiError::from(err).body,
                    };
                    return Some(sse_frame(
                        serde_json::to_vec(&body).unwrap_or_default().as_slice(),
                    ));
                }
                TurnEvent::Started { .. } | TurnEvent::Notice(_) => {}
            }
        }
    }
}

/// `data: <payload>\n\n`.
fn sse_frame(payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(payload.len() + 8);
    frame.extend_from_slice(b"data: ");
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

/// What sits around a delta's text in its chunk: taken from the serialised chunk once per
/// reply, so a delta costs one escape of its text and one allocation.
const CONTENT_SLOT: &str = "\"delta\":{\"content\":\"\"}";

/// Writes the chunks of one reply in OpenAI's exact format.
struct ChunkFrames {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// `data: {...,"delta":{"content":` and what follows the text (`},...}\n\n`).
    delta_around: Option<(Vec<u8>, Vec<u8>)>,
}

impl ChunkFrames {
    fn new(id: String, created: u64, model: String, include_usage: bool) -> Self {
        let mut frames = Self {
            id,
            created,
            model,
            include_usage,
            delta_around: None,
        };
        let template = frames.chunk_json(
            ChunkDelta {
                role: None,
                content: Some(""),
            },
            None,
            frames.usage_field(),
            true,
        );
        // Quotes inside the id or model are escaped, so the slot is found only where it is.
        frames.delta_around = template.find(CONTENT_SLOT).map(|at| {
            let text_at = at + CONTENT_SLOT.len() - 3;
            let (before, after) = template.split_at(text_at);
            let after = after.get(2..).unwrap_or_default();
            let mut prefix = b"data: ".to_vec();
            prefix.extend_from_slice(before.as_bytes());
            let mut suffix = after.as_bytes().to_vec();
            suffix.extend_from_slice(b"\n\n");
            (prefix, suffix)
        });
        frames
    }

    fn usage_field(&self) -> UsageField {
        if self.include_usage {
            UsageField::Null
        } else {
            UsageField::Absent
        }
    }

    fn chunk_json(
        &self,
        delta: ChunkDelta<'_>,
        finish_reason: Option<&str>,
        usage: UsageField,
        with_choice: bool,
    ) -> String {
        let choices = if with_choice {
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
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: None,
            choices,
            usage,
        })
        .unwrap_or_default()
    }

    /// The first chunk: the assistant role with empty content.
    fn opening(&self) -> Bytes {
        let delta = ChunkDelta {
            role: Some("assistant"),
            content: Some(""),
        };
        sse_frame(
            self.chunk_json(delta, None, self.usage_field(), true)
                .as_bytes(),
        )
    }

    /// One piece of the reply.
    fn delta(&self, text: &str) -> Bytes {
        let Some((prefix, suffix)) = &self.delta_around else {
            let delta = ChunkDelta {
                role: None,
                content: Some(text),
            };
            return sse_frame(
                self.chunk_json(delta, None, self.usage_field(), true)
                    .as_bytes(),
            );
        };
        let mut frame = Vec::with_capacity(prefix.len() + text.len() + 16 + suffix.len());
        frame.extend_from_slice(prefix);
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut frame, text);
        frame.extend_from_slice(suffix);
        Bytes::from(frame)
    }

    /// The finish reason, the usage chunk when asked for, and `[DONE]`, in one write.
    fn ending(&self, finish_reason: &str, usage: Option<Usage>) -> Bytes {
        let mut frames = Vec::with_capacity(512);
        let finish = self.chunk_json(
            ChunkDelta::default(),
            Some(finish_reason),
            self.usage_field(),
            true,
        );
        frames.extend_from_slice(&sse_frame(finish.as_bytes()));
        if self.include_usage {
            let totals = UsageField::Totals(usage.unwrap_or_default());
            let usage_chunk = self.chunk_json(ChunkDelta::default(), None, totals, false);
            frames.extend_from_slice(&sse_frame(usage_chunk.as_bytes()));
        }
        frames.extend_from_slice(b"data: [DONE]\n\n");
        Bytes::from(frames)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn serde_delta(frames: &ChunkFrames, text: &str) -> Bytes {
        let delta = ChunkDelta {
            role: None,
            content: Some(text),
        };
        sse_frame(
            frames
                .chunk_json(delta, None, frames.usage_field(), true)
                .as_bytes(),
        )
    }

    #[test]
    fn delta_frames_are_byte_for_byte_what_serde_writes() {
        let awkward_model = "m\"delta\":{\"content\":\"\"}\\ \u{e9}";
        for (model, include_usage) in [("gpt-4", false), ("gpt-4", true), (awkward_model, true)] {
            let frames =
                ChunkFrames::new("chatcmpl-1".to_owned(), 7, model.to_owned(), include_usage);
            assert!(frames.delta_around.is_some());
            for text in [
                "w1",
                " two words",
                "quote \" back\\slash",
                "line\nbreak\ttab",
                "é 😀 \u{1}",
                "",
            ] {
                assert_eq!(
                    frames.delta(text),
                    serde_delta(&frames, text),
                    "{model:?} {text:?}"
                );
            }
        }
    }

    #[test]
    fn the_ending_has_finish_reason_usage_and_done() {
        let frames = ChunkFrames::new("chatcmpl-1".to_owned(), 7, "gpt-4".to_owned(), true);
        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: 2,
            total_tokens: 5,
        };
        let ending = String::from_utf8(frames.ending("stop", Some(usage)).to_vec()).unwrap();
        let events: Vec<&str> = ending.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3);
        assert!(events[0].contains("\"finish_reason\":\"stop\""));
        assert!(events[1].contains("\"choices\":[]") && events[1].contains("\"total_tokens\":5"));
        assert_eq!(events[2], "data: [DONE]");
    }
}
