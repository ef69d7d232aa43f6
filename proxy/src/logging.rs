//! Logging: tracing to the console and optionally a file; secrets are never fields of any event.

use std::{
    fs::OpenOptions,
    io::IsTerminal as _,
    path::Path,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

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

/// A warning that could repeat on every request (an upstream that keeps refusing the key) is
/// logged the first time, again when it changes, and otherwise at most once per interval with
/// the number of repeats left out.
pub struct Throttle {
    every: Duration,
    last: Mutex<Option<Logged>>,
}

struct Logged {
    line: String,
    at: Instant,
    left_out: u64,
}

impl Throttle {
    pub const fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
        }
    }

    /// `Some(repeats left out since the last time)` when `line` should be logged now.
    pub fn due(&self, line: &str) -> Option<u64> {
        self.due_at(line, Instant::now())
    }

    fn due_at(&self, line: &str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let left_out = match last.as_mut() {
            Some(logged)
                if logged.line == line && now.saturating_duration_since(logged.at) < self.every =>
            {
                logged.left_out = logged.left_out.saturating_add(1);
                return None;
            }
            Some(logged) if logged.line == line => logged.left_out,
            _ => 0,
        };
        *last = Some(Logged {
            line: line.to_owned(),
            at: now,
            left_out: 0,
        });
        Some(left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_line_is_logged_once_per_interval_with_the_count_left_out() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(throttle.due_at("HTTP 401", at(0)), Some(0));
        assert_eq!(throttle.due_at("HTTP 401", at(1)), None);
        assert_eq!(throttle.due_at("HTTP 401", at(59)), None);
        assert_eq!(throttle.due_at("HTTP 401", at(60)), Some(2));
        // A different failure is news: logged at once.
        assert_eq!(throttle.due_at("cannot connect", at(61)), Some(0));
        assert_eq!(throttle.due_at("HTTP 401", at(62)), Some(0));
    }
}
