//! Shared harness of the reliability suite (issue 6): proxies on loopback, scripted raw-TCP upstreams, SSE reading.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use ashley_fake_upstream::{FakeUpstream, Options};
use ashley_proxy::{
    AppState, Config,
    api::{ChatEvent, History, SessionCreated},
    config::ModerationMode,
};
use futures_util::StreamExt as _;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// Recognisable, so any leak is found by a plain substring search.
pub const KEY: &str = "sk-reliability-LEAKCANARY-7f3a9c51e2d84b60";
/// The part of [`KEY`] that must never appear, even when a provider masks the prefix.
pub const KEY_TAIL: &str = "LEAKCANARY-7f3a9c51e2d84b60";

/// A live-mode config: chat at `chat_base`, moderation at `moderation_base`, fast retries,
/// no rate limit, data and web bundle in `dir`.
pub fn live_config(chat_base: &str, moderation_base: &str, dir: &std::path::Path) -> Config {
    let moderation_base = ashley_proxy::config::base_url(moderation_base).unwrap();
    Config {
        data_dir: dir.join("data"),
        web_dir: dir.join("web"),
        rate_limit_per_minute: 0,
        upstream_retry_base: Duration::from_millis(10),
        upstream_timeout: Duration::from_millis(800),
        upstream_connect_timeout: Duration::from_millis(800),
        demo_delay: Duration::ZERO,
        moderation: ModerationMode::OpenAi {
            base_url: moderation_base,
        },
        // No title calls: these tests count the upstream's requests.
        model_titles: false,
        // `/v1` for anyone, no daily budgets: these tests are about what the proxy answers.
        accounts: ashley_proxy::config::Accounts {
            v1: ashley_proxy::config::V1Access::Open,
            quotas: ashley_proxy::config::Quotas {
                user: ashley_proxy::config::Limits {
                    messages: 0,
                    tokens: 0,
                },
                guest: ashley_proxy::config::Limits {
                    messages: 0,
                    tokens: 0,
                },
            },
            ..ashley_proxy::config::Accounts::default()
        },
        ..Config::live(KEY, chat_base).unwrap()
    }
}

/// A proxy served on 127.0.0.1 by `ashley_proxy::spawn_local`, with its fake upstream.
pub struct Proxy {
    pub fake: FakeUpstream,
    pub state: AppState,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// Reads `/metrics` on a connection of its own that closes after each answer, so a test
    /// that counts open connections sees only the ones it made, whatever the pool decides.
    metrics: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// A client that holds a guest's bearer token (as the desktop app does), so the sessions it
/// creates are its own.
pub async fn guest_client(addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(guest_headers(addr).await)
        .build()
        .unwrap()
}

/// `Authorization: Bearer` for a new guest of the proxy at `addr`.
pub async fn guest_headers(addr: SocketAddr) -> reqwest::header::HeaderMap {
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = plain
        .post(format!("http://{addr}/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let guest: ashley_proxy::api::GuestToken = response.json().await.unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", guest.token)).unwrap(),
    );
    headers
}

impl Proxy {
    /// Chat and moderation both at a [`FakeUpstream`] that insists on [`KEY`].
    pub async fn live(change: impl FnOnce(Config) -> Config) -> Self {
        let fake = start_fake().await;
        let base = fake.base_url();
        Self::live_at(fake, &base, change).await
    }

