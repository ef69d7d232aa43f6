//! What a turn's reply tells the adapter that encodes it: HTTP-free events and results.

use super::ChatError;
use crate::{api::ReplyStats, provider::Usage};

/// What a reply tells its adapter, in order: `Started`, maybe `Notice`, `Delta`s, then one
/// `Done` or `Failed`.
#[derive(Debug)]
pub enum TurnEvent {
    /// The user message was validated, moderated and stored; the reply begins.
    Started {
        user_message_id: Option<i64>,
        persona: String,
        model: String,
        demo: bool,
    },
    /// Something the person should know about how their message was handled.
    Notice(String),
    Delta(String),
    Done(Done),
    /// The reply failed; what arrived before is kept.
    Failed(ChatError),
}

/// A complete reply.
#[derive(Debug)]
pub struct Done {
    /// The stored reply (app turns).
    pub reply_id: Option<i64>,
    pub stats: ReplyStats,
    pub usage: Option<Usage>,
    pub finish_reason: String,
}

/// A whole reply asked for at once (non-streamed `/v1`).
#[derive(Debug)]
pub struct Completed {
    pub model: String,
    pub content: String,
    pub finish_reason: String,
    pub usage: Option<Usage>,
}
