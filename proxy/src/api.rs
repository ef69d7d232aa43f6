//! The wire types shared by the proxy and the app: serde only, so the WASM build stays small.
//!
//! The app's API (all JSON unless noted; errors are always [`ErrorResponse`]):
//! - `GET    /api/personas`                      -> [`PersonaList`]
//! - `GET    /api/sessions`                      -> [`SessionList`] (the caller's, newest first)
//! - `POST   /api/sessions`                      -> 201 [`SessionCreated`]
//! - `GET    /api/sessions/{id}`                 -> [`History`]
//! - `DELETE /api/sessions/{id}`                 -> 204
//! - `POST   /api/sessions/{id}/messages`        [`SendMessage`] -> `text/event-stream` of [`ChatEvent`]
//! - `POST   /api/sessions/{id}/regenerate`      [`Regenerate`]  -> `text/event-stream` of [`ChatEvent`]
//! - `GET    /api/status`                        -> [`Status`]
//! - `GET    /api/conversations`                 -> [`ConversationList`] (pinned first, then most
//!   recently active)
//! - `POST   /api/conversations`                 -> 201 [`ConversationSummary`] (a new, empty one)
//! - `GET    /api/conversations/{id}`            -> [`History`]
//! - `PATCH  /api/conversations/{id}`            [`ConversationPatch`] -> [`ConversationSummary`]
//! - `DELETE /api/conversations/{id}`            -> 204 (hidden at once; gone for good after
//!   [`UNDO_DELETE_SECS`] unless restored)
//! - `POST   /api/conversations/{id}/restore`    -> [`ConversationSummary`] (undo a delete)
//! - `POST   /api/conversations/{id}/messages`   [`SendMessage`] -> `text/event-stream` of [`ChatEvent`]
//! - `POST   /api/conversations/{id}/regenerate` [`Regenerate`]  -> `text/event-stream` of [`ChatEvent`]
//! - `GET    /api/search?q=TEXT`                 -> [`SearchResults`] (titles and message text of
//!   the caller's conversations)
//! - `POST   /api/conversations/{id}/share`      -> 201 [`Share`] with its `path` (`/s/{token}`): a
//!   read-only link to a snapshot of the conversation as it is now (a new link replaces the old)
//! - `GET    /api/conversations/{id}/share`      -> [`Share`] without `path`, or `null` (not shared)
//! - `DELETE /api/conversations/{id}/share`      -> 204 (the link stops working)
//! - `GET    /api/conversations/{id}/export?format=json|md` -> the conversation as an
//!   [`ExportFile`] (JSON, the default) or as Markdown, as a download
//! - `GET    /api/export?format=json|md`         -> every live conversation of the caller's, the same way
//! - `POST   /api/import`                        (an [`ExportFile`] or ChatGPT's `conversations.json`,
//!   told apart by shape) -> 201 [`ImportResult`]; all of the file or nothing
//!
//! Pages (HTML, no script): `GET /s/{token}` a shared snapshot, for anyone with the link;
//! `GET /c/{id}` one's own conversation as a page (the owner's cookie or bearer token).
//!
//! The `/api/sessions` routes are the v0.2 names of the same conversations and keep working for
//! one release: `GET/POST /api/sessions`, `GET/DELETE /api/sessions/{id}`,
//! `POST /api/sessions/{id}/messages` and `/regenerate`.
//! - `GET    /api/me`                            -> [`Me`] (who the credential stands for)
//! - `DELETE /api/me`                            -> 204 (the account or guest and all it owns)
//! - `POST   /api/auth/guest`                    -> 201 [`GuestToken`] (the desktop app's bearer token)
//! - `POST   /api/auth/token`                    [`TokenExchange`] -> 201 [`GuestToken`] (desktop sign-in)
//! - `POST   /api/auth/logout`                   -> 204 (also `POST /auth/logout`)
//! - `GET    /api/keys`                          -> [`KeyList`] (signed-in users' `/v1` keys)
//! - `POST   /api/keys`                          [`NewKey`] -> 201 [`CreatedKey`] (shown once)
//! - `DELETE /api/keys/{id}`                     -> 204
//! - `GET    /api/admin[?days=N]`                -> [`AdminReport`] (admins only: `ASHLEY_ADMINS`)
//! - `PUT    /api/admin/users/{id}/blocked`      [`BlockUser`] -> 204
//! - `DELETE /api/admin/keys/{id}`               -> 204 (any user's key)
//! - `GET    /healthz`                           -> `ok`
//!
//! Sign-in (HTML, for the browser): `GET /auth/login[?client=desktop&port=P&state=S]` goes to
//! the provider; `GET /auth/callback` comes back from it.
//!
//! Each server-sent event carries its [`ChatEvent::name`] as the `event:` field and the
//! event serialized as JSON in `data:`; the stream always ends with exactly one of
//! `done`, `refused` or `error`.

