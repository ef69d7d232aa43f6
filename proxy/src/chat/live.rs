//! Replies that outlive their request: each app reply is written by its own task into a
//! numbered event log that any number of clients read, from the start or from where they left.
//!
//! A conversation has at most one reply being written. Its log lives only while the reply is:
//! once the last event is in (the reply is then stored), the log leaves the registry, and
//! readers still attached drain what they have not seen. Closing the request that asked for a
//! reply does not stop it; [`LiveReply::stop`] does.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use futures_util::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Chat, ChatError, Reply, TurnEvent};
use crate::api::{ChatEvent, ErrorCode, History, Role};

/// The conversations with a reply being written (or about to be).
#[derive(Default)]
pub(super) struct LiveReplies {
    by_conversation: Mutex<HashMap<String, Slot>>,
}

enum Slot {
    /// A turn is being begun (validated, moderated, stored): no second one may start.
    Reserved,
    Writing(Arc<LiveReply>),
}

impl LiveReplies {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.by_conversation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `conversation_id` for a new reply; refused while another is begun or written.
    pub(super) fn reserve(
        self: &Arc<Self>,
        conversation_id: &str,
    ) -> Result<Reservation, ChatError> {
        let mut slots = self.lock();
        if slots.contains_key(conversation_id) {
            return Err(ChatError::ReplyInProgress);
        }
        slots.insert(conversation_id.to_owned(), Slot::Reserved);
        Ok(Reservation {
            replies: Arc::clone(self),
            conversation_id: conversation_id.to_owned(),
        })
    }

    /// The reply being written in `conversation_id`, if any.
    pub(super) fn writing(&self, conversation_id: &str) -> Option<Arc<LiveReply>> {
        match self.lock().get(conversation_id) {
            Some(Slot::Writing(reply)) => Some(Arc::clone(reply)),
            _ => None,
        }
    }

    /// Whether a reply is begun or being written in `conversation_id`.
    pub(super) fn is_busy(&self, conversation_id: &str) -> bool {
        self.lock().contains_key(conversation_id)
    }

    fn release(&self, conversation_id: &str, id: Option<&str>) {
        let mut slots = self.lock();
        let ours = match (slots.get(conversation_id), id) {
            (Some(Slot::Reserved), None) => true,
            (Some(Slot::Writing(reply)), Some(id)) => reply.id == id,
            _ => false,
        };
        if ours {
            slots.remove(conversation_id);
        }
    }
}

/// A claim on a conversation for one reply; dropped unused (the turn failed), it lets go.
pub struct Reservation {
    replies: Arc<LiveReplies>,
    conversation_id: String,
}

impl Reservation {
    /// The reply claimed for is being written: the slot is its (dropping `self` then frees
    /// nothing, as it frees only a slot still reserved).
    fn fill(self, reply: Arc<LiveReply>) -> Writing {
        self.replies.lock().insert(
            self.conversation_id.clone(),
            Slot::Writing(Arc::clone(&reply)),
        );
        Writing {
            replies: Arc::clone(&self.replies),
            conversation_id: self.conversation_id.clone(),
            reply,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.replies.release(&self.conversation_id, None);
    }
}

/// One reply's numbered events (the first is 1) and its stop switch.
pub struct LiveReply {
    /// Unguessable: the `{reply}` of the reattach and stop routes.
    pub id: String,
    log: Mutex<Log>,
    /// The number of events logged, bumped with each one (readers wait on it).
    logged: watch::Sender<usize>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Log {
    events: Vec<Arc<ChatEvent>>,
    over: bool,
}

impl LiveReply {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, event: ChatEvent) {
        let count = {
            let mut log = self.lock();
            log.over = event.is_final();
            log.events.push(Arc::new(event));
            log.events.len()
        };
        self.logged.send_replace(count);
    }

    fn end(&self) {
        self.lock().over = true;
        self.logged.send_modify(|_| {});
    }

