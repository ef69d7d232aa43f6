//! The proxy client: JSON requests and streamed chat replies, delivered as events on a channel.

mod credential;
#[cfg(not(target_arch = "wasm32"))]
mod desktop_sign_in;
mod stream;
mod transfer;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use ashley_proxy::api::{
    AdminReport, BlockUser, ChatEvent, ConversationList, ConversationPatch, ConversationSummary,
    CreatedKey, ErrorBody, ErrorCode, ErrorResponse, GuestToken, History, KeyList, Me, NewKey,
    PersonaList, Regenerate, SearchResults, SendMessage, Share, Status,
};
use serde::de::DeserializeOwned;

use crate::session::ChatBackend;
pub use credential::Credential;
#[cfg(not(target_arch = "wasm32"))]
pub use desktop_sign_in::DesktopSignIn;
use stream::StreamReader;
pub use transfer::export_path;

/// Why a request to the proxy did not give the expected answer.
#[derive(Clone, Debug, PartialEq)]
pub enum NetError {
    /// No HTTP answer at all: the proxy is down, the URL is wrong or the connection broke.
    Unreachable(String),
    /// The proxy answered with an error status, usually with its JSON error body.
    Http {
        status: u16,
        body: Option<ErrorBody>,
    },
    /// The proxy answered something the app cannot read.
    Invalid(String),
}

impl NetError {
    /// The proxy does not know the session (a new database, an expiry): start a new one.
    pub fn is_unknown_session(&self) -> bool {
        match self {
            Self::Http {
                body: Some(ErrorBody {
                    code: Some(code), ..
                }),
                ..
            } => *code == ErrorCode::UnknownSession,
            Self::Http { status, .. } => *status == 404,
            Self::Unreachable(_) | Self::Invalid(_) => false,
        }
    }

    /// The proxy's machine-readable code, when it sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Http {
                body: Some(ErrorBody { code, .. }),
                ..
            } => *code,
            _ => None,
        }
    }

    /// The proxy no longer accepts the app's bearer token (expired, signed out, a new database).
    pub fn is_sign_in_required(&self) -> bool {
        matches!(
            self,
            Self::Http {
                body: Some(ErrorBody {
                    code: Some(ErrorCode::SignInRequired),
                    ..
                }),
                ..
            }
        )
    }
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) => write!(f, "the proxy is unreachable ({reason})"),
            Self::Http {
                body: Some(body), ..
            } => f.write_str(&body.message),
            Self::Http { status, body: None } => write!(f, "the proxy answered HTTP {status}"),
            Self::Invalid(reason) => write!(f, "the proxy sent an unreadable answer ({reason})"),
        }
    }
}

/// What happened on one reply stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// A chat event and the stream's last SSE `id:` (the proxy's sequence number), from which
    /// a broken stream can be reattached.
    Chat {
        event: ChatEvent,
        id: Option<String>,
    },
    /// The request failed before the stream began, or the connection broke during it.
    Failed(NetError),
    /// The body ended without a final event.
    EndedEarly,
}

/// A result coming back from the network, drained by the app in `App::logic`.
#[derive(Debug)]
pub enum NetEvent {
    Personas(Result<PersonaList, NetError>),
    /// The caller's conversations (also the answer to "which one was the most recent").
    Conversations(Result<ConversationList, NetError>),
    /// A new, empty conversation.
    ConversationCreated(Result<ConversationSummary, NetError>),
    /// A rename or a pin went through (the conversation as it now is) or failed.
    ConversationChanged {
        id: String,
        result: Result<ConversationSummary, NetError>,
    },
    ConversationDeleted {
        id: String,
        result: Result<(), NetError>,
    },
    /// An undone delete.
    ConversationRestored {
        id: String,
        result: Result<ConversationSummary, NetError>,
    },
    /// A conversation's read-only link: `None` when it has none (or no longer has one).
    Share {
        id: String,
        result: Result<Option<Share>, NetError>,
    },
    /// The conversation's page, written to a file the system browser opens (desktop).
    PageSaved(Result<std::path::PathBuf, NetError>),
    /// An export saved as a file (desktop), where it was written.
    Exported(Result<std::path::PathBuf, NetError>),
    /// A file imported (all of it) or refused (none of it, with the proxy's reason).
    Imported(Result<ashley_proxy::api::ImportResult, NetError>),
    /// The hits for `query` (trimmed, as sent).
    Search {
        query: String,
        result: Result<SearchResults, NetError>,
    },
    /// Who the app is signed in as.
    Me(Result<Me, NetError>),
    /// Signed out (the credential is revoked and forgotten).
    SignedOut(Result<(), NetError>),
    /// The account or guest and everything it owned are gone.
    DataDeleted(Result<(), NetError>),
    /// A desktop sign-in finished (the app now holds the account's token) or failed.
    SignedIn(Result<(), String>),
    Keys(Result<KeyList, NetError>),
    KeyCreated(Result<CreatedKey, NetError>),
    /// The id of the key revoked.
    KeyRevoked(Result<String, NetError>),
    /// The Admin panel's figures.
    AdminReport(Result<AdminReport, NetError>),
    /// An admin's action (block, unblock, revoke) went through or failed.
    AdminActed(Result<(), NetError>),
    History {
        conversation_id: String,
        result: Result<History, NetError>,
    },
    /// The proxy took a Stop (the stream then ends with `stopped`), or could not.
    ReplyStopped(Result<(), NetError>),
    Status(Result<Status, NetError>),
    Stream {
        stream_id: u64,
        event: StreamEvent,
    },
}

