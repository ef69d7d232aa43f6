//! Export and import through the spawned proxy: an export imported into another account exports
//! to the same bytes, ChatGPT's `conversations.json` imports its shown branches, a bad or partly
//! bad file imports nothing and says where it is wrong, only the owner exports a conversation,
//! and an import file has its own size limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::{
    Config,
    api::{
        ConversationList, ErrorCode, ErrorResponse, ExportFile, History, ImportFormat, ImportResult,
    },
};
use common::{Harness, guest_client};
use reqwest::{Client, StatusCode};
use serde_json::json;

const CHATGPT_SAMPLE: &str = include_str!("fixtures/chatgpt-conversations.json");

async fn export_all(harness: &Harness, client: &Client) -> Vec<u8> {
    let response = client.get(harness.url("/api/export")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"ashley-export.json\""
    );
    response.bytes().await.unwrap().to_vec()
}

async fn import(
    harness: &Harness,
    client: &Client,
    file: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .post(harness.url("/api/import"))
        .header("content-type", "application/json")
        .body(file)
        .send()
        .await
        .unwrap()
}

async fn imported(response: reqwest::Response) -> ImportResult {
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    response.json().await.unwrap()
}

async fn refused(response: reqwest::Response) -> (StatusCode, ErrorResponse) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn conversations(harness: &Harness, client: &Client) -> ConversationList {
    client
        .get(harness.url("/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_export_imported_into_another_account_exports_to_the_same_bytes() {
    let harness = Harness::live().await;
    let trip = harness.new_session().await;
    harness
        .send(&trip, "technical", "# Packing\n- socks\n- `boots`")
        .await;
    harness
        .send(&trip, "creative", "and a poem about rain?")
        .await;
    let named = harness.new_session().await;
    harness.send(&named, "ashley", "hello there").await;
    let patch = harness
        .client
        .patch(harness.url(&format!("/api/conversations/{named}")))
        .json(&json!({"title": "Greetings", "pinned": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    harness.new_session().await; // empty: exported too

    let first = export_all(&harness, &harness.client).await;
    let file: ExportFile = serde_json::from_slice(&first).unwrap();
    assert_eq!(file.ashley_export, 1);
    assert_eq!(file.conversations.len(), 3);
    assert_eq!(
        file.conversations[0].title, None,
        "not named: the list's words are not stored"
    );
    assert_eq!(file.conversations[0].messages.len(), 4);
    assert!(
        file.conversations[0].messages[1].stats.is_some(),
        "replies keep their stats"
    );
    assert_eq!(file.conversations[1].title.as_deref(), Some("Greetings"));
    assert!(file.conversations[1].pinned);
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(
        !text.contains(&trip) && !text.contains(&named),
        "no server ids in an export"
    );
    assert_eq!(
        export_all(&harness, &harness.client).await,
        first,
        "the same twice"
    );

    let other = guest_client(harness.addr).await;
    let result = imported(import(&harness, &other, first.clone()).await).await;
    assert_eq!(result.format, ImportFormat::Ashley);
    assert_eq!(result.conversations.len(), 3);
    assert!(
        result
            .conversations
            .iter()
            .all(|c| c.id != trip && c.id != named)
    );
    assert_eq!(result.conversations[1].title, "Greetings");
    assert_eq!(
        export_all(&harness, &other).await,
        first,
        "export, import elsewhere, export again: the same bytes"
    );

    // One conversation's export is the same schema, and imports the same way.
    let one = harness
        .get(&format!("/api/conversations/{named}/export?format=json"))
        .await;
    assert_eq!(one.status(), 200);
    assert_eq!(
        one.headers()["content-disposition"],
        "attachment; filename=\"ashley-greetings.json\""
    );
    let one = one.bytes().await.unwrap().to_vec();
    let third = guest_client(harness.addr).await;
    imported(import(&harness, &third, one.clone()).await).await;
    assert_eq!(export_all(&harness, &third).await, one);
    let list = conversations(&harness, &third).await.conversations;
    assert_eq!(list.len(), 1);
    assert!(list[0].pinned);
    let history: History = third
        .get(harness.url(&format!("/api/conversations/{}", list[0].id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history.messages[0].content, "hello there");
}

#[tokio::test]
async fn a_conversation_exports_as_markdown_for_reading() {
    let harness = Harness::live().await;
    let id = harness.new_session().await;
    harness.send(&id, "technical", "What is a **monad**?").await;
    let response = harness
        .get(&format!("/api/conversations/{id}/export?format=md"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"ashley-conversation.md\""
    );
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("# What is a **monad**?\n\n*Ashley AI · started "),
        "{text}"
    );
    assert!(text.contains("\n## You · "), "{text}");
    assert!(text.contains("\n## Technical Expert · "), "{text}");
    assert!(text.contains("\n\nWhat is a **monad**?\n"), "{text}");

    let everything = harness.get("/api/export?format=md").await;
    assert_eq!(everything.status(), 200);
    assert!(
        everything
            .text()
            .await
            .unwrap()
            .contains("## Technical Expert")
    );
    let (status, body) = refused(harness.get("/api/export?format=xml").await).await;
    assert_eq!(status, 400);
    assert_eq!(body.error.param.as_deref(), Some("format"));
}

#[tokio::test]
async fn a_chatgpt_export_imports_the_branch_each_conversation_showed() {
    let harness = Harness::live().await;
    let result = imported(import(&harness, &harness.client, CHATGPT_SAMPLE).await).await;
    assert_eq!(result.format, ImportFormat::Chatgpt);
    assert_eq!(
        result.skipped, 1,
        "the picture-only conversation has no text"
    );
    let titles: Vec<_> = result
        .conversations
        .iter()
        .map(|c| c.title.as_str())
        .collect();
    assert_eq!(titles, ["Packing for Lisbon", "Sum a column in Python"]);
    assert_eq!(result.conversations[0].created_at_ms, 1_733_131_200_123);

    let history = harness.history(&result.conversations[0].id).await.messages;
    let said: Vec<_> = history
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    use ashley_proxy::api::Role::{Assistant, User};
    assert_eq!(said.len(), 4, "{said:?}");
    assert_eq!(
        said[0],
        (
            User,
            "What should I pack for four days in Lisbon in December?"
        )
    );
    assert!(
        said[1].1.starts_with("December in Lisbon is mild"),
        "the shown branch: {said:?}"
    );
    assert_eq!(said[3].0, Assistant);
    assert_eq!(history[0].created_at_ms, 1_733_131_210_500);
    assert_eq!(history[0].persona, "chatgpt");
    let python = harness.history(&result.conversations[1].id).await.messages;
    assert_eq!(
        python.len(),
        2,
        "the code call and its tool output are left out: {python:?}"
    );
    assert!(python[1].content.contains("```python"));

    // Imported text is searchable like any other.
    let hits: serde_json::Value = harness
        .get("/api/search?q=Tagus")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        hits["hits"][0]["conversation_id"],
        result.conversations[0].id.as_str()
    );
}

#[tokio::test]
async fn a_bad_or_partly_bad_file_imports_nothing_and_says_what_is_wrong() {
    let harness = Harness::live().await;
    let client = guest_client(harness.addr).await;
    let expect = async |file: String, code: ErrorCode| {
        let (status, body) = refused(import(&harness, &client, file).await).await;
        assert_eq!(status, 400, "{body:?}");
        assert_eq!(body.error.code, Some(code), "{body:?}");
        assert!(
            body.error.message.starts_with("Nothing was imported"),
            "{body:?}"
        );
        body.error
    };
    let not_json = expect("Title: my notes\n".to_owned(), ErrorCode::InvalidImport).await;
    assert!(not_json.message.contains("not JSON"), "{not_json:?}");
    let newer = expect(
        json!({"ashley_export": 7, "conversations": []}).to_string(),
        ErrorCode::UnsupportedExportVersion,
    )
    .await;
    assert!(newer.message.contains("version 7"), "{newer:?}");

    let message = |content: serde_json::Value| json!({"role": "user", "content": content, "persona": "ashley", "created_at_ms": 2});
    let ours = json!({"ashley_export": 1, "conversations": [
        {"title": "First", "created_at_ms": 1, "messages": [message(json!("fine"))]},
        {"title": "Second", "created_at_ms": 1, "messages": [message(json!("fine")), message(json!(42))]},
        {"title": "Third", "created_at_ms": 1, "messages": []}
    ]});
    let partly = expect(ours.to_string(), ErrorCode::InvalidImport).await;
    assert!(
        partly.message.contains("conversation 2 of 3 (“Second”)"),
        "{partly:?}"
    );
    assert!(partly.message.contains("messages[1].content"), "{partly:?}");
    assert_eq!(
        partly.param.as_deref(),
        Some("conversations[1].messages[1].content")
    );

    let mut chatgpt: serde_json::Value = serde_json::from_str(CHATGPT_SAMPLE).unwrap();
    chatgpt[1]["mapping"]["a-2"]["parent"] = json!("no-such-node");
    let broken = expect(chatgpt.to_string(), ErrorCode::InvalidImport).await;
    assert!(
        broken
            .message
            .contains("conversation 2 of 3 (“Sum a column in Python”)"),
        "{broken:?}"
    );
    assert!(broken.message.contains("no-such-node"), "{broken:?}");
    assert_eq!(broken.param.as_deref(), Some("[1].mapping.a-2.parent"));

    assert!(
        conversations(&harness, &client)
            .await
            .conversations
            .is_empty(),
        "the good conversations beside the bad one were not imported either"
    );
}

#[tokio::test]
async fn only_the_owner_exports_a_conversation() {
    let harness = Harness::live().await;
    let id = harness.new_session().await;
    harness.send(&id, "ashley", "my private plans").await;
    let stranger = guest_client(harness.addr).await;
    let nobody = Client::builder().no_proxy().build().unwrap();
    for (who, client) in [("another guest", &stranger), ("nobody", &nobody)] {
        for format in ["json", "md"] {
            let response = client
                .get(harness.url(&format!("/api/conversations/{id}/export?format={format}")))
                .send()
                .await
                .unwrap();
            let (status, body) = refused(response).await;
            assert_eq!(status, 404, "{who}");
            assert_eq!(body.error.code, Some(ErrorCode::UnknownSession), "{who}");
        }
        let everything = export_all(&harness, client).await;
        let file: ExportFile = serde_json::from_slice(&everything).unwrap();
        assert!(file.conversations.is_empty(), "{who} sees none of it");
    }
}

#[tokio::test]
async fn an_import_has_its_own_size_limit() {
    let harness = Harness::live_with(|config| Config {
        max_body_bytes: 16 * 1024,
        max_import_bytes: 64 * 1024,
        ..config
    })
    .await;
    let file = |text_bytes: usize| {
        json!({"ashley_export": 1, "conversations": [{"title": null, "created_at_ms": 1, "messages": [
            {"role": "user", "content": "x".repeat(text_bytes), "persona": "ashley", "created_at_ms": 1}
        ]}]})
        .to_string()
    };
    let result = imported(import(&harness, &harness.client, file(40 * 1024)).await).await;
    assert_eq!(
        result.conversations.len(),
        1,
        "larger than a message body, within an import's"
    );
    let (status, body) = refused(import(&harness, &harness.client, file(100 * 1024)).await).await;
    assert_eq!(status, 413);
    assert_eq!(body.error.code, Some(ErrorCode::BodyTooLarge));
    assert!(
        body.error.message.contains("ASHLEY_MAX_IMPORT_BYTES"),
        "{body:?}"
    );
    assert_eq!(
        conversations(&harness, &harness.client)
            .await
            .conversations
            .len(),
        1
    );
}
