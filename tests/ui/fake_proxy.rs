//! An in-test proxy on loopback that speaks `ashley_proxy::api`, with scripted replies.
//!
//! The message text picks the behaviour: containing `REFUSE` gets a moderation refusal,
//! `FAIL` an HTTP 502 provider error, `FULL` an HTTP 507 `storage_full`, `TOOLONG` a stream
//! whose only event is a `context_too_long` error, `HOLD` streams one delta and then waits
//! until the test calls [`FakeProxy::release`]; anything else streams a markdown reply in
//! small pieces. Every event carries an `id:` (its sequence number), as the real proxy's do.
//!
//! The conversation routes (`/api/conversations...`, `/api/search`) are served as the contract
//! in `ashley_proxy::api` describes them; the v0.2 `/api/sessions` names stay for older
//! callers. After a conversation's first reply the fake "names" it `About <first words>`, as
//! the real proxy's model does a moment later; a search for `FAIL` fails, a title over
//! `MAX_TITLE_CHARS` is refused with `invalid_title`. A reply whose stream the app left
//! (another conversation was opened) still finishes and is stored, as the real proxy's do.
//!
//! Like the real proxy, session routes need an identity: `POST /api/auth/guest` issues bearer
//! tokens, and a session request without one it issued gets 401 `sign_in_required` (create) or
//! 404 (the others). Sign-in is offered as "Test ID": `/auth/login?client=desktop` sends the
//! browser straight back to the app's loopback address with a one-time code (the provider's
//! pages are the proxy tests' business), which `/api/auth/token` swaps for a user "Ada"'s token.
//! [`FakeProxy::admin_mode`] makes every identity the admin "Root", with a small `/api/admin`
//! report whose users can be blocked and whose key can be revoked.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use ashley_proxy::api::{
    ChatEvent, ConversationList, ConversationPatch, ConversationSummary, ErrorBody, ErrorCode,
    ErrorResponse, GuestToken, History, HistoryMessage, Identity, MAX_QUERY_CHARS, MAX_TITLE_CHARS,
    Me, PersonaInfo, PersonaList, Regenerate, ReplyStats, Role, SearchHit, SearchResults,
    SendMessage, SessionCreated, SessionList, SessionSummary, SignInInfo, Status, TokenExchange,
};
use axum::body::Body;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use tokio::sync::Notify;

/// The markdown every normal reply streams: heading, list, table, inline and block code.
/// What a message containing `RATE` gets: rate limited for this many seconds.
pub const RATE_LIMIT_SECS: u64 = 2;

pub const REPLY_MARKDOWN: &str = "## Plan 🚀\n\n- first **bold** item\n- second with `inline code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() { println!(\"hi\"); }\n```\n\nSee [the docs](https://example.com).";

