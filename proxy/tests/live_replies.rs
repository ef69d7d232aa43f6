//! Replies that survive their request: written detached, read again from any event number,
//! stopped by their own endpoint, one at a time per conversation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::api::{ChatEvent, ConversationList, ErrorCode, History, Role};
use ashley_proxy::sse::SseDecoder;
use common::{Harness, error_of, eventually, guest_client};
use serde_json::json;

/// A reply of `words` words at one word per `ms` milliseconds: long enough to be read, left
/// and read again while it is being written.
fn slow(words: u32, ms: u32) -> String {
    format!("Tell me a story [[words:{words}]] [[slow:{ms}]]")
}

fn words(count: u32) -> String {
    (1..=count)
        .map(|n| format!("w{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A reply stream read event by event, with each event's SSE id.
struct Reader {
    response: reqwest::Response,
    decoder: SseDecoder,
    pending: std::collections::VecDeque<(u64, ChatEvent)>,
}

impl Reader {
    fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            response,
            decoder: SseDecoder::default(),
            pending: Default::default(),
        }
    }

    /// The next event and its number; `None` when the stream ends.
    async fn next(&mut self) -> Option<(u64, ChatEvent)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let chunk = self.response.chunk().await.unwrap()?;
            for event in self.decoder.push(&chunk) {
                let seq = event.id.as_deref().expect("every event has an id");
                let parsed = serde_json::from_str(&event.data).unwrap();
                self.pending.push_back((seq.parse().unwrap(), parsed));
            }
        }
    }

    /// Reads until `count` deltas have come; every event read.
    async fn until_deltas(&mut self, count: usize) -> Vec<(u64, ChatEvent)> {
        let mut events = Vec::new();
        while events
            .iter()
            .filter(|(_, event)| matches!(event, ChatEvent::Delta { .. }))
            .count()
            < count
        {
            events.push(self.next().await.expect("the stream ended early"));
        }
        events
    }

    async fn rest(&mut self) -> Vec<(u64, ChatEvent)> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

