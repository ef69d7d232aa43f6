//! One reply, whoever asked: context building, the upstream or demo producer, the app's event stream.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

use crate::{
    api::{ChatEvent, HistoryMessage, ReplyStats, Role},
    demo,
    metrics::Outcome,
    personas::Persona,
    state::AppState,
    store::{self, NewMessage, UsageRecord},
    upstream::{ChatParams, ReplyStream, UpstreamError, Usage, WireMessage},
};

/// The persona's system prompt followed by `history` (oldest first).
pub fn context(persona: &Persona, history: &[HistoryMessage]) -> ChatParams {
    let mut messages = Vec::with_capacity(history.len() + 1);
    messages.push(WireMessage {
        role: "system",
        content: persona.system_prompt.clone(),
    });
    // A reply cut before any text arrived (crash, Stop) says nothing; partial text is kept as said.
    let spoken = history
        .iter()
        .filter(|message| !(message.role == Role::Assistant && message.content.is_empty()));
    messages.extend(spoken.map(|message| WireMessage {
        role: match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        },
        content: message.content.clone(),
    }));
    ChatParams {
        messages,
        temperature: persona.temperature,
        max_tokens: persona.max_tokens,
    }
}

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

/// Milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// One app reply to produce: everything the streaming task needs.
pub struct AppReply {
    pub session_id: String,
    pub persona: Persona,
    pub params: ChatParams,
    pub user_message_id: Option<i64>,
    pub user_chars: u64,
    pub notice: Option<String>,
    pub started: Instant,
}

/// At most this often a streaming reply's text is written to the store ...
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// ... unless this much new text arrived since the last write.
const SAVE_BYTES: usize = 8 * 1024;

/// The stored row of a reply while it streams: inserted (marked partial) with the first text,
/// updated now and then, finalised by [`finish`]; a crash leaves it partial with what was saved.
#[derive(Default)]
struct ReplyRow {
    id: Option<i64>,
    saved_at: Option<Instant>,
    saved_len: usize,
}

impl ReplyRow {
    async fn save_progress(&mut self, state: &AppState, job: &AppReply, reply: &str) {
        let due = self.saved_at.is_none_or(|at| at.elapsed() >= SAVE_INTERVAL)
            || reply.len().saturating_sub(self.saved_len) >= SAVE_BYTES;
        if !due {
            return;
        }
        let content = reply.to_owned();
        let existing = self.id;
        let (session_id, persona) = (job.session_id.clone(), job.persona.id.clone());
        let saved = state
            .store()
            .call(move |db| match existing {
                Some(id) => store::update_reply_text(db, id, &content).map(|()| id),
                None => {
                    let message = NewMessage {
                        session_id: &session_id,
                        role: Role::Assistant,
                        content: &content,
                        persona: &persona,
                        stats: None,
                        partial: true,
                    };
                    store::insert_message(db, &message, store::now_ms())
                }
            })
            .await;
        self.saved_at = Some(Instant::now());
        match saved {
            Ok(id) => {
                self.id = Some(id);
                self.saved_len = reply.len();
            }
            Err(err) => tracing::warn!("could not save a streaming reply's progress: {err}"),
        }
    }
}

/// How the forwarding loop ended.
enum Ending {
    Complete,
    Failed(UpstreamError),
    ClientGone,
    ShuttingDown,
}

/// Streams one reply to the app as [`ChatEvent`]s and stores it, complete or partial.
/// Runs as its own task so a dropped connection (Stop) is noticed and what arrived is kept.
pub async fn run_app_reply(state: AppState, job: AppReply, events: mpsc::Sender<ChatEvent>) {
    let model = if state.is_live() {
        state.upstream().model().to_owned()
    } else {
        demo::DEMO_MODEL.to_owned()
    };
    let started_event = ChatEvent::Started {
        user_message_id: job.user_message_id,
        persona: job.persona.id.clone(),
        model,
        demo: !state.is_live(),
    };
    if events.send(started_event).await.is_err() {
        return;
    }
    if let Some(notice) = job.notice.clone()
        && events
            .send(ChatEvent::Notice { message: notice })
            .await
            .is_err()
    {
        return;
    }
    let shutdown = state.shutdown_token();
    let opened = tokio::select! {
        opened = Producer::start(&state, &job.persona, &job.params) => Some(opened),
        () = events.closed() => None,
        () = shutdown.cancelled() => Some(Err(UpstreamError::ShuttingDown)),
    };
    let Some(opened) = opened else {
        finish(
            &state,
            &job,
            &events,
            (String::new(), None),
            None,
            None,
            Ending::ClientGone,
        )
        .await;
        return;
    };
    let mut producer = match opened {
        Ok(producer) => producer,
        Err(err) => {
            finish(
                &state,
                &job,
                &events,
                (String::new(), None),
                None,
                None,
                Ending::Failed(err),
            )
            .await;
            return;
        }
    };
    let mut reply = String::new();
    let mut row = ReplyRow::default();
    let mut ttft = None;
    let ending = loop {
        tokio::select! {
            piece = producer.next() => match piece {
                Some(Ok(text)) => {
                    ttft.get_or_insert_with(|| job.started.elapsed());
                    reply.push_str(&text);
                    row.save_progress(&state, &job, &reply).await;
                    if events.send(ChatEvent::Delta { text }).await.is_err() {
                        break Ending::ClientGone;
                    }
                }
                Some(Err(err)) => break Ending::Failed(err),
                None => break Ending::Complete,
            },
            () = events.closed() => break Ending::ClientGone,
            () = shutdown.cancelled() => break Ending::ShuttingDown,
        }
    };
    let model = producer.model(state.upstream().model());
    drop_slot_early(&mut producer);
    finish(
        &state,
        &job,
        &events,
        (reply, row.id),
        Some((model, producer.usage())),
        ttft,
        ending,
    )
    .await;
}