use serde::{Deserialize, Serialize};

/// The longest message a person may send, in characters (Unicode scalar values).
pub const MAX_MESSAGE_CHARS: usize = 5000;

/// One persona as the app shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonaInfo {
    /// Lowercase id: `ashley`, `technical`, `creative`. Also the model name on `/v1`.
    pub id: String,
    /// Display name, e.g. "Technical Expert".
    pub name: String,
    /// One line on what the persona is good at.
    pub description: String,
    pub temperature: f32,
    pub max_tokens: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonaList {
    pub personas: Vec<PersonaInfo>,
    /// The id to preselect.
    pub default: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionCreated {
    /// At least 128 random bits, URL-safe.
    pub session_id: String,
}

/// Body of `POST /api/sessions/{id}/messages`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendMessage {
    pub persona: String,
    pub message: String,
}

/// Body of `POST /api/sessions/{id}/regenerate`: drop the session's last reply and answer
/// its last user message again, possibly with another persona.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Regenerate {
    pub persona: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// What the model reported and what the proxy measured for one reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyStats {
    pub model: String,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub total_tokens: Option<u32>,
    /// Time from the request reaching the proxy to the first token, in milliseconds.
    pub ttft_ms: Option<u64>,
    /// Time from the request reaching the proxy to the last token, in milliseconds.
    pub total_ms: u64,
}

/// One stored message of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryMessage {
    pub id: i64,
    pub role: Role,
    pub content: String,
    pub persona: String,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
    /// Replies only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ReplyStats>,
    /// A reply that was cut off (stopped, upstream failure, proxy restart) before it finished.
    #[serde(default)]
    pub partial: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub session_id: String,
    /// With a reply being written (`live_reply`), the messages up to the one it answers: the
    /// reply itself comes from its events.
    pub messages: Vec<HistoryMessage>,
    /// The reply being written in this conversation, if any: read it (every event, from the
    /// first) at `GET /api/conversations/{id}/replies/{live_reply}/events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_reply: Option<String>,
}

/// One server-sent event of a chat stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// The user message was validated, moderated and stored; the reply begins.
    Started {
        /// Id of the stored user message (absent on regenerate).
        user_message_id: Option<i64>,
        persona: String,
        model: String,
        /// The reply comes from the offline demo backend, not a real model.
        demo: bool,
        /// The reply's id while it is written: where to reattach
        /// (`GET /api/conversations/{id}/replies/{live_reply}/events`) and stop it
        /// (`POST .../replies/{live_reply}/stop`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        live_reply: Option<String>,
    },
    /// The next piece of the reply, forwarded as soon as the upstream sent it.
    Delta { text: String },
    /// Something the person should know about how this message was handled, e.g. that
    /// moderation was unavailable and the fail-open policy sent the message unchecked.
    /// Not part of the reply; may come before or between deltas.
    Notice { message: String },
    /// The reply is complete and stored.
    Done {
        reply_id: i64,
        #[serde(flatten)]
        stats: ReplyStats,
    },
    /// Moderation flagged the message; it was not sent to the model.
    Refused {
        /// "I cannot process that message: <reason naming the categories>".
        message: String,
        categories: Vec<String>,
    },
    /// Something failed; what the user typed is stored and any partial reply is kept.
    Error { error: ErrorBody },
    /// Someone stopped the reply (`POST .../replies/{id}/stop`, from any tab): what arrived
    /// is stored, marked partial, as `reply_id` (absent when no text had arrived).
    Stopped { reply_id: Option<i64> },
}