    /// Moderation at `fake`, chat at `chat_base` (a scripted or dead upstream).
    pub async fn live_at(
        fake: FakeUpstream,
        chat_base: &str,
        change: impl FnOnce(Config) -> Config,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_web_bundle(dir.path());
        let config = change(live_config(chat_base, &fake.base_url(), dir.path()));
        let state = AppState::new(config).unwrap();
        let addr = ashley_proxy::spawn_local(state.clone()).await.unwrap();
        Self {
            fake,
            state,
            addr,
            client: guest_client(addr).await,
            metrics: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn create_session(&self) -> String {
        create_session(&self.client, self.addr).await
    }

    pub async fn history(&self, session: &str) -> History {
        history(&self.client, self.addr, session).await
    }

    /// Sends `message` as `ashley` and reads the whole event stream (or the JSON error).
    pub async fn send(&self, session: &str, message: &str) -> Reply {
        send(&self.client, self.addr, session, message).await
    }

    /// A counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .metrics
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric_value(&text, name)
    }
}

pub async fn start_fake() -> FakeUpstream {
    FakeUpstream::start_with(Options {
        expected_key: Some(KEY.to_owned()),
        ..Options::default()
    })
    .await
    .unwrap()
}

/// A web bundle with an index, an asset and, beside it, a file that traversal must never reach.
pub fn write_web_bundle(dir: &std::path::Path) {
    let web = dir.join("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>Ashley</title>",
    )
    .unwrap();
    std::fs::write(
        web.join("ashley-0123456789abcdef.js"),
        "console.log('ashley')",
    )
    .unwrap();
    std::fs::write(web.join("assets/style.css"), "body{}").unwrap();
    std::fs::write(dir.join(OUTSIDE_FILE), OUTSIDE_MARKER).unwrap();
}

/// A file next to (outside) the web bundle.
pub const OUTSIDE_FILE: &str = "outside-secret.txt";
/// Its content; no response may ever carry it.
pub const OUTSIDE_MARKER: &str = "TRAVERSAL-MARKER-d41d8cd98f00b204";

pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().parse::<f64>().unwrap())
        .sum()
}

