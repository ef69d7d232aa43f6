//! Behaviour 10: the static bundle (types, compression, caching, fallback, no traversal) and SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use ashley_proxy::{AppState, Config, api::ChatEvent};
use common::{Harness, parse_events};
use serde_json::{Value, json};

fn bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    write("index.html", b"<!doctype html><title>Ashley</title>");
    write("ashley-0123456789abcdef.js", b"console.log('plain')");
    write("ashley-0123456789abcdef.js.br", b"BROTLI");
    write("ashley-0123456789abcdef.js.gz", b"GZIP");
    write("ashley-0123456789abcdef_bg.wasm", b"\0asm\x01\0\0\0");
    write("favicon.ico", b"icon");
    dir
}

async fn with_bundle() -> (Harness, tempfile::TempDir) {
    let web = bundle();
    let path = web.path().to_path_buf();
    let harness = Harness::demo_with(move |config| Config {
        web_dir: path,
        ..config
    })
    .await;
    (harness, web)
}

#[tokio::test]
async fn files_have_content_types_and_cache_headers() {
    let (harness, _web) = with_bundle().await;
    let index = harness.get("/").await;
    assert_eq!(index.status(), 200);
    assert!(
        index.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let wasm = harness.get("/ashley-0123456789abcdef_bg.wasm").await;
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(
        wasm.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let icon = harness.get("/favicon.ico").await;
    assert_eq!(icon.headers()["cache-control"], "no-cache");
}

#[tokio::test]
async fn precompressed_files_are_served_when_accepted() {
    let (harness, _web) = with_bundle().await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let get = |encoding: &'static str| {
        client
            .get(harness.url("/ashley-0123456789abcdef.js"))
            .header("accept-encoding", encoding)
            .send()
    };
    let brotli = get("br, gzip").await.unwrap();
    assert_eq!(brotli.headers()["content-encoding"], "br");
    assert!(
        brotli.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(brotli.text().await.unwrap(), "BROTLI");
    let gzip = get("gzip").await.unwrap();
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    assert_eq!(gzip.text().await.unwrap(), "GZIP");
    let plain = get("identity").await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.text().await.unwrap(), "console.log('plain')");
}

#[tokio::test]
async fn app_routes_fall_back_to_the_index_but_api_paths_do_not() {
    let (harness, _web) = with_bundle().await;
    let route = harness.get("/chat/some-session").await;
    assert_eq!(route.status(), 200);
    assert!(
        route
            .text()
            .await
            .unwrap()
            .contains("<title>Ashley</title>")
    );
    for path in ["/api/nope", "/v1/nope", "/api", "/missing.js"] {
        let response = harness.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    let wrong_method = harness
        .client
        .put(harness.url("/api/personas"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn paths_cannot_escape_the_web_dir() {
    let (harness, web) = with_bundle().await;
    std::fs::write(
        web.path().parent().unwrap().join("ashley-secret.txt"),
        "secret",
    )
    .ok();
    let stream = tokio::net::TcpStream::connect(harness.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    for path in [
        "/../ashley-secret.txt",
        "/%2e%2e/ashley-secret.txt",
        "/..%2fashley-secret.txt",
    ] {
        write
            .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
    }
    write
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    read.read_to_string(&mut answer).await.unwrap();
    assert!(
        !answer.contains("secret\r\n") && !answer.ends_with("secret"),
        "{answer}"
    );
    assert!(
        !answer.contains("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("ok"));
    let _ = std::fs::remove_file(web.path().parent().unwrap().join("ashley-secret.txt"));
}

#[tokio::test]
async fn without_a_bundle_the_app_routes_say_what_is_missing() {
    let harness = Harness::demo_with(|config| Config {
        web_dir: "/nonexistent-ashley-dist".into(),
        ..config
    })
    .await;
    let response = harness.get("/").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "web_app_missing");
}

async fn server(
    grace: Duration,
) -> (
    Harness,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    String,
) {
    let harness = Harness::live_with(|config| Config {
        shutdown_grace: grace,
        ..config
    })
    .await;
    let config = harness.state.config().clone();
    let state = AppState::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        ashley_proxy::serve(listener, state, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (harness, stop, task, base)
}

#[tokio::test]
async fn shutdown_lets_in_flight_streams_finish() {
    let (harness, stop, task, base) = server(Duration::from_secs(5)).await;
    let session: Value = harness
        .client
        .post(format!("{base}/api/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = session["session_id"].as_str().unwrap().to_owned();
    let response = harness
        .client
        .post(format!("{base}/api/sessions/{session}/messages"))
        .json(&json!({"persona": "ashley", "message": "[[slow:50]] [[words:6]]"}))
        .send()
        .await
        .unwrap();
    stop.send(()).unwrap();
    let events = parse_events(&response.text().await.unwrap());
    assert!(
        matches!(events.last(), Some(ChatEvent::Done { .. })),
        "{events:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_is_bounded_and_keeps_the_partial_reply() {
    let (harness, stop, task, base) = server(Duration::from_millis(200)).await;
    let session: Value = harness
        .client
        .post(format!("{base}/api/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = session["session_id"].as_str().unwrap().to_owned();
    let response = harness
        .client
        .post(format!("{base}/api/sessions/{session}/messages"))
        .json(&json!({"persona": "ashley", "message": "[[slow:100]] [[words:100]]"}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).unwrap();
    let started = std::time::Instant::now();
    let events = parse_events(&response.text().await.unwrap());
    let Some(ChatEvent::Error { error }) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(
        error.code.map(ashley_proxy::api::ErrorCode::as_str),
        Some("shutting_down")
    );
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    let messages = harness
        .state
        .store()
        .history(&session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(messages.len(), 2);
    assert!(messages[1].partial);
    assert!(messages[1].content.starts_with("w1"));
}
