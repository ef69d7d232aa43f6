//! Many streams (issues 6.6, 11.5): 10,000 concurrent streamed replies through the real `ashley-proxy` binary; errors, peak RSS, CPU.
//!
//! `cargo bench -p ashley-proxy --bench streams` (release build of the proxy). The fake
//! upstream runs in this process on loopback and streams each reply slowly enough (30 words,
//! 1 s apart) that all 10,000 are open at once; the proxy runs with rate limits off, an
//! upstream cap above 10,000 and its default connection cap (16,384). Each stream holds two
//! descriptors in each process (client and proxy, proxy and upstream), so this process raises
//! its open-file limit first (to 65,536 when allowed, else to its hard limit) and the proxy,
//! which inherits it, raises its own soft limit to the hard one. Figures come from
//! /proc/<pid>/status (VmHWM, VmRSS) and /proc/<pid>/stat (utime + stime) of the proxy
//! process. Exits non-zero on any error or when fewer than 10,000 replies were streaming at
//! the same moment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

#[path = "../tests/reliability_support/mod.rs"]
mod reliability_support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use ashley_fake_upstream::{FakeUpstream, Options};
use ashley_proxy::api::ChatEvent;
use reliability_support::{EventReader, KEY, ProxyProcess, create_session, guest_headers};

/// Streams wanted; fewer when the open-file limit cannot be raised far enough (said so).
const TARGET_STREAMS: usize = 10_000;
/// Descriptors per process that are not stream sockets: the runtime, the database, and the
/// pooled connections of session set-up and moderation calls (in both processes).
const SPARE_FILES: usize = 1000;
const WORDS: usize = 30;
const CHUNK_DELAY: Duration = Duration::from_secs(1);
const RSS_TARGET_KB: u64 = 250 * 1024;
/// Descriptors wanted: two per stream here, plus the sessions' set-up and spare.
const OPEN_FILES: u64 = 65_536;

