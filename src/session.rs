//! The conversation's life cycle: sessions, sending, streaming, stop, regenerate, clear, retry.

use ashley_proxy::api::{ChatEvent, History, Regenerate, SendMessage};

use crate::app::AshleyApp;
use crate::conversation::{MessageKind, RetryAction, describe_http_error};
use crate::net::{NetError, StreamEvent, StreamHandle};
use crate::ui::composer::can_send;

/// What a reply stream was started for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamPurpose {
    /// A new message; the text comes back to the composer if the proxy does not accept it.
    Send(String),
    Regenerate,
}

pub struct ActiveStream {
    pub id: u64,
    pub purpose: StreamPurpose,
    /// Dropping it cancels the request.
    pub handle: StreamHandle,
    /// The proxy accepted the request (`started` arrived).
    pub accepted: bool,
    /// The reply row being filled.
    pub reply_index: Option<usize>,
    /// Notices that arrived before the reply row existed.
    pub early_notes: Vec<String>,
}

impl AshleyApp {
    pub(crate) fn on_session_created(&mut self, result: Result<String, NetError>) {
        self.connecting = false;
        match result {
            Ok(session_id) => {
                self.persisted.session_id = Some(session_id);
                if let Some(text) = self.pending_send.take() {
                    self.start_send(text);
                }
            }
            Err(error) => {
                if let Some(text) = self.pending_send.take() {
                    self.mark_unsent_and_restore(&text);
                }
                let server = self.client.base_url().to_owned();
                self.conversation
                    .push_error(&error, &server, Some(RetryAction::Reconnect));
            }
        }
    }

    pub(crate) fn on_history(&mut self, session_id: &str, result: Result<History, NetError>) {
        if self.persisted.session_id.as_deref() != Some(session_id) {
            return; // An answer about a session the app has since left.
        }
        match result {
            Ok(history) => {
                self.connecting = false;
                self.conversation.load_history(&history.messages);
                self.scroll_to_bottom = true;
                // Sent while the history was loading: show it again after the history, then post.
                if let Some(text) = self.pending_send.take() {
                    self.conversation.push(MessageKind::User, text.clone());
                    self.start_send(text);
                }
            }
            Err(error) if error.is_not_found() => {
                // The server forgot the session (new database, expiry): start a new one quietly.
                self.persisted.session_id = None;
                self.client.create_session();
            }
            Err(error) => {
                self.connecting = false;
                if let Some(text) = self.pending_send.take() {
                    self.mark_unsent_and_restore(&text);
                }
                let server = self.client.base_url().to_owned();
                self.conversation
                    .push_error(&error, &server, Some(RetryAction::Reconnect));
            }
        }
    }

    /// Sends what is in the composer.
    pub(crate) fn send_composer(&mut self) {
        if self.is_sending() || !can_send(&self.composer) {
            return;
        }
        let text = std::mem::take(&mut self.composer);
        self.send_text(text);
    }

    /// Shows `text` as the newest user row and posts it (once a session exists).
    fn send_text(&mut self, text: String) {
        self.conversation.remove_trailing_errors();
        self.conversation.push(MessageKind::User, text.clone());
        self.scroll_to_bottom = true;
        if self.persisted.session_id.is_some() && !self.connecting {
            self.start_send(text);
        } else {
            self.pending_send = Some(text);
            if !self.connecting {
                self.connecting = true;
                self.client.create_session();
            }
        }
    }

    /// Posts a message that is already shown as the last user row.
    fn start_send(&mut self, text: String) {
        let Some(session_id) = self.persisted.session_id.clone() else {
            self.pending_send = Some(text);
            return;
        };
        let body = SendMessage {
            persona: self.persisted.persona.clone(),
            message: text.clone(),
        };
        let id = self.new_stream_id();
        let handle = self.client.send_message(id, &session_id, &body);
        self.stream = Some(ActiveStream {
            id,
            purpose: StreamPurpose::Send(text),
            handle,
            accepted: false,
            reply_index: None,
            early_notes: Vec::new(),
        });
    }

    pub(crate) fn regenerate(&mut self) {
        if self.is_sending() {
            return;
        }
        let Some(session_id) = self.persisted.session_id.clone() else {
            return;
        };
        self.conversation.truncate_after_last_user();
        let body = Regenerate {
            persona: self.persisted.persona.clone(),
        };
        let id = self.new_stream_id();
        let handle = self.client.regenerate(id, &session_id, &body);
        self.stream = Some(ActiveStream {
            id,
            purpose: StreamPurpose::Regenerate,
            handle,
            accepted: false,
            reply_index: None,
            early_notes: Vec::new(),
        });
        self.scroll_to_bottom = true;
    }

    /// Stops the reply; what arrived stays, marked as partial.
    pub(crate) fn stop(&mut self) {
        if let Some(text) = self.pending_send.take() {
            // Never posted: it goes back to the composer.
            self.mark_unsent_and_restore(&text);
        }
        let Some(stream) = self.stream.take() else {
            return;
        };
        stream.handle.cancel();
        if let Some(reply) = stream
            .reply_index
            .and_then(|index| self.conversation.message_mut(index))
        {
            reply.partial = true;
        }
    }

