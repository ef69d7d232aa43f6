//! The proxy client: JSON requests and streamed chat replies, delivered as events on a channel.

mod stream;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use ashley_proxy::api::{
    ChatEvent, ErrorBody, ErrorCode, ErrorResponse, History, PersonaList, Regenerate, SendMessage,
    SessionCreated, Status,
};
use serde::de::DeserializeOwned;

use crate::session::ChatBackend;
use stream::StreamReader;

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
    SessionCreated(Result<String, NetError>),
    History {
        session_id: String,
        result: Result<History, NetError>,
    },
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
pub struct ProxyClient {
    base_url: String,
    sender: Sender<NetEvent>,
    repaint: egui::Context,
}

impl ProxyClient {
    /// `base_url` is empty on the web (same origin), else e.g. `http://127.0.0.1:7860`.
    pub fn new(base_url: String, repaint: egui::Context) -> (Self, Receiver<NetEvent>) {
        let (sender, receiver) = std::sync::mpsc::channel();
        let client = Self {
            base_url,
            sender,
            repaint,
        };
        (client, receiver)
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

    fn fetch_json<T: DeserializeOwned>(
        &self,
        request: ehttp::Request,
        into_event: impl FnOnce(Result<T, NetError>) -> NetEvent + Send + 'static,
    ) {
        let sender = self.sender.clone();
        let repaint = self.repaint.clone();
        ehttp::fetch(request, move |result| {
            let parsed = match result {
                Err(reason) => Err(NetError::Unreachable(reason)),
                Ok(response) if !response.ok => Err(http_error(response.status, &response.bytes)),
                Ok(response) => serde_json::from_slice::<T>(&response.bytes)
                    .map_err(|err| NetError::Invalid(err.to_string())),
            };
            // A closed channel means the app is gone; there is nobody left to tell.
            let _ = sender.send(into_event(parsed));
            repaint.request_repaint();
        });
    }

    fn stream(
        &self,
        stream_id: u64,
        path: &str,
        body: serde_json::Result<Vec<u8>>,
    ) -> StreamHandle {
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
        let body = match body {
            Ok(body) => body,
            Err(err) => {
                emit(StreamEvent::Failed(NetError::Invalid(err.to_string())));
                return handle;
            }
        };
        let mut request = ehttp::Request::post(self.url(path), body);
        request.headers = ehttp::Headers::new(&[
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
        ]);
        // A reply may legitimately take minutes; Stop is the user's timeout.
        request.timeout = None;
        let reader = Mutex::new(StreamReader::default());
        ehttp::streaming::fetch(request, move |part| {
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

    fn create_session(&self) {
        let mut request = ehttp::Request::post(self.url("/api/sessions"), Vec::new());
        request.headers = ehttp::Headers::new(&[("Accept", "application/json")]);
        self.fetch_json(request, |result: Result<SessionCreated, NetError>| {
            NetEvent::SessionCreated(result.map(|created| created.session_id))
        });
    }

    fn fetch_history(&self, session_id: &str) {
        let request = ehttp::Request::get(self.url(&format!("/api/sessions/{session_id}")));
        let session_id = session_id.to_owned();
        self.fetch_json(request, move |result| NetEvent::History {
            session_id,
            result,
        });
    }

    /// Forgets a session on the server; the app has already moved on, so failures only log.
    fn delete_session(&self, session_id: &str) {
        let request = ehttp::Request::delete(&self.url(&format!("/api/sessions/{session_id}")));
        ehttp::fetch(request, |result| {
            if let Err(err) = result {
                log::warn!("could not delete the old session: {err}");
            }
        });
    }

    fn send_message(&self, stream_id: u64, session_id: &str, body: &SendMessage) -> StreamHandle {
        let path = format!("/api/sessions/{session_id}/messages");
        self.stream(stream_id, &path, serde_json::to_vec(body))
    }

    fn regenerate(&self, stream_id: u64, session_id: &str, body: &Regenerate) -> StreamHandle {
        let path = format!("/api/sessions/{session_id}/regenerate");
        self.stream(stream_id, &path, serde_json::to_vec(body))
    }
}

fn http_error(status: u16, body: &[u8]) -> NetError {
    let body = serde_json::from_slice::<ErrorResponse>(body)
        .ok()
        .map(|response| response.error);
    NetError::Http { status, body }
}
