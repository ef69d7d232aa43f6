//! The conversation as the app shows it: messages, error notices and measured row heights.

use ashley_proxy::api::{ErrorBody, HistoryMessage, ReplyStats, Role};

use crate::net::NetError;

/// What a row in the conversation is.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageKind {
    /// Something the person wrote.
    User,
    /// A reply, rendered as markdown.
    Reply,
    /// Moderation declined the message: its reason.
    Refusal,
    /// Too many requests: when to try again.
    RateLimited { retry_after_secs: Option<u64> },
    /// The model's provider failed or the reply broke off.
    ProviderFailed,
    /// The proxy could not be reached at all.
    Unreachable,
    /// The proxy rejected the request (too long, unknown persona, ...).
    Rejected,
}

impl MessageKind {
    pub fn is_error(&self) -> bool {
        !matches!(self, Self::User | Self::Reply)
    }

    /// The short name the test handle and accessibility labels use.
    pub fn label(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Reply => "reply",
            Self::Refusal => "refusal",
            Self::RateLimited { .. } => "rate_limited",
            Self::ProviderFailed => "provider_failed",
            Self::Unreachable => "unreachable",
            Self::Rejected => "rejected",
        }
    }
}

/// What Retry on an error notice does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAction {
    Send(String),
    Regenerate,
    Reconnect,
}

/// One row of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    /// Unique within the app run; gives the row's widgets a stable id.
    pub local_id: u64,
    pub kind: MessageKind,
    pub content: String,
    /// Replies only: the persona that answered.
    pub persona: String,
    pub stats: Option<ReplyStats>,
    /// A reply still streaming, or one that was cut off.
    pub partial: bool,
    /// A user message that the proxy did not accept.
    pub unsent: bool,
    pub retry: Option<RetryAction>,
    /// Replies only: what the proxy noted about how the message was handled.
    pub notes: Vec<String>,
}

/// The rows plus each row's last measured height, so only visible rows need laying out.
#[derive(Default)]
pub struct Conversation {
    messages: Vec<ChatMessage>,
    heights: Vec<Option<MeasuredHeight>>,
    next_local_id: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct MeasuredHeight {
    width: f32,
    height: f32,
}

impl Conversation {
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn clear(&mut self) {
        self.messages.clear();
        self.heights.clear();
    }

    pub fn push(&mut self, kind: MessageKind, content: String) -> &mut ChatMessage {
        self.next_local_id += 1;
        self.messages.push(ChatMessage {
            local_id: self.next_local_id,
            kind,
            content,
            persona: String::new(),
            stats: None,
            partial: false,
            unsent: false,
            retry: None,
            notes: Vec::new(),
        });
        self.heights.push(None);
        let last = self.messages.len() - 1;
        // Just pushed, so the index exists; `get_mut` keeps the no-indexing rule honest.
        match self.messages.get_mut(last) {
            Some(message) => message,
            None => unreachable!("a message was just pushed"),
        }
    }

    /// Adds an error notice that says what went wrong and what the person can do.
    pub fn push_error(&mut self, error: &NetError, server: &str, retry: Option<RetryAction>) {
        let (kind, text) = describe_error(error, server);
        let can_retry = !matches!(kind, MessageKind::Refusal | MessageKind::Rejected);
        let message = self.push(kind, text);
        message.retry = retry.filter(|_| can_retry);
    }

    pub fn last_mut(&mut self) -> Option<&mut ChatMessage> {
        let last = self.messages.len().checked_sub(1)?;
        self.invalidate(last);
        self.messages.get_mut(last)
    }

    /// The row at `index`, for changing it (its measured height is forgotten).
    pub fn message_mut(&mut self, index: usize) -> Option<&mut ChatMessage> {
        self.invalidate(index);
        self.messages.get_mut(index)
    }

    /// Marks the newest user row with this text as not accepted by the proxy.
    pub fn mark_last_user_unsent(&mut self, text: &str) {
        let found = self
            .messages
            .iter()
            .rposition(|m| m.kind == MessageKind::User && m.content == text);
        if let Some(message) = found.and_then(|index| self.message_mut(index)) {
            message.unsent = true;
        }
    }