impl ChatEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started { .. } => "started",
            Self::Delta { .. } => "delta",
            Self::Notice { .. } => "notice",
            Self::Done { .. } => "done",
            Self::Refused { .. } => "refused",
            Self::Error { .. } => "error",
            Self::Stopped { .. } => "stopped",
        }
    }

    /// Whether this event ends the stream.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Done { .. } | Self::Refused { .. } | Self::Error { .. } | Self::Stopped { .. }
        )
    }
}

/// The JSON body of every error, on `/api` and `/v1` alike, in OpenAI's shape:
/// `{"error":{"message","type","param","code"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A sentence a person can act on.
    pub message: String,
    /// OpenAI's error class: `invalid_request_error`, `rate_limit_error`, `api_error`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending request field, when there is one.
    pub param: Option<String>,
    /// Stable machine-readable code, e.g. `message_too_long`, `rate_limited`, `upstream_unavailable`.
    pub code: Option<ErrorCode>,
    /// Seconds after which a retry may succeed (also sent as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// Every machine-readable error code the proxy answers, on `/api` and `/v1` alike. Serialised as
/// the snake_case string (`message_too_long`); a client matches on the variant, never on a prefix.
/// A code from a newer proxy that this build does not know decodes as [`ErrorCode::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // The request itself: fixing it is up to the sender.
    InvalidBody,
    MalformedJson,
    UnsupportedMediaType,
    BodyTooLarge,
    InvalidPath,
    UnknownEndpoint,
    MethodNotAllowed,
    EmptyMessage,
    MessageTooLong,
    UnknownPersona,
    UnknownSession,
    NothingToRegenerate,
    /// A conversation title that is empty or over [`MAX_TITLE_CHARS`].
    InvalidTitle,
    /// A search query that is empty or over [`MAX_QUERY_CHARS`].
    InvalidQuery,
    /// `POST /api/import`: the file is not JSON, not an export we read, or has a bad field
    /// (the message names the conversation and the field; nothing was imported).
    InvalidImport,
    /// `POST /api/import`: an Ashley export of a version this proxy does not read.
    UnsupportedExportVersion,
    /// A reattach or stop for a reply that is no longer being written (it finished or was
    /// stopped: its text is stored), or not in this conversation.
    UnknownReply,
    /// A send or regenerate while a reply is being written in the conversation (409).
    ReplyInProgress,
    InvalidMessages,
    UnsupportedRole,
    UnsupportedContent,
    UnsupportedParameter,
    InvalidTemperature,
    InvalidMaxTokens,
    ModelNotFound,
    ContentFlagged,
    FileNotFound,
    WebAppMissing,
    /// `/v1`: the conversation does not fit the model's context (OpenAI's own code).
    ContextLengthExceeded,
    /// The app: even the newest message alone does not fit the model's context.
    ContextTooLong,
    /// The request line and headers are over the size the proxy accepts (431).
    HeadersTooLarge,
    // Limits: waiting helps.
    RateLimited,
    /// The proxy is at its connection cap (503 with `Retry-After`).
    TooManyConnections,
    /// The request needs an identity: a guest's or a signed-in user's credential (401).
    SignInRequired,
    /// A desktop sign-in's one-time code that is unknown, used or expired.
    InvalidSignInCode,
    /// `/v1` without a valid API key (401, OpenAI's code).
    InvalidApiKey,
    /// The request needs a signed-in account, not a guest (403): API keys.
    AccountRequired,
    /// The Admin panel and its actions are for the operator's admins (403).
    AdminRequired,
    /// Today's messages or tokens are used up (429, with the wait until the reset).
    QuotaExceeded,
    /// The same on `/v1`, in OpenAI's words.
    InsufficientQuota,
    // The proxy's side.
    ModerationUnavailable,
    StorageFull,
    StoreUnavailable,
    InternalError,
    ShuttingDown,
    // The model provider's side.
    UpstreamUnavailable,
    UpstreamUnreachable,
    UpstreamTimeout,
    UpstreamRejected,
    UpstreamRateLimited,
    UpstreamModelNotFound,
    UpstreamInvalidResponse,
    UpstreamDisconnected,
    UpstreamAuth,
    /// A code this build does not know (sent by a newer proxy).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The wire string, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidBody => "invalid_body",
            Self::MalformedJson => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTooLarge => "body_too_large",
            Self::InvalidPath => "invalid_path",
            Self::UnknownEndpoint => "unknown_endpoint",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::EmptyMessage => "empty_message",
            Self::MessageTooLong => "message_too_long",
            Self::UnknownPersona => "unknown_persona",
            Self::UnknownSession => "unknown_session",
            Self::NothingToRegenerate => "nothing_to_regenerate",
            Self::InvalidTitle => "invalid_title",
            Self::InvalidQuery => "invalid_query",
            Self::InvalidImport => "invalid_import",
            Self::UnsupportedExportVersion => "unsupported_export_version",
            Self::UnknownReply => "unknown_reply",
            Self::ReplyInProgress => "reply_in_progress",
            Self::InvalidMessages => "invalid_messages",
            Self::UnsupportedRole => "unsupported_role",
            Self::UnsupportedContent => "unsupported_content",
            Self::UnsupportedParameter => "unsupported_parameter",
            Self::InvalidTemperature => "invalid_temperature",
            Self::InvalidMaxTokens => "invalid_max_tokens",
            Self::ModelNotFound => "model_not_found",
            Self::ContentFlagged => "content_flagged",
            Self::FileNotFound => "file_not_found",
            Self::WebAppMissing => "web_app_missing",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::ContextTooLong => "context_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::SignInRequired => "sign_in_required",
            Self::InvalidSignInCode => "invalid_sign_in_code",
            Self::InvalidApiKey => "invalid_api_key",
            Self::AccountRequired => "account_required",
            Self::AdminRequired => "admin_required",
            Self::QuotaExceeded => "quota_exceeded",
            Self::InsufficientQuota => "insufficient_quota",
            Self::ModerationUnavailable => "moderation_unavailable",
            Self::StorageFull => "storage_full",
            Self::StoreUnavailable => "store_unavailable",
            Self::InternalError => "internal_error",
            Self::ShuttingDown => "shutting_down",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamRejected => "upstream_rejected",
            Self::UpstreamRateLimited => "upstream_rate_limited",
            Self::UpstreamModelNotFound => "upstream_model_not_found",
            Self::UpstreamInvalidResponse => "upstream_invalid_response",
            Self::UpstreamDisconnected => "upstream_disconnected",
            Self::UpstreamAuth => "upstream_auth",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Degraded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A key is configured; replies come from the upstream model.
    Live,
    /// No key: the offline demo backend answers.
    Demo,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreStats {
    pub sessions: u64,
    pub messages: u64,
}

