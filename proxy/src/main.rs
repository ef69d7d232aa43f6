//! ashley-proxy: read the configuration from flags and the environment, then serve.

use std::{net::SocketAddr, path::PathBuf};

use ashley_proxy::{AppState, Config, router};
use clap::Parser;

/// The Ashley proxy: holds the API key, serves the app and its API.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 7860)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "ASHLEY_HOST", default_value = "0.0.0.0")]
    host: std::net::IpAddr,
    /// Directory holding the trunk web bundle.
    #[arg(long, env = "ASHLEY_WEB_DIR", default_value = "dist")]
    web_dir: PathBuf,
    /// Model name sent upstream.
    #[arg(long, env = "OPENAI_MODEL", default_value = "gpt-4")]
    model: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let addr = SocketAddr::new(args.host, args.port);
    let state = AppState::new(Config {
        web_dir: args.web_dir,
        model: args.model,
    });
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("cannot listen on {addr}: {err}. Set PORT to a free port.");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!("Ashley is serving on http://{}", display_addr(addr));
    if let Err(err) = axum::serve(listener, router(state)).await {
        tracing::error!("server stopped: {err}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

fn display_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}
