//! Issue 6.5: with a recognisable key configured, no response, header, log line (debug and below) or bundle file carries it.
//!
//! Two runs of the same tour of every endpoint and fault: one in-process with a TRACE-level
//! tracing subscriber capturing every event (hyper's and reqwest's included), one through the
//! real binary with `RUST_LOG=debug` and a log file. The chat upstream is hostile: it echoes
//! the `Authorization` it receives into its error messages, an error code, a response header
//! and a mid-stream error chunk. Clients also send the key themselves in `Authorization`, which
//! must not be logged either. Then the built web bundle (dist/) is searched for key-shaped text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod reliability_support;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use reliability_support::*;

/// Every form the key could leak in: whole, without its prefix, with punctuation stripped.
const NEEDLES: &[&str] = &[KEY, KEY_TAIL, "7f3a9c51e2d84b60", "LEAKCANARY"];

fn find_leaks(haystack: &str, place: &str) -> Vec<String> {
    NEEDLES
        .iter()
        .filter_map(|needle| {
            haystack.find(needle).map(|at| {
                let start = haystack.floor_char_boundary(at.saturating_sub(120));
                let end = haystack.ceil_char_boundary((at + 120).min(haystack.len()));
                format!("{place}: {needle:?} in …{}…", &haystack[start..end])
            })
        })
        .collect()
}

