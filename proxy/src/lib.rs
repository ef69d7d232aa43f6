//! ashley-proxy: the only process that holds the API key. `api` is the wire contract shared
//! with the app; everything else is the server, behind the default `server` feature.

pub mod api;

#[cfg(feature = "server")]
mod server;

#[cfg(feature = "server")]
pub use server::{AppState, Config, router};
