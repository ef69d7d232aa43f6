//! ashley-proxy: read the configuration from flags and the environment, then serve.

use std::{net::SocketAddr, process::ExitCode};

use ashley_proxy::{AppState, Cli, Config, config::display_url, logging, serve};
use clap::Parser as _;

/// Every store call runs on the blocking pool behind one connection mutex, so more blocking
/// threads only add stacks and malloc arenas (memory) while they queue on the lock; a few
/// spare ones keep file reads of the web bundle going beside the store.
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    serve_buffers_from_mmap();
    let open_files = raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ashley-proxy: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(open_files))
}

async fn run(open_files: Result<u64, String>) -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = logging::init(&cli.log, cli.log_format, cli.log_file.as_deref()) {
        eprintln!("ashley-proxy: {err}");
        return ExitCode::FAILURE;
    }
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("ashley-proxy cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    report_open_file_limit(open_files, config.connections.max_connections);
    let addr = config.listen;
    tracing::info!(
        mode = if config.api_key.is_some() { "live" } else { "demo" },
        upstream = %display_url(&config.base_url),
        model = %config.model,
        moderation = %config.moderation_description(),
        data_dir = %config.data_dir.display(),
        backup_dir = %config.backup.dir.as_ref().map_or("off".into(), |dir| dir.display().to_string()),
        web_dir = %config.web_dir.display(),
        "configured"
    );
    let state = match AppState::new(config) {
        Ok(state) => state,
        Err(err) => {
            tracing::error!("ashley-proxy cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("cannot listen on {addr}: {err}. Set PORT to a free port.");
            return ExitCode::FAILURE;
        }
    };
    let shown = listener.local_addr().unwrap_or(addr);
    tracing::info!("Ashley is serving on http://{}", display_addr(shown));
    let backups = state.backups().clone();
    let served = serve(listener, state, shutdown_signal()).await;
    backups.finish().await;
    if let Err(err) = served {
        tracing::error!("server stopped: {err}");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Descriptors kept for the listener, the database, log and bundle files.
const SPARE_FILES: u64 = 64;

/// Each streamed reply holds two descriptors (the client's connection and the upstream's), and
/// the default soft limit (often 1,024) would stop the proxy at a few hundred streams: raise
/// the soft limit to the hard one. Returns the limit in force.
#[cfg(unix)]
fn raise_open_file_limit() -> Result<u64, String> {
    rlimit::increase_nofile_limit(u64::MAX).map_err(|err| err.to_string())
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Result<u64, String> {
    Err("not supported on this platform".to_owned())
}

/// Says once how many concurrent streams the descriptor limit allows, and the fix when that
/// is fewer than the connection cap.
fn report_open_file_limit(open_files: Result<u64, String>, max_connections: usize) {
    match open_files {
        Ok(limit) => {
            let streams = limit.saturating_sub(SPARE_FILES) / 2;
            if streams < max_connections as u64 {
                tracing::warn!(
                    "the open-file limit ({limit}) allows about {streams} concurrent streamed \
                     replies, fewer than ASHLEY_MAX_CONNECTIONS ({max_connections}); raise it \
                     with `ulimit -n` (or the container's nofile limit)"
                );
            } else {
                tracing::info!(
                    "open-file limit {limit}: room for about {streams} concurrent streamed replies"
                );
            }
        }
        Err(err) => tracing::warn!(
            "cannot raise the open-file limit ({err}); if streams fail at a few hundred \
             connections, raise it with `ulimit -n`"
        ),
    }
}

/// SIGTERM (what container runtimes send) or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::warn!("cannot listen for SIGTERM: {err}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

fn display_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// Each open stream holds a few 8-16 KB buffers (hyper's read and write buffers on both
/// connections, its request channel) that are mostly untouched past their first page. Taken
/// from glibc's heap they are carved from memory that earlier requests already dirtied, so all
/// of it is resident; mapped one by one, untouched pages never are and freed buffers return to
/// the system at once. The streams bench (2,000 concurrent replies) peaks at 88-90 MB with it
/// and 95-104 MB without, for ~20% more CPU there and no change in the gateway bench.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn serve_buffers_from_mmap() {
    const MMAP_THRESHOLD: libc::c_int = 8 * 1024;
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread exists.
    let applied = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    if applied == 0 {
        eprintln!("ashley-proxy: could not set the malloc mmap threshold; using glibc's default");
    }
}

/// Other allocators (musl, macOS) have no such knob.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn serve_buffers_from_mmap() {}
