//! Serving: TCP_NODELAY on every connection, client addresses, graceful shutdown with a bound.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::{router, state::AppState};

/// Serves until `shutdown` resolves, then lets in-flight streams finish for up to the configured
/// grace period; streams still running after it store what they have and end.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // axum::serve leaves Nagle on: small SSE frames would wait ~40 ms for delayed ACKs.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {err}");
        }
    });
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; in-flight replies may finish");
        let _ = stopping_tx.send(());
    });
    let grace = state.config().shutdown_grace;
    let server = server.into_future();
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!("grace period over: ending the remaining streams");
            state.shutdown_token().cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut server).await;
            Ok(())
        }
    };
    // Replies being stored finish before the process exits.
    state.shutdown_token().cancel();
    state.tasks().close();
    if tokio::time::timeout(Duration::from_secs(3), state.tasks().wait())
        .await
        .is_err()
    {
        tracing::warn!("some replies were still being stored at exit");
    }
    result
}

/// Serves `state` on `127.0.0.1:<free port>` in the background (tests, embedding); returns the address.
pub async fn spawn_local(state: AppState) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = serve(listener, state, std::future::pending()).await {
            tracing::error!("local server stopped: {err}");
        }
    });
    Ok(addr)
}
