//! Model providers behind one trait: an OpenAI-compatible server, or the offline demo, chosen once at start-up.

use std::sync::Arc;

use futures_util::{future::BoxFuture, stream::BoxStream};
use serde::{Deserialize, Serialize};

use crate::{api::Mode, config::Config, metrics::Metrics, personas::Persona};

pub mod demo;
pub(crate) mod error;
pub mod openai;

pub use demo::{DEMO_MODEL, Demo};
pub use error::ProviderError;
pub use openai::Upstream;

/// One message of the context sent to the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WireMessage {
    pub role: &'static str,
    pub content: String,
}

/// What to ask the model.
#[derive(Clone, Debug, Default)]
pub struct ChatParams {
    pub messages: Vec<WireMessage>,
    pub temperature: f32,
    pub max_tokens: u32,
}

/// Token counts as the provider reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

/// A finished non-streamed completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub model: String,
    pub content: String,
    pub finish_reason: String,
    pub usage: Option<Usage>,
}

/// What the provider said about a streamed reply once it ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Finish {
    /// The model that answered, when the provider names it.
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
}

/// One item of a streamed reply: text as it arrives, then exactly one `End`.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    End(Finish),
}

/// A streamed reply. Dropping it closes the connection and frees the provider's slot.
pub type ReplyStream = BoxStream<'static, Result<Piece, ProviderError>>;

/// A source of replies. Implementations are chosen once, in [`from_config`].
pub trait Provider: Send + Sync + 'static {
    /// Live (a real model) or demo; what `/api/status` reports.
    fn mode(&self) -> Mode;

    /// The model replies are asked from (and labelled with until the provider names another).
    fn model(&self) -> &str;

    /// Opens a streamed reply; returns once the provider started answering, so failures
    /// before the first byte (retried where that helps) come back here.
    fn stream<'a>(
        &'a self,
        persona: &'a Persona,
        params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<ReplyStream, ProviderError>>;

    /// A whole reply in one answer.
    fn complete<'a>(
        &'a self,
        persona: &'a Persona,
        params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;

    /// Calls running now (for `/metrics`).
    fn in_flight(&self) -> usize {
        0
    }

    /// A cheap reachability check; `None` when there is nothing to reach.
    fn check_reachable(&self) -> BoxFuture<'_, Option<bool>> {
        Box::pin(async { None })
    }
}

/// The provider this configuration asks for: the OpenAI-compatible server when a key is set,
/// else the offline demo. The HTTP client is returned too: moderation shares its pool.
pub fn from_config(
    config: &Config,
    metrics: Arc<Metrics>,
) -> Result<(Arc<dyn Provider>, Upstream), String> {
    let upstream = Upstream::new(config, metrics)?;
    let provider: Arc<dyn Provider> = if config.api_key.is_some() {
        Arc::new(upstream.clone())
    } else {
        Arc::new(Demo::new(config.demo_delay))
    };
    Ok((provider, upstream))
}
