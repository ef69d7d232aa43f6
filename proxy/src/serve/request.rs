//! Each request on its way to the router: the client address, the header-size cap (431), and the
//! unread rest of a body read and discarded before an early answer, so the client reads it.

use std::{
    convert::Infallible,
    future::{Future, poll_fn},
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, atomic::Ordering::Relaxed},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    extract::ConnectInfo,
    http::{HeaderValue, Request, Response, StatusCode, header, request::Parts},
    response::IntoResponse as _,
};
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::oneshot;
use tower::ServiceExt as _;

use super::connection::Activity;
use crate::{config::ConnectionLimits, error::ApiError, metrics::Metrics};

/// The least of an unread body drained before an early answer (more when the body limit is higher).
const MIN_DRAIN_BYTES: usize = 1024 * 1024;

/// What every connection's service shares: the router, the limits and the metrics.
#[derive(Clone)]
pub(super) struct Handler {
    router: Router,
    limits: Arc<ConnectionLimits>,
    drain_bytes: usize,
    metrics: Arc<Metrics>,
}

impl Handler {
    pub(super) fn new(
        router: Router,
        limits: ConnectionLimits,
        max_body_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            router,
            limits: Arc::new(limits),
            drain_bytes: max_body_bytes.max(MIN_DRAIN_BYTES),
            metrics,
        }
    }

    pub(super) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(super) fn metrics_handle(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub(super) fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    pub(super) fn for_connection(&self, peer: SocketAddr, activity: Arc<Activity>) -> Service {
        Service {
            handler: self.clone(),
            peer,
            activity,
        }
    }
}

/// The hyper service of one connection.
pub(super) struct Service {
    handler: Handler,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<ReplyBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<ReplyBody>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = self
            .activity
            .request_started(!request.body().is_end_stream());
        let handler = self.handler.clone();
        let peer = self.peer;
        let activity = self.activity.clone();
        Box::pin(async move {
            let response = handler.answer(request, peer, &activity).await;
            Ok(response.map(|body| ReplyBody {
                body,
                _guard: guard,
            }))
        })
    }
}

impl Handler {
    async fn answer(
        self,
        request: Request<Incoming>,
        peer: SocketAddr,
        activity: &Arc<Activity>,
    ) -> Response<axum::body::Body> {
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let expects_continue = parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let (returned_tx, mut returned_rx) = oneshot::channel();
        let mut response = if head_bytes(&parts) > self.limits.max_header_bytes {
            self.metrics
                .connections
                .headers_too_large
                .fetch_add(1, Relaxed);
            let _ = returned_tx.send(body);
            headers_too_large(self.limits.max_header_bytes)
        } else {
            let body = Returned {
                body: Some(body),
                back: Some(returned_tx),
                finished: false,
                activity: activity.clone(),
            };
            let Ok(response) = self
                .router
                .oneshot(Request::from_parts(parts, axum::body::Body::new(body)))
                .await;
            response
        };
        // A body the router left unread: read the rest (bounded) so the client, which may still
        // be sending it, gets to read this answer. With `Expect: 100-continue` the client waits
        // for a go-ahead before sending, so there is nothing to drain.
        if let Ok(unread) = returned_rx.try_recv()
            && (expects_continue
                || !drain(unread, self.drain_bytes, self.limits.header_timeout).await)
        {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        activity.body_done();
        response
    }
}

/// Bytes of the request line and headers, as the client sent them (give or take spacing).
fn head_bytes(parts: &Parts) -> usize {
    let target = parts
        .uri
        .path_and_query()
        .map_or(1, |path| path.as_str().len());
    let headers: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    parts.method.as_str().len() + target + "  HTTP/1.1\r\n\r\n".len() + headers
}

fn headers_too_large(limit: usize) -> Response<axum::body::Body> {
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "invalid_request_error",
        crate::api::ErrorCode::HeadersTooLarge,
        format!("The request line and headers exceed {limit} bytes; send fewer or smaller headers (cookies)."),
    )
    .into_response()
}

/// Reads and discards `body` to its end; false when it is longer than `limit` bytes, fails, or
/// does not end within `patience`.
async fn drain(mut body: Incoming, limit: usize, patience: Duration) -> bool {
    let mut read = 0_usize;
    let to_the_end = async {
        loop {
            match poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > limit {
                        return false;
                    }
                }
            }
        }
    };
    tokio::time::timeout(patience, to_the_end)
        .await
        .unwrap_or(false)
}

/// The request body as the router sees it; whatever the router leaves unread comes back to
/// [`Handler::answer`] when it is dropped.
struct Returned {
    body: Option<Incoming>,
    back: Option<oneshot::Sender<Incoming>>,
    finished: bool,
    activity: Arc<Activity>,
}

impl Body for Returned {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.finished = true;
            self.activity.body_done();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        if !self.is_end_stream()
            && let (Some(body), Some(back)) = (self.body.take(), self.back.take())
        {
            let _ = back.send(body);
        }
    }
}

/// The answer's body; the connection counts as busy (never idle) until it is done or dropped.
pub(super) struct ReplyBody {
    body: axum::body::Body,
    _guard: RequestGuard,
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Marks the request finished in its connection's [`Activity`] when dropped.
pub(super) struct RequestGuard(Arc<Activity>);

impl RequestGuard {
    pub(super) fn new(activity: Arc<Activity>) -> Self {
        Self(activity)
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}
