//! One streamed reply as it arrives: the status, then SSE events (or the JSON error body).

use std::ops::ControlFlow;

use ashley_proxy::api::ChatEvent;
use ashley_proxy::sse::SseDecoder;

use super::{NetError, StreamEvent, http_error};

/// The state of one streamed response: its status, the SSE decoder or the error body.
#[derive(Default)]
pub(super) struct StreamReader {
    status: Option<u16>,
    ok: bool,
    decoder: SseDecoder,
    error_body: Vec<u8>,
    finished: bool,
}

impl StreamReader {
    pub(super) fn on_part(
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
                    events.push(StreamEvent::Chat {
                        event,
                        id: sse_event.id,
                    });
                }
                Err(err) => log::warn!("skipping an unreadable `{}` event: {err}", sse_event.event),
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
    fn a_stream_yields_chat_events_with_their_ids_and_stops_at_the_final_one() {
        let mut reader = StreamReader::default();
        let _ = reader.on_part(Ok(response(200)));
        let (events, flow) =
            reader.on_part(chunk(b"id: 3\nevent: delta\ndata: {\"type\":\"delta\",\"text\":\"Hi\"}\n\nevent: refused\ndata: {\"type\":\"refused\",\"mes"));
        assert_eq!(
            events,
            vec![StreamEvent::Chat {
                event: ChatEvent::Delta { text: "Hi".into() },
                id: Some("3".into()),
            }]
        );
        assert!(flow.is_continue());
        let (events, flow) = reader.on_part(chunk(b"sage\":\"no\",\"categories\":[\"x\"]}\n\n"));
        assert!(matches!(
            &events[..],
            [StreamEvent::Chat {
                event: ChatEvent::Refused { .. },
                ..
            }]
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
    fn an_error_status_carries_the_json_error_body_with_its_typed_code() {
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
        assert_eq!(body.code, Some(ashley_proxy::api::ErrorCode::RateLimited));
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