/// Releases the upstream connection before the store write.
fn drop_slot_early(producer: &mut Producer) {
    if let Producer::Upstream(stream) = producer {
        stream.release();
    }
}

async fn finish(
    state: &AppState,
    job: &AppReply,
    events: &mpsc::Sender<ChatEvent>,
    (reply, row_id): (String, Option<i64>),
    produced: Option<(String, Option<Usage>)>,
    ttft: Option<Duration>,
    ending: Ending,
) {
    let total = job.started.elapsed();
    let (model, usage) = produced.unwrap_or_else(|| (state.upstream().model().to_owned(), None));
    let stats = ReplyStats {
        model,
        prompt_tokens: usage.map(|usage| usage.prompt_tokens),
        completion_tokens: usage.map(|usage| usage.completion_tokens),
        total_tokens: usage.map(|usage| usage.total_tokens),
        ttft_ms: ttft.map(millis),
        total_ms: millis(total),
    };
    let complete = matches!(ending, Ending::Complete);
    let outcome = match (&ending, reply.is_empty()) {
        (Ending::Complete, _) => Outcome::Complete,
        (_, false) => Outcome::Partial,
        (_, true) => Outcome::Error,
    };
    let stored = if let Some(id) = row_id {
        let (content, stats) = (reply.clone(), stats.clone());
        let partial = !complete;
        state
            .store()
            .call(move |db| store::finalise_reply(db, id, &content, &stats, partial).map(|()| id))
            .await
            .map(Some)
    } else if complete || !reply.is_empty() {
        let session_id = job.session_id.clone();
        let persona = job.persona.id.clone();
        let content = reply.clone();
        let stats = stats.clone();
        let partial = !complete;
        state
            .store()
            .call(move |db| {
                let message = NewMessage {
                    session_id: &session_id,
                    role: Role::Assistant,
                    content: &content,
                    persona: &persona,
                    stats: Some(&stats),
                    partial,
                };
                store::insert_message(db, &message, store::now_ms())
            })
            .await
            .map(Some)
    } else {
        Ok(None)
    };
    let reply_id = match stored {
        Ok(id) => id,
        Err(err) => {
            tracing::error!("could not store a reply: {err}");
            None
        }
    };
    state.metrics().record_reply(
        "app",
        outcome,
        ttft,
        total,
        (stats.prompt_tokens, stats.completion_tokens),
    );
    state.store().record_usage(UsageRecord {
        at_ms: store::now_ms(),
        source: "app".to_owned(),
        persona: job.persona.id.clone(),
        outcome: outcome.name().to_owned(),
        message_chars: job.user_chars,
        reply_chars: u64::try_from(reply.chars().count()).unwrap_or(u64::MAX),
        prompt_tokens: stats.prompt_tokens,
        completion_tokens: stats.completion_tokens,
        total_tokens: stats.total_tokens,
        ttft_ms: stats.ttft_ms,
        total_ms: stats.total_ms,
    });
    let last_event = match (ending, reply_id) {
        (Ending::Complete, Some(reply_id)) => ChatEvent::Done { reply_id, stats },
        (Ending::Complete, None) => ChatEvent::Error {
            error: crate::error::ApiError::internal("The reply could not be saved; try again.")
                .body,
        },
        (Ending::Failed(err), _) => {
            state.metrics().record_stream_error();
            ChatEvent::Error {
                error: err.to_api_error(state.upstream().model()).body,
            }
        }
        (Ending::ShuttingDown, _) => ChatEvent::Error {
            error: UpstreamError::ShuttingDown.to_api_error("").body,
        },
        (Ending::ClientGone, _) => return,
    };
    let _ = events.send(last_event).await;
}