    /// Removes the last row if it is an unsent user message with this text (Retry re-adds it).
    pub fn pop_unsent_user(&mut self, text: &str) {
        if self
            .messages
            .last()
            .is_some_and(|m| m.kind == MessageKind::User && m.unsent && m.content == text)
        {
            self.messages.pop();
            self.heights.pop();
        }
    }

    /// Replaces everything with the server's history.
    pub fn load_history(&mut self, history: &[HistoryMessage]) {
        self.clear();
        for stored in history {
            let kind = match stored.role {
                Role::User => MessageKind::User,
                Role::Assistant => MessageKind::Reply,
            };
            let message = self.push(kind, stored.content.clone());
            message.persona.clone_from(&stored.persona);
            message.stats.clone_from(&stored.stats);
            message.partial = stored.partial;
        }
    }

    /// Drops the rows after the last user message (the reply and any notices) for Regenerate.
    pub fn truncate_after_last_user(&mut self) {
        let keep = self
            .messages
            .iter()
            .rposition(|m| m.kind == MessageKind::User)
            .map_or(0, |index| index + 1);
        self.messages.truncate(keep);
        self.heights.truncate(keep);
    }

    /// Removes error notices (a retry replaces them).
    pub fn remove_trailing_errors(&mut self) {
        while self.messages.last().is_some_and(|m| m.kind.is_error()) {
            self.messages.pop();
            self.heights.pop();
        }
    }

    /// The index of the reply that Regenerate would replace: the last row, if it is a reply.
    pub fn last_reply_index(&self) -> Option<usize> {
        let last = self.messages.len().checked_sub(1)?;
        (self.messages.get(last)?.kind == MessageKind::Reply).then_some(last)
    }

    pub fn invalidate(&mut self, index: usize) {
        if let Some(height) = self.heights.get_mut(index) {
            *height = None;
        }
    }

    /// The height measured at this width, if any.
    pub fn measured_height(&self, index: usize, width: f32) -> Option<f32> {
        let measured = (*self.heights.get(index)?)?;
        ((measured.width - width).abs() < 0.5).then_some(measured.height)
    }

    pub fn record_height(&mut self, index: usize, width: f32, height: f32) {
        if let Some(slot) = self.heights.get_mut(index) {
            *slot = Some(MeasuredHeight { width, height });
        }
    }

