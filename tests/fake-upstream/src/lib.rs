//! A fake OpenAI-compatible upstream that speaks the real wire format, fails on cue and records what it received.
//!
//! Start it in-process with [`FakeUpstream::start`] (or run the `ashley-fake-upstream` binary),
//! point a client at [`FakeUpstream::base_url`] (`http://127.0.0.1:PORT/v1`) and script each
//! request with magic words in the last user message (or the moderation input):
//!
//! | magic word            | effect                                                                   |
//! |-----------------------|--------------------------------------------------------------------------|
//! | `[[flag]]`            | `/v1/moderations` flags the input (`violence`, `harassment/threatening`)   |
//! | `[[moderation-error]]`| `/v1/moderations` answers 500                                             |
//! | `[[status:CODE]]`     | chat answers CODE with an OpenAI error body (429 adds `retry-after: 1` and `retry-after-ms: 20`) |
//! | `[[fail:N:CODE]]`     | the first N chat requests with this exact last message answer CODE, later ones succeed |
//! | `[[disconnect]]`      | streamed reply sends two content chunks, then the connection is cut (no `[DONE]`) |
//! | `[[slow:MS]]`         | MS milliseconds between streamed chunks                                    |
//! | `[[hang]]`            | no response headers for an hour                                           |
//! | `[[echo]]`            | the reply is the last user message itself                                 |
//! | `[[words:N]]`         | the reply is N words: `w1 w2 ... wN`                                       |
//!
//! Without magic words the reply is [`Options::reply`], streamed one word per chunk with
//! [`Options::chunk_delay`] between chunks. When [`Options::expected_key`] is set, requests
//! without `Authorization: Bearer <that key>` get a 401 like OpenAI's.
//!
//! Control endpoints (for the binary): `GET /control/requests` returns the recorded requests
//! as JSON, `POST /control/reset` forgets them (and the `[[fail]]` counters), `POST
//! /control/options` with `{"reply": "...", "chunk_delay_ms": N, "model": "..."}` changes the
//! defaults (fields optional).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
    serve::ListenerExt as _,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod wire;

pub use wire::{last_user_message, magic_number, magic_pair};

/// The text that makes `/v1/moderations` flag its input.
pub const FLAG_WORD: &str = "[[flag]]";

/// Defaults for requests that carry no magic words.
#[derive(Clone, Debug)]
pub struct Options {
    /// The model name reported in responses.
    pub model: String,
    /// The reply text, streamed one word per chunk.
    pub reply: String,
    /// Pause between streamed chunks.
    pub chunk_delay: Duration,
    /// When set, requests must carry `Authorization: Bearer <key>`.
    pub expected_key: Option<String>,
    /// Record every request (turn off for benchmarks so memory stays flat).
    pub record: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            model: "gpt-4-fake".to_owned(),
            reply: "Hello! This is the fake upstream speaking.".to_owned(),
            chunk_delay: Duration::ZERO,
            expected_key: None,
            record: true,
        }
    }
}

/// One request the fake received.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body (`null` when there was none or it was not JSON).
    pub body: Value,
}

impl Recorded {
    /// The `messages` array of a chat request.
    pub fn messages(&self) -> Vec<Value> {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The content of the last `user` message of a chat request.
    pub fn last_user_message(&self) -> Option<String> {
        last_user_message(&self.body)
    }
}

#[derive(Default)]
struct Recorder {
    requests: Vec<Recorded>,
    fail_counts: HashMap<String, u32>,
}

struct Shared {
    options: Mutex<Options>,
    recorder: Mutex<Recorder>,
}

impl Shared {
    fn options(&self) -> Options {
        self.options
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake upstream; it stops when dropped.
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Starts with default [`Options`] on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts with the given options on `127.0.0.1:0`.
    pub async fn start_with(options: Options) -> std::io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), options).await
    }

    /// Starts on `addr` (port 0 picks a free one).
    pub async fn bind(addr: SocketAddr, options: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            options: Mutex::new(options),
            recorder: Mutex::new(Recorder::default()),
        });
        let app = router(shared.clone());
        // Without TCP_NODELAY small chunks wait for delayed ACKs and every latency is off by ~40 ms.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, the value for `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every recorded request, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorder().requests.clone()
    }

    /// The recorded `POST /v1/chat/completions` requests.
    pub fn chat_requests(&self) -> Vec<Recorded> {
        self.requests_to("/v1/chat/completions")
    }

    /// The recorded `POST /v1/moderations` requests.
    pub fn moderation_requests(&self) -> Vec<Recorded> {
        self.requests_to("/v1/moderations")
    }

    fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }

    /// Forgets the recorded requests and the `[[fail]]` counters.
    pub fn reset(&self) {
        let mut recorder = self.shared.recorder();
        recorder.requests.clear();
        recorder.fail_counts.clear();
    }

    /// Replaces the defaults for later requests.
    pub fn set_options(&self, options: Options) {
        *self
            .shared
            .options
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = options;
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/moderations", post(moderations))
        .route("/v1/models", get(models))
        .route("/control/requests", get(recorded_requests))
        .route("/control/reset", post(reset))
        .route("/control/options", post(change_options))
        .with_state(shared)
}