/// `POST /api/auth/guest`: a guest's bearer token, shown this once (the server keeps its hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestToken {
    pub token: String,
    pub expires_at_ms: i64,
}

/// `GET /api/keys`: a signed-in user's API keys for `/v1` (never the keys themselves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Names the key in `DELETE /api/keys/{id}`; opens nothing.
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// Body of `POST /api/keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    pub name: String,
}

/// `POST /api/keys` -> 201: the key itself, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: KeyInfo,
    pub key: String,
}

/// `GET /api/admin`: the operator's view of the last days (UTC), oldest day first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminReport {
    /// Midnight UTC of the first day shown, in ms since the epoch.
    pub since_ms: i64,
    /// One entry per day, days without use included.
    pub days: Vec<AdminDay>,
    /// Over the whole period, busiest first.
    pub personas: Vec<AdminPersona>,
    /// Signed-in users, and guests who used the model in the period; busiest first.
    pub users: Vec<AdminUser>,
    /// Every user's `/v1` keys, newest first.
    pub keys: Vec<AdminKey>,
    /// Over the whole period.
    pub totals: AdminTotals,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminDay {
    /// Midnight UTC, in ms since the epoch.
    pub start_ms: i64,
    /// Owners (guests and users) who sent at least one message.
    pub active_users: u64,
    /// Messages sent (moderation refusals included).
    pub messages: u64,
    /// As the provider counted them, else estimated from the text.
    pub tokens: u64,
    /// Replies that ended in an error.
    pub errors: u64,
    /// Time to a whole reply, over the day's complete replies.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminTotals {
    pub messages: u64,
    pub tokens: u64,
    pub errors: u64,
    /// Messages the moderation refused.
    pub refused: u64,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    /// Time to the first token, over complete replies.
    pub ttft_p50_ms: Option<u64>,
}

