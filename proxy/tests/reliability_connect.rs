//! Issue 6.1, connect timeout: an upstream whose TCP connect hangs is retried, then reported quickly and clearly.
//!
//! The hang stays on loopback: a listener with a backlog of 0 whose accept queue is filled by
//! connections nobody accepts. Linux then drops further SYNs to it (`ListenOverflows`), so a
//! `connect()` neither succeeds nor is refused: it waits, exactly like a host that does not answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod reliability_support;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use ashley_proxy::api::{ChatEvent, Role};
use reliability_support::*;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Short, so three attempts (the call and its two retries) end in well under a few seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(400);
/// Long, so a reply that waited for it (not for the connect timeout) fails the bound below.
const OVERALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A failed call must end within this: three connect timeouts, backoff and slack for a busy machine.
const FAILS_WITHIN: Duration = Duration::from_secs(6);

/// A loopback address where `connect()` hangs.
struct BlackHole {
    addr: SocketAddr,
    // Both held for the test's lifetime: the listener never accepts, the fillers keep its queue full.
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl BlackHole {
    async fn start() -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        // The kernel completes handshakes until the accept queue is full (backlog 0 still
        // admits one or a few); the first connect that neither completes nor fails proves the hang.
        loop {
            assert!(
                fillers.len() < 64,
                "the accept queue never filled: this kernel does not drop SYNs to a full listener"
            );
            match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => fillers.push(stream),
                Ok(Err(err)) => {
                    panic!("connect to the full listener failed instead of hanging: {err}")
                }
                Err(_hung) => break,
            }
        }
        Self {
            addr,
            _listener: listener,
            _fillers: fillers,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// The stream acknowledged the message and ended in one clear `upstream_unreachable` error event.
fn assert_unreachable_event(reply: &Reply) -> i64 {
    assert_eq!(reply.status, 200, "{reply:?}");
    let Some(ChatEvent::Started {
        user_message_id: Some(id),
        ..
    }) = reply.events.first()
    else {
        panic!("no Started event with the stored message's id: {reply:?}");
    };
    assert!(!reply.ended_early, "no final event: {reply:?}");
    let Some(ChatEvent::Error { error }) = reply.last() else {
        panic!("expected a final error event: {reply:?}");
    };
    assert_eq!(
        error.code.map(ashley_proxy::api::ErrorCode::as_str),
        Some("upstream_unreachable"),
        "{reply:?}"
    );
    assert!(
        error.message.contains("Cannot reach the model provider")
            && !error.message.contains(KEY_TAIL),
        "not a sentence a person can act on: {:?}",
        error.message
    );
    *id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_timeout_is_retried_then_reported_quickly_while_others_are_served() {
    let hole = BlackHole::start().await;
    let proxy = Proxy::live_at(start_fake().await, &hole.base_url(), |config| {
        ashley_proxy::Config {
            upstream_connect_timeout: CONNECT_TIMEOUT,
            upstream_timeout: OVERALL_TIMEOUT,
            ..config
        }
    })
    .await;
    let session = proxy.create_session().await;
    let attempts_before = proxy.metric("ashley_upstream_requests_total").await;
    let started = Instant::now();
    let (client, addr, hung_session) = (proxy.client.clone(), proxy.addr, session.clone());
    let hung = tokio::spawn(async move { send(&client, addr, &hung_session, "knock knock").await });

    // Once the chat call is under way (moderation passed, first connect pending), everything
    // else keeps being served: health, personas, models, a new session and its history.
    wait_until(
        Duration::from_secs(5),
        "the chat call to start connecting",
        async || proxy.metric("ashley_upstream_requests_total").await >= attempts_before + 2.0,
    )
    .await;
    for path in ["/healthz", "/api/personas", "/api/status", "/v1/models"] {
        let response = proxy.client.get(proxy.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} while the connect hangs");
    }
    let other = proxy.create_session().await;
    assert!(proxy.history(&other).await.messages.is_empty());
    assert!(
        !hung.is_finished(),
        "the hanging call ended before the other requests were served"
    );

    let reply = hung.await.unwrap();
    let waited = started.elapsed();
    let user_message_id = assert_unreachable_event(&reply);
    assert!(
        waited >= CONNECT_TIMEOUT && waited < FAILS_WITHIN,
        "a connect timeout of {CONNECT_TIMEOUT:?} (overall {OVERALL_TIMEOUT:?}) took {waited:?}"
    );
    let attempts = proxy.metric("ashley_upstream_requests_total").await - attempts_before;
    // The moderation call (1) and the chat call with its two retries (3): nothing was sent yet.
    assert_eq!(
        attempts, 4.0,
        "a connect timeout is retried like any connection error"
    );

    let history = proxy.history(&session).await;
    assert_eq!(history.messages.len(), 1, "{history:?}");
    assert_eq!(history.messages[0].role, Role::User);
    assert_eq!(history.messages[0].content, "knock knock");
    assert_eq!(history.messages[0].id, user_message_id);

    for stream in [false, true] {
        let started = Instant::now();
        let answer = v1_call(&proxy.client, proxy.addr, &v1_body("v1 knock", stream)).await;
        let waited = started.elapsed();
        assert_eq!(answer.status, 502, "stream={stream}: {answer:?}");
        let error = answer
            .error()
            .unwrap_or_else(|| panic!("stream={stream}: no error object: {answer:?}"));
        assert_openai_error(&error, "a connect timeout on /v1");
        assert_eq!(error["error"]["code"], "upstream_unreachable", "{error}");
        assert!(waited < FAILS_WITHIN, "stream={stream}: took {waited:?}");
    }
}
