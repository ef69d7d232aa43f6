//! Shared test harness: a fake upstream, a proxy on a free loopback port, SSE parsing, polling.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use ashley_fake_upstream::{FakeUpstream, Options};
use ashley_proxy::{AppState, Config, api::ChatEvent};
use serde_json::Value;

/// Recognisable so that any leak is easy to find.
pub const FAKE_KEY: &str = "sk-ashley-test-SECRET-0123456789abcdef";

pub struct Harness {
    pub fake: Option<FakeUpstream>,
    pub state: AppState,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
}

/// `/v1` for anyone and no daily budgets: these tests are about what the proxy answers;
/// `sign_in.rs` and `authorization.rs` are about who may ask, and how much.
/// The same as [`open_v1`] for a spawned `ashley-proxy`: `/v1` for anyone and no daily
/// budgets, for tests about what the proxy answers, not who may ask.
/// Titles stay the first words (no title calls), so that tests can count upstream requests.
pub const OPEN_PROXY_ARGS: [&str; 12] = [
    "--v1",
    "open",
    "--daily-messages",
    "0",
    "--daily-tokens",
    "0",
    "--guest-daily-messages",
    "0",
    "--guest-daily-tokens",
    "0",
    "--model-titles",
    "off",
];

pub fn open_v1() -> ashley_proxy::config::Accounts {
    ashley_proxy::config::Accounts {
        v1: ashley_proxy::config::V1Access::Open,
        quotas: ashley_proxy::config::Quotas {
            user: ashley_proxy::config::Limits {
                messages: 0,
                tokens: 0,
            },
            guest: ashley_proxy::config::Limits {
                messages: 0,
                tokens: 0,
            },
        },
        ..ashley_proxy::config::Accounts::default()
    }
}

/// A live-mode config against `fake`, tuned for fast tests (short retry waits, no rate limit,
/// no title calls: tests count the upstream's requests; `conversations.rs` turns them on).
pub fn live_config(fake: &FakeUpstream, data_dir: &std::path::Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        rate_limit_per_minute: 0,
        upstream_retry_base: Duration::from_millis(10),
        upstream_timeout: Duration::from_secs(5),
        demo_delay: Duration::ZERO,
        accounts: open_v1(),
        model_titles: false,
        ..Config::live(FAKE_KEY, &fake.base_url()).unwrap()
    }
}

/// A client that holds a guest's bearer token (as the desktop app does), so the sessions it
/// creates are its own.
pub async fn guest_client(addr: SocketAddr) -> reqwest::Client {
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = plain
        .post(format!("http://{addr}/api/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let guest: ashley_proxy::api::GuestToken = response.json().await.unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", guest.token)).unwrap(),
    );
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl Harness {
    /// Live mode against a fake upstream that expects [`FAKE_KEY`].
    pub async fn live() -> Self {
        Self::live_with(|config| config).await
    }

    pub async fn live_with(change: impl FnOnce(Config) -> Config) -> Self {
        let fake = FakeUpstream::start_with(Options {
            expected_key: Some(FAKE_KEY.to_owned()),
            ..Options::default()
        })
        .await
        .unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let config = change(live_config(&fake, data_dir.path()));
        Self::start(Some(fake), config, data_dir).await
    }

    /// Demo mode (no key), local moderation.
    pub async fn demo_with(change: impl FnOnce(Config) -> Config) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let config = change(Config {
            data_dir: data_dir.path().to_path_buf(),
            rate_limit_per_minute: 0,
            demo_delay: Duration::ZERO,
            accounts: open_v1(),
            ..Config::default()
        });
        Self::start(None, config, data_dir).await
    }

    pub async fn start(
        fake: Option<FakeUpstream>,
        config: Config,
        data_dir: tempfile::TempDir,
    ) -> Self {
        let state = AppState::new(config).unwrap();
        let addr = ashley_proxy::spawn_local(state.clone()).await.unwrap();
        Self {
            fake,
            state,
            addr,
            client: guest_client(addr).await,
            data_dir,
        }
    }

    pub fn fake(&self) -> &FakeUpstream {
        self.fake
            .as_ref()
            .expect("this harness has a fake upstream")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a conversation through `POST /api/conversations` (201).
    pub async fn new_conversation(&self) -> ashley_proxy::api::ConversationSummary {
        let response = self
            .client
            .post(self.url("/api/conversations"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Sends a message to a conversation as the Ashley persona and reads the whole event stream.
    pub async fn say(&self, conversation: &str, message: &str) -> Vec<ChatEvent> {
        let response = self
            .post_json(
                &format!("/api/conversations/{conversation}/messages"),
                &serde_json::json!({"persona": "ashley", "message": message}),
            )
            .await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        parse_events(&response.text().await.unwrap())
    }

    pub async fn new_session(&self) -> String {
        let response = self
            .client
            .post(self.url("/api/sessions"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["session_id"].as_str().unwrap().to_owned()
    }

    /// Sends a message and reads the whole event stream.
    pub async fn send(&self, session: &str, persona: &str, message: &str) -> Vec<ChatEvent> {
        let response = self
            .post_json(
                &format!("/api/sessions/{session}/messages"),
                &serde_json::json!({"persona": persona, "message": message}),
            )
            .await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        parse_events(&response.text().await.unwrap())
    }

    pub async fn history(&self, session: &str) -> ashley_proxy::api::History {
        let response = self.get(&format!("/api/sessions/{session}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// The status and the JSON error body of a refused request.
pub async fn error_of(
    response: reqwest::Response,
) -> (reqwest::StatusCode, ashley_proxy::api::ErrorResponse) {
    (response.status(), response.json().await.unwrap())
}

/// Parses `event: name` / `data: json` blocks into events, checking the name matches the type.
pub fn parse_events(text: &str) -> Vec<ChatEvent> {
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event: ") {
                name = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push_str(value);
            }
        }
        if data.is_empty() {
            continue;
        }
        let event: ChatEvent = serde_json::from_str(&data).unwrap();
        assert_eq!(name.as_deref(), Some(event.name()));
        events.push(event);
    }
    events
}

/// The `data:` payloads of an OpenAI-style stream.
pub fn data_lines(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|block| block.lines().find_map(|line| line.strip_prefix("data: ")))
        .map(str::to_owned)
        .collect()
}

pub fn reply_text(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Polls `check` until it returns `Some` or the deadline passes.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Where `make setup` installs llama-server, its model and the openai SDK (`python/`).
pub fn model_server_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    let tools = std::env::var_os("ASHLEY_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|dir| PathBuf::from(dir).join("ashley-tools"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/ashley-tools"))
        })
        .expect("HOME is set");
    tools.join("model-server")
}

/// `path`, which `make setup` installs; a clear failure naming the fix when it is missing.
pub fn installed(path: std::path::PathBuf) -> std::path::PathBuf {
    assert!(
        path.exists(),
        "{} is missing. `make setup` (scripts/setup.sh test) installs llama-server, SmolLM2-135M \
         and the openai SDK into {}",
        path.display(),
        model_server_dir().display()
    );
    path
}

/// Runs `script` (a Python file in tests/) with the openai SDK `make setup` installed, and
/// returns its stdout, or its stdout and stderr as the error when it exits non-zero.
pub async fn run_openai_sdk(script: &str, args: Vec<String>) -> Result<String, String> {
    let sdk = model_server_dir().join("python");
    installed(sdk.join("openai"));
    let mut command = std::process::Command::new("python3");
    command.arg(script).args(args).env("PYTHONPATH", &sdk);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("python3 must be on PATH (`make setup` installs the openai SDK with it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
