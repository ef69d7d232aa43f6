//! Issue 6.2: a generated corpus of more than 10,000 bad requests against a real listening proxy.
//!
//! Each request goes over its own raw TCP connection (`Connection: close`) so a dropped
//! connection, a hang or a half-written response is seen as such. The promises: no status of
//! 500 or above, every request answered completely, no panic anywhere in the process, every error
//! from the router a JSON body, no byte of the file beside the web bundle ever served, all
//! within a bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "common/random.rs"]
mod random;
mod reliability_support;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use random::SplitMix64;
use reliability_support::*;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// How a response is judged.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// The request reaches the router: errors must be JSON.
    Router,
    /// The HTTP framing itself is broken: the HTTP layer may answer 4xx without JSON.
    HttpLevel,
}

struct Case {
    category: &'static str,
    bytes: Vec<u8>,
    /// Send the request, then close our writing half (a body shorter than announced).
    half_close: bool,
    expect: Expect,
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n")
        .into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn json_post(path: &str, body: &[u8]) -> Vec<u8> {
    request("POST", path, &[("content-type", "application/json")], body)
}

fn router_case(category: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        category,
        bytes,
        half_close: false,
        expect: Expect::Router,
    }
}

fn http_case(category: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        category,
        bytes,
        half_close: false,
        expect: Expect::HttpLevel,
    }
}

/// Values of every JSON type, including extremes, for "wrong type" mutations.
fn value_pool() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(-9_223_372_036_854_775_808i64),
        json!(18_446_744_073_709_551_615u64),
        json!(""),
        json!(" "),
        json!("x"),
        json!("ashley"),
        json!("\u{0}\u{1}\u{1b}[31m"),
        json!("\u{202e}\u{feff}\u{fffd}"),
        json!([]),
        json!([1, 2]),
        json!({}),
        json!({"role": "user"}),
        json!([{"role": "user", "content": "hi"}]),
        json!("a".repeat(6000)),
    ]
}

/// Every route the proxy has, with a valid session id where one is needed.
fn routes(session: &str) -> Vec<String> {
    vec![
        "/".into(),
        "/healthz".into(),
        "/metrics".into(),
        "/api/personas".into(),
        "/api/sessions".into(),
        format!("/api/sessions/{session}"),
        format!("/api/sessions/{session}/messages"),
        format!("/api/sessions/{session}/regenerate"),
        "/api/status".into(),
        "/v1/models".into(),
        "/v1/models/ashley".into(),
        "/v1/chat/completions".into(),
        "/index.html".into(),
        "/assets/style.css".into(),
        "/chat/some/app/route".into(),
        "/api/nope".into(),
        "/v1/nope".into(),
    ]
}

const TRAVERSALS: &[&str] = &[
    "/../outside-secret.txt",
    "/../../outside-secret.txt",
    "/..%2foutside-secret.txt",
    "/%2e%2e/outside-secret.txt",
    "/%2e%2e%2foutside-secret.txt",
    "/%252e%252e/outside-secret.txt",
    "/..%5coutside-secret.txt",
    "/..\\outside-secret.txt",
    "/assets/../../outside-secret.txt",
    "/assets/%2e%2e/%2e%2e/outside-secret.txt",
    "/%c0%ae%c0%ae/outside-secret.txt",
    "/.%2e/outside-secret.txt",
    "//../outside-secret.txt",
    "/./../outside-secret.txt",
    "/index.html/../../outside-secret.txt",
    "/%00/../outside-secret.txt",
    "/outside-secret.txt",
    "/web/../outside-secret.txt",
    "/....//outside-secret.txt",
    "/..;/outside-secret.txt",
    "/etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/proc/self/environ",
    "/../../../../proc/self/environ",
    "/index.html%00.js",
    "/index.html%00",
    "/%ff%fe",
    "/assets/",
    "/assets",
    "/assets/./style.css",
    "/assets//style.css",
    "/ashley-0123456789abcdef.js.br",
    "/ashley-0123456789abcdef.js.gz",
    "/.git/config",
    "/.env",
    "/%2f%2f",
    "/a%",
    "/a%zz",
    "/%",
    "/~root",
    "/con",
    "/aux.js",
    "/*",
    "/?x=../../outside-secret.txt",
    "/index.html?../../outside-secret.txt",
    "/index.html#frag",
    "/\u{e9}t\u{e9}.html",
    "/%e2%80%ae.js",
];

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "M-SEARCH",
    "PROPFIND",
];

