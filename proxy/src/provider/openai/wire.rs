//! What goes over the wire to an OpenAI-compatible server: request bodies, completions, stream chunks, moderation verdicts.

use serde::{Deserialize, Serialize};

use crate::provider::{Usage, WireMessage};

#[derive(Serialize)]
pub(super) struct ChatBody<'a> {
    pub(super) model: &'a str,
    pub(super) messages: &'a [WireMessage],
    pub(super) temperature: f32,
    pub(super) max_tokens: u32,
    pub(super) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
pub(super) struct StreamOptions {
    pub(super) include_usage: bool,
}

#[derive(Deserialize)]
pub(super) struct CompletionBody {
    #[serde(default)]
    pub(super) model: String,
    #[serde(default)]
    pub(super) choices: Vec<CompletionChoice>,
    pub(super) usage: Option<Usage>,
}

#[derive(Deserialize)]
pub(super) struct CompletionChoice {
    pub(super) message: Option<ChoiceMessage>,
    pub(super) finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ChoiceMessage {
    pub(super) content: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Chunk {
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) choices: Vec<ChunkChoice>,
    pub(super) usage: Option<Usage>,
    pub(super) error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct ChunkChoice {
    pub(super) delta: Option<ChunkDelta>,
    pub(super) finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ChunkDelta {
    pub(super) content: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ModerationBody {
    #[serde(default)]
    pub(super) results: Vec<ModerationResult>,
}

#[derive(Deserialize)]
pub(super) struct ModerationResult {
    pub(super) flagged: bool,
    #[serde(default)]
    pub(super) categories: std::collections::BTreeMap<String, bool>,
}
