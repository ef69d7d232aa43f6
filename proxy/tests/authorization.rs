//! Everything stored has an owner and every endpoint checks it: another guest, a caller with no
//! credential, a revoked credential and another site's page all get the same 404 as for an id
//! that never existed, and nothing is read or written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::api::{Identity, Me};
use common::{Harness, guest_client};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// Every route that names a session, with a body where it takes one.
fn session_routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/api/sessions/{id}"), None),
        (Method::DELETE, format!("/api/sessions/{id}"), None),
        (
            Method::POST,
            format!("/api/sessions/{id}/messages"),
            Some(json!({"persona": "ashley", "message": "let me in"})),
        ),
        (
            Method::POST,
            format!("/api/sessions/{id}/regenerate"),
            Some(json!({"persona": "ashley"})),
        ),
    ]
}

async fn call(
    harness: &Harness,
    client: &Client,
    (method, path, body): &(Method, String, Option<Value>),
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = client.request(method.clone(), harness.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
    (status, body)
}

/// The answer for an id, with its wording made id-independent.
fn shape(status: StatusCode, mut body: Value, id: &str) -> (StatusCode, String) {
    if let Some(message) = body["error"]["message"].as_str() {
        body["error"]["message"] = Value::String(message.replace(id, "<id>"));
    }
    (status, body.to_string())
}

async fn stored_messages(harness: &Harness) -> u64 {
    let status: Value = harness.get("/api/status").await.json().await.unwrap();
    status["store"]["messages"].as_u64().unwrap()
}

#[tokio::test]
async fn nobody_but_the_owner_reads_or_writes_a_session_and_a_refusal_reveals_nothing() {
    let harness = Harness::live().await;
    let owner_session = harness.new_session().await;
    harness
        .send(&owner_session, "ashley", "my secret plan")
        .await;
    let before = harness.history(&owner_session).await;
    assert_eq!(before.messages.len(), 2);
    let stored_before = stored_messages(&harness).await;
    let upstream_calls = harness.fake().requests().len();

    let other_guest = guest_client(harness.addr).await;
    let anonymous = Client::builder().no_proxy().build().unwrap();
    let never_existed = "0123456789abcdef0123456789abcdef";

    // Another site's page that somehow holds the owner's cookie: a cookie from there is no
    // credential for a request that changes something.
    let owner_cookie = {
        let response = anonymous
            .post(harness.url("/api/sessions"))
            .send()
            .await
            .unwrap();
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        cookie.split(';').next().unwrap().to_owned()
    };
    let cookie_session = {
        let response = anonymous
            .post(harness.url("/api/sessions"))
            .header("cookie", &owner_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "the cookie is a credential");
        let created: Value = response.json().await.unwrap();
        created["session_id"].as_str().unwrap().to_owned()
    };

    for (who, client, headers) in [
        ("another guest", &other_guest, vec![]),
        ("no credential", &anonymous, vec![]),
        (
            "a malformed credential",
            &anonymous,
            vec![("authorization", "Bearer not-a-token")],
        ),
    ] {
        let pairs = session_routes(&owner_session)
            .into_iter()
            .zip(session_routes(never_existed));
        for (route, unknown_route) in pairs {
            let (status, body) = call(&harness, client, &route, &headers).await;
            let (unknown_status, unknown_body) =
                call(&harness, client, &unknown_route, &headers).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{who}: {} {}: {body}",
                route.0,
                route.1
            );
            assert_eq!(body["error"]["code"], "unknown_session", "{who}: {body}");
            assert_eq!(
                shape(status, body, &owner_session),
                shape(unknown_status, unknown_body, never_existed),
                "{who}: {} {} answers exactly as for an id that never existed",
                route.0,
                route.1
            );
        }
    }

    // The cookie's own session, changed from another site's page: refused the same way.
    for route in session_routes(&cookie_session) {
        if route.0 == Method::GET {
            continue;
        }
        for site in [
            vec![("sec-fetch-site", "cross-site")],
            vec![("origin", "https://evil.example")],
        ] {
            let mut headers = vec![("cookie", owner_cookie.as_str())];
            headers.extend(site.iter().copied());
            let (status, body) = call(&harness, &anonymous, &route, &headers).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "cross-site {} {}: {body}",
                route.0,
                route.1
            );
        }
    }
    let (status, _) = call(
        &harness,
        &anonymous,
        &session_routes(&cookie_session)[0],
        &[
            ("cookie", owner_cookie.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the same page keeps its session");

    assert_eq!(harness.history(&owner_session).await, before, "0 writes");
    assert_eq!(
        stored_messages(&harness).await,
        stored_before,
        "0 messages stored"
    );
    assert_eq!(
        harness.fake().requests().len(),
        upstream_calls,
        "0 calls to the model"
    );
}

#[tokio::test]
async fn me_names_the_identity_and_a_logged_out_credential_reaches_nothing() {
    let harness = Harness::live().await;
    let me: Me = harness.get("/api/me").await.json().await.unwrap();
    assert_eq!(me.identity, Identity::Guest);
    let anonymous = Client::builder().no_proxy().build().unwrap();
    let nobody: Me = anonymous
        .get(harness.url("/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nobody.identity, Identity::Anonymous);

    let session = harness.new_session().await;
    harness.send(&session, "ashley", "hello").await;
    let response = harness
        .client
        .post(harness.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"),
        "the cookie goes too"
    );
    let me: Me = harness.get("/api/me").await.json().await.unwrap();
    assert_eq!(me.identity, Identity::Anonymous, "the token is revoked");
    let history = harness.get(&format!("/api/sessions/{session}")).await;
    assert_eq!(history.status(), StatusCode::NOT_FOUND);
    // A revoked bearer token cannot quietly become a cookie guest: the app is told to renew.
    let created = harness
        .client
        .post(harness.url("/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::UNAUTHORIZED);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["error"]["code"], "sign_in_required");
}

/// A browser's preflight from `origin`: the `Access-Control-Allow-Origin` it gets, if any.
async fn preflight(harness: &Harness, origin: &str) -> Option<String> {
    let response = Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .request(Method::OPTIONS, harness.url("/api/sessions"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn other_sites_read_nothing_unless_the_operator_lists_them() {
    let closed = Harness::live().await;
    assert_eq!(preflight(&closed, "https://evil.example").await, None);
    let answer = closed
        .client
        .get(closed.url("/api/status"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
    assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
    assert_eq!(answer.headers()["referrer-policy"], "same-origin");

    let listed = Harness::live_with(|config| ashley_proxy::Config {
        accounts: ashley_proxy::config::Accounts {
            cors_origins: vec!["https://tools.example.org".to_owned()],
            ..config.accounts
        },
        ..config
    })
    .await;
    assert_eq!(
        preflight(&listed, "https://tools.example.org")
            .await
            .as_deref(),
        Some("https://tools.example.org")
    );
    assert_eq!(preflight(&listed, "https://evil.example").await, None);
    let answer = listed
        .client
        .get(listed.url("/api/status"))
        .header("origin", "https://tools.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://tools.example.org"
    );
    assert!(
        !answer
            .headers()
            .contains_key("access-control-allow-credentials"),
        "never with cookies"
    );
}
