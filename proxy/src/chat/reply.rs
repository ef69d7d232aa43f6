//! A turn's reply: asks the provider, forwards its text as events, saves progress, and finishes exactly once.
//!
//! The reply is pulled by whoever encodes it (a task for the app, the response body on `/v1`),
//! so no task or channel sits between the provider and the client unless the adapter adds one.
//! Dropping it unfinished means the client went away: what arrived is kept and counted.

use std::{
    pin::Pin,
    time::{Duration, Instant},
};

use futures_util::StreamExt as _;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::{
    Chat, ChatError, Source, context,
    event::{Completed, Done, TurnEvent},
    live::Reservation,
    millis,
    persist::{self, FinishedReply, SharedStore},
    reply_row::ReplyRow,
};
use crate::{
    api::{Mode, ReplyStats},
    metrics::Outcome,
    personas::Persona,
    provider::{ChatParams, Finish, Piece, ProviderError, ReplyStream, Usage},
    store::{OwnerId, StoreError, StoreErrorKind, UsageRecord},
};

/// The stored session a reply belongs to.
pub(super) struct SessionReply {
    session_id: String,
    user_message_id: Option<i64>,
    /// The reply's text so far (stored as it grows).
    text: String,
    row: ReplyRow,
    /// The conversation's claim for this reply, until it is written detached.
    reservation: Option<Reservation>,
}

impl SessionReply {
    pub(super) fn new(
        session_id: String,
        user_message_id: Option<i64>,
        reservation: Reservation,
    ) -> Self {
        Self {
            session_id,
            user_message_id,
            text: String::new(),
            row: ReplyRow::default(),
            reservation: Some(reservation),
        }
    }
}

/// Everything a turn decided before the model is asked.
pub(super) struct ReplyPlan {
    pub(super) source: Source,
    pub(super) session: Option<SessionReply>,
    /// Whose turn it is: its usage row counts toward that owner's quota.
    pub(super) owner: Option<OwnerId>,
    pub(super) persona: Persona,
    pub(super) params: ChatParams,
    pub(super) user_chars: u64,
    /// Told before the reply's text, in order.
    pub(super) notices: Vec<String>,
    pub(super) started: Instant,
}

enum Stage {
    Announce,
    Notice,
    Opening,
    Streaming(ReplyStream),
    /// Finished and counted: nothing more to do.
    Over,
}

/// How the reply ended.
enum Ending {
    Complete(Finish),
    /// `in_stream`: told as an event (counted as a stream error), not as the answer's status.
    Failed {
        error: ProviderError,
        in_stream: bool,
    },
    ClientGone,
}

