//! Gateway benchmark: added latency and TTFT over a direct upstream call, throughput, idle RSS, startup time.
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

/// Spawns the release binary and returns it with the time to its first `/healthz` 200.
async fn spawn_proxy(upstream: &str, client: &reqwest::Client) -> (Proxy, Duration) {
    let data = tempfile::tempdir().unwrap();
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
        // No daily budgets: a benchmark sends far more than a day's worth.
        .env("ASHLEY_GUEST_DAILY_MESSAGES", "0")
        .env("ASHLEY_GUEST_DAILY_TOKENS", "0")
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
        let (proxy, startup) = spawn_proxy(&fake.base_url(), &client).await;
        startups.push(startup);
        tokio::time::sleep(Duration::from_millis(500)).await;
        idle_rss = rss_kib(proxy.child.id());
    }
    startups.sort();
    let (proxy, _) = spawn_proxy(&fake.base_url(), &client).await;

    let (direct, proxied) = added_latency(&client, &fake, &proxy, Path::OpenAi, iterations).await;
    let (app_direct, app_proxied) =
        added_latency(&client, &fake, &proxy, Path::App, iterations).await;

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
