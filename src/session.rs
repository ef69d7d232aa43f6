//! The open conversation as plain state: its id, the composer's text, the pending send, the
//! reply stream and where to reattach it. No egui: the proxy is a [`ChatBackend`].

use ashley_proxy::api::{ChatEvent, ErrorCode, History, Regenerate, ReplyStats, SendMessage};

use crate::conversation::{ChatMessage, Conversation, MessageKind, RetryAction};
use crate::net::{NetError, StreamEvent, StreamHandle};
use crate::notice::{self, Notice};
use crate::ui::composer::can_send;

/// The requests a chat session makes. [`crate::net::ProxyClient`] sends them; the answers come
/// back as calls to the session's `on_*` methods.
pub trait ChatBackend {
    /// The proxy's URL for messages (empty on the web: the page's origin).
    fn server(&self) -> &str;
    fn create_conversation(&self);
    /// Finds the caller's most recent conversation (a signed-in person on a new device resumes
    /// it); the answer comes back to [`ChatSession::on_latest_conversation`].
    fn find_latest_conversation(&self);
    fn fetch_history(&self, conversation_id: &str);
    fn send_message(
        &self,
        stream_id: u64,
        conversation_id: &str,
        body: &SendMessage,
    ) -> StreamHandle;
    fn regenerate(&self, stream_id: u64, conversation_id: &str, body: &Regenerate) -> StreamHandle;
    /// The events of the reply being written, numbered `from_seq` and later.
    fn reattach(
        &self,
        stream_id: u64,
        conversation_id: &str,
        live_reply: &str,
        from_seq: u64,
    ) -> StreamHandle;
    /// Asks the proxy to stop the reply; its stream then ends with `stopped`.
    fn stop_reply(&self, conversation_id: &str, live_reply: &str);
}

/// How often a broken reply stream is reattached before the app gives up and says so.
const MAX_REATTACH_ATTEMPTS: u32 = 8;

/// The wait before reattach attempt `attempt` (1-based): 0.5 s, doubling, at most 8 s.
fn reattach_delay_secs(attempt: u32) -> f64 {
    (0.5 * f64::from(2_u32.saturating_pow(attempt.saturating_sub(1)))).min(8.0)
}

/// What a reply stream was started for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamPurpose {
    /// A new message; the text comes back to the composer if the proxy does not accept it.
    Send(String),
    Regenerate,
    /// A reply already being written (found when the conversation was opened), read from its
    /// first event.
    Reattach,
}

struct ActiveStream {
    id: u64,
    purpose: StreamPurpose,
    /// Dropping it cancels the request.
    handle: StreamHandle,
    /// The proxy accepted the request (`started` arrived).
    accepted: bool,
    /// The reply row being filled.
    reply_index: Option<usize>,
    /// Notices that arrived before the reply row existed.
    early_notes: Vec<String>,
    /// The last SSE id the stream carried: where a broken stream resumes.
    last_event_id: Option<String>,
    /// The proxy's id for the reply while it is written (from `started`): where it is
    /// reattached and stopped.
    live_reply: Option<String>,
    /// Stop was pressed: the proxy is asked (or will be, once `started` names the reply).
    stop_requested: bool,
    /// Reattach attempts since the last event arrived.
    reattach_attempts: u32,
    /// The stream broke and is to be reattached.
    broken: Option<Broken>,
}

/// A broken reply stream waiting to be reattached.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Broken {
    /// Just broke: the wait starts at the next tick.
    Now,
    /// Reattach at this time (the app's clock, seconds).
    At(f64),
}

/// One conversation with the proxy and everything in flight for it.
#[derive(Default)]
pub struct ChatSession {
    conversation_id: Option<String>,
    conversation: Conversation,
    /// What is in the composer.
    pub composer: String,
    /// Text to send as soon as a session exists (the first send, or after the session vanished).
    pending_send: Option<String>,
    stream: Option<ActiveStream>,
    next_stream_id: u64,
    /// A session is being created or its history fetched.
    connecting: bool,
    scroll_to_bottom: bool,
    reply_finished: bool,
    /// A search hit was opened: the stored message to show once the history is in.
    focus_message: Option<i64>,
    /// The row to scroll to and highlight (taken by the view).
    focus_row: Option<usize>,
    /// Asked for the most recent conversation; not answered yet.
    awaiting_latest: bool,
}