/// Dropping or cancelling it stops the reply stream (the reader breaks on its next chunk).
#[derive(Debug, Default)]
pub struct StreamHandle {
    cancelled: Arc<AtomicBool>,
}

impl StreamHandle {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Talks to one proxy; every answer arrives as a [`NetEvent`] followed by a repaint request.
/// Clones share the credential (a callback that chains a second request holds one).
#[derive(Clone)]
pub struct ProxyClient {
    base_url: String,
    sender: Sender<NetEvent>,
    repaint: egui::Context,
    credential: Credential,
}

impl ProxyClient {
    /// `base_url` is empty on the web (same origin), else e.g. `http://127.0.0.1:7860`.
    pub fn new(
        base_url: String,
        repaint: egui::Context,
        credential: Credential,
    ) -> (Self, Receiver<NetEvent>) {
        let (sender, receiver) = std::sync::mpsc::channel();
        let client = Self {
            base_url,
            sender,
            repaint,
            credential,
        };
        (client, receiver)
    }

    fn emit(&self, event: NetEvent) {
        // A closed channel means the app is gone; there is nobody left to tell.
        let _ = self.sender.send(event);
        self.repaint.request_repaint();
    }

    /// `POST /api/conversations`. A bearer token the proxy refuses is dropped and replaced by a
    /// new guest's (once: `renew`), so a restarted app with a stale token carries on.
    fn post_conversation(&self, renew: bool) {
        let mut request = ehttp::Request::post(self.url("/api/conversations"), Vec::new());
        request.headers = ehttp::Headers::new(&[("Accept", "application/json")]);
        let client = self.clone();
        ehttp::fetch(self.credential.attach(request), move |result| {
            let created = parse::<ConversationSummary>(result);
            if let Err(error) = &created
                && renew
                && error.is_sign_in_required()
                && client.credential.uses_bearer()
            {
                client.credential.clear();
                return client.new_guest_then_conversation();
            }
            client.emit(NetEvent::ConversationCreated(created));
        });
    }

