//! The decoder's unit tests: the proxy's cases (provider streams) and the app's (WHATWG rules).
#![allow(clippy::indexing_slicing)]

use super::*;

fn event(name: &str, data: &str) -> SseEvent {
    SseEvent {
        event: name.into(),
        data: data.into(),
        id: None,
    }
}

fn data(events: Vec<SseEvent>) -> Vec<String> {
    events.into_iter().map(|event| event.data).collect()
}

fn decode_in_pieces(body: &[u8], piece: usize) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    body.chunks(piece).flat_map(|c| decoder.push(c)).collect()
}

#[test]
fn events_split_across_reads_and_crlf_are_decoded() {
    let mut decoder = SseDecoder::default();
    assert!(decoder.push(b"data: {\"a\"").is_empty());
    assert_eq!(
        data(decoder.push(b":1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n")),
        ["{\"a\":1}"]
    );
    assert_eq!(data(decoder.push(b"\n")), ["[DONE]"]);
    assert_eq!(data(decoder.push(b"data: x\ndata: y\n\n")), ["x\ny"]);
}

#[test]
fn invalid_utf8_is_replaced_and_a_tail_waits_for_its_line() {
    let mut decoder = SseDecoder::default();
    assert_eq!(
        data(decoder.push(b"data: a\xffb\n\ndata: par")),
        ["a\u{fffd}b"]
    );
    assert!(decoder.push(b"t").is_empty());
    assert_eq!(data(decoder.push(b"ial\r\n\r\n")), ["partial"]);
}

#[test]
fn line_ends_are_found_at_every_offset() {
    for end in [b'\n', b'\r'] {
        for len in 0..40 {
            let mut bytes = vec![b'x'; len];
            assert_eq!(find_line_end(&bytes), None);
            for at in 0..len {
                bytes.fill(b'x');
                bytes[at] = end;
                if at + 3 < len {
                    bytes[at + 3] = b'\n';
                }
                // Bytes one away from LF and CR (0x0b, 0x0c, 0x0e) and high bytes must not match.
                if at > 0 {
                    bytes[at - 1] = [0x0b, 0x0c, 0x0e, 0x8a, 0x8d][at % 5];
                }
                assert_eq!(find_line_end(&bytes), Some(at), "len {len} at {at}");
            }
        }
    }
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
    // Only at the very start: later it is part of the text (here, of a field name).
    let late = "data: a\n\n\u{feff}data: b\n\n".as_bytes();
    assert_eq!(decode_in_pieces(late, 2), vec![event("", "a")]);
}

#[test]
fn comments_and_events_without_data_emit_nothing() {
    assert!(decode_in_pieces(b": keep-alive\n\nevent: ping\n\n", 3).is_empty());
    // The name of an event without data does not leak into the next one.
    assert_eq!(
        decode_in_pieces(b"event: ping\n\ndata: x\n\n", 1),
        vec![event("", "x")]
    );
}

#[test]
fn an_unterminated_event_is_not_emitted() {
    let mut decoder = SseDecoder::new();
    assert!(decoder.push(b"id: 4\nevent: delta\ndata: half").is_empty());
    decoder.finish();
    assert!(decoder.push(b"\n\n").is_empty());
    assert_eq!(decoder.last_event_id(), Some("4"), "kept for a reconnect");
}

#[test]
fn only_one_leading_space_is_stripped_from_values() {
    assert_eq!(
        decode_in_pieces(b"data:  two spaces\ndata\n\n", 5),
        vec![event("", " two spaces\n")]
    );
}

#[test]
fn an_id_stays_in_force_until_replaced_or_cleared() {
    let body = b"id: 7\ndata: a\n\ndata: b\n\nid:8\ndata: c\n\nid\ndata: d\n\nid: 9\0\ndata: e\n\n";
    let ids: Vec<Option<String>> = decode_in_pieces(body, 3)
        .into_iter()
        .map(|event| event.id)
        .collect();
    assert_eq!(
        ids,
        [
            Some("7".into()),
            Some("7".into()),
            Some("8".into()),
            None,
            None // an id with a NUL is ignored
        ]
    );
}

#[test]
fn a_crlf_split_between_reads_ends_one_line() {
    let mut decoder = SseDecoder::new();
    assert!(decoder.push(b"data: x\r").is_empty());
    assert!(
        decoder.push(b"").is_empty(),
        "an empty read changes nothing"
    );
    // The LF completes the CR; then a CR alone ends the blank line.
    assert_eq!(data(decoder.push(b"\n\r")), ["x"]);
    assert_eq!(data(decoder.push(b"\ndata: y\n\n")), ["y"]);
}
