//! A server-sent events decoder that accepts the body in chunks split anywhere.

/// One decoded event: the `event:` name (empty when absent) and its `data:` lines joined by `\n`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

/// Incremental decoder for `text/event-stream` (the WHATWG rules the app needs: `event`,
/// multi-line `data`, comments, LF/CR/CRLF line ends, a BOM, chunk boundaries anywhere,
/// including inside a UTF-8 character or between the CR and LF of one line end).
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the line being received (kept as bytes so a split UTF-8 character survives).
    line: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF in the next chunk belongs to it.
    after_cr: bool,
    /// A line has ended: a byte-order mark can only open the first one.
    past_first_line: bool,
    name: String,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the body and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events);
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// The body ended: an event without its closing blank line is dropped, as the spec says.
    pub fn finish(&mut self) {
        *self = Self::default();
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        // The BOM is stripped here, not on arrival, so a chunk boundary inside it is harmless.
        let bytes = if self.past_first_line {
            self.line.as_slice()
        } else {
            self.past_first_line = true;
            let bom = "\u{feff}".as_bytes();
            self.line.strip_prefix(bom).unwrap_or(&self.line)
        };
        let line = String::from_utf8_lossy(bytes).into_owned();
        self.line.clear();
        if line.is_empty() {
            if self.has_data {
                events.push(SseEvent {
                    name: std::mem::take(&mut self.name),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.name.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.name),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // `id`, `retry` and unknown fields: the app does not reconnect by itself.
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            name: name.into(),
            data: data.into(),
        }
    }

    fn decode_in_pieces(body: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        body.chunks(piece).flat_map(|c| decoder.push(c)).collect()
    }

    #[test]
    fn decodes_named_events_with_json_data() {
        let body = b"event: delta\ndata: {\"text\":\"hi\"}\n\nevent: done\ndata: {}\n\n";
        assert_eq!(
            decode_in_pieces(body, body.len()),
            vec![event("delta", "{\"text\":\"hi\"}"), event("done", "{}")]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let body = "\u{feff}: comment\r\nevent: delta\r\ndata: caf\u{e9} \u{1f600}\r\ndata: line two\r\n\r\nevent:x\rdata:y\r\rdata: z\n\n"
            .as_bytes();
        let whole = decode_in_pieces(body, body.len());
        assert_eq!(
            whole,
            vec![
                event("delta", "caf\u{e9} \u{1f600}\nline two"),
                event("x", "y"),
                event("", "z"),
            ]
        );
        for piece in 1..body.len() {
            assert_eq!(
                decode_in_pieces(body, piece),
                whole,
                "pieces of {piece} bytes"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_split_across_chunks_is_still_stripped() {
        let body = "\u{feff}event: delta\ndata: x\n\n".as_bytes();
        for piece in 1..=4 {
            assert_eq!(decode_in_pieces(body, piece), vec![event("delta", "x")]);
        }
        // Only at the very start: later it is part of the text.
        let late = "data: a\n\n\u{feff}data: b\n\n".as_bytes();
        assert_eq!(decode_in_pieces(late, 2), vec![event("", "a")]);
    }

    #[test]
    fn comments_and_events_without_data_emit_nothing() {
        assert!(decode_in_pieces(b": keep-alive\n\nevent: ping\n\n", 3).is_empty());
    }

    #[test]
    fn an_unterminated_event_is_not_emitted() {
        let mut decoder = SseDecoder::new();
        assert!(decoder.push(b"event: delta\ndata: half").is_empty());
        decoder.finish();
        assert!(decoder.push(b"\n\n").is_empty());
    }

    #[test]
    fn only_one_leading_space_is_stripped_from_values() {
        assert_eq!(
            decode_in_pieces(b"data:  two spaces\ndata\n\n", 5),
            vec![event("", " two spaces\n")]
        );
    }
}