impl AdminTotals {
    /// Errors per message sent; 0 when nothing was sent.
    pub fn error_rate(&self) -> f64 {
        if self.messages == 0 {
            0.0
        } else {
            self.errors as f64 / self.messages as f64
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPersona {
    pub persona: String,
    pub messages: u64,
    pub tokens: u64,
    pub errors: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    /// Names the user in `PUT /api/admin/users/{id}/blocked`.
    pub id: i64,
    pub guest: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub messages: u64,
    pub tokens: u64,
    pub errors: u64,
    pub last_seen_ms: i64,
    pub blocked: bool,
    /// Listed in `ASHLEY_ADMINS` (cannot be blocked from the panel).
    pub admin: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminKey {
    /// As in `DELETE /api/admin/keys/{id}`.
    pub id: String,
    pub name: String,
    pub owner_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    pub created_at_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// Body of `PUT /api/admin/users/{id}/blocked`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockUser {
    pub blocked: bool,
}

/// The most days `GET /api/admin?days=N` covers.
pub const MAX_ADMIN_DAYS: u32 = 90;

/// The longest name an API key may have, in characters.
pub const MAX_KEY_NAME_CHARS: usize = 60;

/// `GET /api/sessions`: the caller's conversations, most recently active first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub last_active_ms: i64,
    pub messages: u64,
    /// The start of the first message (empty for a new conversation).
    pub title: String,
}

/// How long a deleted conversation can be restored (`POST /api/conversations/{id}/restore`).
pub const UNDO_DELETE_SECS: u64 = 600;

/// The longest conversation title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;

/// The longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The most hits `GET /api/search` answers.
pub const MAX_SEARCH_HITS: usize = 50;

/// `GET /api/conversations`: all of the caller's conversations, pinned ones first, each group
/// most recently active first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationList {
    pub conversations: Vec<ConversationSummary>,
}

/// One conversation in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    /// Named by the model after the first exchange, or by its owner; until then the first words
    /// of the first message; empty for a conversation with no message yet (the app shows
    /// "New chat").
    pub title: String,
    pub pinned: bool,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
    /// The last message, or the creation (Unix ms): what the list groups by.
    pub updated_at_ms: i64,
    pub messages: u64,
    /// A reply is being written in it right now.
    #[serde(default)]
    pub writing: bool,
}

/// Body of `PATCH /api/conversations/{id}`: the fields to change (absent: unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationPatch {
    /// 1 to [`MAX_TITLE_CHARS`] characters after trimming; the model no longer renames it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
}

/// `GET /api/search?q=`: the best matches first, at most [`MAX_SEARCH_HITS`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    pub query: String,
    pub hits: Vec<SearchHit>,
}

/// A conversation whose title, or one message, matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub conversation_id: String,
    pub title: String,
    /// The matching message (where to jump); `None`: the title matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// The message's role; `None` for a title hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// A short excerpt around the match (or the title), on one line.
    pub snippet: String,
    /// The matched words in `snippet`: `[start, end)` byte offsets on char boundaries, ascending.
    pub marks: Vec<[u32; 2]>,
    /// The message's (or the conversation's last activity's) Unix time in milliseconds.
    pub at_ms: i64,
}

