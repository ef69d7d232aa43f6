//! A streamed reply from the provider: SSE chunks in, text deltas out, with an idle timeout.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::{StreamExt as _, stream::BoxStream};
use tokio::sync::OwnedSemaphorePermit;

use super::wire::Chunk;
use crate::{
    provider::{Finish, Piece, ProviderError, ReplyStream, Usage, error},
    sse::SseDecoder,
};

/// A streamed reply; holds its concurrency slot until dropped.
pub struct UpstreamReply {
    bytes: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: SseDecoder,
    pending: VecDeque<String>,
    /// An error met while text from the same read was still queued: handed out after that text.
    failed: Option<ProviderError>,
    secrets: Arc<[String]>,
    idle_timeout: Duration,
    model: Option<String>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    done: bool,
    _permit: OwnedSemaphorePermit,
}

impl UpstreamReply {
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
            _permit: permit,
        }
    }

    /// The provider-neutral stream: text pieces, then one [`Piece::End`]. The reply (and its
    /// slot and connection) is dropped as soon as it ends or fails, before the caller stores
    /// anything. `unfold` keeps the pending read inline: no allocation per delta.
    pub(super) fn into_stream(self) -> ReplyStream {
        futures_util::stream::unfold(Some(self), |reply| async move {
            let mut reply = reply?;
            match reply.next_delta().await {
                Some(Ok(text)) => Some((Ok(Piece::Text(text)), Some(reply))),
                Some(Err(err)) => Some((Err(err), None)),
                None => {
                    let finish = Finish {
                        model: reply.model.take(),
                        usage: reply.usage,
                        finish_reason: reply.finish_reason.take(),
                    };
                    Some((Ok(Piece::End(finish)), None))
                }
            }
        })
        .boxed()
    }

    /// The next piece of text; `None` once the upstream finished cleanly.
    async fn next_delta(&mut self) -> Option<Result<String, ProviderError>> {
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
                Err(_elapsed) => return Some(Err(ProviderError::Timeout)),
                Ok(None) => {
                    self.done = true;
                    // Without `[DONE]` or a finish reason the reply was cut off.
                    return match self.finish_reason {
                        Some(_) => None,
                        None => Some(Err(ProviderError::Disconnected)),
                    };
                }
                Ok(Some(Err(_))) => {
                    self.done = true;
                    return Some(Err(ProviderError::Disconnected));
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

    fn take_event(&mut self, data: &str) -> Result<(), ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|err| ProviderError::Protocol(format!("stream chunk: {err}")))?;
        if let Some(error) = chunk.error {
            return Err(ProviderError::InStream(error::error_code(&error)));
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