impl ChatSession {
    /// A session that resumes `conversation_id` once [`Self::connect`] runs.
    pub fn new(conversation_id: Option<String>) -> Self {
        Self {
            conversation_id,
            ..Self::default()
        }
    }

    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation_id.as_deref()
    }

    pub fn conversation(&self) -> &Conversation {
        &self.conversation
    }

    /// A reply is requested or streaming.
    pub fn is_sending(&self) -> bool {
        self.stream.is_some() || self.pending_send.is_some()
    }

    /// The row of the reply being streamed.
    pub fn streaming_index(&self) -> Option<usize> {
        self.stream.as_ref()?.reply_index
    }

    /// Where the reply in flight would be reattached from: the last SSE id it carried.
    pub fn last_event_id(&self) -> Option<&str> {
        self.stream.as_ref()?.last_event_id.as_deref()
    }

    /// True once after the person sent something: the view jumps to the newest row.
    pub fn take_scroll_to_bottom(&mut self) -> bool {
        std::mem::take(&mut self.scroll_to_bottom)
    }

    /// The row a search hit asked for, once its history is in (the view scrolls to it).
    pub fn take_focus_row(&mut self) -> Option<usize> {
        self.focus_row.take()
    }

    /// Whether the session waits for the caller's most recent conversation (a first start):
    /// the list's answer goes to [`Self::on_latest_conversation`].
    pub fn wants_latest(&self) -> bool {
        self.awaiting_latest && self.conversation_id.is_none()
    }

    /// An open conversation with nothing in it: already a new chat.
    pub fn is_blank(&self) -> bool {
        self.conversation_id.is_some()
            && self.conversation.is_empty()
            && !self.is_sending()
            && !self.connecting
    }

    /// Opens another conversation: a reply streaming here is detached (the proxy finishes and
    /// stores it; reopening shows it), what is typed stays in the composer, and `message_id`
    /// (a search hit) is scrolled to once the history arrives.
    pub fn open(
        &mut self,
        conversation_id: &str,
        message_id: Option<i64>,
        backend: &impl ChatBackend,
    ) {
        if self.conversation_id.as_deref() == Some(conversation_id) && !self.connecting {
            if let Some(id) = message_id {
                self.focus_row = self.conversation.index_of_stored(id);
            }
            return;
        }
        self.detach();
        self.conversation_id = Some(conversation_id.to_owned());
        self.focus_message = message_id;
        self.connecting = true;
        backend.fetch_history(conversation_id);
    }

    /// Leaves the conversation shown without stopping its reply on the proxy: the stream's
    /// late events are ignored (their stream id is no longer the active one).
    fn detach(&mut self) {
        if let Some(text) = self.pending_send.take()
            && self.composer.trim().is_empty()
        {
            self.composer = text;
        }
        self.stream = None;
        self.conversation.clear();
        self.focus_row = None;
        self.focus_message = None;
    }

    /// True once after a reply finished: the status counters have changed.
    pub fn take_reply_finished(&mut self) -> bool {
        std::mem::take(&mut self.reply_finished)
    }

    /// Resumes the stored session (its history), else the caller's most recent one, else
    /// starts a new one.
    pub fn connect(&mut self, backend: &impl ChatBackend) {
        self.connecting = true;
        match self.conversation_id.as_deref() {
            Some(conversation_id) => backend.fetch_history(conversation_id),
            None => {
                self.awaiting_latest = true;
                backend.find_latest_conversation();
            }
        }
    }

    /// The caller's most recent session, if any: resumed; else a new one.
    pub fn on_latest_conversation(
        &mut self,
        result: Result<Option<String>, NetError>,
        backend: &impl ChatBackend,
    ) {
        self.awaiting_latest = false;
        if self.conversation_id.is_some() {
            return; // Something (a send) made a conversation meanwhile.
        }
        match result {
            Ok(Some(conversation_id)) => {
                backend.fetch_history(&conversation_id);
                self.conversation_id = Some(conversation_id);
            }
            Ok(None) => backend.create_conversation(),
            Err(error) => {
                self.connecting = false;
                self.connection_failed(&error, backend);
            }
        }
    }

    /// Forgets the session without deleting it (signed out: it is no longer ours to show).
    pub fn leave(&mut self, backend: &impl ChatBackend) {
        self.detach();
        self.conversation_id = None;
        self.pending_send = None;
        self.conversation.clear();
        self.connecting = true;
        backend.create_conversation();
    }

    pub fn on_conversation_created(
        &mut self,
        result: Result<String, NetError>,
        backend: &impl ChatBackend,
        persona: &str,
    ) {
        self.connecting = false;
        match result {
            Ok(conversation_id) => {
                self.conversation_id = Some(conversation_id);
                if let Some(text) = self.pending_send.take() {
                    self.start_send(text, backend, persona);
                }
            }
            Err(error) => self.connection_failed(&error, backend),
        }
    }

    pub fn on_history(
        &mut self,
        conversation_id: &str,
        result: Result<History, NetError>,
        backend: &impl ChatBackend,
        persona: &str,
    ) {
        if self.conversation_id.as_deref() != Some(conversation_id) {
            return; // An answer about a session the app has since left.
        }
        match result {
            Ok(history) => {
                self.connecting = false;
                self.conversation.load_history(&history.messages);
                match self.focus_message.take() {
                    Some(id) => self.focus_row = self.conversation.index_of_stored(id),
                    None => self.scroll_to_bottom = true,
                }
                if let Some(live_reply) = history.live_reply {
                    // A reply is being written (the tab was closed or reloaded, or another one
                    // asked): read it from its first event. Anything sent meanwhile waits for it.
                    let id = self.new_stream_id();
                    let handle = backend.reattach(id, conversation_id, &live_reply, 1);
                    let mut stream = ActiveStream::new(id, StreamPurpose::Reattach, handle);
                    stream.live_reply = Some(live_reply);
                    self.stream = Some(stream);
                } else if let Some(text) = self.pending_send.take() {
                    // Sent while the history was loading: show it again after the history, then
                    // post.
                    self.conversation.push(MessageKind::User, text.clone());
                    self.start_send(text, backend, persona);
                }
            }
            Err(error) if error.is_unknown_session() => {
                // The session is gone (deleted, expired, a new database, or an empty one merged
                // away at sign-in): resume the caller's most recent one, else start one, quietly.
                self.conversation_id = None;
                self.awaiting_latest = true;
                backend.find_latest_conversation();
            }
            Err(error) => {
                self.connecting = false;
                self.connection_failed(&error, backend);
            }
        }
    }

    fn connection_failed(&mut self, error: &NetError, backend: &impl ChatBackend) {
        if let Some(text) = self.pending_send.take() {
            self.mark_unsent_and_restore(&text);
        }
        let notice = notice::for_net_error(error, backend.server());
        self.push_notice(notice, RetryAction::Reconnect);
    }

    /// Sends what is in the composer.
    pub fn send_composer(&mut self, backend: &impl ChatBackend, persona: &str) {
        if self.is_sending() || !can_send(&self.composer) {
            return;
        }
        let text = std::mem::take(&mut self.composer);
        self.send_text(text, backend, persona);
    }

    /// Shows `text` as the newest user row and posts it (once a session exists).
    fn send_text(&mut self, text: String, backend: &impl ChatBackend, persona: &str) {
        self.conversation.remove_trailing_errors();
        self.conversation.push(MessageKind::User, text.clone());
        self.scroll_to_bottom = true;
        if self.conversation_id.is_some() && !self.connecting {
            self.start_send(text, backend, persona);
        } else {
            self.pending_send = Some(text);
            if !self.connecting {
                self.connecting = true;
                backend.create_conversation();
            }
        }
    }

    /// Posts a message that is already shown as the last user row.
    fn start_send(&mut self, text: String, backend: &impl ChatBackend, persona: &str) {
        let Some(conversation_id) = self.conversation_id.clone() else {
            self.pending_send = Some(text);
            return;
        };
        let body = SendMessage {
            persona: persona.to_owned(),
            message: text.clone(),
        };
        let id = self.new_stream_id();
        let handle = backend.send_message(id, &conversation_id, &body);
        self.stream = Some(ActiveStream::new(id, StreamPurpose::Send(text), handle));
    }

    pub fn regenerate(&mut self, backend: &impl ChatBackend, persona: &str) {
        if self.is_sending() {
            return;
        }
        let Some(conversation_id) = self.conversation_id.clone() else {
            return;
        };
        self.conversation.truncate_after_last_user();
        let body = Regenerate {
            persona: persona.to_owned(),
        };
        let id = self.new_stream_id();
        let handle = backend.regenerate(id, &conversation_id, &body);
        self.stream = Some(ActiveStream::new(id, StreamPurpose::Regenerate, handle));
        self.scroll_to_bottom = true;
    }

    /// Stops the reply: the proxy is asked to (from any tab it stops the same reply), and the
    /// stream ends with `stopped` after the last text it stored, so the screen shows what is
    /// stored. Before the proxy named the reply, it is asked as soon as it does. Pressed again
    /// while the proxy does not answer, the stream is let go here (the text so far stays,
    /// marked partial). A message not yet sent goes back to the composer.
    pub fn stop(&mut self, backend: &impl ChatBackend) {
        if let Some(text) = self.pending_send.take() {
            self.mark_unsent_and_restore(&text);
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if stream.stop_requested || stream.broken.is_some() {
            return self.let_go();
        }
        stream.stop_requested = true;
        if let (Some(live_reply), Some(conversation_id)) =
            (&stream.live_reply, &self.conversation_id)
        {
            backend.stop_reply(conversation_id, live_reply);
        }
    }

    /// Stop was pressed and the reply has not ended yet.
    pub fn is_stopping(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|stream| stream.stop_requested)
    }

    /// Drops the stream here without the proxy's word: what arrived stays, marked partial; a
    /// message the proxy never took goes back to the composer.
    fn let_go(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        stream.handle.cancel();
        if let (StreamPurpose::Send(text), false) = (&stream.purpose, stream.accepted) {
            self.mark_unsent_and_restore(text);
        }
        if let Some(reply) = reply_row(&mut self.conversation, &stream) {
            reply.partial = true;
        }
    }

    /// The proxy's answer to a Stop: a reply that already ended is fine (its stream says how);
    /// otherwise the stream is let go here and the person told.
    pub fn on_reply_stopped(&mut self, result: Result<(), NetError>, backend: &impl ChatBackend) {
        let Err(error) = result else {
            return;
        };
        if error.code() == Some(ErrorCode::UnknownReply) || self.stream.is_none() {
            return;
        }
        self.let_go();
        let mut notice = notice::for_net_error(&error, backend.server());
        notice.text = format!(
            "The reply could not be stopped on the server, so it may still be written there: {}",
            notice.text
        );
        notice.can_retry = false;
        self.push_notice(notice, RetryAction::Reconnect);
    }

    /// Reattaches a broken reply stream when its wait is over; how long until the next
    /// attempt, for the caller to wake up then.
    pub fn tick(&mut self, now: f64, backend: &impl ChatBackend) -> Option<f64> {
        let conversation_id = self.conversation_id.clone()?;
        let next_id = self.next_stream_id + 1;
        let stream = self.stream.as_mut()?;
        let at = match stream.broken? {
            Broken::Now => {
                let at = now + reattach_delay_secs(stream.reattach_attempts + 1);
                stream.broken = Some(Broken::At(at));
                at
            }
            Broken::At(at) => at,
        };
        if now < at {
            return Some(at - now);
        }
        let live_reply = stream.live_reply.clone()?;
        let from_seq = stream
            .last_event_id
            .as_deref()
            .and_then(|id| id.parse::<u64>().ok())
            .map_or(1, |seq| seq + 1);
        stream.reattach_attempts += 1;
        stream.broken = None;
        stream.id = next_id;
        stream.handle = backend.reattach(next_id, &conversation_id, &live_reply, from_seq);
        self.next_stream_id = next_id;
        None
    }

    /// Starts a new, empty conversation (the composer keeps its text; the old one stays in the
    /// list). An open conversation without messages is already a new chat.
    pub fn new_chat(&mut self, backend: &impl ChatBackend) {
        if self.conversation_id.is_some() && self.conversation.is_empty() && !self.is_sending() {
            return;
        }
        self.detach();
        self.conversation_id = None;
        self.conversation.clear();
        self.connecting = true;
        backend.create_conversation();
    }

    pub fn retry(&mut self, action: RetryAction, backend: &impl ChatBackend, persona: &str) {
        if self.is_sending() {
            return;
        }
        self.conversation.remove_trailing_errors();
        match action {
            RetryAction::Send(text) => {
                self.conversation.pop_unsent_user(&text);
                if self.composer == text {
                    self.composer.clear();
                }
                self.send_text(text, backend, persona);
            }
            RetryAction::Regenerate => self.regenerate(backend, persona),
            RetryAction::Reconnect => self.connect(backend),
        }
    }

    fn new_stream_id(&mut self) -> u64 {
        self.next_stream_id += 1;
        self.next_stream_id
    }

    pub fn on_stream_event(
        &mut self,
        stream_id: u64,
        event: StreamEvent,
        backend: &impl ChatBackend,
        persona: &str,
    ) {
        let Some(stream) = self.stream.as_mut().filter(|stream| stream.id == stream_id) else {
            return; // A stopped or replaced stream: its late events change nothing.
        };
        let event = match event {
            StreamEvent::Chat { event, id } => {
                if id.is_some() {
                    stream.last_event_id = id;
                }
                stream.reattach_attempts = 0;
                event
            }
            StreamEvent::Failed(error) => return self.stream_failed(&error, backend),
            StreamEvent::EndedEarly => {
                if stream.live_reply.is_some() && stream.reattach_attempts < MAX_REATTACH_ATTEMPTS {
                    stream.broken = Some(Broken::Now);
                    return;
                }
                let notice = Notice {
                    kind: MessageKind::ProviderFailed,
                    text: "The reply broke off before it was finished.".to_owned(),
                    can_retry: true,
                };
                return self.fail_stream(notice, false, false, backend);
            }
        };
        match event {
            ChatEvent::Started {
                persona,
                model,
                user_message_id,
                live_reply,
                ..
            } => {
                if let Some(id) = user_message_id {
                    self.conversation.set_last_user_stored_id(id);
                }
                if let (true, Some(live_reply), Some(conversation_id)) =
                    (stream.stop_requested, &live_reply, &self.conversation_id)
                {
                    backend.stop_reply(conversation_id, live_reply);
                }
                stream.live_reply = live_reply;
                let reply = self.conversation.push(MessageKind::Reply, String::new());
                reply.persona = persona;
                reply.partial = true;
                reply.stats = Some(ReplyStats {
                    model,
                    ..ReplyStats::default()
                });
                reply.notes = std::mem::take(&mut stream.early_notes);
                stream.accepted = true;
                stream.reply_index = self.conversation.len().checked_sub(1);
            }
            ChatEvent::Delta { text } => {
                if let Some(reply) = reply_row(&mut self.conversation, stream) {
                    reply.content.push_str(&text);
                }
            }
            ChatEvent::Notice { message } => match reply_row(&mut self.conversation, stream) {
                Some(reply) => reply.notes.push(message),
                None => stream.early_notes.push(message),
            },
            ChatEvent::Done { stats, .. } => {
                if let Some(reply) = reply_row(&mut self.conversation, stream) {
                    reply.partial = false;
                    reply.stats = Some(stats);
                }
                self.reply_ended(backend, persona);
            }
            ChatEvent::Stopped { .. } => {
                if let Some(reply) = reply_row(&mut self.conversation, stream) {
                    reply.partial = true;
                }
                self.reply_ended(backend, persona);
            }
            ChatEvent::Refused { message, .. } => {
                if let Some(StreamPurpose::Send(text)) = self.stream.take().map(|s| s.purpose) {
                    self.mark_unsent_and_restore(&text);
                }
                self.conversation.push(MessageKind::Refusal, message);
            }
            ChatEvent::Error { error } => {
                let notice = notice::for_proxy_error(None, Some(&error));
                self.fail_stream(notice, false, false, backend);
            }
        }
    }

    /// The reply is over and stored; a message typed while it was written goes now.
    fn reply_ended(&mut self, backend: &impl ChatBackend, persona: &str) {
        self.stream = None;
        self.reply_finished = true;
        if let Some(text) = self.pending_send.take() {
            self.conversation.push(MessageKind::User, text.clone());
            self.start_send(text, backend, persona);
        }
    }

    /// A reply stream failed. A broken connection to a reply still being written is
    /// reattached (after a wait); a reply that ended meanwhile is read from the store; a send
    /// refused because another reply is being written reads that one.
    fn stream_failed(&mut self, error: &NetError, backend: &impl ChatBackend) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let broke = matches!(error, NetError::Unreachable(_));
        if broke && stream.live_reply.is_some() && stream.reattach_attempts < MAX_REATTACH_ATTEMPTS
        {
            stream.broken = Some(Broken::Now);
            return;
        }
        if let Some(ErrorCode::UnknownReply | ErrorCode::ReplyInProgress) = error.code() {
            if let Some(ActiveStream {
                purpose: StreamPurpose::Send(text),
                accepted: false,
                ..
            }) = self.stream.take()
            {
                self.mark_unsent_and_restore(&text);
            }
            return self.reload(backend);
        }
        let reconnect = broke && stream.live_reply.is_some();
        let notice = if reconnect {
            Notice {
                kind: MessageKind::Unreachable,
                text: "Lost the connection to the proxy while the reply was being written. It \
                       goes on being written there: Retry to read it when the connection is back."
                    .to_owned(),
                can_retry: true,
            }
        } else {
            notice::for_net_error(error, backend.server())
        };
        self.fail_stream(notice, error.is_unknown_session(), reconnect, backend);
    }

    /// Reads the open conversation again from the store (its reply ended or another one is
    /// being written), keeping what is typed.
    fn reload(&mut self, backend: &impl ChatBackend) {
        let Some(conversation_id) = self.conversation_id.clone() else {
            return;
        };
        self.stream = None;
        self.connecting = true;
        backend.fetch_history(&conversation_id);
    }

    /// The stream failed: keep any partial reply and what was typed, and say what happened.
    /// `reconnect`: the reply goes on at the proxy, so Retry reads it again.
    fn fail_stream(
        &mut self,
        notice: Notice,
        session_gone: bool,
        reconnect: bool,
        backend: &impl ChatBackend,
    ) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        if let Some(reply) = reply_row(&mut self.conversation, &stream) {
            reply.partial = true;
        }
        let retry = match stream.purpose {
            StreamPurpose::Send(text) if !stream.accepted => {
                if session_gone {
                    // The session vanished on the server: a new one, then the same message.
                    self.conversation_id = None;
                    self.pending_send = Some(text);
                    self.connecting = true;
                    backend.create_conversation();
                    return;
                }
                self.mark_unsent_and_restore(&text);
                RetryAction::Send(text)
            }
            _ if reconnect => RetryAction::Reconnect,
            StreamPurpose::Send(_) | StreamPurpose::Regenerate | StreamPurpose::Reattach => {
                RetryAction::Regenerate
            }
        };
        self.push_notice(notice, retry);
    }

    fn push_notice(&mut self, notice: Notice, retry: RetryAction) {
        let row = self.conversation.push(notice.kind, notice.text);
        row.retry = notice.can_retry.then_some(retry);
    }

    /// The proxy did not take the message: mark its row and give the text back to the composer
    /// (unless the person already typed something new: the row still shows it, with Copy).
    fn mark_unsent_and_restore(&mut self, text: &str) {
        self.conversation.mark_last_user_unsent(text);
        if self.composer.trim().is_empty() {
            text.clone_into(&mut self.composer);
        }
    }
}

/// The reply row `stream` is filling, for changing it.
fn reply_row<'a>(
    conversation: &'a mut Conversation,
    stream: &ActiveStream,
) -> Option<&'a mut ChatMessage> {
    conversation.message_mut(stream.reply_index?)
}

impl ActiveStream {
    fn new(id: u64, purpose: StreamPurpose, handle: StreamHandle) -> Self {
        Self {
            id,
            purpose,
            handle,
            accepted: false,
            reply_index: None,
            early_notes: Vec::new(),
            last_event_id: None,
            live_reply: None,
            stop_requested: false,
            reattach_attempts: 0,
            broken: None,
        }
    }
}

#[cfg(test)]
mod tests;
