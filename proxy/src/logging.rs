//! Logging: tracing to the console and optionally a file; secrets are never fields of any event.

use std::{fs::OpenOptions, io::IsTerminal as _, path::Path, sync::Mutex};

use tracing_subscriber::{
    EnvFilter, Layer as _, fmt, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` uses RUST_LOG syntax; RUST_LOG itself wins if set.
pub fn init(filter: &str, format: LogFormat, file: Option<&Path>) -> Result<(), String> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(filter))
            .map_err(|err| format!("invalid ASHLEY_LOG {filter:?}: {err}"))
    };
    // Colour only on a terminal: container logs (a Space) would show escape codes.
    let ansi = std::io::stderr().is_terminal();
    let console = match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).boxed(),
    };
    let file_layer = match file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|err| format!("invalid ASHLEY_LOG_FILE {}: {err}", path.display()))?;
            let layer = fmt::layer().with_ansi(false).with_writer(Mutex::new(file));
            Some(match format {
                LogFormat::Text => layer.boxed(),
                LogFormat::Json => layer.json().boxed(),
            })
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(console.with_filter(filter()?))
        .with(file_layer.map(|layer| layer.with_filter(filter().ok())))
        .try_init()
        .map_err(|err| format!("logging already initialised: {err}"))
}
