//! Gateway benchmark: added latency and TTFT over a direct upstream call, what a signed-in
//! request or a personal API key costs over a guest or an open call, throughput, idle RSS,
//! startup time.
//!
//! Run with `cargo bench -p ashley-proxy --bench gateway`. It starts the release `ashley-proxy`
//! binary against an in-process fake upstream on loopback (both with TCP_NODELAY), warms the
//! moderation cache, and prints a table. Environment knobs: `GATEWAY_ITERATIONS` (latency
//! samples, default 2000), `GATEWAY_SECONDS` (seconds per throughput step, default 4).
//!
//! The direct call sends the fake exactly what the proxy sends it (the persona's system prompt,
//! temperature, max_tokens, `stream_options`), so the difference is the proxy alone. Both the
//! OpenAI-compatible path and the app's SSE path (a fresh session per sample, created outside
//! the timing, so the context is the same two messages) are measured.
//!
//! Credentials: the same request, alternating between two callers: `GET /api/me` with a guest's
//! bearer token (from `POST /api/auth/guest`, as the desktop app gets one) and with a signed-in
//! user's (made in the store before the proxy starts, as a sign-in would); `GET /v1/models` and
//! the non-streamed completion with no key (`ASHLEY_V1=open`) and with the user's personal key
//! (`sk-ashley-...`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