fn record(shared: &Shared, options: &Options, path: &str, headers: &HeaderMap, body: &Value) {
    if !options.record {
        return;
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    shared.recorder().requests.push(Recorded {
        method: if path == "/v1/models" { "GET" } else { "POST" }.to_owned(),
        path: path.to_owned(),
        authorization,
        body: body.clone(),
    });
}

/// OpenAI's 401, masking the key the way OpenAI does.
fn check_key(options: &Options, headers: &HeaderMap) -> Option<Response> {
    let expected = options.expected_key.as_deref()?;
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if sent == Some(expected) {
        return None;
    }
    let shown: String = sent.unwrap_or("").chars().take(3).collect();
    Some(error_response(
        StatusCode::UNAUTHORIZED,
        &format!(
            "Incorrect API key provided: {shown}***. You can find your API key at https://platform.openai.com/account/api-keys."
        ),
        "invalid_request_error",
        Some("invalid_api_key"),
    ))
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let options = shared.options();
    record(&shared, &options, "/v1/models", &headers, &Value::Null);
    if let Some(denied) = check_key(&options, &headers) {
        return denied;
    }
    Json(json!({
        "object": "list",
        "data": [{"id": options.model, "object": "model", "created": 1_700_000_000, "owned_by": "ashley-fake-upstream"}],
    }))
    .into_response()
}

async fn moderations(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let options = shared.options();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&shared, &options, "/v1/moderations", &headers, &body);
    if let Some(denied) = check_key(&options, &headers) {
        return denied;
    }
    let input = match body.get("input") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if input.contains("[[moderation-error]]") {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The moderation service failed.",
            "server_error",
            None,
        );
    }
    Json(wire::moderation_result(&input, input.contains(FLAG_WORD))).into_response()
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let options = shared.options();
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        );
    };
    record(&shared, &options, "/v1/chat/completions", &headers, &body);
    if let Some(denied) = check_key(&options, &headers) {
        return denied;
    }
    let last = last_user_message(&body).unwrap_or_default();
    if last.contains("[[hang]]") {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if let Some(status) = scripted_failure(&shared, &last) {
        return failure_response(status);
    }
    let script = wire::Script::from_message(&last, &options);
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    if stream {
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        wire::stream_response(script, &body, &options.model, include_usage)
    } else {
        Json(wire::completion(&script, &body, &options.model)).into_response()
    }
}

/// The status a `[[status:CODE]]` or a not yet exhausted `[[fail:N:CODE]]` asks for.
fn scripted_failure(shared: &Shared, last: &str) -> Option<StatusCode> {
    if let Some(code) = magic_number(last, "status") {
        return StatusCode::from_u16(u16::try_from(code).ok()?).ok();
    }
    let (times, code) = magic_pair(last, "fail")?;
    let mut recorder = shared.recorder();
    let seen = recorder.fail_counts.entry(last.to_owned()).or_insert(0);
    if u64::from(*seen) >= times {
        return None;
    }
    *seen += 1;
    StatusCode::from_u16(u16::try_from(code).ok()?).ok()
}

fn failure_response(status: StatusCode) -> Response {
    let (message, kind, code) = match status.as_u16() {
        429 => (
            "Rate limit reached for requests. Please try again in 1s.",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        400 => (
            "This model's maximum context length is 8192 tokens.",
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        404 => (
            "The model does not exist or you do not have access to it.",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        _ => (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
    };
    let mut response = error_response(status, message, kind, code);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert("retry-after-ms", HeaderValue::from_static("20"));
    }
    response
}

fn error_response(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}})),
    )
        .into_response()
}

async fn recorded_requests(State(shared): State<Arc<Shared>>) -> Json<Vec<Recorded>> {
    Json(shared.recorder().requests.clone())
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    let mut recorder = shared.recorder();
    recorder.requests.clear();
    recorder.fail_counts.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct OptionsChange {
    reply: Option<String>,
    chunk_delay_ms: Option<u64>,
    model: Option<String>,
}

async fn change_options(
    State(shared): State<Arc<Shared>>,
    Json(change): Json<OptionsChange>,
) -> StatusCode {
    let mut options = shared
        .options
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(reply) = change.reply {
        options.reply = reply;
    }
    if let Some(delay) = change.chunk_delay_ms {
        options.chunk_delay = Duration::from_millis(delay);
    }
    if let Some(model) = change.model {
        options.model = model;
    }
    StatusCode::NO_CONTENT
}

/// Keeps the response type nameable for the streaming helper.
pub(crate) fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
