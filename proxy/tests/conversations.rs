//! Conversations through the spawned proxy: the list (titles, pins, order), delete and undo,
//! ownership on every route, search with marks, validation, the v0.2 session routes, and the
//! model's titles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::{
    api::{
        ChatEvent, ConversationList, ConversationSummary, ErrorCode, History, MAX_QUERY_CHARS,
        MAX_TITLE_CHARS, SearchResults,
    },
    store::now_ms,
};
use common::{Harness, error_of, eventually, guest_client};

/// Live, with the model's titles on (the harness turns them off elsewhere).
async fn live() -> Harness {
    Harness::live_with(|config| ashley_proxy::Config {
        model_titles: true,
        ..config
    })
    .await
}
use reqwest::{Client, Method};
use serde_json::{Value, json};

async fn list(harness: &Harness) -> Vec<ConversationSummary> {
    let response = harness.get("/api/conversations").await;
    assert_eq!(response.status(), 200);
    response
        .json::<ConversationList>()
        .await
        .unwrap()
        .conversations
}

async fn patch(harness: &Harness, id: &str, body: Value) -> reqwest::Response {
    harness
        .client
        .patch(harness.url(&format!("/api/conversations/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn user_message_id(events: &[ChatEvent]) -> i64 {
    events
        .iter()
        .find_map(|event| match event {
            ChatEvent::Started {
                user_message_id, ..
            } => *user_message_id,
            _ => None,
        })
        .unwrap()
}

async fn search(harness: &Harness, q: &str) -> SearchResults {
    let response = harness
        .client
        .get(harness.url("/api/search"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{q:?}");
    response.json().await.unwrap()
}

fn ids(list: &[ConversationSummary]) -> Vec<&str> {
    list.iter().map(|summary| summary.id.as_str()).collect()
}

/// Title requests are the non-streamed ones with the title's small budget.
fn title_requests(harness: &Harness) -> usize {
    harness
        .fake()
        .chat_requests()
        .iter()
        .filter(|request| request.body["max_tokens"] == 20 && request.body["stream"] != true)
        .count()
}

#[tokio::test]
async fn conversations_are_listed_pinned_first_then_by_their_last_message() {
    let harness = live().await;
    let first = harness.new_conversation().await;
    assert_eq!(first.title, "");
    assert_eq!(first.messages, 0);
    assert!(!first.pinned);
    let second = harness.new_conversation().await;
    let third = harness.new_conversation().await;
    harness.say(&first.id, "plan a trip to the mountains").await;
    let listed = list(&harness).await;
    assert_eq!(ids(&listed)[0], first.id, "the latest message comes first");
    assert_eq!(listed[0].messages, 2);

    let renamed = patch(&harness, &second.id, json!({"title": "  Groceries  "})).await;
    assert_eq!(renamed.status(), 200);
    let renamed: ConversationSummary = renamed.json().await.unwrap();
    assert_eq!(renamed.title, "Groceries");
    let pinned: ConversationSummary = patch(&harness, &third.id, json!({"pinned": true}))
        .await
        .json()
        .await
        .unwrap();
    assert!(pinned.pinned);

    let listed = list(&harness).await;
    assert_eq!(ids(&listed), [&*third.id, &*first.id, &*second.id]);
    assert_eq!(listed[2].title, "Groceries");
    // An owner's title is never replaced by the model's.
    harness.say(&second.id, "milk and eggs").await;
    eventually("the first exchange's title", async || {
        let listed = list(&harness).await;
        let first = listed
            .iter()
            .find(|summary| summary.id == first.id)
            .unwrap();
        (first.title == "Hello! This is the fake upstream speaking").then_some(())
    })
    .await;
    let listed = list(&harness).await;
    let second = listed
        .iter()
        .find(|summary| summary.id == second.id)
        .unwrap();
    assert_eq!(second.title, "Groceries");
}

#[tokio::test]
async fn a_browser_becomes_a_guest_by_creating_a_conversation() {
    let harness = live().await;
    let browser = Client::builder().no_proxy().build().unwrap();
    let response = browser
        .post(harness.url("/api/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let summary: ConversationSummary = response.json().await.unwrap();
    let listed: ConversationList = browser
        .get(harness.url("/api/conversations"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&listed.conversations), [&*summary.id]);
}

#[tokio::test]
async fn a_deleted_conversation_is_hidden_everywhere_until_restored_within_the_window() {
    let harness = live().await;
    let kept = harness.new_conversation().await;
    let gone = harness.new_conversation().await;
    harness.say(&gone.id, "zanzibar holidays").await;
    assert_eq!(search(&harness, "zanzibar").await.hits.len(), 1);

    let response = harness
        .client
        .delete(harness.url(&format!("/api/conversations/{}", gone.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(ids(&list(&harness).await), [&*kept.id]);
    assert!(search(&harness, "zanzibar").await.hits.is_empty());
    for path in [
        format!("/api/conversations/{}", gone.id),
        format!("/api/sessions/{}", gone.id),
    ] {
        let (status, body) = error_of(harness.get(&path).await).await;
        assert_eq!(status, 404);
        assert_eq!(body.error.code, Some(ErrorCode::UnknownSession));
    }
    let send = harness
        .post_json(
            &format!("/api/conversations/{}/messages", gone.id),
            &json!({"persona": "ashley", "message": "still there?"}),
        )
        .await;
    assert_eq!(send.status(), 404);

    let restore = |id: String| {
        let harness = &harness;
        async move {
            harness
                .client
                .post(harness.url(&format!("/api/conversations/{id}/restore")))
                .send()
                .await
                .unwrap()
        }
    };
    let restored = restore(gone.id.clone()).await;
    assert_eq!(restored.status(), 200);
    let restored: ConversationSummary = restored.json().await.unwrap();
    assert_eq!(restored.messages, 2);
    assert_eq!(list(&harness).await.len(), 2);
    assert_eq!(search(&harness, "zanzibar").await.hits.len(), 1);

    // Deleted longer ago than the undo window: too late to restore, and the sweep purges it.
    let deleted = harness
        .client
        .delete(harness.url(&format!("/api/conversations/{}", gone.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let long_ago =
        now_ms() - i64::try_from(ashley_proxy::api::UNDO_DELETE_SECS).unwrap() * 1000 - 1;
    rusqlite::Connection::open(harness.data_dir.path().join("ashley.sqlite3"))
        .unwrap()
        .execute(
            "UPDATE sessions SET deleted_at_ms = ?1 WHERE id = ?2",
            rusqlite::params![long_ago, gone.id],
        )
        .unwrap();
    let (status, body) = error_of(restore(gone.id.clone()).await).await;
    assert_eq!(status, 404);
    assert_eq!(body.error.code, Some(ErrorCode::UnknownSession));
    assert_eq!(
        harness.state.purge_deleted_conversations().await.unwrap(),
        1
    );
    assert_eq!(
        harness.state.purge_deleted_conversations().await.unwrap(),
        0
    );
}

#[tokio::test]
async fn another_owner_gets_404_unknown_session_on_every_route() {
    let harness = live().await;
    let mine = harness.new_conversation().await;
    harness.say(&mine.id, "my secret pancake recipe").await;
    let stranger = guest_client(harness.addr).await;
    let id = &mine.id;
    let routes = [
        (Method::GET, format!("/api/conversations/{id}"), None),
        (
            Method::PATCH,
            format!("/api/conversations/{id}"),
            Some(json!({"title": "Mine now"})),
        ),
        (
            Method::PATCH,
            format!("/api/conversations/{id}"),
            Some(json!({"pinned": true})),
        ),
        (Method::DELETE, format!("/api/conversations/{id}"), None),
        (
            Method::POST,
            format!("/api/conversations/{id}/restore"),
            None,
        ),
        (
            Method::POST,
            format!("/api/conversations/{id}/messages"),
            Some(json!({"persona": "ashley", "message": "let me in"})),
        ),
        (
            Method::POST,
            format!("/api/conversations/{id}/regenerate"),
            Some(json!({"persona": "ashley"})),
        ),
    ];
    for (method, path, body) in &routes {
        let mut request = stranger.request(method.clone(), harness.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        let (status, error) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(
            error.error.code,
            Some(ErrorCode::UnknownSession),
            "{method} {path}"
        );
    }
    let listed: ConversationList = stranger
        .get(harness.url("/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.conversations.is_empty());
    let found: SearchResults = stranger
        .get(harness.url("/api/search?q=pancake"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(found.hits.is_empty());
    // Nothing changed for the owner.
    let listed = list(&harness).await;
    assert_eq!(ids(&listed), [&*mine.id]);
    assert!(!listed[0].pinned);
    assert_eq!(listed[0].messages, 2);
}

#[tokio::test]
async fn search_finds_a_word_of_an_old_conversation_with_its_marks_and_message() {
    let harness = live().await;
    let old = harness.new_conversation().await;
    let events = harness
        .say(
            &old.id,
            "Last winter we baked a Crème brûlée for the whole family and it was great",
        )
        .await;
    let message_id = user_message_id(&events);
    for n in 0..3 {
        let other = harness.new_conversation().await;
        harness
            .say(&other.id, &format!("something else entirely {n}"))
            .await;
    }
    // Named by its owner (so the model's title, which may come at any time, does not apply).
    patch(&harness, &old.id, json!({"title": "Dessert ideas"})).await;
    let found = search(&harness, "  creme BRUL ").await;
    assert_eq!(found.query, "creme BRUL");
    assert_eq!(found.hits.len(), 1, "{found:?}");
    let hit = &found.hits[0];
    assert_eq!(hit.conversation_id, old.id);
    assert_eq!(hit.message_id, Some(message_id));
    assert_eq!(hit.role, Some(ashley_proxy::api::Role::User));
    let marked: Vec<&str> = hit
        .marks
        .iter()
        .map(|[start, end]| &hit.snippet[*start as usize..*end as usize])
        .collect();
    assert_eq!(marked, ["Crème", "brûlée"], "{hit:?}");
    assert!(
        hit.snippet.contains("baked a Crème brûlée for"),
        "{}",
        hit.snippet
    );
    assert!(hit.snippet.ends_with('…'), "{}", hit.snippet);
    assert_eq!(hit.title, "Dessert ideas");

    // A title hit.
    let found = search(&harness, "dessert").await;
    assert_eq!(found.hits.len(), 1);
    assert_eq!(found.hits[0].message_id, None);
    assert_eq!(found.hits[0].snippet, "Dessert ideas");
    assert_eq!(found.hits[0].marks, [[0, 7]]);
    assert_eq!(found.hits[0].title, "Dessert ideas");
}

#[tokio::test]
async fn search_syntax_in_a_query_is_taken_literally() {
    let harness = live().await;
    let conversation = harness.new_conversation().await;
    harness
        .say(&conversation.id, "the NEAR operator and title: words")
        .await;
    for q in [
        "\"unterminated",
        "NEAR(a b)",
        "a* OR -b",
        "title:x",
        "content : near",
        "^start",
        "()",
        "*",
        "\"\"",
        "AND",
        "💥",
    ] {
        search(&harness, q).await;
    }
    let found = search(&harness, "NEAR").await;
    assert_eq!(found.hits.len(), 1);
    assert!(search(&harness, "near OR pancakes").await.hits.is_empty());
}

#[tokio::test]
async fn invalid_titles_and_queries_are_explained() {
    let harness = live().await;
    let conversation = harness.new_conversation().await;
    for (title, says) in [
        ("   ", "empty"),
        (&*"x".repeat(MAX_TITLE_CHARS + 1), "limit is 120"),
        ("two\nlines", "line break"),
    ] {
        let (status, body) =
            error_of(patch(&harness, &conversation.id, json!({ "title": title })).await).await;
        assert_eq!(status, 400);
        assert_eq!(body.error.code, Some(ErrorCode::InvalidTitle));
        assert!(body.error.message.contains(says), "{}", body.error.message);
        assert_eq!(body.error.param.as_deref(), Some("title"));
    }
    let longest = "x".repeat(MAX_TITLE_CHARS);
    assert_eq!(
        patch(&harness, &conversation.id, json!({ "title": longest }))
            .await
            .status(),
        200
    );
    for (q, says) in [
        ("", "empty"),
        ("  ", "empty"),
        (&*"y".repeat(MAX_QUERY_CHARS + 1), "limit is 200"),
    ] {
        let response = harness
            .client
            .get(harness.url("/api/search"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        let (status, body) = error_of(response).await;
        assert_eq!(status, 400);
        assert_eq!(body.error.code, Some(ErrorCode::InvalidQuery));
        assert!(body.error.message.contains(says), "{}", body.error.message);
    }
    let (status, body) = error_of(harness.get("/api/search").await).await;
    assert_eq!(status, 400);
    assert_eq!(body.error.code, Some(ErrorCode::InvalidQuery));
}

#[tokio::test]
async fn the_sessions_routes_still_work_on_the_same_conversations() {
    let harness = live().await;
    let session = harness.new_session().await;
    harness.send(&session, "ashley", "hello from v0.2").await;
    let history: History = harness.history(&session).await;
    assert_eq!(history.messages.len(), 2);
    let sessions: Value = harness.get("/api/sessions").await.json().await.unwrap();
    assert_eq!(sessions["sessions"][0]["session_id"], session);
    assert_eq!(sessions["sessions"][0]["title"], "hello from v0.2");
    let listed = list(&harness).await;
    assert_eq!(ids(&listed), [&*session]);
    let same: History = harness
        .get(&format!("/api/conversations/{session}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same, history);
    let regenerate = harness
        .post_json(
            &format!("/api/sessions/{session}/regenerate"),
            &json!({"persona": "ashley"}),
        )
        .await;
    assert_eq!(regenerate.status(), 200);
    let cleared = harness
        .client
        .delete(harness.url(&format!("/api/sessions/{session}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(harness.history(&session).await.messages.is_empty());
}

#[tokio::test]
async fn the_model_names_a_conversation_after_its_first_exchange_outside_the_quota() {
    let harness = live().await;
    let conversation = harness.new_conversation().await;
    harness.say(&conversation.id, "hello there").await;
    let titled = eventually("the model's title", async || {
        let listed = list(&harness).await;
        (listed[0].title != "hello there").then(|| listed[0].title.clone())
    })
    .await;
    assert_eq!(titled, "Hello! This is the fake upstream speaking");
    let asked = harness
        .fake()
        .chat_requests()
        .into_iter()
        .find(|request| request.body["max_tokens"] == 20)
        .unwrap();
    assert_eq!(asked.body["messages"][0]["role"], "system");
    assert!(asked.body["temperature"].as_f64().unwrap() < 0.5);
    assert!(
        asked.body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("hello there")
    );
    // One usage row: the person's reply, not the title.
    harness.state.store().flush_usage().await.unwrap();
    assert_eq!(harness.state.store().usage().await.unwrap().len(), 1);
    // Named once: a later reply asks for no other title.
    harness.say(&conversation.id, "and again").await;
    assert_eq!(title_requests(&harness), 1);
    // Searchable by the model's title.
    let found = search(&harness, "fake upstream").await;
    assert_eq!(found.hits[0].message_id, None);
}

#[tokio::test]
async fn a_failing_title_call_leaves_the_first_words() {
    let harness = live().await;
    let conversation = harness.new_conversation().await;
    // The first message makes every request that quotes it fail: its own reply, then the
    // title call, which quotes the first message.
    let events = harness
        .say(&conversation.id, "[[status:500]] budget for the move")
        .await;
    assert!(matches!(events.last(), Some(ChatEvent::Error { .. })));
    assert_eq!(title_requests(&harness), 0, "no complete reply yet");
    let events = harness.say(&conversation.id, "second try").await;
    assert!(matches!(events.last(), Some(ChatEvent::Done { .. })));
    eventually("the title call", async || {
        (title_requests(&harness) > 0).then_some(())
    })
    .await;
    let listed = list(&harness).await;
    assert_eq!(listed[0].title, "[[status:500]] budget for the move");
}