    /// `POST /api/auth/guest`, then the conversation: the desktop app's first start.
    fn new_guest_then_conversation(&self) {
        let request = ehttp::Request::post(self.url("/api/auth/guest"), Vec::new());
        let client = self.clone();
        ehttp::fetch(request, move |result| match parse::<GuestToken>(result) {
            Ok(guest) => {
                client.credential.set(guest.token);
                client.post_conversation(false);
            }
            Err(error) => client.emit(NetEvent::ConversationCreated(Err(error))),
        });
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn fetch_personas(&self) {
        let request = ehttp::Request::get(self.url("/api/personas"));
        self.fetch_json(request, NetEvent::Personas);
    }

    pub fn fetch_status(&self) {
        let request = ehttp::Request::get(self.url("/api/status"));
        self.fetch_json(request, NetEvent::Status);
    }

    pub fn fetch_me(&self) {
        let request = ehttp::Request::get(self.url("/api/me"));
        self.fetch_json(request, NetEvent::Me);
    }

    /// `GET /api/conversations`: the list, pinned first, then the most recently active.
    pub fn fetch_conversations(&self) {
        let request = ehttp::Request::get(self.url("/api/conversations"));
        self.fetch_json(request, NetEvent::Conversations);
    }

    /// `PATCH /api/conversations/{id}`: a new title or pin.
    pub fn patch_conversation(&self, id: &str, patch: &ConversationPatch) {
        let body = serde_json::to_vec(patch).unwrap_or_default();
        let mut request = ehttp::Request::post(self.url(&format!("/api/conversations/{id}")), body);
        request.method = ehttp::Method::PATCH;
        request.headers = ehttp::Headers::new(&[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]);
        let id = id.to_owned();
        self.fetch_json(request, move |result| NetEvent::ConversationChanged {
            id,
            result,
        });
    }

    /// `DELETE /api/conversations/{id}`: hidden at once, restorable for a while.
    pub fn delete_conversation(&self, id: &str) {
        let request = ehttp::Request::delete(&self.url(&format!("/api/conversations/{id}")));
        let id = id.to_owned();
        self.fetch_done(request, move |result| NetEvent::ConversationDeleted {
            id,
            result,
        });
    }

    /// `POST /api/conversations/{id}/restore`: undoes a delete.
    pub fn restore_conversation(&self, id: &str) {
        let mut request = ehttp::Request::post(
            self.url(&format!("/api/conversations/{id}/restore")),
            Vec::new(),
        );
        request.headers = ehttp::Headers::new(&[("Accept", "application/json")]);
        let id = id.to_owned();
        self.fetch_json(request, move |result| NetEvent::ConversationRestored {
            id,
            result,
        });
    }

    /// `GET /api/conversations/{id}/share`: the live link, if any.
    pub fn fetch_share(&self, id: &str) {
        let request = ehttp::Request::get(self.url(&format!("/api/conversations/{id}/share")));
        let id = id.to_owned();
        self.fetch_json(request, move |result| NetEvent::Share { id, result });
    }

    /// `POST /api/conversations/{id}/share`: a new link (the old one stops working).
    pub fn share_conversation(&self, id: &str) {
        let mut request = ehttp::Request::post(
            self.url(&format!("/api/conversations/{id}/share")),
            Vec::new(),
        );
        request.headers = ehttp::Headers::new(&[("Accept", "application/json")]);
        let id = id.to_owned();
        self.fetch_json(request, move |result: Result<Share, NetError>| {
            NetEvent::Share {
                id,
                result: result.map(Some),
            }
        });
    }

    /// `DELETE /api/conversations/{id}/share`: the link stops working.
    pub fn unshare_conversation(&self, id: &str) {
        let request = ehttp::Request::delete(&self.url(&format!("/api/conversations/{id}/share")));
        let id = id.to_owned();
        self.fetch_done(request, move |result| NetEvent::Share {
            id,
            result: result.map(|()| None),
        });
    }

    /// `GET /c/{id}` with the app's token, saved as `path` for the system browser (which holds
    /// no credential of the app's).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save_page(&self, id: &str, path: std::path::PathBuf) {
        let request = ehttp::Request::get(self.url(&format!("/c/{id}")));
        let client = self.clone();
        ehttp::fetch(self.credential.attach(request), move |result| {
            let saved = match result {
                Err(reason) => Err(NetError::Unreachable(reason)),
                Ok(response) if !response.ok => Err(NetError::Http {
                    status: response.status,
                    body: None,
                }),
                Ok(response) => std::fs::write(&path, &response.bytes)
                    .map(|()| path)
                    .map_err(|err| NetError::Invalid(format!("could not save the page: {err}"))),
            };
            client.emit(NetEvent::PageSaved(saved));
        });
    }

    /// `GET /api/search?q=`: `query` is already trimmed.
    pub fn search(&self, query: &str) {
        let url = self.url(&format!("/api/search?q={}", percent_encode(query)));
        let query = query.to_owned();
        self.fetch_json(ehttp::Request::get(url), move |result| NetEvent::Search {
            query,
            result,
        });
    }

    /// Signs out: the proxy revokes the credential (and clears the cookie); the app forgets it.
    pub fn sign_out(&self) {
        let request = ehttp::Request::post(self.url("/api/auth/logout"), Vec::new());
        self.fetch_empty(request, NetEvent::SignedOut);
    }

    pub fn fetch_keys(&self) {
        let request = ehttp::Request::get(self.url("/api/keys"));
        self.fetch_json(request, NetEvent::Keys);
    }

    pub fn create_key(&self, name: &str) {
        let body = serde_json::to_vec(&NewKey {
            name: name.to_owned(),
        })
        .unwrap_or_default();
        let mut request = ehttp::Request::post(self.url("/api/keys"), body);
        request.headers = ehttp::Headers::new(&[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]);
        self.fetch_json(request, NetEvent::KeyCreated);
    }

    pub fn revoke_key(&self, id: &str) {
        let request = ehttp::Request::delete(&self.url(&format!("/api/keys/{id}")));
        let id = id.to_owned();
        self.fetch_done(request, move |result| {
            NetEvent::KeyRevoked(result.map(|()| id))
        });
    }