pub async fn create_session(client: &reqwest::Client, addr: SocketAddr) -> String {
    let response = client
        .post(format!("http://{addr}/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "creating a session");
    response.json::<SessionCreated>().await.unwrap().session_id
}

pub async fn history(client: &reqwest::Client, addr: SocketAddr, session: &str) -> History {
    let response = client
        .get(format!("http://{addr}/api/sessions/{session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "history of {session}");
    response.json().await.unwrap()
}

/// What one `POST /api/sessions/{id}/messages` produced.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub events: Vec<ChatEvent>,
    /// The JSON error body when the answer was not an event stream.
    pub error: Option<Value>,
    /// The stream ended (EOF) without a final event.
    pub ended_early: bool,
}

impl Reply {
    pub fn last(&self) -> Option<&ChatEvent> {
        self.events.last()
    }

    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|event| match event {
                ChatEvent::Delta { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The error code of the final `error` event or of the JSON error body.
    pub fn error_code(&self) -> Option<String> {
        if let Some(ChatEvent::Error { error }) = self.last() {
            return error.code.map(|code| code.as_str().to_owned());
        }
        self.error
            .as_ref()
            .and_then(|body| body.pointer("/error/code"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    pub fn error_message(&self) -> Option<String> {
        if let Some(ChatEvent::Error { error }) = self.last() {
            return Some(error.message.clone());
        }
        self.error
            .as_ref()
            .and_then(|body| body.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

pub async fn send(
    client: &reqwest::Client,
    addr: SocketAddr,
    session: &str,
    message: &str,
) -> Reply {
    let response = client
        .post(format!("http://{addr}/api/sessions/{session}/messages"))
        .json(&serde_json::json!({"persona": "ashley", "message": message}))
        .send()
        .await
        .unwrap();
    read_reply(response).await
}

/// Reads an app reply: the whole event stream, or the JSON error body.
pub async fn read_reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let is_stream = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    if !is_stream {
        let body = response.bytes().await.unwrap();
        let error = serde_json::from_slice(&body).unwrap_or_else(|err| {
            panic!(
                "HTTP {status}: a non-JSON body ({err}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        return Reply {
            status,
            events: Vec::new(),
            error: Some(error),
            ended_early: false,
        };
    }
    let mut reader = EventReader::new(response);
    let mut events = Vec::new();
    let mut ended_early = true;
    while let Some(event) = reader.next().await {
        let last = event.is_final();
        events.push(event);
        if last {
            ended_early = false;
            break;
        }
    }
    Reply {
        status,
        events,
        error: None,
        ended_early,
    }
}

/// Decodes `ChatEvent`s from an event-stream response as they arrive.
pub struct EventReader {
    bytes: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: ashley_proxy::sse::SseDecoder,
    pending: std::collections::VecDeque<ChatEvent>,
}

impl EventReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            bytes: response.bytes_stream().boxed(),
            decoder: ashley_proxy::sse::SseDecoder::default(),
            pending: std::collections::VecDeque::new(),
        }
    }

    /// The next event; `None` at the end of the body or when the connection breaks.
    pub async fn next(&mut self) -> Option<ChatEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let bytes = self.bytes.next().await?.ok()?;
            for data in self
                .decoder
                .push(&bytes)
                .into_iter()
                .map(|event| event.data)
            {
                let event: ChatEvent = serde_json::from_str(&data).unwrap_or_else(|err| {
                    panic!("an event that is not a ChatEvent ({err}): {data}")
                });
                self.pending.push_back(event);
            }
        }
    }
}

/// `{"error":{"message","type","param","code"}}` with a non-empty message and type.
pub fn assert_openai_error(body: &Value, context: &str) {
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("{context}: no `error` object in {body}"));
    for field in ["message", "type", "param", "code"] {
        assert!(
            error.get(field).is_some(),
            "{context}: error without `{field}`: {body}"
        );
    }
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        !message.trim().is_empty(),
        "{context}: empty error message: {body}"
    );
    assert!(
        error["type"].as_str().is_some_and(|kind| !kind.is_empty()),
        "{context}: no type: {body}"
    );
}

/// A port that was just bound and released: connecting to it is refused.
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `check` until it holds or `limit` passes.
pub async fn wait_until(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One step of a scripted upstream response.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes.
    Write(Vec<u8>),
    Sleep(Duration),
    /// Keep the connection open and send nothing, until the test ends.
    Stall,
}

impl Step {
    pub fn text(text: &str) -> Self {
        Self::Write(text.as_bytes().to_vec())
    }
}

/// The head of a streamed 200 whose body ends when the connection closes.
pub fn sse_head() -> Step {
    Step::text(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )
}

/// A well-formed chat chunk carrying `text`.
pub fn sse_chunk(text: &str) -> Step {
    let chunk = serde_json::json!({
        "id": "chatcmpl-raw", "object": "chat.completion.chunk", "created": 1, "model": "raw-model",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
    });
    Step::text(&format!("data: {chunk}\n\n"))
}

/// A complete non-streamed response with this status, content type and body.
pub fn whole_response(status: &str, content_type: &str, body: &str) -> Step {
    Step::text(&format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// A raw-TCP upstream on 127.0.0.1 that answers every chat request with the same script and
/// counts them; other paths (the reachability check) get an empty 404. Raw TCP so it can
/// send malformed bytes, stall, and cut connections where no HTTP library would.
pub struct ScriptedUpstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// Every request head seen (for the secrets scan of what came in, and debugging).
    pub heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedUpstream {
    pub async fn start(script: Vec<Step>) -> Self {
        Self::start_with(move |_| script.clone()).await
    }

    /// `script(request text)` decides the answer of each chat request.
    pub async fn start_with(script: impl Fn(&str) -> Vec<Step> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let (hits_in, heads_in) = (hits.clone(), heads.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let (hits, heads, script) = (hits_in.clone(), heads_in.clone(), script.clone());
                connections.spawn(serve_scripted(socket, hits, heads, script));
            }
        });
        Self {
            addr,
            hits,
            heads,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Chat requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.task.abort();
    }
}

type Script = Arc<dyn Fn(&str) -> Vec<Step> + Send + Sync>;

async fn serve_scripted(
    mut socket: TcpStream,
    hits: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    script: Script,
) {
    let Some(head) = read_request(&mut socket).await else {
        return;
    };
    heads.lock().unwrap().push(head.clone());
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    if !request_line.contains("/chat/completions") {
        let _ = socket
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    hits.fetch_add(1, Ordering::SeqCst);
    for step in script(&head) {
        match step {
            Step::Write(bytes) => {
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Sleep(pause) => tokio::time::sleep(pause).await,
            Step::Stall => {
                // Hold the connection silently until the peer closes it (or the test ends).
                let mut sink = [0u8; 1024];
                while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
        }
    }
    let _ = socket.shutdown().await;
}

/// Reads one request (head and content-length body); returns it as text.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    // The whole request: scripts choose their answer from magic words in the body.
    Some(String::from_utf8_lossy(&buffer).into_owned())
}

/// A listener that accepts connections and never answers: every call to it times out.
pub struct SilentUpstream {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentUpstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self {
            addr,
            accepted,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for SilentUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The body of a `/v1/chat/completions` request for `ashley`.
pub fn v1_body(message: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": "ashley",
        "messages": [{"role": "user", "content": message}],
        "stream": stream,
    })
}

/// What a `/v1/chat/completions` call answered: status, headers, the JSON body or the SSE `data:` payloads.
#[derive(Debug)]
pub struct V1Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Option<Value>,
    pub data: Vec<String>,
}

impl V1Answer {
    /// The error object, whether it came as the body or as a chunk of the stream.
    pub fn error(&self) -> Option<Value> {
        if let Some(json) = &self.json {
            return json.get("error").is_some().then(|| json.clone());
        }
        self.data
            .iter()
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .find(|value| value.get("error").is_some())
    }

    pub fn streamed_text(&self) -> String {
        self.data
            .iter()
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .filter_map(|chunk| {
                chunk
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }
}

pub async fn v1_call(client: &reqwest::Client, addr: SocketAddr, body: &Value) -> V1Answer {
    let response = client
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let is_stream = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    if !is_stream {
        let bytes = response.bytes().await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            panic!(
                "/v1 HTTP {status}: not JSON ({err}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        return V1Answer {
            status,
            headers,
            json: Some(json),
            data: Vec::new(),
        };
    }
    let mut decoder = ashley_proxy::sse::SseDecoder::default();
    let mut data = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(bytes)) = stream.next().await {
        data.extend(decoder.push(&bytes).into_iter().map(|event| event.data));
    }
    V1Answer {
        status,
        headers,
        json: None,
        data,
    }
}

/// The real `ashley-proxy` binary, started with `env`, its stderr collected line by line.
/// Killed (SIGKILL) when dropped.
pub struct ProxyProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl ProxyProcess {
    /// Starts the binary on 127.0.0.1 with a free port and waits until it says where it serves.
    pub fn start(env: &[(&str, String)]) -> Self {
        use std::io::BufRead as _;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ashley-proxy"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ASHLEY_HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("NO_COLOR", "1")
            // `/v1` for anyone and no daily budgets unless a test says otherwise (`env` below may).
            .env("ASHLEY_V1", "open")
            .env("ASHLEY_DAILY_MESSAGES", "0")
            .env("ASHLEY_DAILY_TOKENS", "0")
            .env("ASHLEY_GUEST_DAILY_MESSAGES", "0")
            .env("ASHLEY_GUEST_DAILY_TOKENS", "0")
            // No title calls: these tests count the upstream's requests.
            .env("ASHLEY_MODEL_TITLES", "off")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("serving on http://") {
                    let rest = &line[at + "serving on http://".len()..];
                    let addr = rest
                        .split(|ch: char| ch.is_whitespace() || ch == '/')
                        .next()
                        .unwrap_or_default();
                    if let Ok(addr) = addr.parse::<SocketAddr>() {
                        let _ = addr_tx.send(addr);
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let Ok(addr) = addr_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!(
                "ashley-proxy did not start; its log: {:#?}",
                log.lock().unwrap()
            );
        };
        Self { child, addr, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `PRAGMA integrity_check` of the proxy's database in `data_dir`.
pub fn integrity_check(data_dir: &std::path::Path) -> String {
    let db = rusqlite::Connection::open(data_dir.join("ashley.sqlite3")).unwrap();
    db.query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
        .unwrap()
}
