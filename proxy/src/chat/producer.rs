//! Where a reply's text comes from: the upstream stream, or the offline demo backend without a key.

use std::{collections::VecDeque, time::Duration};

use crate::{
    demo,
    personas::Persona,
    state::AppState,
    upstream::{ChatParams, ReplyStream, UpstreamError, Usage},
};

/// Where the reply's text comes from.
pub enum Producer {
    Upstream(Box<ReplyStream>),
    Demo {
        deltas: VecDeque<String>,
        delay: Duration,
        usage: Usage,
        first: bool,
    },
}

impl Producer {
    /// Opens the upstream stream (with retries), or the demo backend without a key.
    pub async fn start(
        state: &AppState,
        persona: &Persona,
        params: &ChatParams,
    ) -> Result<Self, UpstreamError> {
        if !state.is_live() {
            let last_user = params
                .messages
                .iter()
                .rev()
                .find(|message| message.role == "user")
                .map_or("", |message| message.content.as_str());
            let text = demo::reply(persona, last_user);
            let prompt_tokens = params
                .messages
                .iter()
                .map(|m| demo::estimate_tokens(&m.content))
                .sum();
            let completion_tokens = demo::estimate_tokens(&text);
            return Ok(Self::Demo {
                deltas: demo::deltas(&text).into(),
                delay: state.config().demo_delay,
                usage: Usage {
                    prompt_tokens,
                    completion_tokens,
                    total_tokens: prompt_tokens.saturating_add(completion_tokens),
                },
                first: true,
            });
        }
        let stream = state.upstream().stream_chat(params).await?;
        Ok(Self::Upstream(Box::new(stream)))
    }

    /// The next delta; `None` when the reply is complete.
    pub async fn next(&mut self) -> Option<Result<String, UpstreamError>> {
        match self {
            Self::Upstream(stream) => stream.next_delta().await,
            Self::Demo {
                deltas,
                delay,
                first,
                ..
            } => {
                if !*first && !delay.is_zero() {
                    tokio::time::sleep(*delay).await;
                }
                *first = false;
                deltas.pop_front().map(Ok)
            }
        }
    }

    pub fn model(&self, configured: &str) -> String {
        match self {
            Self::Upstream(stream) => stream
                .model
                .clone()
                .unwrap_or_else(|| configured.to_owned()),
            Self::Demo { .. } => demo::DEMO_MODEL.to_owned(),
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        match self {
            Self::Upstream(stream) => stream.usage,
            Self::Demo { usage, .. } => Some(*usage),
        }
    }

    pub fn finish_reason(&self) -> String {
        match self {
            Self::Upstream(stream) => stream
                .finish_reason
                .clone()
                .unwrap_or_else(|| "stop".to_owned()),
            Self::Demo { .. } => "stop".to_owned(),
        }
    }
}