    /// The Admin panel's figures for the last `days` days.
    pub fn fetch_admin(&self, days: u32) {
        let request = ehttp::Request::get(self.url(&format!("/api/admin?days={days}")));
        self.fetch_json(request, NetEvent::AdminReport);
    }

    /// Blocks or unblocks a user (an admin's action).
    pub fn set_blocked(&self, user: i64, blocked: bool) {
        let body = serde_json::to_vec(&BlockUser { blocked }).unwrap_or_default();
        let mut request =
            ehttp::Request::put(self.url(&format!("/api/admin/users/{user}/blocked")), body);
        request.headers = ehttp::Headers::new(&[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]);
        self.fetch_acted(request);
    }

    /// Revokes any user's API key (an admin's action).
    pub fn admin_revoke_key(&self, id: &str) {
        let request = ehttp::Request::delete(&self.url(&format!("/api/admin/keys/{id}")));
        self.fetch_acted(request);
    }

    fn fetch_acted(&self, request: ehttp::Request) {
        let client = self.clone();
        ehttp::fetch(self.credential.attach(request), move |result| {
            let outcome = match result {
                Err(reason) => Err(NetError::Unreachable(reason)),
                Ok(response) if !response.ok => Err(http_error(response.status, &response.bytes)),
                Ok(_) => Ok(()),
            };
            client.emit(NetEvent::AdminActed(outcome));
        });
    }

    /// Deletes the account (or guest) and everything it owns.
    pub fn delete_my_data(&self) {
        let request = ehttp::Request::delete(&self.url("/api/me"));
        self.fetch_empty(request, NetEvent::DataDeleted);
    }

    /// A request answered with no body (`204`): `into_event` gets whether it went through.
    fn fetch_done(
        &self,
        request: ehttp::Request,
        into_event: impl FnOnce(Result<(), NetError>) -> NetEvent + Send + 'static,
    ) {
        let client = self.clone();
        ehttp::fetch(self.credential.attach(request), move |result| {
            let outcome = match result {
                Err(reason) => Err(NetError::Unreachable(reason)),
                Ok(response) if !response.ok => Err(http_error(response.status, &response.bytes)),
                Ok(_) => Ok(()),
            };
            client.emit(into_event(outcome));
        });
    }

    /// A request answered with no body; on success the credential is forgotten.
    fn fetch_empty(
        &self,
        request: ehttp::Request,
        into_event: impl FnOnce(Result<(), NetError>) -> NetEvent + Send + 'static,
    ) {
        let client = self.clone();
        self.fetch_done(request, move |outcome| {
            if outcome.is_ok() {
                client.credential.clear();
            }
            into_event(outcome)
        });
    }

    /// Starts a desktop sign-in: listens on a loopback port, and returns the proxy's sign-in URL
    /// for the system browser. The code that comes back is swapped for the account's token.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn begin_desktop_sign_in(&self, login_path: &str) -> Result<DesktopSignIn, String> {
        let client = self.clone();
        DesktopSignIn::start(&self.url(login_path), move |outcome| match outcome {
            Ok(code) => client.exchange_sign_in_code(code),
            Err(reason) => client.emit(NetEvent::SignedIn(Err(reason))),
        })
    }

    /// `POST /api/auth/token`: the one-time code for the account's bearer token.
    #[cfg(not(target_arch = "wasm32"))]
    fn exchange_sign_in_code(&self, code: String) {
        let body =
            serde_json::to_vec(&ashley_proxy::api::TokenExchange { code }).unwrap_or_default();
        let mut request = ehttp::Request::post(self.url("/api/auth/token"), body);
        request.headers = ehttp::Headers::new(&[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]);
        let client = self.clone();
        ehttp::fetch(self.credential.attach(request), move |result| {
            let outcome =
                parse::<GuestToken>(result).map(|token| client.credential.set(token.token));
            client.emit(NetEvent::SignedIn(outcome.map_err(|err| err.to_string())));
        });
    }

    fn fetch_json<T: DeserializeOwned>(
        &self,
        request: ehttp::Request,
        into_event: impl FnOnce(Result<T, NetError>) -> NetEvent + Send + 'static,
    ) {
        let client = self.clone();
        ehttp::fetch(self.credential.attach(request), move |result| {
            client.emit(into_event(parse(result)));
        });
    }