use std::{
    net::{SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use ashley_fake_upstream::{FakeUpstream, Options};
use ashley_proxy::{
    accounts::{Token, keys},
    store::{self, CredentialKind, NewCredential, SignedIn, UserProfile, now_ms},
};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

const KEY: &str = "bench-only-fake-key-not-a-secret";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proxy {
    child: Child,
    addr: SocketAddr,
    /// A guest's bearer token, for the app API.
    guest_token: String,
    _data: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns the release binary on `data` and returns it with the time to its first `/healthz` 200.
async fn spawn_proxy(
    upstream: &str,
    client: &reqwest::Client,
    data: tempfile::TempDir,
) -> (Proxy, Duration) {
    let port = free_port();
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_ashley-proxy"))
        .env_clear()
        .env("OPENAI_API_KEY", KEY)
        .env("OPENAI_BASE_URL", upstream)
        .env("ASHLEY_HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("ASHLEY_DATA_DIR", data.path())
        .env("ASHLEY_WEB_DIR", data.path())
        .env("ASHLEY_RATE_LIMIT", "0")
        // Anyone may call `/v1` (the figures are comparable across releases; the key check's
        // cost is its own row).
        .env("ASHLEY_V1", "open")
        // Budgets no benchmark reaches, so every turn is checked against one as by default
        // (with none at all the check is skipped).
        .env("ASHLEY_GUEST_DAILY_MESSAGES", "1000000000")
        .env("ASHLEY_GUEST_DAILY_TOKENS", "1000000000000")
        .env("ASHLEY_DAILY_MESSAGES", "1000000000")
        .env("ASHLEY_DAILY_TOKENS", "1000000000000")
        // The default level, as deployed; the log goes to a file so the table stays readable.
        .env("ASHLEY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.path().join("proxy.log")).unwrap())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let health = format!("http://{addr}/healthz");
    loop {
        if let Ok(response) = client.get(&health).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the proxy did not start: {}",
            std::fs::read_to_string(data.path().join("proxy.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let elapsed = started.elapsed();
    let guest: Value = client
        .post(format!("http://{addr}/api/auth/guest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        Proxy {
            child,
            addr,
            guest_token: guest["token"].as_str().unwrap().to_owned(),
            _data: data,
        },
        elapsed,
    )
}

/// A signed-in user's credentials, as the proxy would have issued them.
struct User {
    /// The desktop app's bearer token after sign-in.
    bearer: String,
    /// A personal `/v1` key (`sk-ashley-...`).
    api_key: String,
}

/// Makes a user in the store under `data_dir` (before the proxy opens it) with a bearer token
/// and a personal API key, stored as the sign-in and `POST /api/keys` store them.
async fn seed_user(data_dir: &std::path::Path) -> User {
    let store = store::open(data_dir, None).unwrap();
    let bearer = Token::generate().unwrap();
    let profile = UserProfile {
        issuer: "https://sign-in.bench.invalid".to_owned(),
        subject: "bench-user".to_owned(),
        name: Some("Bench User".to_owned()),
        email: Some("bench@bench.invalid".to_owned()),
        ..UserProfile::default()
    };
    let credential = NewCredential {
        token: bearer.hash(),
        kind: CredentialKind::Bearer,
        name: None,
        expires_at_ms: now_ms() + 30 * 24 * 3600 * 1000,
    };
    let SignedIn::Account(user) = store.sign_in_user(profile, None, credential).await.unwrap()
    else {
        panic!("the bench user is blocked");
    };
    let (api_key, hash) = keys::generate().unwrap();
    let key = NewCredential {
        token: hash,
        kind: CredentialKind::ApiKey,
        name: Some("bench".to_owned()),
        expires_at_ms: i64::MAX,
    };
    store.issue_credential(user, key).await.unwrap();
    User {
        bearer: bearer.expose().to_owned(),
        api_key,
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One streamed call: (time to the first content chunk, time to the end marker: `[DONE]`,
/// or the app's `done` event).
async fn streamed_call(
    client: &reqwest::Client,
    url: &str,
    bearer: &str,
    body: &Value,
    end: &str,
) -> (Duration, Duration) {
    let started = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(bearer)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut ttft = None;
    let mut tail = Vec::new();
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.unwrap();
        if ttft.is_none() && bytes.windows(4).any(|w| w == b"\"w1\"") {
            ttft = Some(started.elapsed());
        }
        tail.extend_from_slice(&bytes);
        if tail.len() > 512 {
            tail.drain(..tail.len() - 512);
        }
    }
    assert!(
        String::from_utf8_lossy(&tail).contains(end),
        "{url}: no {end} at the end"
    );
    (ttft.unwrap_or_else(|| started.elapsed()), started.elapsed())
}

struct LatencyRow {
    ttft_p50: f64,
    ttft_p99: f64,
    total_p50: f64,
    total_p99: f64,
}

fn summarise(mut ttft: Vec<Duration>, mut total: Vec<Duration>) -> LatencyRow {
    ttft.sort();
    total.sort();
    LatencyRow {
        ttft_p50: ms(percentile(&ttft, 0.5)),
        ttft_p99: ms(percentile(&ttft, 0.99)),
        total_p50: ms(percentile(&total, 0.5)),
        total_p99: ms(percentile(&total, 0.99)),
    }
}

const MESSAGE: &str = "benchmark question [[words:20]]";

/// What the proxy sends the fake for [`MESSAGE`] with the `ashley` persona.
fn direct_body() -> Value {
    let personas = ashley_proxy::personas::Personas::builtin();
    let persona = personas.get("ashley").unwrap();
    json!({
        "model": "gpt-4",
        "messages": [
            {"role": "system", "content": persona.system_prompt},
            {"role": "user", "content": MESSAGE},
        ],
        "temperature": persona.temperature,
        "max_tokens": persona.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
}

/// Which proxy API a latency run goes through.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    OpenAi,
    App,
}

/// One proxied call through `path`: (TTFT, total). The app's session is made before the clock starts.
async fn proxied_call(client: &reqwest::Client, proxy: &Proxy, path: Path) -> (Duration, Duration) {
    match path {
        Path::OpenAi => {
            let body = json!({"model": "ashley", "stream": true, "messages": [{"role": "user", "content": MESSAGE}]});
            let url = format!("http://{}/v1/chat/completions", proxy.addr);
            streamed_call(client, &url, KEY, &body, "[DONE]").await
        }
        Path::App => {
            let created: Value = client
                .post(format!("http://{}/api/sessions", proxy.addr))
                .bearer_auth(&proxy.guest_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let session = created["session_id"].as_str().unwrap();
            let url = format!("http://{}/api/sessions/{session}/messages", proxy.addr);
            let body = json!({"persona": "ashley", "message": MESSAGE});
            streamed_call(client, &url, &proxy.guest_token, &body, "event: done").await
        }
    }
}

/// Streamed reply, concurrency 1, alternating direct and proxied calls so drift hits both.
async fn added_latency(
    client: &reqwest::Client,
    fake: &FakeUpstream,
    proxy: &Proxy,
    path: Path,
    iterations: usize,
) -> (LatencyRow, LatencyRow) {
    let direct_url = format!("{}/chat/completions", fake.base_url());
    let direct_body = direct_body();
    for _ in 0..200 {
        streamed_call(client, &direct_url, KEY, &direct_body, "[DONE]").await;
        proxied_call(client, proxy, path).await;
    }
    let (mut direct_ttft, mut direct_total, mut proxy_ttft, mut proxy_total) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..iterations {
        let (ttft, total) = streamed_call(client, &direct_url, KEY, &direct_body, "[DONE]").await;
        direct_ttft.push(ttft);
        direct_total.push(total);
        let (ttft, total) = proxied_call(client, proxy, path).await;
        proxy_ttft.push(ttft);
        proxy_total.push(total);
    }
    (
        summarise(direct_ttft, direct_total),
        summarise(proxy_ttft, proxy_total),
    )
}

fn print_latency(title: &str, iterations: usize, direct: &LatencyRow, proxied: &LatencyRow) {
    println!("{title}, concurrency 1, {iterations} samples each:");
    println!("| path     | TTFT p50 ms | TTFT p99 ms | total p50 ms | total p99 ms |");
    println!("|----------|-------------|-------------|--------------|--------------|");
    for (name, row) in [("direct", direct), ("proxy", proxied)] {
        println!(
            "| {name:<8} | {:>11.3} | {:>11.3} | {:>12.3} | {:>12.3} |",
            row.ttft_p50, row.ttft_p99, row.total_p50, row.total_p99
        );
    }
    println!(
        "| added    | {:>11.3} | {:>11.3} | {:>12.3} | {:>12.3} |   (targets: p50 <= 0.3, p99 <= 1.0)",
        proxied.ttft_p50 - direct.ttft_p50,
        proxied.ttft_p99 - direct.ttft_p99,
        proxied.total_p50 - direct.total_p50,
        proxied.total_p99 - direct.total_p99,
    );
    println!();
}

/// A request that passes the credential check, timed at concurrency 1.
#[derive(Clone, Copy)]
enum Probe {
    /// `GET /api/me`: the app API's caller lookup, today's budget and the profile.
    Me,
    /// `GET /v1/models`: the `/v1` key check alone.
    Models,
    /// Non-streamed `POST /v1/chat/completions`: the key check and, with a key, its budget.
    Complete,
}

impl Probe {
    fn label(self) -> &'static str {
        match self {
            Self::Me => "GET /api/me",
            Self::Models => "GET /v1/models",
            Self::Complete => "POST /v1/chat/completions",
        }
    }
}

/// One `probe` as `bearer` (`None`: no `Authorization`): the time to the whole answer.
async fn probe_call(
    client: &reqwest::Client,
    proxy: &Proxy,
    probe: Probe,
    bearer: Option<&str>,
) -> Duration {
    let base = format!("http://{}", proxy.addr);
    let request = match probe {
        Probe::Me => client.get(format!("{base}/api/me")),
        Probe::Models => client.get(format!("{base}/v1/models")),
        Probe::Complete => client
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({"model": "ashley", "messages": [{"role": "user", "content": "credential question"}]})),
    };
    let request = match bearer {
        Some(bearer) => request.bearer_auth(bearer),
        None => request,
    };
    let started = Instant::now();
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", probe.label());
    let _ = response.bytes().await.unwrap();
    started.elapsed()
}

/// (p50, p99) in ms.
fn p50_p99(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    (
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
    )
}

/// One credential comparison: `probe` as the base caller and as the other, alternating.
struct CredentialRow {
    probe: Probe,
    base: &'static str,
    other: &'static str,
    /// How the summary line names the difference.
    added: &'static str,
    base_ms: (f64, f64),
    other_ms: (f64, f64),
}

async fn credential_cost(
    client: &reqwest::Client,
    proxy: &Proxy,
    probe: Probe,
    callers: [(&'static str, Option<&str>); 2],
    added: &'static str,
    iterations: usize,
) -> CredentialRow {
    let [(base, base_bearer), (other, other_bearer)] = callers;
    for _ in 0..200 {
        probe_call(client, proxy, probe, base_bearer).await;
        probe_call(client, proxy, probe, other_bearer).await;
    }
    let (mut base_samples, mut other_samples) = (vec![], vec![]);
    for _ in 0..iterations {
        base_samples.push(probe_call(client, proxy, probe, base_bearer).await);
        other_samples.push(probe_call(client, proxy, probe, other_bearer).await);
    }
    CredentialRow {
        probe,
        base,
        other,
        added,
        base_ms: p50_p99(base_samples),
        other_ms: p50_p99(other_samples),
    }
}

/// `GET url` as `bearer`, as JSON.
async fn get_json(client: &reqwest::Client, url: &str, bearer: &str) -> Value {
    let response = client.get(url).bearer_auth(bearer).send().await.unwrap();
    response.json().await.unwrap()
}

/// Fails the run unless `bearer` is who the comparison says it is.
async fn assert_identity(client: &reqwest::Client, proxy: &Proxy, bearer: &str, identity: &str) {
    let me = get_json(client, &format!("http://{}/api/me", proxy.addr), bearer).await;
    assert_eq!(me["identity"], identity, "{me}");
}

/// Fails the run unless the proxy took the personal key as the user's (it notes its last use).
async fn assert_key_used(client: &reqwest::Client, proxy: &Proxy, bearer: &str) {
    let url = format!("http://{}/api/keys", proxy.addr);
    for _ in 0..100 {
        let list = get_json(client, &url, bearer).await;
        if list["keys"][0]["last_used_ms"].is_i64() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the proxy never took the personal key as the user's");
}

fn print_credentials(iterations: usize, rows: &[CredentialRow]) {
    println!(
        "Credentials: the same request as two callers, alternating, concurrency 1, {iterations} samples each:"
    );
    println!("| request                   | caller               | p50 ms | p99 ms |");
    println!("|---------------------------|----------------------|--------|--------|");
    for row in rows {
        for (caller, (p50, p99)) in [(row.base, row.base_ms), (row.other, row.other_ms)] {
            println!(
                "| {:<25} | {caller:<20} | {p50:>6.3} | {p99:>6.3} |",
                row.probe.label()
            );
        }
    }
    for row in rows {
        println!(
            "{:<42} {:+.3} ms p50, {:+.3} ms p99",
            format!("{} ({}):", row.added, row.probe.label()),
            row.other_ms.0 - row.base_ms.0,
            row.other_ms.1 - row.base_ms.1,
        );
    }
    println!();
}

/// Non-streamed completions from `workers` keep-alive connections for `seconds`: (req/s, p50, p99).
async fn throughput(proxy: &Proxy, workers: usize, seconds: u64) -> (f64, Duration, Duration) {
    let url = Arc::new(format!("http://{}/v1/chat/completions", proxy.addr));
    let body = Arc::new(serde_json::to_vec(&json!({"model": "ashley", "messages": [{"role": "user", "content": "throughput question"}]})).unwrap());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let response = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    let _ = response.bytes().await.unwrap();
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let iterations = usize::try_from(env_number("GATEWAY_ITERATIONS", 2000)).unwrap();
    let seconds = env_number("GATEWAY_SECONDS", 4);
    let fake = FakeUpstream::start_with(Options {
        record: false,
        expected_key: Some(KEY.to_owned()),
        ..Options::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let mut startups = Vec::new();
    let mut idle_rss = 0;
    for _ in 0..5 {
        let (proxy, startup) =
            spawn_proxy(&fake.base_url(), &client, tempfile::tempdir().unwrap()).await;
        startups.push(startup);
        tokio::time::sleep(Duration::from_millis(500)).await;
        idle_rss = rss_kib(proxy.child.id());
    }
    startups.sort();
    let data = tempfile::tempdir().unwrap();
    let user = seed_user(data.path()).await;
    let (proxy, _) = spawn_proxy(&fake.base_url(), &client, data).await;

    let (direct, proxied) = added_latency(&client, &fake, &proxy, Path::OpenAi, iterations).await;
    let (app_direct, app_proxied) =
        added_latency(&client, &fake, &proxy, Path::App, iterations).await;

    // A fresh guest, so neither caller has usage rows yet; the key's completions, which add
    // rows to the user, come after `/api/me`.
    let guest: Value = client
        .post(format!("http://{}/api/auth/guest", proxy.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let guest = guest["token"].as_str().unwrap().to_owned();
    assert_identity(&client, &proxy, &guest, "guest").await;
    assert_identity(&client, &proxy, &user.bearer, "user").await;
    let with_key = [
        ("open (no key)", None),
        ("personal key", Some(user.api_key.as_str())),
    ];
    let credentials = [
        credential_cost(
            &client,
            &proxy,
            Probe::Me,
            [
                ("guest bearer", Some(guest.as_str())),
                ("signed-in bearer", Some(user.bearer.as_str())),
            ],
            "signed-in over guest",
            iterations,
        )
        .await,
        credential_cost(
            &client,
            &proxy,
            Probe::Models,
            with_key,
            "key over open",
            iterations,
        )
        .await,
        credential_cost(
            &client,
            &proxy,
            Probe::Complete,
            with_key,
            "key over open",
            iterations,
        )
        .await,
    ];
    assert_key_used(&client, &proxy, &user.bearer).await;

    // Warm the moderation cache, then look for the best rate whose p99 stays under 5 ms.
    let _ = throughput(&proxy, 2, 1).await;
    let mut steps = Vec::new();
    for workers in [1, 2, 4, 8, 16] {
        steps.push((workers, throughput(&proxy, workers, seconds).await));
    }
    let loaded_rss = rss_kib(proxy.child.id());

    println!();
    println!(
        "ashley-proxy gateway benchmark (2 cores shared by proxy, fake upstream and load generator)"
    );
    println!();
    print_latency(
        "Streamed reply (20 words, /v1/chat/completions)",
        iterations,
        &direct,
        &proxied,
    );
    print_latency(
        "Streamed reply (20 words, app API: POST /api/sessions/{id}/messages, SSE)",
        iterations,
        &app_direct,
        &app_proxied,
    );
    print_credentials(iterations, &credentials);
    println!(
        "Non-streamed /v1/chat/completions, warm moderation cache, rate limit off, {seconds} s per step:"
    );
    println!("| connections | req/s   | p50 ms | p99 ms |");
    println!("|-------------|---------|--------|--------|");
    let mut best = 0.0_f64;
    for (workers, (rate, p50, p99)) in &steps {
        println!(
            "| {workers:>11} | {rate:>7.0} | {:>6.3} | {:>6.3} |",
            ms(*p50),
            ms(*p99)
        );
        if ms(*p99) < 5.0 {
            best = best.max(*rate);
        }
    }
    println!("best throughput with p99 < 5 ms: {best:.0} req/s (target >= 5000)");
    println!();
    println!("| figure                              | value     | target   |");
    println!("|-------------------------------------|-----------|----------|");
    println!(
        "| idle RSS after start (release)      | {:>6.1} MB | < 20 MB  |",
        idle_rss as f64 / 1024.0
    );
    println!(
        "| RSS after the throughput run        | {:>6.1} MB |          |",
        loaded_rss as f64 / 1024.0
    );
    println!(
        "| spawn to first /healthz 200, median | {:>6.1} ms | < 100 ms |",
        ms(percentile(&startups, 0.5))
    );
    println!(
        "| spawn to first /healthz 200, worst  | {:>6.1} ms |          |",
        ms(*startups.last().unwrap())
    );
}