/// A conversation's read-only link (`/api/conversations/{id}/share`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// `/s/{token}` on this server; in the answer that made the link only (the server keeps the
    /// token's hash, never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// When the snapshot was taken (Unix ms).
    pub created_at_ms: i64,
    /// How many messages the snapshot holds; later ones are not shown.
    pub messages: u64,
}

/// The version of [`ExportFile`] this build writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// The most conversations one `POST /api/import` takes.
pub const MAX_IMPORT_CONVERSATIONS: usize = 10_000;

/// An Ashley export (version [`EXPORT_VERSION`]): `GET /api/export`, `GET
/// /api/conversations/{id}/export`, and what `POST /api/import` reads back. It carries no server
/// ids and no time of export, so exporting, importing into another account and exporting again
/// gives the same bytes: import gives the conversations new ids and keeps every field below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFile {
    /// Always [`EXPORT_VERSION`] in what this build writes; a file names its version first.
    pub ashley_export: u32,
    /// Oldest first (by creation).
    pub conversations: Vec<ExportedConversation>,
}

/// One conversation in an [`ExportFile`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedConversation {
    /// Its owner's or the model's title, 1 to [`MAX_TITLE_CHARS`] characters on one line;
    /// `null`: not named (the list shows the first words of the first message).
    pub title: Option<String>,
    #[serde(default)]
    pub pinned: bool,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
    /// Oldest first.
    pub messages: Vec<ExportedMessage>,
}

/// One message in an [`ExportedConversation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedMessage {
    pub role: Role,
    pub content: String,
    /// The persona id it was written with or for (a persona no longer configured is kept).
    pub persona: String,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
    /// Replies only: what the model reported and the proxy measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ReplyStats>,
    /// A reply that was cut off before it finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// What a file held, as `POST /api/import` read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// An [`ExportFile`].
    Ashley,
    /// ChatGPT's `conversations.json` (the branch each conversation showed, text messages only).
    Chatgpt,
    #[serde(other)]
    Unknown,
}

/// `POST /api/import` -> 201.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResult {
    pub format: ImportFormat,
    /// The new conversations, in the file's order.
    pub conversations: Vec<ConversationSummary>,
    /// Conversations left out because they had no text message (ChatGPT: images, tools only).
    #[serde(default)]
    pub skipped: u64,
}

/// `POST /api/auth/token`: the one-time code a desktop sign-in handed to the app's loopback
/// address, swapped for the app's bearer token. Sent with the app's guest token, whose
/// conversations then move to the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExchange {
    pub code: String,
}

/// `GET /api/me`: who the request's credential stands for, and how to sign in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub identity: Identity,
    /// A signed-in user's name as the provider gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// An https URL of the user's picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// How to sign in here; `None`: sign-in is not set up (everyone is a guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignInInfo>,
    /// Whether people may chat without signing in (`ASHLEY_GUESTS`).
    #[serde(default = "default_true")]
    pub guests_allowed: bool,
    /// Today's use against the daily budget; `None` without an identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// Listed in `ASHLEY_ADMINS`: the app shows the Admin panel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
}

/// A day's budget and what is used of it (limits of 0: unlimited).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub messages_used: u64,
    pub messages_limit: u64,
    pub tokens_used: u64,
    pub tokens_limit: u64,
    /// When the day's count starts again (midnight UTC), in ms since the epoch.
    pub resets_at_ms: i64,
}

fn default_true() -> bool {
    true
}

impl Me {
    pub fn anonymous() -> Self {
        Self {
            identity: Identity::Anonymous,
            name: None,
            email: None,
            avatar_url: None,
            sign_in: None,
            guests_allowed: true,
            quota: None,
            admin: false,
        }
    }
}

/// The sign-in the proxy offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInInfo {
    /// "Hugging Face", "Google", ...: the button reads "Sign in with {provider}".
    pub provider: String,
    /// Where the browser goes to sign in (same origin): `/auth/login`.
    pub login_path: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// No credential (or an expired or revoked one): nothing stored is reachable.
    Anonymous,
    /// A guest: what it stores is reachable with its credential only.
    Guest,
    /// Signed in with the provider: the same conversations on every device.
    User,
    /// An identity a newer proxy knows.
    #[serde(other)]
    Unknown,
}

