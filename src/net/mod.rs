//! The proxy client: JSON requests and streamed chat replies, delivered as events on a channel.

pub mod sse;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use ashley_proxy::api::{
    ChatEvent, ErrorBody, ErrorResponse, History, PersonaList, Regenerate, SendMessage,
    SessionCreated, Status,
};
use serde::de::DeserializeOwned;

use sse::SseDecoder;

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
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Http { status: 404, .. })
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
    Chat(ChatEvent),
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
#[derive(Debug)]
pub struct StreamHandle {
    cancelled: Arc<AtomicBool>,
}

impl StreamHandle {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
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

    pub fn create_session(&self) {
        let mut request = ehttp::Request::post(self.url("/api/sessions"), Vec::new());
        request.headers = ehttp::Headers::new(&[("Accept", "application/json")]);
        self.fetch_json(request, |result: Result<SessionCreated, NetError>| {
            NetEvent::SessionCreated(result.map(|created| created.session_id))
        });
    }

    pub fn fetch_history(&self, session_id: &str) {
        let request = ehttp::Request::get(self.url(&format!("/api/sessions/{session_id}")));
        let session_id = session_id.to_owned();
        self.fetch_json(request, move |result| NetEvent::History {
            session_id,
            result,
        });
    }

    /// Forgets a session on the server; the app has already moved on, so failures only log.
    pub fn delete_session(&self, session_id: &str) {
        let request = ehttp::Request::delete(&self.url(&format!("/api/sessions/{session_id}")));
        ehttp::fetch(request, |result| {
            if let Err(err) = result {
                log::warn!("could not delete the old session: {err}");
            }
        });
    }

    pub fn send_message(
        &self,
        stream_id: u64,
        session_id: &str,
        body: &SendMessage,
    ) -> StreamHandle {
        let path = format!("/api/sessions/{session_id}/messages");
        self.stream(stream_id, &path, serde_json::to_vec(body))
    }

    pub fn regenerate(&self, stream_id: u64, session_id: &str, body: &Regenerate) -> StreamHandle {
        let path = format!("/api/sessions/{session_id}/regenerate");
        self.stream(stream_id, &path, serde_json::to_vec(body))
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

/// The state of one streamed response: its status, the SSE decoder or the error body.
#[derive(Default)]
struct StreamReader {
    status: Option<u16>,
    ok: bool,
    decoder: SseDecoder,
    error_body: Vec<u8>,
    finished: bool,
}

impl StreamReader {
    fn on_part(
        &mut self,
        part: ehttp::Result<ehttp::streaming::Part>,
    ) -> (Vec<StreamEvent>, ControlFlow<()>) {
        match part {
            Err(reason) => {
                let error = if self.status.is_some() {
                    NetError::Unreachable(format!("the connection broke: {reason}"))
                } else {
                    NetError::Unreachable(reason)
                };
                (vec![StreamEvent::Failed(error)], ControlFlow::Break(()))
            }
            Ok(ehttp::streaming::Part::Response(response)) => {
                self.status = Some(response.status);
                self.ok = response.ok;
                (Vec::new(), ControlFlow::Continue(()))
            }
            Ok(ehttp::streaming::Part::Chunk(chunk)) if !self.ok => {
                if chunk.is_empty() {
                    let status = self.status.unwrap_or_default();
                    let error = http_error(status, &self.error_body);
                    return (vec![StreamEvent::Failed(error)], ControlFlow::Break(()));
                }
                self.error_body.extend_from_slice(&chunk);
                (Vec::new(), ControlFlow::Continue(()))
            }
            Ok(ehttp::streaming::Part::Chunk(chunk)) => self.on_body_chunk(&chunk),
        }
    }

    fn on_body_chunk(&mut self, chunk: &[u8]) -> (Vec<StreamEvent>, ControlFlow<()>) {
        if chunk.is_empty() {
            self.decoder.finish();
            let events = if self.finished {
                Vec::new()
            } else {
                vec![StreamEvent::EndedEarly]
            };
            return (events, ControlFlow::Break(()));
        }
        let mut events = Vec::new();
        for sse_event in self.decoder.push(chunk) {
            if self.finished {
                break;
            }
            match serde_json::from_str::<ChatEvent>(&sse_event.data) {
                Ok(event) => {
                    self.finished = event.is_final();
                    events.push(StreamEvent::Chat(event));
                }
                Err(err) => log::warn!("skipping an unreadable `{}` event: {err}", sse_event.name),
            }
        }
        let flow = if self.finished {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        };
        (events, flow)
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
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use ehttp::streaming::Part;

    fn response(status: u16) -> Part {
        Part::Response(ehttp::PartialResponse {
            url: String::new(),
            ok: (200..300).contains(&status),
            status,
            status_text: String::new(),
            headers: ehttp::Headers::default(),
        })
    }

    fn chunk(bytes: &[u8]) -> ehttp::Result<Part> {
        Ok(Part::Chunk(bytes.to_vec()))
    }

    #[test]
    fn a_stream_yields_chat_events_and_stops_at_the_final_one() {
        let mut reader = StreamReader::default();
        let _ = reader.on_part(Ok(response(200)));
        let (events, flow) =
            reader.on_part(chunk(b"event: delta\ndata: {\"type\":\"delta\",\"text\":\"Hi\"}\n\nevent: refused\ndata: {\"type\":\"refused\",\"mes"));
        assert_eq!(
            events,
            vec![StreamEvent::Chat(ChatEvent::Delta { text: "Hi".into() })]
        );
        assert!(flow.is_continue());
        let (events, flow) = reader.on_part(chunk(b"sage\":\"no\",\"categories\":[\"x\"]}\n\n"));
        assert!(matches!(
            &events[..],
            [StreamEvent::Chat(ChatEvent::Refused { .. })]
        ));
        assert!(flow.is_break());
    }

    #[test]
    fn a_body_that_ends_without_a_final_event_is_reported() {
        let mut reader = StreamReader::default();
        let _ = reader.on_part(Ok(response(200)));
        let (events, _) = reader.on_part(chunk(b""));
        assert_eq!(events, vec![StreamEvent::EndedEarly]);
    }

    #[test]
    fn an_error_status_carries_the_json_error_body() {
        let mut reader = StreamReader::default();
        let _ = reader.on_part(Ok(response(429)));
        let _ = reader.on_part(chunk(
            b"{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\",",
        ));
        let _ = reader.on_part(chunk(
            b"\"param\":null,\"code\":\"rate_limited\",\"retry_after_secs\":7}}",
        ));
        let (events, flow) = reader.on_part(chunk(b""));
        let [
            StreamEvent::Failed(NetError::Http {
                status: 429,
                body: Some(body),
            }),
        ] = &events[..]
        else {
            panic!("unexpected {events:?}");
        };
        assert_eq!(body.retry_after_secs, Some(7));
        assert!(flow.is_break());
    }

    #[test]
    fn a_transport_error_means_unreachable() {
        let mut reader = StreamReader::default();
        let (events, _) = reader.on_part(Err("connection refused".into()));
        assert!(matches!(
            &events[..],
            [StreamEvent::Failed(NetError::Unreachable(_))]
        ));
    }
}
