//! OpenAI's chat completion wire format: the request the proxy accepts and the objects it writes.

use serde::{Deserialize, Serialize};

use crate::provider::Usage;

#[derive(Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub messages: Vec<InMessage>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptionsIn>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub n: Option<u32>,
    pub tools: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub struct StreamOptionsIn {
    pub include_usage: Option<bool>,
}

#[derive(Deserialize)]
pub struct InMessage {
    pub role: String,
    pub content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

impl Content {
    /// The text of the message; `Err(kind)` names the first part that is not text.
    pub fn into_text(self) -> Result<String, String> {
        match self {
            Self::Text(text) => Ok(text),
            Self::Parts(parts) => {
                let mut text = String::new();
                for part in parts {
                    match (&*part.kind, &part.text) {
                        ("text", Some(piece)) => text.push_str(piece),
                        (kind, _) => return Err(kind.to_owned()),
                    }
                }
                Ok(text)
            }
        }
    }
}

#[derive(Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

#[derive(Serialize)]
pub struct ModelObject {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
}

#[derive(Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: [CompletionChoice; 1],
    pub usage: Option<Usage>,
    pub system_fingerprint: Option<String>,
}

#[derive(Serialize)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: OutMessage,
    pub logprobs: Option<()>,
    pub finish_reason: String,
}

#[derive(Serialize)]
pub struct OutMessage {
    pub role: &'static str,
    pub content: String,
    pub refusal: Option<String>,
}

#[derive(Serialize)]
pub struct ChatChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub system_fingerprint: Option<String>,
    pub choices: Vec<ChunkChoice<'a>>,
    /// Present (as `null` until the last chunk) only with `stream_options.include_usage`.
    #[serde(skip_serializing_if = "UsageField::is_absent")]
    pub usage: UsageField,
}

#[derive(Serialize)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: ChunkDelta<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
pub struct ChunkDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
}

/// The `usage` member of a chunk: absent, `null`, or the totals.
pub enum UsageField {
    Absent,
    Null,
    Totals(Usage),
}

impl UsageField {
    fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }
}

impl Serialize for UsageField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Totals(usage) => usage.serialize(serializer),
            Self::Absent | Self::Null => serializer.serialize_none(),
        }
    }
}