/// `GET /api/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub uptime_secs: u64,
    pub requests: u64,
    pub errors: u64,
    /// errors / requests, 0.0 when there were none.
    pub error_rate: f64,
    pub health: Health,
    pub mode: Mode,
    /// Whether an API key is configured (never the key itself).
    pub upstream_configured: bool,
    /// Result of a cheap, cached reachability check; `None` before the first check.
    pub upstream_reachable: Option<bool>,
    /// The upstream's base URL with any credentials removed.
    pub upstream_base_url: String,
    pub model: String,
    /// e.g. `openai (omni-moderation-latest), fail-closed` or `local word list`.
    pub moderation: String,
    pub store: StoreStats,
    /// Where the database lives and when it was last saved; absent from older proxies.
    #[serde(default)]
    pub storage: StorageInfo,
    /// Requests per minute per client; 0 when disabled.
    pub rate_limit_per_minute: u32,
    /// Total time of the most recent replies, oldest first, in milliseconds.
    pub recent_latencies_ms: Vec<u64>,
}

/// Where the conversations live and when they were last copied to persistent storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInfo {
    /// Path of the live SQLite database (on the container's local disk).
    pub database: String,
    /// Where snapshots go (e.g. a Storage Bucket mounted at `/data`); `None`: backups are off.
    pub backup_dir: Option<String>,
    /// When the newest snapshot was taken (the restored one right after a restore), in
    /// milliseconds since the Unix epoch; `None` before the first.
    pub last_backup_ms: Option<i64>,
    /// Why the last snapshot failed; `None` once one succeeds.
    pub last_backup_error: Option<String>,
    /// Whether the store takes writes, as its latest operations found.
    #[serde(default)]
    pub health: StorageHealth,
}

/// The store's condition in `/api/status` (`ashley_store_full` and `ashley_store_up` in
/// `/metrics` say the same).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageHealth {
    #[default]
    Ok,
    /// Writes fail for lack of space; reads work. Clears by itself once a write works again.
    Full,
    /// The database cannot be reached right now (busy, locked, I/O).
    Unavailable,
    /// A condition a newer proxy reports.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn chat_events_are_tagged_json_with_flattened_stats() {
        let done = ChatEvent::Done {
            reply_id: 7,
            stats: ReplyStats {
                model: "gpt-4".into(),
                total_tokens: Some(12),
                total_ms: 40,
                ..ReplyStats::default()
            },
        };
        let json = serde_json::to_value(&done).unwrap();
        assert_eq!(json["type"], "done");
        assert_eq!(json["model"], "gpt-4");
        assert_eq!(json["total_tokens"], 12);
        let back: ChatEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, done);
        assert!(back.is_final());
        assert_eq!(back.name(), "done");
    }

    #[test]
    fn error_events_use_openai_field_names() {
        let event = ChatEvent::Error {
            error: ErrorBody {
                message: "slow down".into(),
                kind: "rate_limit_error".into(),
                param: None,
                code: Some(ErrorCode::RateLimited),
                retry_after_secs: Some(10),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"]["type"], "rate_limit_error");
        assert_eq!(json["error"]["retry_after_secs"], 10);
        assert_eq!(serde_json::from_value::<ChatEvent>(json).unwrap(), event);
        let text = serde_json::to_string(&ErrorResponse {
            error: ErrorBody {
                message: "m".into(),
                kind: "invalid_request_error".into(),
                param: Some("messages".into()),
                code: None,
                retry_after_secs: None,
            },
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"error":{"message":"m","type":"invalid_request_error","param":"messages","code":null}}"#
        );
    }

    #[test]
    fn error_codes_serialise_as_their_wire_strings() {
        for code in [
            ErrorCode::MessageTooLong,
            ErrorCode::UpstreamRateLimited,
            ErrorCode::ContextLengthExceeded,
            ErrorCode::StorageFull,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        let newer: ErrorCode = serde_json::from_str("\"some_future_code\"").unwrap();
        assert_eq!(newer, ErrorCode::Unknown);
    }
}