fn send_message_body(persona: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"persona": persona, "message": message})).unwrap()
}

fn completion_body(model: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"model": model, "messages": [{"role": "user", "content": message}]}))
        .unwrap()
}

/// Sets `path` (dot-separated keys, numbers index arrays) in `value` to `new`, adding a
/// missing last key to its object.
fn replaced(mut value: Value, path: &str, new: Value) -> Value {
    let pointer = format!("/{}", path.replace('.', "/"));
    if let Some(slot) = value.pointer_mut(&pointer) {
        *slot = new;
        return value;
    }
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = if parent.is_empty() {
        Some(&mut value)
    } else {
        value.pointer_mut(parent)
    };
    if let Some(object) = parent.and_then(Value::as_object_mut) {
        object.insert(key.to_owned(), new);
    }
    value
}

fn corpus(sessions: &[String]) -> Vec<Case> {
    let mut rng = SplitMix64(0x6173_686c_6579);
    let mut cases = Vec::new();
    let session = |rng: &mut SplitMix64| sessions[rng.below(sessions.len())].clone();
    let messages_path = |id: &str| format!("/api/sessions/{id}/messages");

    // Malformed JSON: every truncation and random byte flips of valid bodies.
    let valid_bodies = [
        send_message_body("ashley", "Hello there, how are you?"),
        completion_body("technical", "Explain TCP in one line"),
        serde_json::to_vec(&json!({"persona": "creative"})).unwrap(),
    ];
    for round in 0..2800 {
        let template = &valid_bodies[round % valid_bodies.len()];
        let mut body = template.clone();
        if round % 2 == 0 {
            body.truncate(rng.below(body.len()));
        } else {
            for _ in 0..=rng.below(4) {
                let at = rng.below(body.len());
                body[at] = *rng.pick(b"{}[]\",:\\ \x00\xff0aZ");
            }
        }
        let path = match round % 3 {
            0 => messages_path(&session(&mut rng)),
            1 => "/v1/chat/completions".to_owned(),
            _ => format!("/api/sessions/{}/regenerate", session(&mut rng)),
        };
        cases.push(router_case("malformed json", json_post(&path, &body)));
    }

    // Wrong types in every field.
    let pool = value_pool();
    let app_template = json!({"persona": "ashley", "message": "hi"});
    let v1_template = json!({
        "model": "ashley", "messages": [{"role": "user", "content": "hi"}], "stream": false,
        "stream_options": {"include_usage": true}, "temperature": 0.5, "max_tokens": 10,
        "max_completion_tokens": 10, "n": 1,
    });
    let app_fields = ["persona", "message"];
    let v1_fields = [
        "model",
        "messages",
        "messages.0",
        "messages.0.role",
        "messages.0.content",
        "stream",
        "stream_options",
        "stream_options.include_usage",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "tools",
        "unknown_field",
    ];
    for value in &pool {
        for field in app_fields {
            let body =
                serde_json::to_vec(&replaced(app_template.clone(), field, value.clone())).unwrap();
            cases.push(router_case(
                "wrong types",
                json_post(&messages_path(&session(&mut rng)), &body),
            ));
        }
        for field in v1_fields {
            let body =
                serde_json::to_vec(&replaced(v1_template.clone(), field, value.clone())).unwrap();
            cases.push(router_case(
                "wrong types",
                json_post("/v1/chat/completions", &body),
            ));
        }
    }
    for _ in 0..1200 {
        let (mut value, fields, path): (Value, &[&str], String) = if rng.below(2) == 0 {
            (
                app_template.clone(),
                &app_fields,
                messages_path(&session(&mut rng)),
            )
        } else {
            (
                v1_template.clone(),
                &v1_fields,
                "/v1/chat/completions".to_owned(),
            )
        };
        for _ in 0..=rng.below(3) {
            let field = *rng.pick(fields);
            value = replaced(value, field, rng.pick(&pool).clone());
        }
        // Keep accidental valid requests quick: the fake upstream answers them.
        let body = serde_json::to_vec(&value).unwrap();
        cases.push(router_case("wrong types", json_post(&path, &body)));
    }
    for top in [
        json!(null),
        json!([]),
        json!("x"),
        json!(1),
        json!([{"persona": "ashley", "message": "hi"}]),
    ] {
        cases.push(router_case(
            "wrong types",
            json_post(
                &messages_path(&sessions[0]),
                &serde_json::to_vec(&top).unwrap(),
            ),
        ));
        cases.push(router_case(
            "wrong types",
            json_post("/v1/chat/completions", &serde_json::to_vec(&top).unwrap()),
        ));
    }

    // Huge and deeply nested bodies.
    for size in [1024 * 1024 + 1, 2 * 1024 * 1024, 5 * 1024 * 1024] {
        let message = "a".repeat(size);
        cases.push(router_case(
            "huge",
            json_post(
                &messages_path(&sessions[0]),
                &send_message_body("ashley", &message),
            ),
        ));
        cases.push(router_case(
            "huge",
            json_post("/v1/chat/completions", &completion_body("ashley", &message)),
        ));
    }
    for depth in [64, 127, 128, 129, 1000, 10_000, 200_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        cases.push(router_case(
            "deeply nested",
            json_post("/v1/chat/completions", nested.as_bytes()),
        ));
        let in_field = format!("{{\"persona\":\"ashley\",\"message\":{nested}}}");
        cases.push(router_case(
            "deeply nested",
            json_post(&messages_path(&sessions[0]), in_field.as_bytes()),
        ));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        cases.push(router_case(
            "deeply nested",
            json_post("/v1/chat/completions", objects.as_bytes()),
        ));
    }
    let many_messages: Vec<Value> = (0..5000)
        .map(|n| json!({"role": "user", "content": format!("m{n}")}))
        .collect();
    let body = serde_json::to_vec(&json!({"model": "ashley", "messages": many_messages})).unwrap();
    cases.push(router_case(
        "huge",
        json_post("/v1/chat/completions", &body),
    ));

    // Invalid UTF-8 in bodies, paths and headers.
    let invalid: [&[u8]; 8] = [
        b"\xff",
        b"\xc3\x28",
        b"\xe2\x82",
        b"\xf0\x9f\x98",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\xf8\x88\x80\x80\x80",
        b"\x80",
    ];
    for round in 0..800 {
        let bad = invalid[round % invalid.len()];
        match round % 4 {
            0 => {
                let mut body = b"{\"persona\":\"ashley\",\"message\":\"hi ".to_vec();
                body.extend_from_slice(bad);
                body.extend_from_slice(b"\"}");
                cases.push(router_case(
                    "invalid utf-8",
                    json_post(&messages_path(&session(&mut rng)), &body),
                ));
            }
            1 => {
                let mut body = b"{\"model\":\"".to_vec();
                body.extend_from_slice(bad);
                body.extend_from_slice(b"\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
                cases.push(router_case(
                    "invalid utf-8",
                    json_post("/v1/chat/completions", &body),
                ));
            }
            2 => {
                let mut head = b"GET /".to_vec();
                head.extend_from_slice(bad);
                head.extend_from_slice(
                    b"x HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
                );
                cases.push(http_case("invalid utf-8", head));
            }
            _ => {
                let mut head = b"GET /api/personas HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nx-forwarded-for: 1.2.3.".to_vec();
                head.extend_from_slice(bad);
                head.extend_from_slice(b"\r\nuser-agent: ");
                head.extend_from_slice(bad);
                head.extend_from_slice(b"\r\n\r\n");
                cases.push(http_case("invalid utf-8", head));
            }
        }
    }
    for encoded in ["%ff", "%c3%28", "%ed%a0%80", "%80%80"] {
        for path in [
            format!("/api/sessions/{encoded}"),
            format!("/api/sessions/{encoded}/messages"),
            format!("/v1/models/{encoded}"),
            format!("/{encoded}.js"),
        ] {
            cases.push(router_case(
                "invalid utf-8",
                request("GET", &path, &[], b""),
            ));
            cases.push(router_case(
                "invalid utf-8",
                json_post(&path, &send_message_body("ashley", "hi")),
            ));
        }
    }

    // Control characters: escaped (valid JSON, so a real reply) and raw (invalid JSON).
    for code in (0u32..0x20).chain([0x7f, 0x85, 0x2028, 0x2029, 0xfeff]) {
        let ch = char::from_u32(code).unwrap();
        for (persona, text) in [
            ("ashley", format!("a{ch}b")),
            ("technical", format!("{ch}")),
            ("creative", ch.to_string().repeat(50)),
        ] {
            cases.push(router_case(
                "control chars",
                json_post(
                    &messages_path(&session(&mut rng)),
                    &send_message_body(persona, &text),
                ),
            ));
            cases.push(router_case(
                "control chars",
                json_post("/v1/chat/completions", &completion_body(persona, &text)),
            ));
        }
        let raw = format!("{{\"persona\":\"ashley\",\"message\":\"a{ch}b\"}}");
        cases.push(router_case(
            "control chars",
            json_post(&messages_path(&session(&mut rng)), raw.as_bytes()),
        ));
        // A raw control byte in the request line is broken HTTP; encoded, it reaches the router.
        cases.push(http_case(
            "control chars",
            json_post(
                &format!("/api/sessions/{}{ch}", sessions[0]),
                raw.as_bytes(),
            ),
        ));
        cases.push(router_case(
            "control chars",
            json_post(
                &format!("/api/sessions/{}%{:02x}", sessions[0], code % 0x80),
                raw.as_bytes(),
            ),
        ));
    }

    // Message lengths around the limit (in characters, not bytes).
    for (text, _) in [
        ("a".repeat(5000), "limit"),
        ("a".repeat(5001), "over"),
        ("\u{e9}".repeat(5001), "over, 2 bytes each"),
        ("\u{1f600}".repeat(5001), "over, 4 bytes each"),
        ("\u{1f600}".repeat(5000), "limit, 4 bytes each"),
        ("e\u{301}".repeat(2501), "combining marks"),
        (" ".repeat(5001), "spaces"),
        ("\n\t ".repeat(10), "whitespace only"),
        (String::new(), "empty"),
    ] {
        for _ in 0..20 {
            cases.push(router_case(
                "5001 chars",
                json_post(
                    &messages_path(&session(&mut rng)),
                    &send_message_body("ashley", &text),
                ),
            ));
            cases.push(router_case(
                "5001 chars",
                json_post("/v1/chat/completions", &completion_body("ashley", &text)),
            ));
        }
    }

    // Unknown personas and sessions.
    let personas = [
        "",
        " ",
        "Ashley",
        "ASHLEY",
        "ashley ",
        "nobody",
        "../ashley",
        "ashley\u{0}",
        "technical\n",
        "\u{1f600}",
        "gpt-4",
        "a".repeat(10_000).leak(),
    ];
    for _ in 0..1000 {
        let persona = *rng.pick(&personas);
        let case = match rng.below(6) {
            0 => json_post(
                &messages_path(&session(&mut rng)),
                &send_message_body(persona, "hi"),
            ),
            1 => json_post("/v1/chat/completions", &completion_body(persona, "hi")),
            2 => request("GET", &format!("/api/sessions/{}", rng.hex(40)), &[], b""),
            3 => json_post(
                &messages_path(&rng.hex(40)),
                &send_message_body("ashley", "hi"),
            ),
            4 => {
                let len = *rng.pick(&[0usize, 1, 39, 41, 64, 128, 4000]);
                request(
                    "DELETE",
                    &format!("/api/sessions/{}", rng.hex(len)),
                    &[],
                    b"",
                )
            }
            _ => request(
                "GET",
                &format!(
                    "/v1/models/{}",
                    rng.pick(&personas)
                        .replace(' ', "%20")
                        .replace('\n', "%0a")
                        .replace('\u{0}', "%00")
                ),
                &[],
                b"",
            ),
        };
        cases.push(router_case("unknown persona or session", case));
    }
    for odd in [
        "/api/sessions/",
        "/api/sessions//messages",
        "/api/sessions/%2e%2e/messages",
        "/api/sessions/../../etc/passwd",
        &format!("/api/sessions/{}", sessions[0].to_uppercase()),
    ] {
        cases.push(router_case(
            "unknown persona or session",
            json_post(odd, &send_message_body("ashley", "hi")),
        ));
    }

    // Path traversal and odd static paths, with every method that reads.
    for round in 0..1100 {
        let path = TRAVERSALS[round % TRAVERSALS.len()];
        let method = ["GET", "HEAD", "GET"][round % 3];
        let headers: &[(&str, &str)] = match round % 5 {
            0 => &[],
            1 => &[("accept-encoding", "br, gzip")],
            2 => &[("range", "bytes=5-2")],
            3 => &[("if-none-match", "\"garbage")],
            _ => &[("if-modified-since", "yesterday")],
        };
        cases.push(router_case(
            "static paths",
            request(method, path, headers, b""),
        ));
    }
    let long_path = format!("/{}", "a/".repeat(4000));
    cases.push(router_case(
        "static paths",
        request("GET", &long_path, &[], b""),
    ));
    cases.push(router_case(
        "static paths",
        request("GET", &format!("/{}.js", "x".repeat(7000)), &[], b""),
    ));

    // Every method on every route, with and without bodies.
    for round in 0..3 {
        for method in METHODS {
            for path in routes(&sessions[round % sessions.len()]) {
                let bytes = match round {
                    0 => request(method, &path, &[], b""),
                    1 => json_post(&path, &send_message_body("ashley", "hi"))
                        .splitn(2, |byte| *byte == b' ')
                        .nth(1)
                        .map(|rest| [method.as_bytes(), b" ", rest].concat())
                        .unwrap(),
                    _ => request(
                        method,
                        &path,
                        &[("content-type", "text/plain")],
                        b"plain text",
                    ),
                };
                cases.push(router_case("every method", bytes));
            }
        }
    }

    // Missing and lying headers.
    let good = send_message_body("ashley", "lying headers");
    for round in 0..1500 {
        let path = if round % 2 == 0 {
            messages_path(&session(&mut rng))
        } else {
            "/v1/chat/completions".to_owned()
        };
        let body = if round % 2 == 0 {
            good.clone()
        } else {
            completion_body("ashley", "lying headers")
        };
        let len = body.len().to_string();
        let case = match round % 15 {
            0 => router_case("headers", request("POST", &path, &[], &body)),
            1 => router_case(
                "headers",
                request("POST", &path, &[("content-type", "text/plain")], &body),
            ),
            2 => router_case(
                "headers",
                request(
                    "POST",
                    &path,
                    &[("content-type", "application/json; charset=utf-16")],
                    &body,
                ),
            ),
            3 => router_case(
                "headers",
                request(
                    "POST",
                    &path,
                    &[("content-type", "multipart/form-data; boundary=x")],
                    &body,
                ),
            ),
            4 => {
                // Announces more than it sends, then closes its half: the body ends early.
                let longer = (body.len() + 100).to_string();
                let mut case = router_case(
                    "headers",
                    request(
                        "POST",
                        &path,
                        &[
                            ("content-type", "application/json"),
                            ("content-length", &longer),
                        ],
                        &body,
                    ),
                );
                case.half_close = true;
                case
            }
            5 => {
                let shorter = (body.len() / 2).to_string();
                router_case(
                    "headers",
                    request(
                        "POST",
                        &path,
                        &[
                            ("content-type", "application/json"),
                            ("content-length", &shorter),
                        ],
                        &body,
                    ),
                )
            }
            6 => http_case(
                "headers",
                request(
                    "POST",
                    &path,
                    &[
                        ("content-type", "application/json"),
                        ("content-length", "abc"),
                    ],
                    &body,
                ),
            ),
            7 => http_case(
                "headers",
                request(
                    "POST",
                    &path,
                    &[
                        ("content-type", "application/json"),
                        ("content-length", "99999999999999999999999"),
                    ],
                    &body,
                ),
            ),
            8 => http_case(
                "headers",
                request(
                    "POST",
                    &path,
                    &[
                        ("content-type", "application/json"),
                        ("content-length", &len),
                        ("content-length", "3"),
                    ],
                    &body,
                ),
            ),
            9 => {
                let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
                chunked.extend_from_slice(&body);
                chunked.extend_from_slice(b"\r\nzz\r\n\r\n");
                http_case(
                    "headers",
                    request(
                        "POST",
                        &path,
                        &[
                            ("content-type", "application/json"),
                            ("transfer-encoding", "chunked"),
                        ],
                        &chunked,
                    ),
                )
            }
            10 => http_case(
                "headers",
                request(
                    "POST",
                    &path,
                    &[
                        ("content-type", "application/json"),
                        ("transfer-encoding", "chunked"),
                        ("content-length", &len),
                    ],
                    &body,
                ),
            ),
            11 => router_case(
                "headers",
                request(
                    "GET",
                    "/api/status",
                    &[(
                        "x-forwarded-for",
                        [
                            "",
                            ",",
                            "999.1.1.1",
                            "::::",
                            "1.1.1.1, nonsense, ::1",
                            "unknown",
                            &"1.2.3.4,".repeat(500),
                        ][round % 7],
                    )],
                    b"",
                ),
            ),
            12 => {
                let huge = "x".repeat(100 * 1024);
                http_case(
                    "headers",
                    request("GET", "/api/personas", &[("x-big", &huge)], b""),
                )
            }
            13 => {
                let mut bytes = b"POST ".to_vec();
                bytes.extend_from_slice(path.as_bytes());
                bytes.extend_from_slice(format!(" HTTP/1.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n").as_bytes());
                bytes.extend_from_slice(&body);
                router_case("headers", bytes)
            }
            _ => router_case(
                "headers",
                request(
                    "POST",
                    &path,
                    &[
                        ("content-type", "application/json"),
                        ("accept", "text/event-stream"),
                        ("accept-encoding", "identity;q=0, *;q=0"),
                        ("authorization", "Bearer sk-not-ours"),
                    ],
                    &body,
                ),
            ),
        };
        cases.push(case);
    }
    for garbage in [
        &b"GET\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00",
        b"GET / HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.0\r\n\r\n{}",
    ] {
        for _ in 0..5 {
            cases.push(http_case("broken http", garbage.to_vec()));
        }
    }
    cases
}

/// The parsed answer to one case; `Err` says why the connection counts as dropped.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn exchange(addr: SocketAddr, case: &Case) -> Result<Answer, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|err| format!("connect: {err}"))?;
    stream.set_nodelay(true).map_err(|err| err.to_string())?;
    let (mut reader, mut writer) = stream.into_split();
    let bytes = case.bytes.clone();
    let half_close = case.half_close;
    // Written concurrently with reading: a server that answers before reading a huge body must
    // still deliver its answer; write errors after that are expected.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&bytes).await;
        if half_close {
            let _ = writer.shutdown().await;
        }
        writer
    });
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let read_error = loop {
        match reader.read(&mut chunk).await {
            Ok(0) => break None,
            Ok(read) => received.extend_from_slice(&chunk[..read]),
            Err(err) => break Some(err.to_string()),
        }
    };
    drop(writing.await);
    let parsed = parse_response(&received, case.bytes.starts_with(b"HEAD "));
    match (parsed, read_error) {
        (Ok(answer), _) => Ok(answer),
        (Err(why), Some(err)) => Err(format!("{why}; read error: {err}")),
        (Err(why), None) => Err(why),
    }
}

