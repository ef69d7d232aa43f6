//! A small incremental decoder for the `data:` lines of a server-sent event stream.

use std::borrow::Cow;

/// Feeds bytes in, takes complete event payloads out. Handles `\n` and `\r\n`, payloads split
/// across reads, multi-line `data:` fields and comment lines.
#[derive(Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    data: Option<String>,
}

impl SseDecoder {
    /// Appends `bytes` and returns the data of every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        if self.buffer.is_empty() {
            // The usual case: whole lines straight from the read, only a cut-off tail is kept.
            let consumed = self.take_lines(bytes, &mut events);
            self.buffer
                .extend_from_slice(bytes.get(consumed..).unwrap_or_default());
        } else {
            let mut buffer = std::mem::take(&mut self.buffer);
            buffer.extend_from_slice(bytes);
            let consumed = self.take_lines(&buffer, &mut events);
            buffer.drain(..consumed);
            self.buffer = buffer;
        }
        events
    }

    /// Decodes the complete lines at the start of `bytes`; returns how many bytes they took.
    fn take_lines(&mut self, bytes: &[u8], events: &mut Vec<String>) -> usize {
        let mut consumed = 0;
        while let Some(newline) = bytes.get(consumed..).and_then(find_newline) {
            let end = consumed + newline;
            let line = bytes.get(consumed..end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            consumed = end + 1;
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    events.push(data);
                }
                continue;
            }
            if let Some(value) = line.strip_prefix(b"data:") {
                let value = value.strip_prefix(b" ").unwrap_or(value);
                // Checked as UTF-8 in one pass; the lossy decoder only runs on invalid input.
                let value = match std::str::from_utf8(value) {
                    Ok(text) => Cow::Borrowed(text),
                    Err(_) => String::from_utf8_lossy(value),
                };
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(&value);
                    }
                    None => self.data = Some(value.into_owned()),
                }
            }
            // `event:`, `id:`, `retry:` and `:` comments carry nothing the proxy needs.
        }
        consumed
    }
}

/// The position of the first `\n`, eight bytes at a time: the lines are long JSON payloads
/// and this runs over every byte the upstream sends.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut words = bytes.chunks_exact(8);
    let mut skipped = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default());
        // Zero bytes of `word ^ NEWLINES` are newlines; this is non-zero exactly when one is.
        let matches = word ^ NEWLINES;
        if matches.wrapping_sub(ONES) & !matches & HIGH_BITS != 0 {
            break;
        }
        skipped += 8;
    }
    let rest = bytes.get(skipped..)?;
    rest.iter()
        .position(|byte| *byte == b'\n')
        .map(|at| skipped + at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn events_split_across_reads_and_crlf_are_decoded() {
        let mut decoder = SseDecoder::default();
        assert!(decoder.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            decoder.push(b":1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n"),
            ["{\"a\":1}"]
        );
        assert_eq!(decoder.push(b"\n"), ["[DONE]"]);
        assert_eq!(decoder.push(b"data: x\ndata: y\n\n"), ["x\ny"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_a_tail_waits_for_its_line() {
        let mut decoder = SseDecoder::default();
        assert_eq!(decoder.push(b"data: a\xffb\n\ndata: par"), ["a\u{fffd}b"]);
        assert!(decoder.push(b"t").is_empty());
        assert_eq!(decoder.push(b"ial\r\n\r\n"), ["partial"]);
    }

    #[test]
    fn newlines_are_found_at_every_offset() {
        for len in 0..40 {
            let mut bytes = vec![b'x'; len];
            assert_eq!(find_newline(&bytes), None);
            for at in 0..len {
                bytes.fill(b'x');
                bytes[at] = b'\n';
                if at + 3 < len {
                    bytes[at + 3] = b'\n';
                }
                // Bytes one away from `\n` (0x0b, 0x09) and high bytes must not match.
                if at > 0 {
                    bytes[at - 1] = if at % 2 == 0 { 0x0b } else { 0x8a };
                }
                assert_eq!(find_newline(&bytes), Some(at), "len {len} at {at}");
            }
        }
    }
}
