//! Serving: TCP_NODELAY on every connection, client addresses, a cap on connections, header and
//! idle timeouts, early answers the client can read, graceful shutdown with a bound.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{api::ErrorResponse, error::ApiError, router, state::AppState};

mod connection;
mod request;

use connection::{Ended, TimedOut};

/// Connections over the cap being answered 503 at once; beyond this they are closed unanswered.
const MAX_SHEDDING: usize = 256;
/// Pause after a failed accept (out of file descriptors, say) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves until `shutdown` resolves, then lets in-flight streams finish for up to the configured
/// grace period; streams still running after it store what they have and end.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let config = state.config();
    let limits = config.connections.clone();
    let builder = Arc::new(connection::http1_builder(limits.max_header_bytes));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let handler = request::Handler::new(
        router(state.clone()),
        limits,
        config.max_body_bytes,
        state.shared_metrics(),
    );
    let shedding = Arc::new(Semaphore::new(MAX_SHEDDING));
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut last_accept_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    if last_accept_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        last_accept_warning = Some(Instant::now());
                        tracing::warn!("cannot accept connections: {err} (out of file descriptors? raise `ulimit -n`)");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Nagle off: small SSE frames would otherwise wait ~40 ms for delayed ACKs.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {err}");
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            handler.metrics().connections.shed.fetch_add(1, Relaxed);
            if let Ok(permit) = shedding.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    answer_busy(stream).await;
                    drop(permit);
                });
            }
            continue;
        };
        let (builder, handler, stop) = (builder.clone(), handler.clone(), stop.clone());
        connections.spawn(async move {
            let metrics = handler.metrics_handle();
            let counters = &metrics.connections;
            counters.open.fetch_add(1, Relaxed);
            let ended = connection::serve_connection(stream, peer, &builder, handler, stop).await;
            match ended {
                Ended::TimedOut(TimedOut::Head) => counters.timed_out_head.fetch_add(1, Relaxed),
                Ended::TimedOut(TimedOut::Idle) => counters.timed_out_idle.fetch_add(1, Relaxed),
                Ended::TimedOut(TimedOut::Body) => counters.timed_out_body.fetch_add(1, Relaxed),
                Ended::HeadTooLarge => counters.headers_too_large.fetch_add(1, Relaxed),
                Ended::Served => {}
            }
            counters.open.fetch_sub(1, Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; in-flight replies may finish");
    stop.cancel();
    connections.close();
    let grace = config.shutdown_grace;
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("grace period over: ending the remaining streams");
        state.shutdown_token().cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), connections.wait()).await;
    }
    // Replies being stored finish before the process exits.
    state.shutdown_token().cancel();
    state.tasks().close();
    if tokio::time::timeout(Duration::from_secs(3), state.tasks().wait())
        .await
        .is_err()
    {
        tracing::warn!("some replies were still being stored at exit");
    }
    Ok(())
}

/// Over the connection cap: a short 503 the client can read, then close.
async fn answer_busy(mut stream: TcpStream) {
    let error = ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        crate::api::ErrorCode::TooManyConnections,
        "The server has too many open connections; try again in a moment.",
    );
    let body = serde_json::to_string(&ErrorResponse { error: error.body }).unwrap_or_default();
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answered = async {
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the answer away.
        let mut scratch = [0_u8; 4096];
        let mut discarded = 0;
        while discarded < 64 * 1024 {
            match stream.read(&mut scratch).await? {
                0 => break,
                read => discarded += read,
            }
        }
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answered).await;
}

/// Serves `state` on `127.0.0.1:<free port>` in the background (tests, embedding); returns the address.
pub async fn spawn_local(state: AppState) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = serve(listener, state, std::future::pending()).await {
            tracing::error!("local server stopped: {err}");
        }
    });
    Ok(addr)
}