    /// Starts a new, empty session on the server.
    pub(crate) fn clear(&mut self) {
        self.stop();
        if let Some(old) = self.persisted.session_id.take() {
            self.client.delete_session(&old);
        }
        self.conversation.clear();
        self.connecting = true;
        self.client.create_session();
    }

    pub(crate) fn retry(&mut self, action: RetryAction) {
        if self.is_sending() {
            return;
        }
        match action {
            RetryAction::Send(text) => {
                self.conversation.remove_trailing_errors();
                self.conversation.pop_unsent_user(&text);
                if self.composer == text {
                    self.composer.clear();
                }
                self.send_text(text);
            }
            RetryAction::Regenerate => {
                self.conversation.remove_trailing_errors();
                self.regenerate();
            }
            RetryAction::Reconnect => {
                self.conversation.remove_trailing_errors();
                self.connect();
            }
        }
    }

    fn new_stream_id(&mut self) -> u64 {
        self.next_stream_id += 1;
        self.next_stream_id
    }

    pub(crate) fn on_stream_event(&mut self, stream_id: u64, event: StreamEvent) {
        if self
            .stream
            .as_ref()
            .is_none_or(|stream| stream.id != stream_id)
        {
            return; // A stopped or replaced stream: its late events change nothing.
        }
        match event {
            StreamEvent::Chat(ChatEvent::Started { persona, model, .. }) => {
                let reply = self.conversation.push(MessageKind::Reply, String::new());
                reply.persona = persona;
                reply.partial = true;
                reply.stats = Some(ashley_proxy::api::ReplyStats {
                    model,
                    ..Default::default()
                });
                let index = self.conversation.len().checked_sub(1);
                if let Some(stream) = self.stream.as_mut() {
                    stream.accepted = true;
                    stream.reply_index = index;
                    let notes = std::mem::take(&mut stream.early_notes);
                    if let Some(reply) = self.streaming_reply() {
                        reply.notes = notes;
                    }
                }
            }
            StreamEvent::Chat(ChatEvent::Delta { text }) => {
                if let Some(reply) = self.streaming_reply() {
                    reply.content.push_str(&text);
                }
            }
            StreamEvent::Chat(ChatEvent::Notice { message }) => match self.streaming_reply() {
                Some(reply) => reply.notes.push(message),
                None => {
                    if let Some(stream) = self.stream.as_mut() {
                        stream.early_notes.push(message);
                    }
                }
            },
            StreamEvent::Chat(ChatEvent::Done { stats, .. }) => {
                if let Some(reply) = self.streaming_reply() {
                    reply.partial = false;
                    reply.stats = Some(stats);
                }
                self.stream = None;
                // The status panel's counters and latency chart now include this reply.
                self.request_status(None);
            }
            StreamEvent::Chat(ChatEvent::Refused { message, .. }) => {
                let stream = self.stream.take();
                if let Some(StreamPurpose::Send(text)) = stream.map(|s| s.purpose) {
                    self.mark_unsent_and_restore(&text);
                }
                self.conversation.push(MessageKind::Refusal, message);
            }
            StreamEvent::Chat(ChatEvent::Error { error }) => {
                let (kind, text) = describe_http_error(0, Some(&error));
                self.fail_stream(Err((kind, text)));
            }
            StreamEvent::Failed(error) => self.fail_stream(Ok(error)),
            StreamEvent::EndedEarly => self.fail_stream(Err((
                MessageKind::ProviderFailed,
                "The reply broke off before it was finished.".to_owned(),
            ))),
        }
    }

    /// The stream failed: keep any partial reply and say what happened, with Retry.
    fn fail_stream(&mut self, failure: Result<NetError, (MessageKind, String)>) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        if let Some(reply) = stream
            .reply_index
            .and_then(|index| self.conversation.message_mut(index))
        {
            reply.partial = true;
        }
        let retry = match &stream.purpose {
            StreamPurpose::Send(text) if !stream.accepted => {
                if let Ok(error) = &failure
                    && error.is_not_found()
                {
                    // The session vanished on the server: a new one, then the same message.
                    self.persisted.session_id = None;
                    self.pending_send = Some(text.clone());
                    self.connecting = true;
                    self.client.create_session();
                    return;
                }
                self.mark_unsent_and_restore(text);
                RetryAction::Send(text.clone())
            }
            _ => RetryAction::Regenerate,
        };
        let server = self.client.base_url().to_owned();
        match failure {
            Ok(error) => self.conversation.push_error(&error, &server, Some(retry)),
            Err((kind, text)) => {
                let can_retry = !matches!(kind, MessageKind::Rejected | MessageKind::Refusal);
                let notice = self.conversation.push(kind, text);
                notice.retry = can_retry.then_some(retry);
            }
        }
    }

    fn streaming_reply(&mut self) -> Option<&mut crate::conversation::ChatMessage> {
        let index = self.stream.as_ref()?.reply_index?;
        self.conversation.message_mut(index)
    }

    /// The proxy did not take the message: mark its row and give the text back to the composer.
    fn mark_unsent_and_restore(&mut self, text: &str) {
        self.conversation.mark_last_user_unsent(text);
        if self.composer.trim().is_empty() {
            text.clone_into(&mut self.composer);
        }
    }
}