/// The hostile chat upstream's answer: key echoes by magic word, a good reply otherwise.
fn hostile_script(request: &str) -> Vec<Step> {
    let authorization = request
        .lines()
        .find_map(|line| {
            line.strip_prefix("authorization: ")
                .or_else(|| line.strip_prefix("Authorization: "))
        })
        .unwrap_or("none")
        .trim()
        .to_owned();
    let echo_header = format!("x-upstream-saw: {authorization}\r\n");
    let json = |status: &str, body: String| {
        Step::text(&format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{echo_header}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    let error_body = |code: &str| {
        serde_json::json!({"error": {"message": format!("Invalid API key provided: {authorization}"), "type": "invalid_request_error", "param": null, "code": code}}).to_string()
    };
    if request.contains("[[echo-401]]") {
        return vec![json("401 Unauthorized", error_body("invalid_api_key"))];
    }
    if request.contains("[[echo-500]]") {
        return vec![json(
            "500 Internal Server Error",
            error_body("server_error"),
        )];
    }
    if request.contains("[[echo-code]]") {
        return vec![json("400 Bad Request", error_body(&authorization))];
    }
    let streaming = request.contains("\"stream\":true");
    let head = Step::text(&format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{echo_header}connection: close\r\n\r\n"
    ));
    if request.contains("[[echo-stream]]") {
        let error = format!("data: {}\n\n", error_body("invalid_api_key"));
        return vec![head, sse_chunk("Hi"), Step::text(&error)];
    }
    if streaming {
        let finish = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        return vec![
            head,
            sse_chunk("Hello"),
            sse_chunk(" there"),
            Step::text(finish),
        ];
    }
    vec![json(
        "200 OK",
        "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\"},\"finish_reason\":\"stop\"}]}".to_owned(),
    )]
}

/// Visits every endpoint and fault; returns every response as `status, headers, body` text.
async fn tour(addr: SocketAddr) -> Vec<String> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{addr}");
    let mut transcripts = Vec::new();
    let mut record = async |response: reqwest::Response| {
        let mut text = format!("{} {:?}\n", response.status(), response.headers());
        let body = tokio::time::timeout(Duration::from_secs(20), response.bytes()).await;
        text.push_str(&String::from_utf8_lossy(
            &body.ok().and_then(Result::ok).unwrap_or_default(),
        ));
        transcripts.push(text);
    };
    // The key sent by a client must not be logged (Authorization headers never are).
    let with_key =
        |request: reqwest::RequestBuilder| request.header("authorization", format!("Bearer {KEY}"));
    for path in [
        "/healthz",
        "/metrics",
        "/api/status",
        "/api/personas",
        "/v1/models",
        "/v1/models/ashley",
        "/v1/models/nope",
        "/",
        "/index.html",
        "/nope.js",
        "/api/nope",
        "/chat/route",
    ] {
        record(
            with_key(client.get(format!("{base}{path}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
    }
    let created = with_key(client.post(format!("{base}/api/sessions")))
        .send()
        .await
        .unwrap();
    let session: serde_json::Value = created.json().await.unwrap();
    let session = session["session_id"].as_str().unwrap().to_owned();
    let messages = [
        "hello",
        "[[flag]] please",
        "[[moderation-error]] check",
        "[[echo-401]]",
        "[[echo-500]]",
        "[[echo-code]]",
        "[[echo-stream]]",
        "bye",
    ];
    for message in messages {
        let url = format!("{base}/api/sessions/{session}/messages");
        let body = serde_json::json!({"persona": "ashley", "message": message});
        record(with_key(client.post(url)).json(&body).send().await.unwrap()).await;
    }
    let regenerate = serde_json::json!({"persona": "technical"});
    record(
        client
            .post(format!("{base}/api/sessions/{session}/regenerate"))
            .json(&regenerate)
            .send()
            .await
            .unwrap(),
    )
    .await;
    record(
        client
            .get(format!("{base}/api/sessions/{session}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for message in messages {
        for stream in [false, true] {
            let body = v1_body(message, stream);
            record(
                with_key(client.post(format!("{base}/v1/chat/completions")))
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
        }
    }
    record(
        client
            .post(format!("{base}/v1/chat/completions"))
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    record(
        client
            .delete(format!("{base}/api/sessions/{session}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    record(
        client
            .get(format!("{base}/api/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    record(client.get(format!("{base}/metrics")).send().await.unwrap()).await;
    transcripts
}

/// Every file under `dir`, as lossy text (SQLite files, logs).
fn files_text(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    found
}

#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_every_response_and_trace_level_event_is_free_of_the_key() {
    let captured = Captured(Arc::new(Mutex::new(Vec::new())));
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();
    let hostile = ScriptedUpstream::start_with(hostile_script).await;
    let proxy = Proxy::live_at(start_fake().await, &hostile.base_url(), |config| {
        ashley_proxy::Config {
            upstream_timeout: Duration::from_secs(5),
            ..config
        }
    })
    .await;
    tracing::info!("secrets canary: the capture works");
    let transcripts = tour(proxy.addr).await;
    // The hostile upstream really was called with the key (else the test proves nothing).
    assert!(
        hostile
            .heads
            .lock()
            .unwrap()
            .iter()
            .any(|head| head.contains(KEY)),
        "the upstream never saw the key"
    );
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("secrets canary"),
        "the log capture is not working"
    );
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "no debug-level events were captured"
    );
    let mut leaks = Vec::new();
    for (index, transcript) in transcripts.iter().enumerate() {
        leaks.extend(find_leaks(transcript, &format!("response {index}")));
    }
    leaks.extend(find_leaks(&logs, "in-process trace log"));
    for (path, text) in files_text(proxy.dir.path()) {
        leaks.extend(find_leaks(&text, &path));
    }
    eprintln!(
        "secrets (in-process): {} responses, {} log bytes scanned",
        transcripts.len(),
        logs.len()
    );
    assert!(
        leaks.is_empty(),
        "the key leaked {} times:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_at_debug_level_logs_and_answers_without_the_key() {
    let hostile = ScriptedUpstream::start_with(hostile_script).await;
    let fake = start_fake().await;
    let dir = tempfile::tempdir().unwrap();
    write_web_bundle(dir.path());
    let log_file = dir.path().join("proxy.log");
    let process = ProxyProcess::start(&[
        ("OPENAI_API_KEY", KEY.to_owned()),
        ("OPENAI_BASE_URL", hostile.base_url()),
        ("ASHLEY_MODERATION_BASE_URL", fake.base_url()),
        (
            "ASHLEY_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        (
            "ASHLEY_WEB_DIR",
            dir.path().join("web").display().to_string(),
        ),
        ("ASHLEY_RATE_LIMIT", "0".to_owned()),
        ("ASHLEY_UPSTREAM_RETRY_BASE_MS", "10".to_owned()),
        ("ASHLEY_UPSTREAM_TIMEOUT_SECS", "5".to_owned()),
        ("ASHLEY_LOG_FILE", log_file.display().to_string()),
        ("ASHLEY_LOG", "debug".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
    ]);
    let transcripts = tour(process.addr).await;
    assert!(
        hostile
            .heads
            .lock()
            .unwrap()
            .iter()
            .any(|head| head.contains(KEY)),
        "the upstream never saw the key"
    );
    // Let the last log lines reach the pipe and the file.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stderr = process.log_text();
    assert!(
        stderr.contains("DEBUG"),
        "RUST_LOG=debug produced no debug lines: {stderr}"
    );
    let mut leaks = Vec::new();
    for (index, transcript) in transcripts.iter().enumerate() {
        leaks.extend(find_leaks(transcript, &format!("response {index}")));
    }
    leaks.extend(find_leaks(&stderr, "stderr (RUST_LOG=debug)"));
    for (path, text) in files_text(dir.path()) {
        leaks.extend(find_leaks(&text, &path));
    }
    eprintln!(
        "secrets (binary): {} responses, {} stderr lines, log file {} bytes scanned",
        transcripts.len(),
        stderr.lines().count(),
        std::fs::metadata(&log_file)
            .map(|meta| meta.len())
            .unwrap_or(0)
    );
    assert!(
        leaks.is_empty(),
        "the key leaked {} times:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    drop(process);
}

/// `prefix` followed by at least `min` key characters, not preceded by a word character.
fn key_shaped(text: &[u8], prefix: &[u8], min: usize) -> Option<String> {
    let key_char = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
    let mut from = 0;
    while let Some(at) = text[from..]
        .windows(prefix.len())
        .position(|window| window == prefix)
    {
        let start = from + at;
        let body_len = text[start + prefix.len()..]
            .iter()
            .take_while(|byte| key_char(**byte))
            .count();
        let preceded = start > 0 && key_char(text[start - 1]);
        if !preceded && body_len >= min {
            let end = (start + prefix.len() + body_len).min(start + 60);
            return Some(String::from_utf8_lossy(&text[start..end]).into_owned());
        }
        from = start + 1;
    }
    None
}

#[test]
fn the_built_web_bundle_holds_no_key() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    if !dist.join("index.html").exists() {
        eprintln!(
            "\n!!!!!!!! SKIPPED: {} has no built bundle, so the web bundle was NOT scanned for keys. \
             `make test` builds it first (scripts/build-web.sh). !!!!!!!!\n",
            dist.display()
        );
        return;
    }
    let mut exact: Vec<String> = NEEDLES.iter().map(|needle| (*needle).to_owned()).collect();
    for name in ["OPENAI_API_KEY", "HF_TOKEN"] {
        if let Ok(value) = std::env::var(name)
            && value.trim().len() >= 8
        {
            exact.push(value.trim().to_owned());
        }
    }
    let mut leaks = Vec::new();
    let mut scanned = 0;
    for entry in walk(&dist) {
        // The .br/.gz files are compressed copies of files scanned in the clear.
        if entry
            .extension()
            .is_some_and(|ext| ext == "br" || ext == "gz")
        {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap();
        scanned += bytes.len();
        for needle in &exact {
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                leaks.push(format!("{}: a configured key", entry.display()));
            }
        }
        for (prefix, min) in [
            (&b"sk-"[..], 20),
            (b"sk-proj-", 20),
            (b"hf_", 30),
            (b"Bearer sk-", 8),
        ] {
            if let Some(found) = key_shaped(&bytes, prefix, min) {
                leaks.push(format!("{}: key-shaped text {found:?}", entry.display()));
            }
        }
    }
    eprintln!(
        "secrets (bundle): {scanned} bytes in {} scanned",
        dist.display()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