/// One reply in progress; see the module header.
pub struct Reply {
    chat: Chat,
    plan: ReplyPlan,
    stage: Stage,
    chars: usize,
    ttft: Option<Duration>,
    shutting_down: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Reply {
    pub(super) fn new(chat: Chat, plan: ReplyPlan) -> Self {
        Self {
            shutting_down: Box::pin(chat.inner.shutdown.clone().cancelled_owned()),
            chat,
            plan,
            stage: Stage::Announce,
            chars: 0,
            ttft: None,
        }
    }

    /// The claim on the reply's conversation (app replies), for writing it detached.
    pub(super) fn take_reservation(&mut self) -> Option<Reservation> {
        self.plan.session.as_mut()?.reservation.take()
    }

    /// Ends the reply on the person's word: counted as cut short, what arrived stored (waited
    /// for); the stored row's id, if it has text.
    pub(super) async fn stop(&mut self) -> Option<i64> {
        if matches!(self.stage, Stage::Over) {
            return None;
        }
        let (_, _, store) = self.conclude(&Ending::ClientGone);
        let saving = store?;
        match self.chat.inner.tasks.spawn(saving.write()).await {
            Ok(Ok(id)) => id,
            Ok(Err(err)) => {
                log_store_failure(&err);
                None
            }
            Err(err) => {
                tracing::error!("storing a stopped reply stopped: {err}");
                None
            }
        }
    }

    /// The model the reply is asked from.
    pub fn model(&self) -> &str {
        self.chat.provider().model()
    }

    /// Asks the provider now, without the `Started` and `Notice` events, so that a failure
    /// before the first byte can be answered as the response's status. The failure is counted
    /// here; the reply is then over.
    pub async fn open(&mut self) -> Result<(), ChatError> {
        self.stage = Stage::Opening;
        match self.start_stream().await {
            Ok(stream) => {
                self.stage = Stage::Streaming(stream);
                Ok(())
            }
            Err(error) => {
                let ending = Ending::Failed {
                    error: error.clone(),
                    in_stream: false,
                };
                self.finish(ending).await;
                Err(ChatError::from(error))
            }
        }
    }

    async fn start_stream(&mut self) -> Result<ReplyStream, ProviderError> {
        // The context (up to 20 messages of up to 5,000 characters) is only needed to open the
        // stream; taken out of the plan it is freed then instead of living as long as the reply.
        let mut params = std::mem::take(&mut self.plan.params);
        let limit = match self.ask(&params).await {
            Err(ProviderError::ContextOverflow { limit }) if self.plan.session.is_some() => limit,
            opened => return opened,
        };
        // Once, with the oldest stored messages left out: below the limit the provider stated,
        // or in half the room the messages took.
        let budget = match limit {
            Some(limit) => context::budget(
                usize::try_from(limit).unwrap_or(usize::MAX),
                params.max_tokens,
            ),
            None => context::halved(&params),
        };
        match context::fit_to(&mut params, budget) {
            Some(left_out) if left_out > 0 => {
                self.plan.notices.push(context::LEFT_OUT_NOTICE.to_owned());
                self.ask(&params).await
            }
            _ => Err(ProviderError::ContextOverflow { limit }),
        }
    }

    async fn ask(&mut self, params: &ChatParams) -> Result<ReplyStream, ProviderError> {
        let provider = &*self.chat.inner.provider;
        tokio::select! {
            opened = provider.stream(&self.plan.persona, params) => opened,
            () = &mut self.shutting_down => Err(ProviderError::ShuttingDown),
        }
    }

    /// The next event; `None` after the last one. Cancel-safe at every await: dropping the
    /// future (and then the reply) counts the reply as cut short by the client.
    pub async fn next(&mut self) -> Option<TurnEvent> {
        loop {
            match &mut self.stage {
                Stage::Announce => {
                    self.stage = Stage::Notice;
                    let provider = self.chat.provider();
                    return Some(TurnEvent::Started {
                        user_message_id: self
                            .plan
                            .session
                            .as_ref()
                            .and_then(|session| session.user_message_id),
                        persona: self.plan.persona.id.clone(),
                        model: provider.model().to_owned(),
                        demo: provider.mode() == Mode::Demo,
                    });
                }
                Stage::Notice => {
                    if self.plan.notices.is_empty() {
                        self.stage = Stage::Opening;
                    } else {
                        return Some(TurnEvent::Notice(self.plan.notices.remove(0)));
                    }
                }
                Stage::Opening => match self.start_stream().await {
                    // Opening may have left older messages out: that notice comes first.
                    Ok(stream) => {
                        self.stage = Stage::Streaming(stream);
                        if !self.plan.notices.is_empty() {
                            return Some(TurnEvent::Notice(self.plan.notices.remove(0)));
                        }
                    }
                    Err(error) => {
                        let ending = Ending::Failed {
                            error,
                            in_stream: true,
                        };
                        return self.finish(ending).await;
                    }
                },
                Stage::Streaming(stream) => {
                    let piece = tokio::select! {
                        piece = stream.next() => piece,
                        () = &mut self.shutting_down => Some(Err(ProviderError::ShuttingDown)),
                    };
                    let ending = match piece {
                        Some(Ok(Piece::Text(text))) => {
                            self.forward(&text).await;
                            return Some(TurnEvent::Delta(text));
                        }
                        Some(Ok(Piece::End(finish))) => Ending::Complete(finish),
                        // A provider stream ends with `End`; one that just stops was cut.
                        None => Ending::Failed {
                            error: ProviderError::Disconnected,
                            in_stream: true,
                        },
                        Some(Err(error)) => Ending::Failed {
                            error,
                            in_stream: true,
                        },
                    };
                    return self.finish(ending).await;
                }
                Stage::Over => return None,
            }
        }
    }

    /// Counts a delta and, for a stored session, saves progress.
    async fn forward(&mut self, text: &str) {
        let started = self.plan.started;
        self.ttft.get_or_insert_with(|| started.elapsed());
        self.chars += text.chars().count();
        let Some(session) = &mut self.plan.session else {
            return;
        };
        let first = session.text.is_empty();
        session.text.push_str(text);
        if !first {
            // Once the client has more than one delta, the row a crash would leave exists.
            session.row.wait_for_insert().await;
        }
        session.row.save_progress(
            &self.chat.inner.store,
            &session.session_id,
            &self.plan.persona.id,
            &session.text,
        );
    }

    /// The whole reply at once (no `Started` or deltas); counted here.
    pub async fn complete(mut self) -> Result<Completed, ChatError> {
        self.stage = Stage::Opening;
        let params = std::mem::take(&mut self.plan.params);
        let provider = &*self.chat.inner.provider;
        let asked = tokio::select! {
            asked = provider.complete(&self.plan.persona, &params) => asked,
            () = &mut self.shutting_down => Err(ProviderError::ShuttingDown),
        };
        match asked {
            Ok(completion) => {
                self.ttft = Some(self.plan.started.elapsed());
                self.chars = completion.content.chars().count();
                let finish = Finish {
                    model: Some(completion.model.clone()),
                    usage: completion.usage,
                    finish_reason: Some(completion.finish_reason.clone()),
                };
                self.conclude(&Ending::Complete(finish));
                Ok(Completed {
                    model: completion.model,
                    content: completion.content,
                    finish_reason: completion.finish_reason,
                    usage: completion.usage,
                })
            }
            Err(error) => {
                let ending = Ending::Failed {
                    error: error.clone(),
                    in_stream: false,
                };
                self.conclude(&ending);
                Err(ChatError::from(error))
            }
        }
    }

    /// Ends the reply: counts it, stores it, and says how it ended.
    async fn finish(&mut self, ending: Ending) -> Option<TurnEvent> {
        let (stats, usage, store) = self.conclude(&ending);
        let stored = store.is_some();
        let session_id = store.as_ref().map(|saving| saving.reply.session_id.clone());
        // The store write runs as its own task: it completes even if this future is dropped.
        let saved = match store {
            Some(saving) => match self.chat.inner.tasks.spawn(saving.write()).await {
                Ok(saved) => saved,
                Err(err) => Err(StoreError::other(format!("storing a reply stopped: {err}"))),
            },
            None => Ok(None),
        };
        match ending {
            Ending::Complete(finish) => {
                let reply_id = match saved {
                    Ok(Some(id)) => Some(id),
                    Ok(None) if !stored => None,
                    Ok(None) => return Some(TurnEvent::Failed(ChatError::NotSaved)),
                    Err(err) => return Some(TurnEvent::Failed(ChatError::Store(err))),
                };
                if let (Some(session_id), Some(_)) = (session_id, reply_id) {
                    self.chat.name_later(session_id, self.plan.persona.clone());
                }
                Some(TurnEvent::Done(Done {
                    reply_id,
                    stats,
                    usage,
                    finish_reason: finish.finish_reason.unwrap_or_else(|| "stop".to_owned()),
                }))
            }
            Ending::Failed { error, .. } => {
                if let Err(err) = saved {
                    log_store_failure(&err);
                }
                Some(TurnEvent::Failed(ChatError::from(error)))
            }
            Ending::ClientGone => None,
        }
    }

    /// The synchronous part of finishing: drops the provider stream (freeing its slot before
    /// any store write), records metrics and usage once, and hands back what to store.
    fn conclude(&mut self, ending: &Ending) -> (ReplyStats, Option<Usage>, Option<Saving>) {
        self.stage = Stage::Over;
        let total = self.plan.started.elapsed();
        let (model, usage) = match ending {
            Ending::Complete(finish) => (finish.model.clone(), finish.usage),
            _ => (None, None),
        };
        let stats = ReplyStats {
            model: model.unwrap_or_else(|| self.model().to_owned()),
            prompt_tokens: usage.map(|usage| usage.prompt_tokens),
            completion_tokens: usage.map(|usage| usage.completion_tokens),
            total_tokens: usage.map(|usage| usage.total_tokens),
            ttft_ms: self.ttft.map(millis),
            total_ms: millis(total),
        };
        let complete = matches!(ending, Ending::Complete(_));
        let outcome = match (complete, self.chars) {
            (true, _) => Outcome::Complete,
            (false, 0) => Outcome::Error,
            (false, _) => Outcome::Partial,
        };
        let inner = &self.chat.inner;
        let source = self.plan.source.name();
        if matches!(
            ending,
            Ending::Failed {
                in_stream: true,
                ..
            }
        ) {
            inner.metrics.record_stream_error();
        }
        inner.metrics.record_reply(
            source,
            outcome,
            self.ttft,
            total,
            (stats.prompt_tokens, stats.completion_tokens),
        );
        persist::record_usage(
            &*inner.store,
            UsageRecord {
                at_ms: inner.now_ms(),
                owner: self.plan.owner,
                source: source.to_owned(),
                persona: self.plan.persona.id.clone(),
                outcome: outcome.name().to_owned(),
                message_chars: self.plan.user_chars,
                reply_chars: u64::try_from(self.chars).unwrap_or(u64::MAX),
                prompt_tokens: stats.prompt_tokens,
                completion_tokens: stats.completion_tokens,
                total_tokens: stats.total_tokens,
                ttft_ms: stats.ttft_ms,
                total_ms: stats.total_ms,
            },
        );
        let store = self.plan.session.take().map(|session| Saving {
            store: inner.store.clone(),
            row: session.row,
            reply: FinishedReply {
                row: None,
                session_id: session.session_id,
                persona: self.plan.persona.id.clone(),
                text: session.text,
                stats: stats.clone(),
                partial: !complete,
            },
        });
        (stats, usage, store)
    }
}

impl Drop for Reply {
    /// The client went away mid-reply: count it and store what arrived (in the background).
    fn drop(&mut self) {
        if matches!(self.stage, Stage::Over) {
            return;
        }
        let (_, _, store) = self.conclude(&Ending::ClientGone);
        let Some(saving) = store else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.chat.inner.tasks.spawn(async move {
            if let Err(err) = saving.write().await {
                log_store_failure(&err);
            }
        });
    }
}

/// The store logs its own `Full` and `Unavailable` (at most once a minute); the rest is ours.
fn log_store_failure(err: &StoreError) {
    if err.kind() == StoreErrorKind::Other {
        tracing::error!("could not store a reply: {err}");
    }
}

/// A session reply's final write, run as its own task.
struct Saving {
    store: SharedStore,
    row: ReplyRow,
    reply: FinishedReply,
}

impl Saving {
    /// Waits for a progress save still running (so the row is not inserted twice), then
    /// writes the final text and stats.
    async fn write(mut self) -> Result<Option<i64>, StoreError> {
        let row = self.row.settle().await;
        persist::finish_reply(&*self.store, FinishedReply { row, ..self.reply }).await
    }
}
