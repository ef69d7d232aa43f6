//! A streamed reply from the provider: SSE chunks in, text deltas out, with an idle timeout.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::{StreamExt as _, stream::BoxStream};
use tokio::sync::OwnedSemaphorePermit;

use super::{UpstreamError, Usage, failure, wire::Chunk};
use crate::sse::SseDecoder;

/// A streamed reply; holds its concurrency slot until dropped.
pub struct ReplyStream {
    bytes: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: SseDecoder,
    pending: VecDeque<String>,
    /// An error met while text from the same read was still queued: handed out after that text.
    failed: Option<UpstreamError>,
    secrets: Arc<[String]>,
    idle_timeout: Duration,
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    done: bool,
    permit: Option<OwnedSemaphorePermit>,
}

impl ReplyStream {
    /// Reads the body of a 200 streamed answer; `permit` is the concurrency slot it holds.
    pub(super) fn new(
        response: reqwest::Response,
        secrets: Arc<[String]>,
        idle_timeout: Duration,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            bytes: response.bytes_stream().boxed(),
            decoder: SseDecoder::default(),
            pending: VecDeque::new(),
            failed: None,
            secrets,
            idle_timeout,
            model: None,
            usage: None,
            finish_reason: None,
            done: false,
            permit: Some(permit),
        }
    }

    /// Closes the upstream connection and frees the concurrency slot now.
    pub fn release(&mut self) {
        self.permit = None;
        self.bytes = futures_util::stream::empty().boxed();
        self.done = true;
    }

    /// The next piece of text; `None` once the upstream finished cleanly.
    pub async fn next_delta(&mut self) -> Option<Result<String, UpstreamError>> {
        loop {
            if let Some(text) = self.pending.pop_front() {
                return Some(Ok(text));
            }
            if let Some(err) = self.failed.take() {
                return Some(Err(err));
            }
            if self.done {
                return None;
            }
            let read = tokio::time::timeout(self.idle_timeout, self.bytes.next()).await;
            let bytes = match read {
                Err(_elapsed) => return Some(Err(UpstreamError::Timeout)),
                Ok(None) => {
                    self.done = true;
                    // Without `[DONE]` or a finish reason the reply was cut off.
                    return match self.finish_reason {
                        Some(_) => None,
                        None => Some(Err(UpstreamError::Disconnected)),
                    };
                }
                Ok(Some(Err(_))) => {
                    self.done = true;
                    return Some(Err(UpstreamError::Disconnected));
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            for data in self
                .decoder
                .push(&bytes)
                .into_iter()
                .map(|event| event.data)
            {
                if let Err(err) = self.take_event(&data) {
                    self.done = true;
                    self.failed = Some(err.redact(&self.secrets));
                    break;
                }
            }
        }
    }

    fn take_event(&mut self, data: &str) -> Result<(), UpstreamError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|err| UpstreamError::Protocol(format!("stream chunk: {err}")))?;
        if let Some(error) = chunk.error {
            return Err(UpstreamError::InStream(failure::error_code(&error)));
        }
        if let Some(model) = chunk.model
            && !model.is_empty()
        {
            self.model = Some(model);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        for choice in chunk.choices {
            if let Some(text) = choice.delta.and_then(|delta| delta.content)
                && !text.is_empty()
            {
                self.pending.push_back(text);
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        Ok(())
    }
}