fn text_of(events: &[(u64, ChatEvent)]) -> String {
    events
        .iter()
        .filter_map(|(_, event)| match event {
            ChatEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn live_id(events: &[(u64, ChatEvent)]) -> String {
    match &events[0].1 {
        ChatEvent::Started {
            live_reply: Some(id),
            ..
        } => id.clone(),
        other => panic!("the first event names the reply: {other:?}"),
    }
}

async fn start(harness: &Harness, conversation: &str, message: &str) -> Reader {
    Reader::new(
        harness
            .post_json(
                &format!("/api/conversations/{conversation}/messages"),
                &json!({"persona": "ashley", "message": message}),
            )
            .await,
    )
}

async fn history(harness: &Harness, conversation: &str) -> History {
    let response = harness
        .get(&format!("/api/conversations/{conversation}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_reply_goes_on_and_is_stored_while_no_client_reads_it() {
    let harness = Harness::live().await;
    let conversation = harness.new_conversation().await.id;
    let mut reader = start(&harness, &conversation, &slow(30, 40)).await;
    let first = reader.until_deltas(1).await;
    let live = live_id(&first);
    drop(reader);

    // The list shows the reply being written, and the conversation names it.
    let list: ConversationList = harness
        .get("/api/conversations")
        .await
        .json()
        .await
        .unwrap();
    let row = list
        .conversations
        .iter()
        .find(|row| row.id == conversation)
        .unwrap();
    assert!(row.writing, "the list shows the reply being written");
    let opened = history(&harness, &conversation).await;
    assert_eq!(opened.live_reply.as_deref(), Some(live.as_str()));
    assert_eq!(
        opened.messages.last().unwrap().role,
        Role::User,
        "the reply itself comes from its events, not from its stored progress"
    );

    let stored = eventually("the whole reply stored", async || {
        let history = history(&harness, &conversation).await;
        let last = history.messages.last()?;
        (history.live_reply.is_none() && last.role == Role::Assistant).then(|| last.clone())
    })
    .await;
    assert_eq!(stored.content, words(30));
    assert!(!stored.partial);
    let list: ConversationList = harness
        .get("/api/conversations")
        .await
        .json()
        .await
        .unwrap();
    assert!(list.conversations.iter().all(|row| !row.writing));
}

#[tokio::test]
async fn reattaching_replays_every_event_once_in_order() {
    let harness = Harness::live().await;
    let conversation = harness.new_conversation().await.id;
    // 60 words at 150 ms: nine seconds in which to leave and come back.
    let mut reader = start(&harness, &conversation, &slow(60, 150)).await;
    let before = reader.until_deltas(3).await;
    let live = live_id(&before);
    let last_seen = before.last().unwrap().0;
    drop(reader);

    let events_path = format!("/api/conversations/{conversation}/replies/{live}/events");
    // `Last-Event-ID` (as `EventSource` reconnects) gives what follows the last event seen.
    let mut by_header = Reader::new(
        harness
            .client
            .get(harness.url(&events_path))
            .header("Last-Event-ID", last_seen.to_string())
            .send()
            .await
            .unwrap(),
    );
    // `from_seq` gives from that event on: here, everything from the first.
    let mut from_start = Reader::new(harness.get(&format!("{events_path}?from_seq=1")).await);

    let after = by_header.rest().await;
    let seqs: Vec<u64> = before.iter().chain(&after).map(|(seq, _)| *seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "numbered from 1 without gap or repeat");
    let mut whole = before.clone();
    whole.extend(after.iter().cloned());
    assert_eq!(text_of(&whole), words(60), "every delta exactly once");
    assert!(matches!(after.last().unwrap().1, ChatEvent::Done { .. }));

    let replayed = from_start.rest().await;
    assert_eq!(replayed.len(), whole.len());
    assert_eq!(text_of(&replayed), words(60));

    // Once stored, the log is gone: a late reattach is told to read the conversation.
    let (status, body) = error_of(harness.get(&events_path).await).await;
    assert_eq!(status, 404);
    assert_eq!(body.error.code, Some(ErrorCode::UnknownReply));
    let stored = history(&harness, &conversation).await;
    assert_eq!(stored.messages.last().unwrap().content, words(60));
}

#[tokio::test]
async fn stop_from_another_client_ends_the_reply_and_keeps_what_arrived() {
    let harness = Harness::live().await;
    let conversation = harness.new_conversation().await.id;
    let mut reader = start(&harness, &conversation, &slow(200, 100)).await;
    let before = reader.until_deltas(2).await;
    let live = live_id(&before);
    let stop_path = format!("/api/conversations/{conversation}/replies/{live}/stop");

    // Another tab of the same owner: the same credential on a connection of its own.
    let response = harness
        .client
        .post(harness.url(&stop_path))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let rest = reader.rest().await;
    let (_, last) = rest.last().unwrap();
    let ChatEvent::Stopped {
        reply_id: Some(reply_id),
    } = last
    else {
        panic!("the stream ends with `stopped`: {last:?}");
    };
    let mut all = before.clone();
    all.extend(rest.iter().cloned());
    let shown = text_of(&all);
    assert!(!shown.is_empty() && shown.len() < words(200).len());

    let stored = history(&harness, &conversation).await;
    let reply = stored.messages.last().unwrap();
    assert_eq!(reply.id, *reply_id);
    assert!(reply.partial, "a stopped reply is marked partial");
    assert_eq!(reply.content, shown, "what was shown is what is stored");
    assert!(stored.live_reply.is_none());

    // Stopped once: a second stop finds nothing to stop.
    let (status, body) = error_of(
        harness
            .client
            .post(harness.url(&stop_path))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body.error.code, Some(ErrorCode::UnknownReply));
}

#[tokio::test]
async fn a_conversation_writes_one_reply_at_a_time() {
    let harness = Harness::live().await;
    let conversation = harness.new_conversation().await.id;
    let mut reader = start(&harness, &conversation, &slow(40, 100)).await;
    let first = reader.until_deltas(1).await;
    let live = live_id(&first);

    let send = harness
        .post_json(
            &format!("/api/conversations/{conversation}/messages"),
            &json!({"persona": "ashley", "message": "And another thing"}),
        )
        .await;
    let (status, body) = error_of(send).await;
    assert_eq!(status, 409);
    assert_eq!(body.error.code, Some(ErrorCode::ReplyInProgress));
    let regenerate = harness
        .post_json(
            &format!("/api/conversations/{conversation}/regenerate"),
            &json!({"persona": "ashley"}),
        )
        .await;
    assert_eq!(error_of(regenerate).await.0, 409);
    let stored = history(&harness, &conversation).await;
    assert_eq!(
        stored.messages.len(),
        1,
        "the refused message was not stored"
    );

    let stop = format!("/api/conversations/{conversation}/replies/{live}/stop");
    harness
        .client
        .post(harness.url(&stop))
        .send()
        .await
        .unwrap();
    reader.rest().await;
    // Free again once the reply ended.
    let events = harness.say(&conversation, "[[words:3]]").await;
    assert!(matches!(events.last(), Some(ChatEvent::Done { .. })));
}

#[tokio::test]
async fn only_the_owner_can_read_or_stop_a_reply() {
    let harness = Harness::live().await;
    let conversation = harness.new_conversation().await.id;
    let mut reader = start(&harness, &conversation, &slow(40, 100)).await;
    let live = live_id(&reader.until_deltas(1).await);
    let stranger = guest_client(harness.addr).await;
    let base = format!("/api/conversations/{conversation}/replies/{live}");

    let read = stranger
        .get(harness.url(&format!("{base}/events")))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(read).await;
    assert_eq!(status, 404);
    assert_eq!(body.error.code, Some(ErrorCode::UnknownSession));
    let stop = stranger
        .post(harness.url(&format!("{base}/stop")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(stop).await.0, 404);
    let history = stranger
        .get(harness.url(&format!("/api/conversations/{conversation}")))
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 404);

    // A wrong reply id in one's own conversation, and a bad `from_seq`, say so.
    let wrong = harness
        .get(&format!(
            "/api/conversations/{conversation}/replies/nope/events"
        ))
        .await;
    assert_eq!(
        error_of(wrong).await.1.error.code,
        Some(ErrorCode::UnknownReply)
    );
    let bad = harness.get(&format!("{base}/events?from_seq=soon")).await;
    assert_eq!(
        error_of(bad).await.1.error.code,
        Some(ErrorCode::InvalidQuery)
    );

    // The stranger changed nothing: the reply is still written to the end.
    let rest = reader.rest().await;
    assert!(matches!(rest.last().unwrap().1, ChatEvent::Done { .. }));
}
