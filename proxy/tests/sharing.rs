//! Read-only links and conversation pages through the spawned proxy: a link shows a snapshot as
//! a plain HTML page to anyone, sharing again replaces the link, stopping ends it, only the owner
//! shares or sees `/c/{id}`, and a deleted conversation's link is dark until it is restored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::api::{ErrorCode, Share};
use common::{Harness, error_of, guest_client};
use reqwest::{Client, Method, StatusCode};

/// Anyone at all: no cookie, no token.
fn anyone() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

async fn share(harness: &Harness, id: &str) -> Share {
    let response = harness
        .client
        .post(harness.url(&format!("/api/conversations/{id}/share")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// Status, headers and body of a page.
async fn page(client: &Client, url: String) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn a_link_shows_a_snapshot_as_a_plain_page_to_anyone() {
    let harness = Harness::live().await;
    let id = harness.new_session().await;
    let message = "# Packing list\n- **socks** and `boots`\n\n<script>alert('x')</script> [[echo]]";
    harness.send(&id, "technical", message).await;
    let made = share(&harness, &id).await;
    let path = made
        .path
        .clone()
        .expect("the answer that makes a link carries it");
    assert!(path.starts_with("/s/") && path.len() == 3 + 64, "{path}");
    assert_eq!(made.messages, 2);

    let (status, headers, body) = page(&anyone(), harness.url(&path)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    // Semantic: one title, a heading per message, the Markdown as real elements.
    assert_eq!(body.matches("<h1>").count(), 1);
    assert_eq!(body.matches("<article").count(), 2);
    assert!(body.contains("<h2 id=\"h"), "{body}");
    assert!(body.contains("<h3>Packing list</h3>"), "{body}");
    assert!(body.contains("<li><strong>socks</strong> and <code>boots</code></li>"));
    assert!(
        body.contains(">Technical Expert<") || body.contains(">Technical Expert "),
        "the persona's name labels its reply: {body}"
    );
    // The person's script is text on the page, never markup.
    assert!(!body.contains("<script"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));

    // A snapshot: what is said afterwards is not on the shared page.
    harness
        .send(&id, "ashley", "a later secret about the attic")
        .await;
    let (_, _, later) = page(&anyone(), harness.url(&path)).await;
    assert!(!later.contains("attic"), "the page grew after sharing");
    let look: Share = harness
        .get(&format!("/api/conversations/{id}/share"))
        .await
        .json::<Option<Share>>()
        .await
        .unwrap()
        .expect("shared");
    assert_eq!(
        look.path, None,
        "the link itself is not kept, so it cannot be shown again"
    );
    assert_eq!(look.messages, 2);
    assert_eq!(look.created_at_ms, made.created_at_ms);
}

#[tokio::test]
async fn sharing_again_replaces_the_link_and_stopping_ends_it() {
    let harness = Harness::live().await;
    let id = harness.new_session().await;
    harness.send(&id, "ashley", "hello there").await;
    let first = share(&harness, &id).await.path.unwrap();
    let second = share(&harness, &id).await.path.unwrap();
    assert_ne!(first, second);
    let (status, headers, body) = page(&anyone(), harness.url(&first)).await;
    assert_eq!(status, 404, "the replaced link no longer works");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(body.contains("This link does not work"), "{body}");
    assert_eq!(page(&anyone(), harness.url(&second)).await.0, 200);

    let stop = |harness: &Harness| {
        harness
            .client
            .delete(harness.url(&format!("/api/conversations/{id}/share")))
            .send()
    };
    assert_eq!(stop(&harness).await.unwrap().status(), 204);
    assert_eq!(page(&anyone(), harness.url(&second)).await.0, 404);
    let look = harness.get(&format!("/api/conversations/{id}/share")).await;
    assert_eq!(look.status(), 200);
    assert_eq!(
        look.json::<Option<Share>>().await.unwrap(),
        None,
        "no link any more"
    );
    assert_eq!(
        stop(&harness).await.unwrap().status(),
        204,
        "stopping twice is no error"
    );
    // Links that were never made, of any shape.
    for path in [
        "/s/abc",
        "/s/%3Cscript%3E",
        &format!("/s/{}", "0".repeat(64)),
    ] {
        assert_eq!(page(&anyone(), harness.url(path)).await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn only_the_owner_shares_looks_stops_or_sees_the_page() {
    let harness = Harness::live().await;
    let id = harness.new_session().await;
    harness
        .send(&id, "ashley", "my private pancake recipe")
        .await;
    let stranger = guest_client(harness.addr).await;
    let route = format!("/api/conversations/{id}/share");
    for method in [Method::POST, Method::GET, Method::DELETE] {
        let response = stranger
            .request(method.clone(), harness.url(&route))
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(
            (status, error.error.code),
            (StatusCode::NOT_FOUND, Some(ErrorCode::UnknownSession)),
            "{method} {route}"
        );
    }
    let own = harness.url(&format!("/c/{id}"));
    let (status, headers, body) = page(&harness.client, own.clone()).await;
    assert_eq!(status, 200);
    assert!(body.contains("my private pancake recipe"));
    assert!(body.contains("Your conversation"), "{body}");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    for (who, client) in [("another guest", &stranger), ("nobody", &anyone())] {
        let (status, _, body) = page(client, own.clone()).await;
        assert_eq!(status, 404, "{who}");
        assert!(!body.contains("pancake"), "{who} read the conversation");
    }
    // The stranger's refused attempt made no link: the owner's conversation is not shared.
    let look = harness.get(&route).await;
    assert_eq!(look.json::<Option<Share>>().await.unwrap(), None);
}

#[tokio::test]
async fn a_deleted_conversations_link_is_dark_until_it_is_restored() {
    let harness = Harness::live().await;
    let id = harness.new_session().await;
    harness.send(&id, "ashley", "notes on the lighthouse").await;
    let link = harness.url(&share(&harness, &id).await.path.unwrap());
    let delete = harness
        .client
        .delete(harness.url(&format!("/api/conversations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(page(&anyone(), link.clone()).await.0, 404);
    assert_eq!(
        page(&harness.client, harness.url(&format!("/c/{id}")))
            .await
            .0,
        404
    );
    let restore = harness
        .client
        .post(harness.url(&format!("/api/conversations/{id}/restore")))
        .send()
        .await
        .unwrap();
    assert_eq!(restore.status(), 200);
    let (status, _, body) = page(&anyone(), link).await;
    assert_eq!(status, 200);
    assert!(body.contains("notes on the lighthouse"));
}
