//! Ashley, the egui app: one crate for the native window and the web page.

mod app;
pub mod clock;
pub mod conversation;
pub mod conversations;
#[cfg(target_arch = "wasm32")]
mod file_picker;
pub mod fonts;
pub mod markdown;
pub mod net;
pub mod notice;
pub mod search;
pub mod session;
pub mod state;
pub mod theme;
pub mod transcript;
pub mod ui;
#[cfg(target_arch = "wasm32")]
mod web_page;
/// The browser tests' window into the app: only in builds with the `testing` feature.
#[cfg(any(test, feature = "testing"))]
pub mod web_test_handle;

pub use app::{AshleyApp, LIST_WIDTH, NARROW_WIDTH};

/// The proxy the native app talks to when nothing else is said.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7860";

/// The native app's name for eframe: its window state and the guest's bearer token live in
/// eframe's storage directory for it.
pub const APP_ID: &str = "Ashley AI";

/// The proxy URL from `--server URL` (or `--server=URL`), else `ASHLEY_SERVER`, else
/// [`DEFAULT_SERVER`]. A trailing `/` is dropped so paths can be appended.
pub fn server_from_args(args: impl IntoIterator<Item = String>, env: Option<String>) -> String {
    let mut args = args.into_iter();
    let mut from_flag = None;
    while let Some(arg) = args.next() {
        if arg == "--server" {
            from_flag = args.next();
        } else if let Some(url) = arg.strip_prefix("--server=") {
            from_flag = Some(url.to_owned());
        }
    }
    let url = from_flag
        .or(env)
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    url.trim_end_matches('/').to_owned()
}
