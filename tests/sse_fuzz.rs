//! Fuzzing the one SSE decoder (`ashley_proxy::sse`, used by the proxy and the app) with
//! proptest, so it runs on stable in `make test`.
//!
//! Properties: any bytes split anywhere decode to the same events as in one piece (and never
//! panic) and to the same events as a byte-at-a-time model of the WHATWG rules; events written
//! in any of the three line-end styles, with comments, ids, BOM and multi-line data, decode to
//! exactly what was written; the proxy's real `ChatEvent` stream round-trips through it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ashley_proxy::api::{ChatEvent, ErrorBody, ErrorCode, ReplyStats};
use ashley_proxy::sse::{SseDecoder, SseEvent};
use proptest::prelude::*;

/// The spec's algorithm as plainly as it reads: one byte at a time, each line decoded whole.
/// The real decoder's fast paths (whole lines from the read, the word-at-a-time search) must
/// agree with it on every input.
#[derive(Default)]
struct Model {
    line: Vec<u8>,
    after_cr: bool,
    past_first_line: bool,
    event: String,
    data: Option<String>,
    id: Option<String>,
}

impl Model {
    fn decode(body: &[u8]) -> Vec<SseEvent> {
        let mut model = Self::default();
        let mut events = Vec::new();
        for &byte in body {
            let after_cr = std::mem::take(&mut model.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' => model.end_line(&mut events),
                b'\r' => {
                    model.after_cr = true;
                    model.end_line(&mut events);
                }
                _ => model.line.push(byte),
            }
        }
        events
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let mut line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if !std::mem::replace(&mut self.past_first_line, true) && line.starts_with('\u{feff}') {
            line.remove(0);
        }
        if line.is_empty() {
            match self.data.take() {
                Some(data) => events.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data,
                    id: self.id.clone(),
                }),
                None => self.event.clear(),
            }
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => {
                self.id = (!value.is_empty()).then(|| value.to_owned());
            }
            _ => {}
        }
    }
}

fn decode_split(body: &[u8], cuts: &[prop::sample::Index]) -> Vec<SseEvent> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(body.len() + 1)).collect();
    points.sort_unstable();
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    let mut from = 0;
    for point in points.into_iter().chain([body.len()]) {
        events.extend(decoder.push(&body[from..point]));
        from = point;
    }
    events
}

/// Bytes that look like SSE often enough to reach every branch, and plain noise.
fn sse_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b"data:".to_vec()),
            Just(b"data: ".to_vec()),
            Just(b"event: delta".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b": comment".to_vec()),
            Just("\u{feff}".as_bytes().to_vec()),
            Just("\u{e9}\u{1f600}".as_bytes().to_vec()),
            Just(b"id: 1\nretry: 5\n".to_vec()),
            Just(b"id:\n".to_vec()),
            Just(b"id: 2\0\n".to_vec()),
            Just(b"data".to_vec()),
            Just(b"event".to_vec()),
            prop::collection::vec(any::<u8>(), 0..10),
        ],
        0..48,
    )
    .prop_map(|parts| parts.concat())
}

/// One line-end style per stream: LF, CR or CRLF.
fn line_end() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r"), Just("\r\n")]
}

/// Text without line breaks (they would end the field).
fn field_text() -> impl Strategy<Value = String> {
    "[^\r\n]{0,40}"
}

fn chat_event() -> impl Strategy<Value = ChatEvent> {
    let text = "\\PC{0,60}";
    prop_oneof![
        (any::<Option<i64>>(), text, any::<bool>()).prop_map(|(id, persona, demo)| {
            ChatEvent::Started {
                user_message_id: id,
                persona,
                model: "gpt-4".to_owned(),
                demo,
                live_reply: demo.then(|| "0123abcd".to_owned()),
            }
        }),
        any::<Option<i64>>().prop_map(|reply_id| ChatEvent::Stopped { reply_id }),
        text.prop_map(|text| ChatEvent::Delta { text }),
        "(.|\n|\r){0,80}".prop_map(|text| ChatEvent::Delta { text }),
        text.prop_map(|message| ChatEvent::Notice { message }),
        (any::<i64>(), any::<u64>(), any::<Option<u32>>()).prop_map(
            |(reply_id, total_ms, tokens)| ChatEvent::Done {
                reply_id,
                stats: ReplyStats {
                    model: "m".to_owned(),
                    total_tokens: tokens,
                    total_ms,
                    ..ReplyStats::default()
                },
            }
        ),
        (text, prop::collection::vec(text, 0..3)).prop_map(|(message, categories)| {
            ChatEvent::Refused {
                message,
                categories,
            }
        }),
        (text, any::<Option<u64>>()).prop_map(|(message, retry_after_secs)| ChatEvent::Error {
            error: ErrorBody {
                message,
                kind: "api_error".to_owned(),
                param: None,
                code: Some(ErrorCode::UpstreamUnavailable),
                retry_after_secs,
            },
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_split_anywhere_decode_like_the_whole(
        body in sse_like_bytes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let whole = SseDecoder::new().push(&body);
        prop_assert_eq!(&decode_split(&body, &cuts), &whole);
        prop_assert_eq!(whole, Model::decode(&body));
    }

    #[test]
    fn written_events_decode_to_exactly_what_was_written(
        events in prop::collection::vec(
            (field_text(), prop::collection::vec(field_text(), 1..4), prop::option::of("[0-9]{1,6}")),
            0..8,
        ),
        end in line_end(),
        bom in any::<bool>(),
        comments in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let mut body = String::new();
        if bom {
            body.push('\u{feff}');
        }
        let mut expected = Vec::new();
        let mut last_id = None;
        for (name, lines, id) in &events {
            if comments {
                body.push_str(&format!(": keep-alive{end}"));
            }
            // `event:` then one space: the decoder strips exactly one, so the name survives as is.
            body.push_str(&format!("event: {name}{end}"));
            if let Some(id) = id {
                body.push_str(&format!("id: {id}{end}"));
                last_id = Some(id.clone());
            }
            for line in lines {
                body.push_str(&format!("data: {line}{end}"));
            }
            body.push_str(end);
            expected.push(SseEvent { event: name.clone(), data: lines.join("\n"), id: last_id.clone() });
        }
        prop_assert_eq!(decode_split(body.as_bytes(), &cuts), expected);
    }

    #[test]
    fn the_proxys_chat_events_round_trip(
        events in prop::collection::vec(chat_event(), 0..10),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        // Written the way the proxy writes them: `event: <name>`, the JSON in `data:`, a blank line.
        let body: String = events
            .iter()
            .map(|event| format!("event: {}\ndata: {}\n\n", event.name(), serde_json::to_string(event).unwrap()))
            .collect();
        let decoded = decode_split(body.as_bytes(), &cuts);
        prop_assert_eq!(decoded.len(), events.len());
        for (sse, event) in decoded.iter().zip(&events) {
            prop_assert_eq!(sse.event.as_str(), event.name());
            let back: ChatEvent = serde_json::from_str(&sse.data).unwrap();
            prop_assert_eq!(&back, event);
        }
    }
}
