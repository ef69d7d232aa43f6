//! The one server-sent events decoder: the proxy reads its provider's stream with it, the app
//! the proxy's. Serde-free and outside the `server` feature, so the WASM app links it too.

use std::borrow::Cow;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty when the event had none (EventSource would say `message`).
    pub event: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// The stream's last event id when this event was dispatched: an `id:` line stays in force
    /// for later events until another replaces it, as in EventSource; `None` until one is set
    /// (or after an empty `id:`). A client that reconnects sends this back.
    pub id: Option<String>,
}

/// Feeds bytes in, takes complete events out, following the WHATWG `text/event-stream` rules:
/// `event`, multi-line `data`, `id`, comments, LF/CR/CRLF line ends, a leading byte-order mark,
/// and reads split anywhere (inside a UTF-8 character, between the CR and LF of one line end).
///
/// It runs over every byte the provider sends, so whole lines are decoded straight from the
/// read and only a cut-off tail is copied; each value is checked as UTF-8 once.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// The start of a line the last read cut off (bytes: it may end inside a character).
    partial: Vec<u8>,
    /// The last read ended in CR: an LF opening the next one ends no second line.
    after_cr: bool,
    /// A line has ended, so a byte-order mark is text from now on.
    past_first_line: bool,
    event: String,
    /// `None` until a `data:` line arrives: an event without one is not dispatched.
    data: Option<String>,
    last_id: Option<String>,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` and returns every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut bytes = bytes;
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            bytes = bytes.strip_prefix(b"\n").unwrap_or(bytes);
        }
        if self.partial.is_empty() {
            let consumed = self.take_lines(bytes, &mut events);
            self.partial
                .extend_from_slice(bytes.get(consumed..).unwrap_or_default());
        } else {
            let mut buffer = std::mem::take(&mut self.partial);
            buffer.extend_from_slice(bytes);
            let consumed = self.take_lines(&buffer, &mut events);
            buffer.drain(..consumed);
            self.partial = buffer;
        }
        events
    }

    /// The body ended: an event without its closing blank line is dropped, as the spec says.
    /// The last event id is kept (it is what a reconnect resumes from).
    pub fn finish(&mut self) {
        *self = Self {
            last_id: self.last_id.take(),
            ..Self::default()
        };
    }

    /// The id a reconnecting client sends back (`Last-Event-ID`).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Decodes the complete lines at the start of `bytes`; returns how many bytes they took.
    fn take_lines(&mut self, bytes: &[u8], events: &mut Vec<SseEvent>) -> usize {
        let mut consumed = 0;
        while let Some(rest) = bytes.get(consumed..)
            && let Some(end) = find_line_end(rest)
        {
            let line_end = match (rest.get(end), rest.get(end + 1)) {
                (Some(b'\r'), Some(b'\n')) => 2,
                (Some(b'\r'), None) => {
                    self.after_cr = true;
                    1
                }
                _ => 1,
            };
            self.take_line(rest.get(..end).unwrap_or_default(), events);
            consumed += end + line_end;
        }
        consumed
    }

    fn take_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        let line = if self.past_first_line {
            line
        } else {
            self.past_first_line = true;
            line.strip_prefix(BOM).unwrap_or(line)
        };
        if line.is_empty() {
            match self.data.take() {
                Some(data) => events.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data,
                    id: self.last_id.clone(),
                }),
                None => self.event.clear(),
            }
            return;
        }
        let (field, value) = match line.iter().position(|byte| *byte == b':') {
            Some(colon) => {
                let value = line.get(colon + 1..).unwrap_or_default();
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (line.get(..colon).unwrap_or_default(), value)
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                let value = text(value);
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(&value);
                    }
                    None => self.data = Some(value.into_owned()),
                }
            }
            b"event" => {
                self.event.clear();
                self.event.push_str(&text(value));
            }
            // An id with a NUL is ignored, as the spec says.
            b"id" if !value.contains(&0) => {
                self.last_id = (!value.is_empty()).then(|| text(value).into_owned());
            }
            // A `:` comment (empty field name), `retry` and unknown fields: nothing to keep.
            _ => {}
        }
    }
}

/// `bytes` as text, checked in one pass; the lossy decoder only runs on invalid input.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The position of the first CR or LF. memchr's vectorised search: the lines are long JSON
/// payloads and this runs over every byte the provider sends (as fast as the one-byte search
/// the proxy had before, where a word-at-a-time search for two bytes was 25% slower).
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(b'\n', b'\r', bytes)
}

#[cfg(test)]
mod tests;
