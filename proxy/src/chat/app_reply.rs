//! The app's reply task: streams [`ChatEvent`]s as deltas arrive and stores the reply, complete or partial.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Producer, millis, reply_row::ReplyRow};
use crate::{
    api::{ChatEvent, ReplyStats},
    demo,
    metrics::Outcome,
    personas::Persona,
    state::AppState,
    store::{self, UsageRecord},
    upstream::{ChatParams, UpstreamError, Usage},
};

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

/// How the forwarding loop ended.
enum Ending {
    Complete,
    Failed(UpstreamError),
    ClientGone,
    ShuttingDown,
}

/// Where the reply task sends its events. Boxed: a channel allocates its slots in blocks of 32,
/// so boxing keeps an open stream's channel at 32 pointers instead of 32 whole events (3.5 KB,
/// which is 7 MB across 2,000 streams).
pub type EventSender = mpsc::Sender<Box<ChatEvent>>;

/// Streams one reply to the app as [`ChatEvent`]s and stores it, complete or partial.
/// Runs as its own task so a dropped connection (Stop) is noticed and what arrived is kept.
pub async fn run_app_reply(state: AppState, mut job: AppReply, events: EventSender) {
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
    if events.send(Box::new(started_event)).await.is_err() {
        return;
    }
    if let Some(notice) = job.notice.clone()
        && events
            .send(Box::new(ChatEvent::Notice { message: notice }))
            .await
            .is_err()
    {
        return;
    }
    let shutdown = state.shutdown_token();
    // The context (up to 20 messages of up to 5,000 characters) is only needed to open the
    // stream; taken out of the job it is freed then instead of living as long as the reply.
    let params = std::mem::take(&mut job.params);
    let opened = tokio::select! {
        opened = Producer::start(&state, &job.persona, &params) => Some(opened),
        () = events.closed() => None,
        () = shutdown.cancelled() => Some(Err(UpstreamError::ShuttingDown)),
    };
    drop(params);
    let opened = opened.map_or(Err(Ending::ClientGone), |opened| {
        opened.map_err(Ending::Failed)
    });
    let mut producer = match opened {
        Ok(producer) => producer,
        Err(ending) => {
            let nothing = (String::new(), None);
            finish(&state, &job, &events, nothing, None, None, ending).await;
            return;
        }
    };
    let mut reply = String::new();
    let mut row = ReplyRow::default();
    let mut ttft = None;
    // Made once: a fresh waiter per delta costs a registration on each channel and token.
    let client_gone = events.closed();
    let shutting_down = shutdown.cancelled();
    tokio::pin!(client_gone, shutting_down);
    let ending = loop {
        tokio::select! {
            piece = producer.next() => match piece {
                Some(Ok(text)) => {
                    ttft.get_or_insert_with(|| job.started.elapsed());
                    if !reply.is_empty() {
                        row.wait_for_insert().await;
                    }
                    reply.push_str(&text);
                    row.save_progress(&state, &job.session_id, &job.persona.id, &reply);
                    if events.send(Box::new(ChatEvent::Delta { text })).await.is_err() {
                        break Ending::ClientGone;
                    }
                }
                Some(Err(err)) => break Ending::Failed(err),
                None => break Ending::Complete,
            },
            () = &mut client_gone => break Ending::ClientGone,
            () = &mut shutting_down => break Ending::ShuttingDown,
        }
    };
    let model = producer.model(state.upstream().model());
    drop_slot_early(&mut producer);
    let row_id = row.settle().await;
    finish(
        &state,
        &job,
        &events,
        (reply, row_id),
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
    events: &EventSender,
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
    let partial = !complete;
    let stored = if let Some(id) = row_id {
        state
            .store()
            .finish_reply(id, &reply, &stats, partial)
            .await
            .map(|()| Some(id))
    } else if complete || !reply.is_empty() {
        // No progress was saved (no delta arrived): the row is started and finished here.
        let store = state.store();
        match store
            .start_reply(&job.session_id, &job.persona.id, &reply)
            .await
        {
            Ok(id) => store
                .finish_reply(id, &reply, &stats, partial)
                .await
                .map(|()| Some(id)),
            Err(err) => Err(err),
        }
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
    let _ = events.send(Box::new(last_event)).await;
}
