//! Server-sent event responses: the app's [`ChatEvent`] stream, written as events arrive.

use std::convert::Infallible;

use axum::{
    http::HeaderValue,
    response::{
        IntoResponse as _, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use tokio::sync::mpsc;

use crate::api::ChatEvent;

/// Where the app's reply task sends its events. Boxed: a channel allocates its slots in blocks
/// of 32, so boxing keeps an open stream's channel at 32 pointers instead of 32 whole events
/// (3.5 KB, which is 7 MB across 2,000 streams).
pub type EventSender = mpsc::Sender<Box<ChatEvent>>;

fn to_sse(event: &ChatEvent) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event(event.name()).data(data)
}

/// `text/event-stream` of the events arriving on `receiver`, each written as soon as it comes.
pub fn event_stream(receiver: mpsc::Receiver<Box<ChatEvent>>) -> Response {
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok::<_, Infallible>(to_sse(&event)), receiver))
    });
    no_proxy_buffering(
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
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