/// What the list shows of a conversation.
#[derive(Clone, Debug)]
pub struct Meta {
    pub title: String,
    pub pinned: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Deleted, restorable.
    pub deleted: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[derive(Default)]
struct Shared {
    sessions: HashMap<String, Vec<HistoryMessage>>,
    meta: HashMap<String, Meta>,
    /// Every search query asked, in order.
    searches: Vec<String>,
    next_id: i64,
    /// Every (persona, message) the proxy was asked to answer, in order.
    requests: Vec<(String, String)>,
    /// Bearer tokens issued and still valid, and whether each is the signed-in user's.
    tokens: Vec<String>,
    users: Vec<String>,
    /// Which token created each session.
    owners: HashMap<String, String>,
    /// One-time codes the sign-in handed out.
    codes: Vec<String>,
    /// Guest tokens issued in all.
    tokens_issued: usize,
    /// Session requests refused for want of a valid token.
    refused: usize,
    /// `Some`: every identity is the admin Root, and this is the report `/api/admin` shows.
    admin_report: Option<ashley_proxy::api::AdminReport>,
    /// The admin actions asked for, as "block 2 true", "revoke k1".
    admin_actions: Vec<String>,
    /// The reply being written in each conversation, as the real proxy keeps it.
    live: HashMap<String, Arc<Live>>,
    next_live: u64,
}

/// A reply being written: its events framed as SSE with their sequence numbers, for any
/// number of readers (the request that asked, and later reattaches), and its stop switch.
struct Live {
    id: String,
    frames: Mutex<Vec<String>>,
    /// The number of frames logged; readers wait on it.
    logged: tokio::sync::watch::Sender<usize>,
    over: std::sync::atomic::AtomicBool,
    stop_asked: std::sync::atomic::AtomicBool,
    stop: Notify,
}

impl Live {
    fn new(id: String) -> Self {
        Self {
            id,
            frames: Mutex::default(),
            logged: tokio::sync::watch::Sender::new(0),
            over: std::sync::atomic::AtomicBool::new(false),
            stop_asked: std::sync::atomic::AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    fn push(&self, frame: String) {
        let count = {
            let mut frames = self.frames.lock().unwrap();
            frames.push(frame);
            frames.len()
        };
        self.logged.send_replace(count);
    }

    fn end(&self) {
        self.over.store(true, std::sync::atomic::Ordering::SeqCst);
        self.logged.send_modify(|_| {});
    }

    fn stopped(&self) -> bool {
        self.stop_asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits `pace`, or less if Stop comes first.
    async fn pause(&self, pace: std::time::Duration) {
        tokio::select! {
            () = tokio::time::sleep(pace) => {}
            () = self.stop.notified() => {}
        }
    }
}

/// The frames of `live` from number `first_seq` on, as they are logged, ending after the last.
fn read_live(live: Arc<Live>, first_seq: u64) -> Response {
    let logged = live.logged.subscribe();
    let next = (first_seq.max(1) - 1) as usize;
    let stream = futures_util::stream::unfold(
        (live, logged, next),
        |(live, mut logged, next)| async move {
            loop {
                logged.borrow_and_update();
                let frame = live.frames.lock().unwrap().get(next).cloned();
                if let Some(frame) = frame {
                    return Some((Ok::<_, Infallible>(frame), (live, logged, next + 1)));
                }
                if live.over.load(std::sync::atomic::Ordering::SeqCst)
                    || logged.changed().await.is_err()
                {
                    return None;
                }
            }
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

#[derive(serde::Deserialize)]
struct FromSeq {
    from_seq: Option<u64>,
}

async fn reply_events(
    State(state): State<FakeState>,
    Path((id, reply)): Path<(String, String)>,
    Query(query): Query<FromSeq>,
) -> Response {
    let live = state.shared.lock().unwrap().live.get(&id).cloned();
    match live.filter(|live| live.id == reply) {
        Some(live) => read_live(live, query.from_seq.unwrap_or(1)),
        None => unknown_reply(),
    }
}

async fn stop_reply(
    State(state): State<FakeState>,
    Path((id, reply)): Path<(String, String)>,
) -> Response {
    let live = state.shared.lock().unwrap().live.get(&id).cloned();
    match live.filter(|live| live.id == reply) {
        Some(live) => {
            live.stop_asked
                .store(true, std::sync::atomic::Ordering::SeqCst);
            live.stop.notify_one();
            StatusCode::ACCEPTED.into_response()
        }
        None => unknown_reply(),
    }
}

fn unknown_reply() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "This reply is no longer being written.",
        "invalid_request_error",
        ErrorCode::UnknownReply,
    )
}

#[derive(Clone)]
struct FakeState {
    shared: Arc<Mutex<Shared>>,
    release: Arc<Notify>,
}

pub struct FakeProxy {
    pub url: String,
    state: FakeState,
    _runtime: tokio::runtime::Runtime,
}

impl FakeProxy {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = FakeState {
            shared: Arc::default(),
            release: Arc::new(Notify::new()),
        };
        let router = Router::new()
            .route(
                "/api/conversations",
                get(list_conversations).post(create_conversation),
            )
            .route(
                "/api/conversations/{id}",
                get(history)
                    .patch(patch_conversation)
                    .delete(delete_conversation),
            )
            .route(
                "/api/conversations/{id}/restore",
                post(restore_conversation),
            )
            .route("/api/conversations/{id}/messages", post(send_message))
            .route("/api/conversations/{id}/regenerate", post(regenerate))
            .route(
                "/api/conversations/{id}/replies/{reply}/events",
                get(reply_events),
            )
            .route(
                "/api/conversations/{id}/replies/{reply}/stop",
                post(stop_reply),
            )
            .route("/api/search", get(search))
            .route("/api/sessions", get(list_sessions).post(create_session))
            .route("/api/sessions/{id}", get(history).delete(delete_session))
            .route("/api/sessions/{id}/messages", post(send_message))
            .route("/api/sessions/{id}/regenerate", post(regenerate))
            .route_layer(middleware::from_fn_with_state(state.clone(), identified))
            .route("/api/personas", get(personas))
            .route("/api/status", get(status))
            .route("/api/auth/guest", post(new_guest))
            .route("/api/me", get(me))
            .route("/api/keys", get(keys))
            .route("/api/admin", get(admin_report))
            .route(
                "/api/admin/users/{id}/blocked",
                axum::routing::put(admin_block),
            )
            .route("/api/admin/keys/{id}", axum::routing::delete(admin_revoke))
            .route("/api/auth/token", post(exchange))
            .route("/api/auth/logout", post(logout))
            .route("/auth/login", get(login))
            .with_state(state.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        runtime.spawn(async move { axum::serve(listener, router).await });
        Self {
            url,
            state,
            _runtime: runtime,
        }
    }

    /// Lets a held (`HOLD`) reply finish.
    pub fn release(&self) {
        self.state.release.notify_waiters();
    }

    /// Stores a session with these messages and returns its id (benchmarks preload history).
    pub fn preload_session(&self, messages: Vec<HistoryMessage>) -> String {
        self.preload_session_named("preloaded", messages)
    }

    /// Like [`Self::preload_session`]; a `prefix` containing `slow` delays its history by 300 ms.
    pub fn preload_session_named(&self, prefix: &str, messages: Vec<HistoryMessage>) -> String {
        self.state.shared.lock().unwrap().insert(prefix, messages)
    }

    /// Stores a conversation as the list shows it (no owner: every caller's) and returns its id.
    pub fn preload_conversation(
        &self,
        title: &str,
        pinned: bool,
        updated_at_ms: i64,
        messages: Vec<HistoryMessage>,
    ) -> String {
        let mut shared = self.state.shared.lock().unwrap();
        shared.next_id += 1;
        let id = format!("conversation-{}", shared.next_id);
        shared.sessions.insert(id.clone(), messages);
        shared.meta.insert(
            id.clone(),
            Meta {
                title: title.to_owned(),
                pinned,
                created_at_ms: updated_at_ms,
                updated_at_ms,
                deleted: false,
            },
        );
        id
    }

    /// How the conversation now stands on the proxy.
    pub fn meta(&self, id: &str) -> Option<Meta> {
        self.state.shared.lock().unwrap().meta.get(id).cloned()
    }

    /// Every search query the app sent.
    pub fn searches(&self) -> Vec<String> {
        self.state.shared.lock().unwrap().searches.clone()
    }

    /// Forgets every token issued (a new database, a sign-out elsewhere).
    pub fn forget_tokens(&self) {
        self.state.shared.lock().unwrap().tokens.clear();
    }

    /// (tokens issued, session requests refused for want of one).
    pub fn identity_counts(&self) -> (usize, usize) {
        let shared = self.state.shared.lock().unwrap();
        (shared.tokens_issued, shared.refused)
    }

    /// From now on every identity is the admin "Root" (see the module's notes).
    pub fn admin_mode(&self) {
        use ashley_proxy::api::{
            AdminDay, AdminKey, AdminPersona, AdminReport, AdminTotals, AdminUser,
        };
        const DAY: i64 = 86_400_000;
        let since_ms = 20_000 * DAY;
        let user = |id: i64, name: Option<&str>, messages: u64, admin: bool| AdminUser {
            id,
            guest: name.is_none(),
            name: name.map(str::to_owned),
            messages,
            tokens: messages * 120,
            admin,
            ..AdminUser::default()
        };
        let report = AdminReport {
            since_ms,
            days: (0..7)
                .map(|day| AdminDay {
                    start_ms: since_ms + day * DAY,
                    active_users: 2,
                    messages: 10 + day.unsigned_abs(),
                    tokens: 1_200,
                    errors: u64::from(day == 3),
                    p50_ms: Some(800),
                    p95_ms: Some(2_100),
                })
                .collect(),
            personas: vec![AdminPersona {
                persona: "technical".to_owned(),
                messages: 91,
                tokens: 8_400,
                errors: 1,
            }],
            users: vec![
                user(2, Some("Ada Lovelace"), 60, false),
                user(3, None, 31, false),
                user(1, Some("Root"), 0, true),
            ],
            keys: vec![AdminKey {
                id: "00112233aabbccdd".to_owned(),
                name: "laptop".to_owned(),
                owner_id: 2,
                owner_name: Some("Ada Lovelace".to_owned()),
                created_at_ms: since_ms,
                last_used_ms: None,
            }],
            totals: AdminTotals {
                messages: 91,
                tokens: 8_400,
                errors: 1,
                refused: 0,
                p50_ms: Some(800),
                p95_ms: Some(2_100),
                ttft_p50_ms: Some(90),
            },
        };
        self.state.shared.lock().unwrap().admin_report = Some(report);
    }

    pub fn admin_actions(&self) -> Vec<String> {
        self.state.shared.lock().unwrap().admin_actions.clone()
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.shared.lock().unwrap().requests.clone()
    }

    pub fn history(&self, session_id: &str) -> Option<Vec<HistoryMessage>> {
        self.state
            .shared
            .lock()
            .unwrap()
            .sessions
            .get(session_id)
            .cloned()
    }
}

async fn personas() -> Json<PersonaList> {
    let persona = |id: &str, name: &str, description: &str| PersonaInfo {
        id: id.into(),
        name: name.into(),
        description: description.into(),
        temperature: 0.7,
        max_tokens: 1000,
    };
    Json(PersonaList {
        personas: vec![
            persona("ashley", "Ashley", "Friendly, balanced help for anything."),
            persona(
                "technical",
                "Technical Expert",
                "Precise answers about code and systems.",
            ),
            persona(
                "creative",
                "Creative Writer",
                "Stories, ideas and playful language.",
            ),
        ],
        default: "ashley".into(),
    })
}

async fn status() -> Json<Status> {
    Json(Status {
        version: "0.1.0".into(),
        uptime_secs: 3725,
        requests: 42,
        errors: 1,
        error_rate: 1.0 / 42.0,
        health: ashley_proxy::api::Health::Healthy,
        mode: ashley_proxy::api::Mode::Demo,
        upstream_configured: false,
        upstream_reachable: None,
        upstream_base_url: String::new(),
        model: "demo".into(),
        moderation: "local word list".into(),
        store: Default::default(),
        storage: Default::default(),
        rate_limit_per_minute: 60,
        recent_latencies_ms: vec![420, 380, 910, 300, 650, 510],
    })
}

async fn new_guest(State(state): State<FakeState>) -> impl IntoResponse {
    let mut shared = state.shared.lock().unwrap();
    shared.tokens_issued += 1;
    let token = format!("{:064x}", shared.tokens_issued);
    shared.tokens.push(token.clone());
    (
        StatusCode::CREATED,
        Json(GuestToken {
            token,
            expires_at_ms: i64::MAX,
        }),
    )
}

/// Session routes answer only a token this proxy issued.
async fn identified(State(state): State<FakeState>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let path = request.uri().path().to_owned();
    let collection = path == "/api/sessions" || path == "/api/conversations";
    let creating = request.method() == Method::POST && collection;
    let listing = request.method() == Method::GET && (collection || path == "/api/search");
    let session = path
        .strip_prefix("/api/sessions/")
        .or_else(|| path.strip_prefix("/api/conversations/"))
        .map(|rest| rest.split('/').next().unwrap_or_default().to_owned());
    let known = {
        let mut shared = state.shared.lock().unwrap();
        // A preloaded session has no owner: a test's stand-in for one from an earlier run.
        let preloaded = session
            .as_ref()
            .is_some_and(|id| shared.sessions.contains_key(id) && !shared.owners.contains_key(id));
        let known = preloaded
            || token
                .as_ref()
                .is_some_and(|token| shared.tokens.contains(token));
        if !known && !listing {
            shared.refused += 1;
        }
        known
    };
    match (known, creating) {
        (true, _) => {
            let mut request = request;
            request.extensions_mut().insert(Caller(token));
            next.run(request).await
        }
        // Nobody's sessions: none.
        (false, _) if listing && path == "/api/sessions" => Json(SessionList {
            sessions: Vec::new(),
        })
        .into_response(),
        // Nobody's conversations: the preloaded ones (no owner).
        (false, _) if listing => {
            let mut request = request;
            request.extensions_mut().insert(Caller(None));
            next.run(request).await
        }
        (false, true) => error_response(
            StatusCode::UNAUTHORIZED,
            "Your sign-in is no longer valid.",
            "invalid_request_error",
            ErrorCode::SignInRequired,
        ),
        (false, false) => not_found(),
    }
}

/// The token a session request carried (set by [`identified`]).
#[derive(Clone)]
struct Caller(Option<String>);

async fn create_session(
    State(state): State<FakeState>,
    Extension(Caller(token)): Extension<Caller>,
) -> impl IntoResponse {
    let mut shared = state.shared.lock().unwrap();
    shared.next_id += 1;
    let session_id = format!("session-{}", shared.next_id);
    shared.sessions.insert(session_id.clone(), Vec::new());
    if let Some(token) = token {
        shared.owners.insert(session_id.clone(), token);
    }
    (StatusCode::CREATED, Json(SessionCreated { session_id }))
}

fn summary(id: &str, meta: &Meta, messages: usize) -> ConversationSummary {
    ConversationSummary {
        id: id.to_owned(),
        title: meta.title.clone(),
        pinned: meta.pinned,
        created_at_ms: meta.created_at_ms,
        updated_at_ms: meta.updated_at_ms,
        messages: messages as u64,
        writing: false,
    }
}

impl Shared {
    /// Stores a new untitled conversation, made now, and returns its id (`{prefix}-{n}`).
    fn insert(&mut self, prefix: &str, messages: Vec<HistoryMessage>) -> String {
        self.next_id += 1;
        let id = format!("{prefix}-{}", self.next_id);
        self.sessions.insert(id.clone(), messages);
        let now = now_ms();
        let meta = Meta {
            title: String::new(),
            pinned: false,
            created_at_ms: now,
            updated_at_ms: now,
            deleted: false,
        };
        self.meta.insert(id.clone(), meta);
        id
    }

    /// The conversations `token` may see: its own and the preloaded ones (no owner).
    fn visible(&self, token: Option<&String>) -> Vec<ConversationSummary> {
        let mut list: Vec<ConversationSummary> = self
            .meta
            .iter()
            .filter(|(id, meta)| {
                !meta.deleted
                    && self
                        .owners
                        .get(*id)
                        .is_none_or(|owner| Some(owner) == token)
            })
            .map(|(id, meta)| summary(id, meta, self.sessions.get(id).map_or(0, Vec::len)))
            .collect();
        list.sort_by_key(|c| (!c.pinned, std::cmp::Reverse(c.updated_at_ms), c.id.clone()));
        list
    }

    fn summary_of(&self, id: &str) -> Option<ConversationSummary> {
        let meta = self.meta.get(id)?;
        Some(summary(id, meta, self.sessions.get(id).map_or(0, Vec::len)))
    }
}

async fn create_conversation(
    State(state): State<FakeState>,
    Extension(Caller(token)): Extension<Caller>,
) -> Response {
    let mut shared = state.shared.lock().unwrap();
    let id = shared.insert("conversation", Vec::new());
    if let Some(token) = token {
        shared.owners.insert(id.clone(), token);
    }
    let created = shared.summary_of(&id).unwrap();
    (StatusCode::CREATED, Json(created)).into_response()
}

async fn list_conversations(
    State(state): State<FakeState>,
    Extension(Caller(token)): Extension<Caller>,
) -> Json<ConversationList> {
    let shared = state.shared.lock().unwrap();
    Json(ConversationList {
        conversations: shared.visible(token.as_ref()),
    })
}

async fn patch_conversation(
    State(state): State<FakeState>,
    Path(id): Path<String>,
    Json(patch): Json<ConversationPatch>,
) -> Response {
    let mut shared = state.shared.lock().unwrap();
    let Some(meta) = shared.meta.get_mut(&id).filter(|meta| !meta.deleted) else {
        return not_found();
    };
    if let Some(title) = patch.title {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("A title needs 1 to {MAX_TITLE_CHARS} characters."),
                "invalid_request_error",
                ErrorCode::InvalidTitle,
            );
        }
        meta.title = title.to_owned();
    }
    if let Some(pinned) = patch.pinned {
        meta.pinned = pinned;
    }
    Json(shared.summary_of(&id).unwrap()).into_response()
}

async fn delete_conversation(State(state): State<FakeState>, Path(id): Path<String>) -> Response {
    let mut shared = state.shared.lock().unwrap();
    match shared.meta.get_mut(&id) {
        Some(meta) => {
            meta.deleted = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(),
    }
}

async fn restore_conversation(State(state): State<FakeState>, Path(id): Path<String>) -> Response {
    let mut shared = state.shared.lock().unwrap();
    match shared.meta.get_mut(&id) {
        Some(meta) => {
            meta.deleted = false;
            Json(shared.summary_of(&id).unwrap()).into_response()
        }
        None => not_found(),
    }
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    q: String,
}

/// Case-insensitive (ASCII) substring search over titles and messages.
async fn search(
    State(state): State<FakeState>,
    Extension(Caller(token)): Extension<Caller>,
    Query(SearchQuery { q }): Query<SearchQuery>,
) -> Response {
    let query = q.trim().to_owned();
    let mut shared = state.shared.lock().unwrap();
    shared.searches.push(query.clone());
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return error_response(
            StatusCode::BAD_REQUEST,
            "A search needs 1 to 200 characters.",
            "invalid_request_error",
            ErrorCode::InvalidQuery,
        );
    }
    if query.contains("FAIL") {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The search index is unavailable",
            "api_error",
            ErrorCode::InternalError,
        );
    }
    let needle = query.to_ascii_lowercase();
    let marks_in = |text: &str| -> Vec<[u32; 2]> {
        text.to_ascii_lowercase()
            .match_indices(&needle)
            .map(|(at, found)| [at as u32, (at + found.len()) as u32])
            .collect()
    };
    let mut hits = Vec::new();
    for conversation in shared.visible(token.as_ref()) {
        let marks = marks_in(&conversation.title);
        if !marks.is_empty() {
            hits.push(SearchHit {
                conversation_id: conversation.id.clone(),
                title: conversation.title.clone(),
                message_id: None,
                role: None,
                snippet: conversation.title.clone(),
                marks,
                at_ms: conversation.updated_at_ms,
            });
        }
        for message in shared.sessions.get(&conversation.id).into_iter().flatten() {
            let marks = marks_in(&message.content);
            if !marks.is_empty() {
                hits.push(SearchHit {
                    conversation_id: conversation.id.clone(),
                    title: conversation.title.clone(),
                    message_id: Some(message.id),
                    role: Some(message.role),
                    snippet: message.content.clone(),
                    marks,
                    at_ms: message.created_at_ms,
                });
            }
        }
    }
    Json(SearchResults { query, hits }).into_response()
}

/// The caller's sessions, newest first.
async fn list_sessions(
    State(state): State<FakeState>,
    Extension(Caller(token)): Extension<Caller>,
) -> Json<SessionList> {
    let shared = state.shared.lock().unwrap();
    let mut sessions: Vec<SessionSummary> = shared
        .owners
        .iter()
        .filter(|(_, owner)| Some(*owner) == token.as_ref())
        .map(|(id, _)| SessionSummary {
            session_id: id.clone(),
            last_active_ms: id
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            messages: shared.sessions.get(id).map_or(0, |m| m.len() as u64),
            title: String::new(),
        })
        .collect();
    sessions.sort_by_key(|session| std::cmp::Reverse(session.last_active_ms));
    Json(SessionList { sessions })
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned)
}

async fn me(State(state): State<FakeState>, headers: axum::http::HeaderMap) -> Json<Me> {
    let shared = state.shared.lock().unwrap();
    let mut me = Me::anonymous();
    me.sign_in = Some(SignInInfo {
        provider: "Test ID".into(),
        login_path: "/auth/login".into(),
    });
    if let Some(token) = bearer(&headers).filter(|token| shared.tokens.contains(token)) {
        if shared.admin_report.is_some() {
            me.identity = Identity::User;
            me.name = Some("Root".into());
            me.admin = true;
        } else if shared.users.contains(&token) {
            me.identity = Identity::User;
            me.name = Some("Ada".into());
        } else {
            me.identity = Identity::Guest;
        }
    }
    Json(me)
}

/// A user's API keys: none (the proxy tests cover keys).
async fn keys() -> Json<ashley_proxy::api::KeyList> {
    Json(ashley_proxy::api::KeyList { keys: Vec::new() })
}

async fn admin_report(State(state): State<FakeState>) -> Response {
    match state.shared.lock().unwrap().admin_report.clone() {
        Some(report) => Json(report).into_response(),
        None => error_response(
            StatusCode::FORBIDDEN,
            "Admins only.",
            "invalid_request_error",
            ErrorCode::AdminRequired,
        ),
    }
}

async fn admin_block(
    State(state): State<FakeState>,
    Path(id): Path<i64>,
    Json(body): Json<ashley_proxy::api::BlockUser>,
) -> StatusCode {
    let mut shared = state.shared.lock().unwrap();
    shared
        .admin_actions
        .push(format!("block {id} {}", body.blocked));
    let Some(report) = &mut shared.admin_report else {
        return StatusCode::FORBIDDEN;
    };
    match report.users.iter_mut().find(|user| user.id == id) {
        Some(user) => {
            user.blocked = body.blocked;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn admin_revoke(State(state): State<FakeState>, Path(id): Path<String>) -> StatusCode {
    let mut shared = state.shared.lock().unwrap();
    shared.admin_actions.push(format!("revoke {id}"));
    let Some(report) = &mut shared.admin_report else {
        return StatusCode::FORBIDDEN;
    };
    report.keys.retain(|key| key.id != id);
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    port: u16,
    state: String,
}

/// The whole provider round trip at once: straight back to the app with a code.
async fn login(State(state): State<FakeState>, Query(query): Query<LoginQuery>) -> Response {
    let mut shared = state.shared.lock().unwrap();
    shared.next_id += 1;
    let code = format!("{:064x}", 0xc0de_0000 + shared.next_id);
    shared.codes.push(code.clone());
    let location = format!(
        "http://127.0.0.1:{}/callback?code={code}&state={}",
        query.port, query.state
    );
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// A code for the user's token; the guest's sessions become the user's.
async fn exchange(
    State(state): State<FakeState>,
    headers: axum::http::HeaderMap,
    Json(body): Json<TokenExchange>,
) -> Response {
    let mut shared = state.shared.lock().unwrap();
    let Some(index) = shared.codes.iter().position(|code| *code == body.code) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "This sign-in code has expired or was used already.",
            "invalid_request_error",
            ErrorCode::InvalidSignInCode,
        );
    };
    shared.codes.remove(index);
    shared.tokens_issued += 1;
    let token = format!("{:064x}", 0xa0a0_0000 + shared.tokens_issued);
    shared.tokens.push(token.clone());
    shared.users.push(token.clone());
    if let Some(guest) = bearer(&headers) {
        for owner in shared.owners.values_mut() {
            if *owner == guest {
                owner.clone_from(&token);
            }
        }
        shared.tokens.retain(|known| *known != guest);
    }
    (
        StatusCode::CREATED,
        Json(GuestToken {
            token,
            expires_at_ms: i64::MAX,
        }),
    )
        .into_response()
}

async fn logout(State(state): State<FakeState>, headers: axum::http::HeaderMap) -> StatusCode {
    if let Some(token) = bearer(&headers) {
        state
            .shared
            .lock()
            .unwrap()
            .tokens
            .retain(|known| *known != token);
    }
    StatusCode::NO_CONTENT
}

fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "No such session.",
        "invalid_request_error",
        ErrorCode::UnknownSession,
    )
}

fn error_response(status: StatusCode, message: &str, kind: &str, code: ErrorCode) -> Response {
    let body = ErrorResponse {
        error: ErrorBody {
            message: message.into(),
            kind: kind.into(),
            param: None,
            code: Some(code),
            retry_after_secs: None,
        },
    };
    (status, Json(body)).into_response()
}

async fn history(State(state): State<FakeState>, Path(id): Path<String>) -> Response {
    if id.contains("slow") {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let shared = state.shared.lock().unwrap();
    let live_reply = shared.live.get(&id).map(|live| live.id.clone());
    match shared.sessions.get(&id) {
        Some(messages) => Json(History {
            session_id: id,
            messages: messages.clone(),
            live_reply,
        })
        .into_response(),
        None => not_found(),
    }
}

async fn delete_session(State(state): State<FakeState>, Path(id): Path<String>) -> StatusCode {
    state.shared.lock().unwrap().sessions.remove(&id);
    StatusCode::NO_CONTENT
}

fn stored(shared: &mut Shared, role: Role, content: &str, persona: &str) -> HistoryMessage {
    shared.next_id += 1;
    HistoryMessage {
        id: shared.next_id,
        role,
        content: content.into(),
        persona: persona.into(),
        created_at_ms: 0,
        stats: None,
        partial: false,
    }
}

async fn send_message(
    State(state): State<FakeState>,
    Path(id): Path<String>,
    Json(body): Json<SendMessage>,
) -> Response {
    {
        let mut shared = state.shared.lock().unwrap();
        if !shared.sessions.contains_key(&id) {
            return not_found();
        }
        shared
            .requests
            .push((body.persona.clone(), body.message.clone()));
        if body.message.contains("FAIL") {
            return error_response(
                StatusCode::BAD_GATEWAY,
                "The model provider did not answer.",
                "api_error",
                ErrorCode::UpstreamUnavailable,
            );
        }
        if body.message.contains("FULL") {
            return error_response(
                StatusCode::INSUFFICIENT_STORAGE,
                "The server's storage is full.",
                "api_error",
                ErrorCode::StorageFull,
            );
        }
        if body.message.contains("TOOLONG") {
            let error = ChatEvent::Error {
                error: ErrorBody {
                    message: "Even the newest message does not fit the model's context.".into(),
                    kind: "invalid_request_error".into(),
                    param: None,
                    code: Some(ErrorCode::ContextTooLong),
                    retry_after_secs: None,
                },
            };
            return sse(vec![error], None, state.clone(), id, body.persona);
        }
        if body.message.contains("RATE") {
            // As the real proxy answers a rate limit: 429, Retry-After, and the seconds in the body.
            let body = ErrorResponse {
                error: ErrorBody {
                    message: "Too many requests from this session.".into(),
                    kind: "rate_limit_error".into(),
                    param: None,
                    code: Some(ErrorCode::RateLimited),
                    retry_after_secs: Some(RATE_LIMIT_SECS),
                },
            };
            let retry_after = [("retry-after", RATE_LIMIT_SECS.to_string())];
            return (StatusCode::TOO_MANY_REQUESTS, retry_after, Json(body)).into_response();
        }
        if body.message.contains("REFUSE") {
            let refused = ChatEvent::Refused {
                message: "I cannot process that message: it was flagged for violence.".into(),
                categories: vec!["violence".into()],
            };
            return sse(vec![refused], None, state.clone(), id, body.persona);
        }
        let user = stored(&mut shared, Role::User, &body.message, &body.persona);
        if let Some(messages) = shared.sessions.get_mut(&id) {
            messages.push(user);
        }
    }
    let hold = body.message.contains("HOLD");
    if body.message.contains("LONG") {
        return long_reply_stream(state, id, body.persona);
    }
    reply_stream(state, id, body.persona, hold)
}

async fn regenerate(
    State(state): State<FakeState>,
    Path(id): Path<String>,
    Json(body): Json<Regenerate>,
) -> Response {
    {
        let mut shared = state.shared.lock().unwrap();
        let Some(messages) = shared.sessions.get_mut(&id) else {
            return not_found();
        };
        if messages.last().is_some_and(|m| m.role == Role::Assistant) {
            messages.pop();
        }
        let last_user = messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        shared.requests.push((body.persona.clone(), last_user));
    }
    reply_stream(state, id, body.persona, false)
}

fn reply_stream(state: FakeState, session_id: String, persona: String, hold: bool) -> Response {
    let started = ChatEvent::Started {
        user_message_id: None,
        persona: persona.clone(),
        model: "fake-model".into(),
        demo: true,
        live_reply: None,
    };
    let mut events = vec![started];
    // Pieces that split words and markdown syntax, as a real model's deltas do.
    let pieces: Vec<String> = REPLY_MARKDOWN
        .chars()
        .collect::<Vec<_>>()
        .chunks(9)
        .map(|c| c.iter().collect())
        .collect();
    let (first, rest) = pieces.split_first().unwrap();
    events.push(ChatEvent::Delta {
        text: first.clone(),
    });
    let rest: Vec<ChatEvent> = rest
        .iter()
        .map(|text| ChatEvent::Delta { text: text.clone() })
        .collect();
    let hold_then = hold.then_some(rest.clone());
    if !hold {
        events.extend(rest);
    }
    sse(events, hold_then, state, session_id, persona)
}

/// A long reply at a steady pace (a delta every 10 ms for about 4 s), for the benchmark.
fn long_reply_stream(state: FakeState, session_id: String, persona: String) -> Response {
    let mut events = vec![ChatEvent::Started {
        user_message_id: None,
        persona: persona.clone(),
        model: "fake-model".into(),
        demo: true,
        live_reply: None,
    }];
    for index in 0..400 {
        let text = match index % 40 {
            0 => "\n\n### Step\n\n".to_owned(),
            10 => "\n\n```rust\nlet x = 1;\n".to_owned(),
            14 => "```\n\n".to_owned(),
            _ => format!("word{index} `code` **bold** "),
        };
        events.push(ChatEvent::Delta { text });
    }
    sse_paced(
        events,
        state,
        session_id,
        persona,
        std::time::Duration::from_millis(10),
    )
}

/// Streams `events`, then (when holding) waits for `release` before the rest, then `done`.
fn sse(
    events: Vec<ChatEvent>,
    after_release: Option<Vec<ChatEvent>>,
    state: FakeState,
    session_id: String,
    persona: String,
) -> Response {
    sse_with(
        events,
        after_release,
        state,
        session_id,
        persona,
        std::time::Duration::from_millis(2),
    )
}

/// What one stream has sent so far: the reply's text and the last event's sequence number.
#[derive(Default)]
struct Sent {
    text: String,
    seq: u64,
}

/// Logs one event in SSE framing (CRLF line ends) with its sequence number.
fn emit(live: &Live, event: &ChatEvent, sent: &mut Sent) {
    let mut event = event.clone();
    if let ChatEvent::Delta { text: piece } = &event {
        sent.text.push_str(piece);
    }
    if let ChatEvent::Started { live_reply, .. } = &mut event {
        *live_reply = Some(live.id.clone());
    }
    sent.seq += 1;
    let data = serde_json::to_string(&event).unwrap();
    let (name, seq) = (event.name(), sent.seq);
    live.push(format!(
        "id: {seq}\r\nevent: {name}\r\ndata: {data}\r\n\r\n"
    ));
}

fn sse_paced(
    events: Vec<ChatEvent>,
    state: FakeState,
    session_id: String,
    persona: String,
    pace: std::time::Duration,
) -> Response {
    sse_with(events, None, state, session_id, persona, pace)
}

fn sse_with(
    events: Vec<ChatEvent>,
    after_release: Option<Vec<ChatEvent>>,
    state: FakeState,
    session_id: String,
    persona: String,
    pace: std::time::Duration,
) -> Response {
    let is_final = events.iter().any(ChatEvent::is_final);
    // A stream of one final event is never a reply being written (and its callers hold the
    // state's lock).
    let live = if is_final {
        Arc::new(Live::new("over".into()))
    } else {
        let mut shared = state.shared.lock().unwrap();
        shared.next_live += 1;
        let live = Arc::new(Live::new(format!("live{}", shared.next_live)));
        shared.live.insert(session_id.clone(), Arc::clone(&live));
        live
    };
    let writer = Arc::clone(&live);
    tokio::spawn(async move {
        let live = writer;
        let mut sent = Sent::default();
        // Nobody reading does not stop the reply; only Stop does.
        let mut stopped = false;
        for event in &events {
            if live.stopped() && !is_final {
                stopped = true;
                break;
            }
            emit(&live, event, &mut sent);
            live.pause(pace).await;
        }
        if is_final {
            live.end();
            return;
        }
        if let Some(rest) = after_release.filter(|_| !stopped && !live.stopped()) {
            tokio::select! {
                () = state.release.notified() => {}
                () = live.stop.notified() => {}
            }
            for event in &rest {
                if live.stopped() {
                    break;
                }
                emit(&live, event, &mut sent);
            }
        }
        let stopped = live.stopped();
        let reply_id = {
            let mut shared = state.shared.lock().unwrap();
            let mut reply = stored(&mut shared, Role::Assistant, &sent.text, &persona);
            let stats = ReplyStats {
                model: "fake-model".into(),
                completion_tokens: Some(42),
                ttft_ms: Some(12),
                total_ms: 80,
                ..ReplyStats::default()
            };
            reply.stats = Some(stats);
            reply.partial = stopped;
            let reply_id = reply.id;
            let mut first_words = String::new();
            if let Some(messages) = shared.sessions.get_mut(&session_id) {
                messages.push(reply);
                if let Some(first) = messages.first() {
                    first_words = first
                        .content
                        .split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ");
                }
            }
            if let Some(meta) = shared.meta.get_mut(&session_id) {
                meta.updated_at_ms = now_ms();
                if meta.title.is_empty() {
                    meta.title = format!("About {first_words}");
                }
            }
            shared.live.remove(&session_id);
            reply_id
        };
        if stopped {
            emit(
                &live,
                &ChatEvent::Stopped {
                    reply_id: Some(reply_id),
                },
                &mut sent,
            );
            live.end();
            return;
        }
        let done = ChatEvent::Done {
            reply_id,
            stats: ReplyStats {
                model: "fake-model".into(),
                completion_tokens: Some(42),
                ttft_ms: Some(12),
                total_ms: 80,
                ..ReplyStats::default()
            },
        };
        emit(&live, &done, &mut sent);
        live.end();
    });
    read_live(live, 1)
}

/// Noon UTC on 2026-03-10: the tests' "now" when the clock is fixed.
pub const NOON: i64 = 20_522 * ashley::clock::DAY_MS + 12 * 3_600_000;

/// A stored message of the Ashley persona, sent at [`NOON`].
pub fn message(id: i64, role: Role, content: &str) -> HistoryMessage {
    HistoryMessage {
        id,
        role,
        content: content.into(),
        persona: "ashley".into(),
        created_at_ms: NOON,
        stats: None,
        partial: false,
    }
}