    /// The row's height at this width: measured when it was last shown, else a guess from
    /// the text length, computed once per width and kept so a frame stays O(rows) additions.
    pub fn row_height(&mut self, index: usize, width: f32, line_height: f32) -> f32 {
        if let Some(height) = self.measured_height(index, width) {
            return height;
        }
        let Some(message) = self.messages.get(index) else {
            return 0.0;
        };
        let chars_per_line = (width / (line_height * 0.5)).max(10.0);
        let lines: f32 = message
            .content
            .lines()
            .map(|line| {
                (line.chars().count() as f32 / chars_per_line)
                    .ceil()
                    .max(1.0)
            })
            .sum();
        let height = (lines.max(1.0) + 2.5) * line_height;
        self.record_height(index, width, height);
        height
    }
}

/// The notice kind and text for a failed request.
pub fn describe_error(error: &NetError, server: &str) -> (MessageKind, String) {
    match error {
        NetError::Unreachable(reason) => {
            let target = if server.is_empty() {
                "the server this page came from".to_owned()
            } else {
                server.to_owned()
            };
            (
                MessageKind::Unreachable,
                format!(
                    "Cannot reach the Ashley proxy at {target} ({reason}). Check that the proxy is \
                     running and reachable (natively: `--server URL` or ASHLEY_SERVER), then Retry."
                ),
            )
        }
        NetError::Http { status, body } => describe_http_error(*status, body.as_ref()),
        NetError::Invalid(reason) => (
            MessageKind::ProviderFailed,
            format!("The proxy sent an answer the app cannot read ({reason})."),
        ),
    }
}

/// The notice for an error the proxy reported, over HTTP or as a stream `error` event.
pub fn describe_http_error(status: u16, body: Option<&ErrorBody>) -> (MessageKind, String) {
    let message = body.map_or_else(
        || format!("The proxy answered HTTP {status}."),
        |body| body.message.clone(),
    );
    let code = body.and_then(|b| b.code.as_deref()).unwrap_or_default();
    let kind = body.map(|b| b.kind.as_str()).unwrap_or_default();
    if status == 429 || kind == "rate_limit_error" || code == "rate_limited" {
        let retry_after_secs = body.and_then(|b| b.retry_after_secs);
        // With a known wait the notice shows a live countdown instead (src/ui/chat.rs).
        let text = match retry_after_secs {
            Some(_) => format!("Too many messages: {message}"),
            None => format!("Too many messages: {message} Please wait a moment before retrying."),
        };
        return (MessageKind::RateLimited { retry_after_secs }, text);
    }
    if status >= 500 || status == 0 || kind == "api_error" || code.starts_with("upstream") {
        return (
            MessageKind::ProviderFailed,
            format!("The AI provider failed: {message}"),
        );
    }
    (MessageKind::Rejected, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn body(kind: &str, code: &str, retry: Option<u64>) -> ErrorBody {
        ErrorBody {
            message: "m.".into(),
            kind: kind.into(),
            param: None,
            code: Some(code.into()),
            retry_after_secs: retry,
        }
    }

    #[test]
    fn errors_map_to_distinct_notices() {
        let rate = describe_http_error(
            429,
            Some(&body("rate_limit_error", "rate_limited", Some(9))),
        );
        assert_eq!(
            rate.0,
            MessageKind::RateLimited {
                retry_after_secs: Some(9)
            }
        );
        assert_eq!(rate.1, "Too many messages: m.");
        let provider =
            describe_http_error(502, Some(&body("api_error", "upstream_unavailable", None)));
        assert_eq!(provider.0, MessageKind::ProviderFailed);
        let rejected = describe_http_error(
            400,
            Some(&body("invalid_request_error", "message_too_long", None)),
        );
        assert_eq!(rejected, (MessageKind::Rejected, "m.".into()));
        let (kind, text) = describe_error(&NetError::Unreachable("refused".into()), "http://x:1");
        assert_eq!(kind, MessageKind::Unreachable);
        assert!(text.contains("http://x:1") && text.contains("Retry"));
    }

    #[test]
    fn refusals_and_rejections_offer_no_retry() {
        let mut conversation = Conversation::default();
        let rejected = NetError::Http {
            status: 400,
            body: Some(body("invalid_request_error", "message_too_long", None)),
        };
        conversation.push_error(&rejected, "", Some(RetryAction::Send("x".into())));
        assert_eq!(conversation.messages()[0].retry, None);
        conversation.push_error(
            &NetError::Unreachable("x".into()),
            "",
            Some(RetryAction::Reconnect),
        );
        assert_eq!(
            conversation.messages()[1].retry,
            Some(RetryAction::Reconnect)
        );
    }

    #[test]
    fn regenerate_drops_everything_after_the_last_user_message() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::User, "q1".into());
        conversation.push(MessageKind::Reply, "a1".into());
        conversation.push(MessageKind::User, "q2".into());
        conversation.push(MessageKind::Reply, "a2".into());
        assert_eq!(conversation.last_reply_index(), Some(3));
        conversation.push(MessageKind::ProviderFailed, "e".into());
        assert_eq!(conversation.last_reply_index(), None);
        conversation.truncate_after_last_user();
        assert_eq!(conversation.len(), 3);
        assert_eq!(conversation.messages()[2].content, "q2");
    }

    #[test]
    fn heights_are_remembered_per_width_and_estimated_otherwise() {
        let mut conversation = Conversation::default();
        conversation.push(MessageKind::Reply, "short".into());
        conversation.record_height(0, 400.0, 77.0);
        assert_eq!(conversation.row_height(0, 400.0, 16.0), 77.0);
        let guess = conversation.row_height(0, 600.0, 16.0);
        assert!(guess > 16.0 && guess < 77.0);
        conversation
            .last_mut()
            .unwrap()
            .content
            .push_str(" and more");
        assert_eq!(conversation.measured_height(0, 400.0), None);
    }
}
