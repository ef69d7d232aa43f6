//! ashley-fake-upstream: run the fake OpenAI-compatible upstream as a process for end-to-end tests.
//!
//! Usage: `ashley-fake-upstream [--port 0] [--reply TEXT] [--chunk-delay-ms N] [--model NAME] [--expected-key KEY] [--no-record]`
//!
//! - `--port` (default 0: a free port) on 127.0.0.1.
//! - `--reply` the default reply, streamed one word per chunk.
//! - `--chunk-delay-ms` pause between streamed chunks (default 0).
//! - `--model` the model name in responses (default `gpt-4-fake`).
//! - `--expected-key` answer 401 unless `Authorization: Bearer KEY`.
//! - `--no-record` keep no request log (for load tests).
//!
//! When ready it prints exactly one line to stdout, `listening on http://127.0.0.1:PORT`,
//! and serves until killed. Magic words and control endpoints: see the library docs.

use std::{net::SocketAddr, time::Duration};

use ashley_fake_upstream::{FakeUpstream, Options};
use clap::Parser;

/// A fake OpenAI-compatible upstream for Ashley's tests.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Default reply text, streamed one word per chunk.
    #[arg(long)]
    reply: Option<String>,
    /// Milliseconds between streamed chunks.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Model name reported in responses.
    #[arg(long, default_value = "gpt-4-fake")]
    model: String,
    /// Answer 401 unless requests carry `Authorization: Bearer <KEY>`.
    #[arg(long)]
    expected_key: Option<String>,
    /// Do not record requests (for load tests).
    #[arg(long)]
    no_record: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let defaults = Options::default();
    let options = Options {
        model: args.model,
        reply: args.reply.unwrap_or(defaults.reply),
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        expected_key: args.expected_key,
        record: !args.no_record,
    };
    let fake =
        match FakeUpstream::bind(SocketAddr::from(([127, 0, 0, 1], args.port)), options).await {
            Ok(fake) => fake,
            Err(err) => {
                eprintln!("cannot listen on 127.0.0.1:{}: {err}", args.port);
                return std::process::ExitCode::FAILURE;
            }
        };
    #[allow(clippy::print_stdout)] // the one line test scripts wait for
    {
        println!("listening on http://{}", fake.addr());
    }
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
