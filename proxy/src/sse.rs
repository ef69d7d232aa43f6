//! A small incremental decoder for the `data:` lines of a server-sent event stream.

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
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut consumed = 0;
        while let Some(newline) = self
            .buffer
            .get(consumed..)
            .and_then(|rest| rest.iter().position(|byte| *byte == b'\n'))
        {
            let end = consumed + newline;
            let line = self.buffer.get(consumed..end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = String::from_utf8_lossy(line);
            consumed = end + 1;
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    events.push(data);
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
            // `event:`, `id:`, `retry:` and `:` comments carry nothing the proxy needs.
        }
        self.buffer.drain(..consumed);
        events
    }
}

#[cfg(test)]
mod tests {
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
}