/// `head`: the answer to a HEAD request, which has no body whatever its headers say.
fn parse_response(bytes: &[u8], head_request: bool) -> Result<Answer, String> {
    let head_end = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete response head in {} bytes", bytes.len()))?;
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let rest = &bytes[head_end + 4..];
    let body = if head_request || answer_has_no_body(status) {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|value| value.contains("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| "bad content-length in response".to_owned())?;
        if rest.len() < length {
            return Err(format!("body cut short: {} of {length} bytes", rest.len()));
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Answer {
        status,
        content_type: header("content-type").unwrap_or_default(),
        body,
    })
}

fn answer_has_no_body(status: u16) -> bool {
    status == 204 || status == 304 || (100..200).contains(&status)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("chunked body cut short")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err("chunked body cut short".to_owned());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Whether the answer is acceptable; `Err` describes the broken promise.
fn judge(case: &Case, answer: &Answer) -> Result<(), String> {
    if answer.status >= 500 {
        return Err(format!("status {}", answer.status));
    }
    if answer
        .body
        .windows(OUTSIDE_MARKER.len())
        .any(|window| window == OUTSIDE_MARKER.as_bytes())
    {
        return Err("served the file outside the web bundle".to_owned());
    }
    let is_head = case.bytes.starts_with(b"HEAD ");
    // A range the file cannot satisfy is the static file server's own 416, as browsers expect.
    let static_range = answer.status == 416 && !is_api_path(&case.bytes);
    if case.expect == Expect::Router && answer.status >= 400 && !is_head && !static_range {
        let parsed: Value = serde_json::from_slice(&answer.body).map_err(|err| {
            format!(
                "HTTP {} error body is not JSON ({err}): {:?}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )
        })?;
        if !answer.content_type.starts_with("application/json") {
            return Err(format!(
                "HTTP {} error with content type {:?}",
                answer.status, answer.content_type
            ));
        }
        let message = parsed
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if message.trim().is_empty() || parsed.pointer("/error/type").is_none() {
            return Err(format!(
                "HTTP {} error without message or type: {parsed}",
                answer.status
            ));
        }
    }
    Ok(())
}

/// The request line names one of the proxy's API routes (not the web bundle).
fn is_api_path(request: &[u8]) -> bool {
    let line = String::from_utf8_lossy(
        request
            .split(|byte| *byte == b'\r')
            .next()
            .unwrap_or_default(),
    )
    .into_owned();
    let path = line.split(' ').nth(1).unwrap_or_default();
    ["/api", "/v1", "/healthz", "/metrics"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

fn describe(case: &Case) -> String {
    let shown: String = String::from_utf8_lossy(&case.bytes)
        .chars()
        .take(300)
        .collect();
    format!("[{}] {shown:?}", case.category)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_bad_requests_get_4xx_json_and_never_a_5xx_a_drop_or_a_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let proxy = Proxy::live(|config| ashley_proxy::Config {
        // The limiter and X-Forwarded-For parsing run on every request, without refusing any.
        rate_limit_per_minute: 1_000_000,
        trusted_proxies: 1,
        upstream_timeout: Duration::from_secs(5),
        ..config
    })
    .await;
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(proxy.create_session().await);
    }
    let cases = Arc::new(corpus(&sessions));
    assert!(
        cases.len() >= 10_000,
        "the corpus has only {} requests",
        cases.len()
    );

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (cases, next, failures, statuses, addr) = (
            cases.clone(),
            next.clone(),
            failures.clone(),
            statuses.clone(),
            proxy.addr,
        );
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(index) else { return };
                let verdict =
                    match tokio::time::timeout(Duration::from_secs(20), exchange(addr, case)).await
                    {
                        Err(_) => Err("no complete answer within 20 s".to_owned()),
                        Ok(Err(why)) => Err(format!("dropped connection: {why}")),
                        Ok(Ok(answer)) => {
                            *statuses.lock().unwrap().entry(answer.status).or_default() += 1;
                            judge(case, &answer)
                        }
                    };
                if let Err(why) = verdict {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{why} <- {}", describe(case)));
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!(
        "bad-input corpus: {} requests in {elapsed:.1?}; statuses {:?}",
        cases.len(),
        statuses.lock().unwrap()
    );

    // The server is still healthy and still serves real conversations.
    let session = proxy.create_session().await;
    let reply = proxy.send(&session, "still there?").await;
    assert!(
        matches!(
            reply.last(),
            Some(ashley_proxy::api::ChatEvent::Done { .. })
        ),
        "{reply:?}"
    );

    let failures = failures.lock().unwrap();
    // One example per kind of failure (the text before the first digit-free cut), then the count.
    let mut kinds = BTreeMap::<String, (usize, &String)>::new();
    for failure in failures.iter() {
        let kind: String = failure
            .split(" <- ")
            .next()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
        kinds.entry(kind).or_insert((0, failure)).0 += 1;
    }
    let shown: Vec<String> = kinds
        .values()
        .map(|(count, example)| format!("{count} x {example}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests broke a promise; first ones:\n{shown:#?}",
        failures.len(),
        cases.len()
    );
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "the server panicked (see the output above)"
    );
    assert!(
        elapsed < Duration::from_secs(120),
        "the corpus took {elapsed:?}"
    );
}
