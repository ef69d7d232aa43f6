//! One client connection: HTTP/1 through hyper, a watchdog for the header and idle timeouts,
//! and a lingering close so a client still sending reads its answer instead of a reset.

use std::{
    future::poll_fn,
    io,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf},
    net::TcpStream,
    sync::Notify,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::request::{Handler, RequestGuard};

/// After the last answer, how long the client may go on sending what nobody reads (the rest of
/// an oversized body) before the socket closes; closing with unread input would send a reset
/// that destroys the answer in the client's receive buffer.
const LINGER: Duration = Duration::from_secs(2);
/// The most bytes read and discarded while lingering.
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// Where a connection is between requests; the watchdog applies the timeout of each phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head, none of it received: the idle timeout applies.
    Idle = 0,
    /// Some of a request head received (or a fresh connection): the header timeout applies.
    Head = 1,
    /// A request's body is still arriving: the header timeout applies to each silence in it,
    /// so a slow but steady upload goes on and a stalled one is closed.
    Body = 2,
    /// A request is being answered (a streamed reply may take minutes): no timeout here.
    Request = 3,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Idle,
            1 => Self::Head,
            2 => Self::Body,
            _ => Self::Request,
        }
    }
}

/// Why a connection was closed without an answer owed, for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimedOut {
    Head,
    Idle,
    Body,
}

/// How a connection ended, for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The client closed it, or it was shut down gracefully.
    Served,
    /// Silent too long for its phase: closed at once.
    TimedOut(TimedOut),
    /// A head past even the parser's limit: hyper answered 431 itself.
    HeadTooLarge,
}

/// What the reads and the requests of one connection tell its watchdog.
#[derive(Debug)]
pub(super) struct Activity {
    phase: AtomicU8,
    in_flight: AtomicUsize,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(Phase::Head as u8),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived: if the connection was idle, a new request head has begun; in a body,
    /// the body's silence timer starts again.
    fn bytes_read(&self) {
        match self.phase() {
            Phase::Idle => {
                if self
                    .phase
                    .compare_exchange(
                        Phase::Idle as u8,
                        Phase::Head as u8,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
                {
                    self.changed.notify_one();
                }
            }
            Phase::Body => self.changed.notify_one(),
            Phase::Head | Phase::Request => {}
        }
    }

    /// A request head arrived; `body_pending`: its body is still to be read.
    pub(super) fn request_started(self: &Arc<Self>, body_pending: bool) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.set(if body_pending {
            Phase::Body
        } else {
            Phase::Request
        });
        RequestGuard::new(self.clone())
    }

    /// The request's body has been read to its end (or given up on): only the answer is left.
    pub(super) fn body_done(&self) {
        if self
            .phase
            .compare_exchange(
                Phase::Body as u8,
                Phase::Request as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// The answer's body is done (sent or dropped).
    pub(super) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.set(Phase::Idle);
        }
    }
}

/// Resolves when the connection has been silent too long for its phase, with that phase.
async fn watchdog(
    activity: &Activity,
    header_timeout: Duration,
    idle_timeout: Duration,
) -> TimedOut {
    let mut seen = Phase::Head;
    let mut deadline = Instant::now() + header_timeout;
    loop {
        let changed = activity.changed.notified();
        let mut changed = pin!(changed);
        changed.as_mut().enable();
        let phase = activity.phase();
        if phase != seen {
            seen = phase;
            deadline = Instant::now()
                + match phase {
                    Phase::Idle => idle_timeout,
                    Phase::Head | Phase::Body | Phase::Request => header_timeout,
                };
        }
        let timed_out = match phase {
            Phase::Request => {
                changed.await;
                continue;
            }
            Phase::Idle => TimedOut::Idle,
            Phase::Head => TimedOut::Head,
            Phase::Body => TimedOut::Body,
        };
        tokio::select! {
            // Bytes that arrived count before the deadline: after a stall of the whole process
            // both are ready at once, and the connection did not fall silent.
            biased;
            () = changed => {
                // Bytes of the body arrived: its silence starts again.
                if seen == Phase::Body && activity.phase() == Phase::Body {
                    deadline = Instant::now() + header_timeout;
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                if activity.phase() == seen {
                    return timed_out;
                }
            }
        }
    }
}

/// A TCP stream that tells its [`Activity`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// hyper's settings for every connection, from the configured header cap.
pub(super) fn http1_builder(max_header_bytes: usize) -> http1::Builder {
    // Heads up to the cap get a JSON 431 from the handler; hyper's own parser limit sits
    // above it (a bare 431) so that no head larger than that is ever buffered.
    let parser_limit = max_header_bytes.saturating_mul(4).max(16 * 1024);
    let mut builder = http1::Builder::new();
    builder
        .max_buf_size(parser_limit)
        .max_header_size(parser_limit)
        .keep_alive(true);
    builder
}

/// Serves one connection until the client closes it, a timeout fires or `stop` asks for a
/// graceful end (the answer in progress finishes first).
pub(super) async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    builder: &http1::Builder,
    handler: Handler,
    stop: CancellationToken,
) -> Ended {
    let limits = handler.limits().clone();
    let activity = Arc::new(Activity::new());
    let watched = Watched {
        stream,
        activity: activity.clone(),
    };
    let service = handler.for_connection(peer, activity.clone());
    let mut conn = builder.serve_connection(TokioIo::new(watched), service);
    let mut stopping = pin!(stop.cancelled());
    let mut stop_requested = false;
    let mut timed_out = pin!(watchdog(
        &activity,
        limits.header_timeout,
        limits.idle_timeout
    ));
    let ended = poll_fn(|cx| {
        if !stop_requested && stopping.as_mut().poll(cx).is_ready() {
            stop_requested = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        // The connection first, so bytes already waiting are read (and seen by the watchdog)
        // before it decides the client fell silent.
        if let Poll::Ready(result) = conn.poll_without_shutdown(cx) {
            return Poll::Ready(match result {
                Err(err) if err.is_parse_too_large() => Ended::HeadTooLarge,
                Err(err) => {
                    tracing::debug!("connection ended: {err}");
                    Ended::Served
                }
                Ok(()) => Ended::Served,
            });
        }
        timed_out.as_mut().poll(cx).map(Ended::TimedOut)
    })
    .await;
    if let Ended::TimedOut(_) = ended {
        // Too slow to send a head or a body, or idle too long: nothing is owed, close at once.
        return ended;
    }
    let stream = conn.into_parts().io.into_inner().stream;
    linger(stream).await;
    ended
}

/// Half-closes, then reads and discards until the client closes too (bounded in time and bytes).
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut scratch = vec![0_u8; 16 * 1024];
    let mut discarded = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while discarded < LINGER_BYTES {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(read) => discarded += read,
            }
        }
    })
    .await;
}