    /// Asks the writer to stop: it stores what arrived and logs [`ChatEvent::Stopped`].
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Every event numbered `first_seq` or later (numbering starts at 1), as each is logged,
    /// ending after the last one.
    pub fn events_from(
        self: Arc<Self>,
        first_seq: u64,
    ) -> impl Stream<Item = (u64, Arc<ChatEvent>)> + Send + 'static {
        let next = usize::try_from(first_seq.max(1) - 1).unwrap_or(usize::MAX);
        let logged = self.logged.subscribe();
        futures_util::stream::unfold(
            (self, logged, next),
            |(reply, mut logged, next)| async move {
                loop {
                    // Marked seen before the log is read: an event logged after this read
                    // makes `changed` return at once.
                    logged.borrow_and_update();
                    let (event, over) = {
                        let log = reply.lock();
                        (log.events.get(next).cloned(), log.over)
                    };
                    if let Some(event) = event {
                        let seq = u64::try_from(next).unwrap_or(u64::MAX) + 1;
                        return Some(((seq, event), (reply, logged, next + 1)));
                    }
                    if over || logged.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )
    }
}

/// Ends the log and frees the conversation however the writer ends (also if it panics).
struct Writing {
    replies: Arc<LiveReplies>,
    conversation_id: String,
    reply: Arc<LiveReply>,
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.reply.end();
        self.replies
            .release(&self.conversation_id, Some(&self.reply.id));
    }
}

impl Chat {
    /// Writes `reply` in a task of its own, logging each event as `wire` makes it; the log to
    /// read it from. Nobody reading does not stop it: only [`LiveReply::stop`] or shutdown do.
    pub fn write_detached(
        &self,
        mut reply: Reply,
        wire: fn(TurnEvent) -> ChatEvent,
    ) -> Result<Arc<LiveReply>, ChatError> {
        let Some(reservation) = reply.take_reservation() else {
            return Err(ChatError::Invalid {
                code: ErrorCode::InvalidBody,
                message: "Only a reply in a stored conversation can be written detached."
                    .to_owned(),
                param: None,
            });
        };
        let live = Arc::new(LiveReply {
            id: super::new_session_id()?,
            log: Mutex::new(Log::default()),
            logged: watch::Sender::new(0),
            stop: CancellationToken::new(),
        });
        let writing = reservation.fill(Arc::clone(&live));
        self.inner.tasks.spawn(write(reply, writing, wire));
        Ok(live)
    }

    /// The reply being written in the caller's conversation `conversation_id` with id `reply_id`.
    pub async fn live_reply(
        &self,
        caller: &super::Caller,
        conversation_id: &str,
        reply_id: &str,
    ) -> Result<Arc<LiveReply>, ChatError> {
        super::validate::session_id(conversation_id)?;
        self.authorize(caller, super::Action::ReadSession(conversation_id))
            .await?;
        self.live
            .writing(conversation_id)
            .filter(|reply| reply.id == reply_id)
            .ok_or_else(unknown_reply)
    }

    /// A conversation to show: its stored messages and the reply being written, if any. With
    /// one, the messages end at the one it answers (its stored progress would repeat what its
    /// events tell from the first).
    pub async fn open_history(
        &self,
        caller: &super::Caller,
        conversation_id: &str,
    ) -> Result<History, ChatError> {
        // Looked up before the read: a reply that finishes in between is then read whole and
        // its log is gone, which a reader is told ([`ErrorCode::UnknownReply`]) and reopens.
        let live = self.live.writing(conversation_id);
        let mut messages = self.history(caller, conversation_id).await?;
        if live.is_some()
            && let Some(last_user) = messages.iter().rposition(|m| m.role == Role::User)
        {
            messages.truncate(last_user + 1);
        }
        Ok(History {
            session_id: conversation_id.to_owned(),
            messages,
            live_reply: live.map(|reply| reply.id.clone()),
        })
    }

    /// Stops the caller's reply `reply_id` in `conversation_id`: what arrived is stored, and
    /// its readers get [`ChatEvent::Stopped`].
    pub async fn stop_reply(
        &self,
        caller: &super::Caller,
        conversation_id: &str,
        reply_id: &str,
    ) -> Result<(), ChatError> {
        super::validate::session_id(conversation_id)?;
        self.authorize(caller, super::Action::Chat(conversation_id))
            .await?;
        let reply = self
            .live
            .writing(conversation_id)
            .filter(|reply| reply.id == reply_id)
            .ok_or_else(unknown_reply)?;
        reply.stop();
        Ok(())
    }
}

fn unknown_reply() -> ChatError {
    ChatError::NotFound {
        code: ErrorCode::UnknownReply,
        message: "This reply is no longer being written: it finished or was stopped, and what it \
                  wrote is stored in the conversation. Open the conversation again to read it."
            .to_owned(),
        param: None,
    }
}

async fn write(mut reply: Reply, writing: Writing, wire: fn(TurnEvent) -> ChatEvent) {
    let stop = writing.reply.stop.clone();
    loop {
        let event = tokio::select! {
            biased;
            () = stop.cancelled() => {
                let reply_id = reply.stop().await;
                writing.reply.push(ChatEvent::Stopped { reply_id });
                return;
            }
            event = reply.next() => event,
        };
        let Some(event) = event else {
            return;
        };
        let mut event = wire(event);
        if let ChatEvent::Started { live_reply, .. } = &mut event {
            *live_reply = Some(writing.reply.id.clone());
        }
        writing.reply.push(event);
    }
}
