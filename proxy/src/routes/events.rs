//! Server-sent event responses: the app's [`ChatEvent`] stream, written as events arrive.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    http::HeaderValue,
    response::{
        IntoResponse as _, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::StreamExt as _;

use crate::{api::ChatEvent, chat::LiveReply};

/// The longest a reply's stream stays silent: a comment line then keeps it open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

fn to_sse(event: &ChatEvent) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event(event.name()).data(data)
}

/// `text/event-stream` of a reply's events numbered `first_seq` or later, each written as it
/// is logged, with its number as the SSE `id`. A heartbeat comment goes out after every 15 s
/// without an event, so that proxies keep a quiet stream open. The client going away stops
/// only this stream, not the reply.
pub fn live_event_stream(reply: Arc<LiveReply>, first_seq: u64) -> Response {
    let events = reply
        .events_from(first_seq)
        .map(|(seq, event)| Ok::<_, Infallible>(to_sse(&event).id(seq.to_string())));
    no_proxy_buffering(
        Sse::new(events)
            .keep_alive(KeepAlive::new().interval(HEARTBEAT))
            .into_response(),
    )
}

pub fn event_stream_of_one(event: ChatEvent) -> Response {
    let stream = futures_util::stream::iter([Ok::<_, Infallible>(to_sse(&event))]);
    no_proxy_buffering(Sse::new(stream).into_response())
}

/// Tells reverse proxies (nginx, the Space's front end) not to hold deltas back.
pub fn no_proxy_buffering(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