    /// `POST path` with a JSON body, answered by a reply's event stream.
    fn post_stream(
        &self,
        stream_id: u64,
        path: &str,
        body: serde_json::Result<Vec<u8>>,
    ) -> StreamHandle {
        let body = match body {
            Ok(body) => body,
            Err(err) => {
                let handle = StreamHandle::default();
                self.emit(NetEvent::Stream {
                    stream_id,
                    event: StreamEvent::Failed(NetError::Invalid(err.to_string())),
                });
                return handle;
            }
        };
        let mut request = ehttp::Request::post(self.url(path), body);
        request.headers = ehttp::Headers::new(&[
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
        ]);
        self.stream(stream_id, request)
    }

    fn stream(&self, stream_id: u64, mut request: ehttp::Request) -> StreamHandle {
        let cancelled = Arc::new(AtomicBool::new(false));
        let handle = StreamHandle {
            cancelled: Arc::clone(&cancelled),
        };
        let emit = {
            let sender = self.sender.clone();
            let repaint = self.repaint.clone();
            move |event: StreamEvent| {
                let _ = sender.send(NetEvent::Stream { stream_id, event });
                repaint.request_repaint();
            }
        };
        // A reply may legitimately take minutes; Stop is the user's timeout.
        request.timeout = None;
        let reader = Mutex::new(StreamReader::default());
        ehttp::streaming::fetch(self.credential.attach(request), move |part| {
            if cancelled.load(Ordering::Relaxed) {
                return ControlFlow::Break(());
            }
            let Ok(mut reader) = reader.lock() else {
                return ControlFlow::Break(());
            };
            let (events, flow) = reader.on_part(part);
            for event in events {
                emit(event);
            }
            flow
        });
        handle
    }
}

impl ChatBackend for ProxyClient {
    fn server(&self) -> &str {
        &self.base_url
    }

    fn find_latest_conversation(&self) {
        self.fetch_conversations();
    }

    fn create_conversation(&self) {
        if self.credential.uses_bearer() && self.credential.token().is_none() {
            self.new_guest_then_conversation();
        } else {
            self.post_conversation(true);
        }
    }

    fn fetch_history(&self, conversation_id: &str) {
        let request =
            ehttp::Request::get(self.url(&format!("/api/conversations/{conversation_id}")));
        let conversation_id = conversation_id.to_owned();
        self.fetch_json(request, move |result| NetEvent::History {
            conversation_id,
            result,
        });
    }

    fn send_message(
        &self,
        stream_id: u64,
        conversation_id: &str,
        body: &SendMessage,
    ) -> StreamHandle {
        let path = format!("/api/conversations/{conversation_id}/messages");
        self.post_stream(stream_id, &path, serde_json::to_vec(body))
    }

    fn regenerate(&self, stream_id: u64, conversation_id: &str, body: &Regenerate) -> StreamHandle {
        let path = format!("/api/conversations/{conversation_id}/regenerate");
        self.post_stream(stream_id, &path, serde_json::to_vec(body))
    }

    fn reattach(
        &self,
        stream_id: u64,
        conversation_id: &str,
        live_reply: &str,
        from_seq: u64,
    ) -> StreamHandle {
        let path = format!(
            "/api/conversations/{conversation_id}/replies/{live_reply}/events?from_seq={from_seq}"
        );
        let mut request = ehttp::Request::get(self.url(&path));
        request.headers = ehttp::Headers::new(&[("Accept", "text/event-stream")]);
        self.stream(stream_id, request)
    }

    fn stop_reply(&self, conversation_id: &str, live_reply: &str) {
        let path = format!("/api/conversations/{conversation_id}/replies/{live_reply}/stop");
        let mut request = ehttp::Request::post(self.url(&path), Vec::new());
        request.headers = ehttp::Headers::new(&[("Accept", "application/json")]);
        self.fetch_done(request, NetEvent::ReplyStopped);
    }
}

/// `text` for a URL's query: unreserved characters as they are, every other byte `%XX`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A JSON answer, or why there is none.
fn parse<T: DeserializeOwned>(result: ehttp::Result<ehttp::Response>) -> Result<T, NetError> {
    match result {
        Err(reason) => Err(NetError::Unreachable(reason)),
        Ok(response) if !response.ok => Err(http_error(response.status, &response.bytes)),
        Ok(response) => serde_json::from_slice::<T>(&response.bytes)
            .map_err(|err| NetError::Invalid(err.to_string())),
    }
}

fn http_error(status: u16, body: &[u8]) -> NetError {
    let body = serde_json::from_slice::<ErrorResponse>(body)
        .ok()
        .map(|response| response.error);
    NetError::Http { status, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_query_is_percent_encoded() {
        assert_eq!(percent_encode("a b&c=é"), "a%20b%26c%3D%C3%A9");
    }
}