/// Raises this process's open-file limit (inherited by the proxy); returns the soft limit.
fn raise_open_files() -> u64 {
    use rlimit::Resource;
    let (soft, hard) = Resource::NOFILE.get().unwrap();
    if hard < OPEN_FILES && Resource::NOFILE.set(OPEN_FILES, OPEN_FILES).is_ok() {
        return OPEN_FILES;
    }
    if soft < hard {
        return rlimit::increase_nofile_limit(OPEN_FILES.min(hard)).unwrap();
    }
    soft
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let rank = ((samples.len() as f64) * fraction).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn main() {
    let open_files = usize::try_from(raise_open_files()).unwrap_or(usize::MAX);
    let streams = TARGET_STREAMS.min(open_files.saturating_sub(SPARE_FILES) / 2);
    if streams < TARGET_STREAMS {
        println!(
            "streams bench: the open-file limit is {open_files} and cannot be raised; {TARGET_STREAMS} streams need {}. \
             Running {streams}; raise the hard limit (`ulimit -Hn`, as root) for the full run.",
            2 * TARGET_STREAMS + SPARE_FILES
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let failed = runtime.block_on(run(streams));
    if failed {
        std::process::exit(1);
    }
}

async fn run(streams: usize) -> bool {
    let fake = FakeUpstream::start_with(Options {
        expected_key: Some(KEY.to_owned()),
        reply: (1..=WORDS)
            .map(|n| format!("w{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        chunk_delay: CHUNK_DELAY,
        record: false,
        ..Options::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let proxy = ProxyProcess::start(&[
        ("OPENAI_API_KEY", KEY.to_owned()),
        ("OPENAI_BASE_URL", fake.base_url()),
        (
            "ASHLEY_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        (
            "ASHLEY_WEB_DIR",
            dir.path().join("web").display().to_string(),
        ),
        ("ASHLEY_RATE_LIMIT", "0".to_owned()),
        (
            "ASHLEY_MAX_UPSTREAM_CONCURRENCY",
            (streams + 2000).to_string(),
        ),
        // Warnings only, but the startup line that names the port is needed.
        ("ASHLEY_LOG", "warn,ashley_proxy=info".to_owned()),
    ]);
    let pid = proxy.pid();
    let addr = proxy.addr;
    println!(
        "streams bench: proxy pid {pid} serving after {:?}",
        started.elapsed()
    );
    // One guest owns every session, as one desktop app would.
    let client = reqwest::Client::builder()
        .no_proxy()
        .default_headers(guest_headers(addr).await)
        .pool_max_idle_per_host(streams + 100)
        .build()
        .unwrap();

    let mut sessions = Vec::with_capacity(streams);
    let mut creating = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let client = client.clone();
        creating.spawn(async move {
            let mut made = Vec::new();
            for _ in 0..streams / 32 + 1 {
                made.push(create_session(&client, addr).await);
            }
            made
        });
    }
    while let Some(made) = creating.join_next().await {
        sessions.extend(made.unwrap());
    }
    sessions.truncate(streams);
    let idle_rss = status_kb(pid, "VmRSS:");
    let cpu_before = cpu_seconds(pid);

    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let first_deltas = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let deltas_total = Arc::new(AtomicUsize::new(0));
    let run_started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for (index, session) in sessions.into_iter().enumerate() {
        let (client, active, peak, errors, first_deltas, deltas_total) = (
            client.clone(),
            active.clone(),
            peak.clone(),
            errors.clone(),
            first_deltas.clone(),
            deltas_total.clone(),
        );
        running.spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(format!("http://{addr}/api/sessions/{session}/messages"))
                .json(
                    &serde_json::json!({"persona": "ashley", "message": format!("stream {index}")}),
                )
                .send()
                .await;
            let response = match response {
                Ok(response) if response.status() == 200 => response,
                Ok(response) => {
                    return errors
                        .lock()
                        .unwrap()
                        .push(format!("HTTP {}", response.status()));
                }
                Err(err) => return errors.lock().unwrap().push(format!("request: {err}")),
            };
            let mut events = EventReader::new(response);
            let mut counted = false;
            let mut deltas = 0;
            let outcome = loop {
                match events.next().await {
                    Some(ChatEvent::Delta { .. }) => {
                        deltas += 1;
                        if !counted {
                            counted = true;
                            first_deltas.lock().unwrap().push(sent.elapsed());
                            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                        }
                    }
                    Some(ChatEvent::Done { .. }) => break Ok(()),
                    Some(other) if other.is_final() => break Err(format!("ended with {other:?}")),
                    Some(_) => {}
                    None => break Err("the stream ended without a final event".to_owned()),
                }
            };
            if counted {
                active.fetch_sub(1, Ordering::SeqCst);
            }
            deltas_total.fetch_add(deltas, Ordering::SeqCst);
            match outcome {
                Ok(()) if deltas == WORDS => {}
                Ok(()) => errors
                    .lock()
                    .unwrap()
                    .push(format!("{deltas} of {WORDS} deltas")),
                Err(why) => errors.lock().unwrap().push(why),
            }
        });
    }
    while let Some(joined) = running.join_next().await {
        if let Err(err) = joined {
            errors.lock().unwrap().push(format!("client task: {err}"));
        }
    }
    let wall = run_started.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    let peak_rss = status_kb(pid, "VmHWM:");
    let rss_after = status_kb(pid, "VmRSS:");
    // Blocking-pool threads (the store runs there) each add a stack and a malloc arena.
    let threads = status_kb(pid, "Threads:");
    let errors = errors.lock().unwrap();
    let peak = peak.load(Ordering::SeqCst);
    let mut first = first_deltas.lock().unwrap().clone();
    let (ttfd_p50, ttfd_p99) = (percentile(&mut first, 0.5), percentile(&mut first, 0.99));

    println!(
        "streams bench: {streams} concurrent streamed replies ({WORDS} deltas each, {CHUNK_DELAY:?} apart) through the release proxy"
    );
    println!("  errors                 {}", errors.len());
    println!("  peak concurrent        {peak} streams");
    println!(
        "  deltas delivered       {}",
        deltas_total.load(Ordering::SeqCst)
    );
    println!(
        "  wall time              {wall:.2?} (ideal {:.2?})",
        CHUNK_DELAY * (WORDS as u32 - 1)
    );
    println!("  first delta            p50 {ttfd_p50:.2?}  p99 {ttfd_p99:.2?}");
    println!(
        "  proxy CPU (user+sys)   {cpu:.2} s  ({:.0}% of one core)",
        cpu / wall.as_secs_f64() * 100.0
    );
    println!(
        "  proxy RSS idle         {:.1} MB ({streams} sessions stored)",
        idle_rss as f64 / 1024.0
    );
    println!(
        "  proxy peak RSS (VmHWM) {:.1} MB  target < {} MB: {}",
        peak_rss as f64 / 1024.0,
        RSS_TARGET_KB / 1024,
        if peak_rss < RSS_TARGET_KB {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "  proxy RSS after        {:.1} MB, {threads} threads",
        rss_after as f64 / 1024.0
    );
    if !errors.is_empty() {
        println!("  first errors: {:?}", &errors[..errors.len().min(5)]);
    }
    drop(proxy);
    !errors.is_empty() || peak < streams
}
