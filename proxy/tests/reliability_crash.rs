//! Issue 6.4: kill -9 the real `ashley-proxy` while 100 replies stream; after a restart nothing acknowledged is lost.
//!
//! Acknowledged = the client received `started` (the user message was stored) or `done` (the
//! reply was stored). After the restart on the same data directory every one of them is in the
//! history, `PRAGMA integrity_check` says ok, and each reply that was cut by the kill is in the
//! history marked partial.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod reliability_support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use ashley_fake_upstream::{FakeUpstream, Options};
use ashley_proxy::api::{ChatEvent, Role};
use reliability_support::*;

const STREAMING: usize = 100;
const COMPLETED: usize = 20;

/// What one slow reply's client saw before the kill.
#[derive(Default, Clone, Debug)]
struct Seen {
    user_message_id: Option<i64>,
    text: String,
    deltas: usize,
}

fn proxy_env(fake: &FakeUpstream, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_API_KEY", KEY.to_owned()),
        ("OPENAI_BASE_URL", fake.base_url()),
        ("ASHLEY_DATA_DIR", dir.join("data").display().to_string()),
        ("ASHLEY_WEB_DIR", dir.join("web").display().to_string()),
        ("ASHLEY_RATE_LIMIT", "0".to_owned()),
        ("ASHLEY_MAX_UPSTREAM_CONCURRENCY", "500".to_owned()),
        ("ASHLEY_LOG", "info".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_100_streams_loses_nothing_acknowledged_and_marks_cut_replies_partial() {
    // 200 words, 50 ms apart: each reply streams for ten seconds, far longer than the test needs.
    let fake = FakeUpstream::start_with(Options {
        expected_key: Some(KEY.to_owned()),
        reply: (1..=200)
            .map(|n| format!("word{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        chunk_delay: Duration::from_millis(50),
        record: false,
        ..Options::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_web_bundle(dir.path());
    let data_dir = dir.path().join("data");
    let mut first = ProxyProcess::start(&proxy_env(&fake, dir.path()));
    // A guest's bearer token: stored in the database, so the restarted proxy accepts it too.
    let client = guest_client(first.addr).await;

    // Replies that complete before the crash.
    let mut completed = Vec::new();
    for n in 0..COMPLETED {
        let session = create_session(&client, first.addr).await;
        let text = format!("quick {n} [[words:3]] [[slow:0]]");
        let reply = send(&client, first.addr, &session, &text).await;
        let Some(ChatEvent::Done { reply_id, .. }) = reply.last() else {
            panic!("a quick reply did not complete: {reply:?}");
        };
        completed.push((session, text, *reply_id, reply.text()));
    }

    // 100 replies streaming at once.
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(vec![Seen::default(); STREAMING]));
    let mut sessions = Vec::new();
    let mut readers = tokio::task::JoinSet::new();
    for index in 0..STREAMING {
        let session = create_session(&client, first.addr).await;
        sessions.push(session.clone());
        let (client, addr, seen) = (client.clone(), first.addr, seen.clone());
        readers.spawn(async move {
            let response = client
                .post(format!("http://{addr}/api/sessions/{session}/messages"))
                .json(&serde_json::json!({"persona": "ashley", "message": format!("slow {index}")}))
                .send()
                .await;
            let Ok(response) = response else { return };
            let mut events = EventReader::new(response);
            while let Some(event) = events.next().await {
                let mut seen = seen.lock().unwrap();
                match event {
                    ChatEvent::Started {
                        user_message_id, ..
                    } => seen[index].user_message_id = user_message_id,
                    ChatEvent::Delta { text } => {
                        seen[index].text.push_str(&text);
                        seen[index].deltas += 1;
                    }
                    other => panic!("stream {index} ended before the kill: {other:?}"),
                }
            }
        });
    }
    wait_until(
        Duration::from_secs(60),
        "all 100 replies to stream",
        async || {
            seen.lock()
                .unwrap()
                .iter()
                .all(|seen| seen.user_message_id.is_some() && seen.deltas >= 2)
        },
    )
    .await;
    first.kill_9();
    while readers.join_next().await.is_some() {}
    let seen = seen.lock().unwrap().clone();

    assert_eq!(
        integrity_check(&data_dir),
        "ok",
        "the database right after kill -9"
    );
    let second = ProxyProcess::start(&proxy_env(&fake, dir.path()));
    assert_eq!(
        integrity_check(&data_dir),
        "ok",
        "the database after the restart"
    );

    for (session, text, reply_id, reply_text) in &completed {
        let history = history(&client, second.addr, session).await;
        assert!(
            history
                .messages
                .iter()
                .any(|m| m.role == Role::User && &m.content == text),
            "{history:?}"
        );
        let reply = history
            .messages
            .iter()
            .find(|m| m.id == *reply_id)
            .unwrap_or_else(|| panic!("completed reply {reply_id} lost: {history:?}"));
        assert_eq!(&reply.content, reply_text);
        assert!(!reply.partial);
    }
    let mut missing_partial = Vec::new();
    for (index, (session, seen)) in sessions.iter().zip(&seen).enumerate() {
        let history = history(&client, second.addr, session).await;
        let user_id = seen.user_message_id.unwrap();
        let user = history
            .messages
            .iter()
            .find(|m| m.id == user_id)
            .unwrap_or_else(|| {
                panic!("acknowledged user message {user_id} of stream {index} lost: {history:?}")
            });
        assert_eq!(user.content, format!("slow {index}"));
        match history
            .messages
            .iter()
            .find(|m| m.role == Role::Assistant && m.id > user_id)
        {
            Some(reply) => {
                assert!(
                    reply.partial,
                    "the cut reply of stream {index} is not marked partial: {reply:?}"
                );
                // Stored progress may lag what was forwarded, or include a chunk the client never read.
                assert!(
                    seen.text.starts_with(&reply.content) || reply.content.starts_with(&seen.text),
                    "stream {index}: stored {:?} vs received {:?}",
                    reply.content,
                    seen.text
                );
            }
            None => missing_partial.push(index),
        }
    }
    assert!(
        missing_partial.is_empty(),
        "{} of {STREAMING} replies cut by kill -9 are not in the store as partial after the restart (streams {:?}...)",
        missing_partial.len(),
        &missing_partial[..missing_partial.len().min(5)]
    );
    drop(second);
}
