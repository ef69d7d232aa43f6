//! Connection hygiene settings: header timeout, header size cap, idle timeout, connection cap.

use std::time::Duration;

use clap::Args;

use super::validate::{ConfigError, invalid};

/// The command-line half, flattened into [`super::Cli`].
#[derive(Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Seconds a client has to send a complete request head (request line and headers); slower
    /// connections are closed (slowloris).
    #[arg(long, env = "ASHLEY_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Largest request head (request line and headers) in bytes; larger ones get 431.
    #[arg(long, env = "ASHLEY_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// Seconds a keep-alive connection may wait for its next request before it is closed.
    /// A streamed reply is not idle, however long it runs.
    #[arg(long, env = "ASHLEY_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Client connections served at once; more are answered 503 and closed.
    #[arg(long, env = "ASHLEY_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,
}

/// The checked settings the server applies to every connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_header_bytes: usize,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            idle_timeout: Duration::from_secs(60),
            max_connections: 16_384,
        }
    }
}

/// Smallest header cap: a browser's ordinary request head with cookies fits well within it.
const MIN_HEADER_BYTES: usize = 4 * 1024;
/// Largest header cap: hyper buffers up to four times this per connection.
const MAX_HEADER_BYTES: usize = 1024 * 1024;

impl ConnectionArgs {
    pub(super) fn check(&self) -> Result<ConnectionLimits, ConfigError> {
        if self.header_timeout_secs == 0 {
            return Err(invalid(
                "ASHLEY_HEADER_TIMEOUT_SECS",
                "must be at least 1 s",
            ));
        }
        if self.idle_timeout_secs == 0 {
            return Err(invalid("ASHLEY_IDLE_TIMEOUT_SECS", "must be at least 1 s"));
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&self.max_header_bytes) {
            return Err(invalid(
                "ASHLEY_MAX_HEADER_BYTES",
                format!("must be between {MIN_HEADER_BYTES} and {MAX_HEADER_BYTES}"),
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("ASHLEY_MAX_CONNECTIONS", "must be at least 1"));
        }
        Ok(ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            max_header_bytes: self.max_header_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser as _;

    use crate::{Cli, Config};

    fn from(args: &[&str]) -> Result<Config, crate::config::ConfigError> {
        let mut all = vec!["ashley-proxy"];
        all.extend_from_slice(args);
        Config::from_cli(Cli::try_parse_from(all).unwrap())
    }

    #[test]
    fn defaults_match_and_bad_values_are_named() {
        assert_eq!(
            from(&[]).unwrap().connections,
            super::ConnectionLimits::default()
        );
        for (flag, value, setting) in [
            ("--header-timeout-secs", "0", "ASHLEY_HEADER_TIMEOUT_SECS"),
            ("--idle-timeout-secs", "0", "ASHLEY_IDLE_TIMEOUT_SECS"),
            ("--max-header-bytes", "100", "ASHLEY_MAX_HEADER_BYTES"),
            ("--max-connections", "0", "ASHLEY_MAX_CONNECTIONS"),
        ] {
            assert_eq!(from(&[flag, value]).unwrap_err().setting, setting);
        }
        let set = from(&["--max-connections", "20000", "--max-header-bytes", "8192"]).unwrap();
        assert_eq!(set.connections.max_connections, 20_000);
        assert_eq!(set.connections.max_header_bytes, 8192);
    }
}
