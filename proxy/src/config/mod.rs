//! Configuration: every flag with its environment variable, checked once at startup.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use reqwest::Url;

use crate::personas::Personas;

mod accounts;
mod cli;
mod connections;
mod validate;

pub use accounts::{AccountArgs, Accounts, Guests, Limits, Provider, Quotas, V1Access};
pub use cli::{Cli, DEFAULT_BASE_URL, FailurePolicy, LogFormat, ModerationChoice};
pub use connections::{ConnectionArgs, ConnectionLimits};
pub use validate::ConfigError;
use validate::invalid;

/// A secret that never prints: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The only way to read the value; grep for it to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which moderator runs, resolved from [`ModerationChoice`] and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModerationMode {
    /// OpenAI's `/moderations` endpoint at this base URL.
    OpenAi { base_url: Url },
    /// A guard model (Llama Guard) asked through `{base_url}chat/completions`.
    Guard { base_url: Url, model: String },
    /// The local word list: chosen, or there is no key.
    Local,
    /// The local word list because `auto` found no moderation endpoint: the provider at `host`
    /// is not api.openai.com.
    LocalFallback { host: String },
}

/// The checked settings the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None`: demo mode.
    pub api_key: Option<Secret>,
    /// Always ends with `/` so relative joins keep its path.
    pub base_url: Url,
    pub model: String,
    pub data_dir: PathBuf,
    /// Snapshots of the database to persistent storage (see `crate::backup`).
    pub backup: crate::backup::BackupSettings,
    pub web_dir: PathBuf,
    pub personas: Personas,
    pub rate_limit_per_minute: u32,
    pub trusted_proxies: usize,
    /// Where people reach Ashley (`ASHLEY_PUBLIC_URL`, or the Space's address); `None`: not
    /// known (a local run), so cookies are for plain http.
    pub public_url: Option<Url>,
    /// Sign-in, guests, credential lifetime.
    pub accounts: Accounts,
    /// How long a guest's conversation may stay idle (`ASHLEY_GUEST_TTL_HOURS`, formerly
    /// `ASHLEY_SESSION_TTL_HOURS`); a signed-in user's stay until deleted.
    pub guest_ttl: Duration,
    /// The model names conversations after their first reply (`ASHLEY_MODEL_TITLES`).
    pub model_titles: bool,
    pub history_messages: usize,
    /// The model's context size in tokens; 0 means unknown (see [`crate::chat::fit`]).
    pub context_tokens: usize,
    pub moderation: ModerationMode,
    pub moderation_failure: FailurePolicy,
    pub moderation_cache: usize,
    pub max_upstream_concurrency: usize,
    pub upstream_connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub upstream_retries: u32,
    pub upstream_retry_base: Duration,
    pub upstream_check_interval: Duration,
    pub max_body_bytes: usize,
    /// The largest file `POST /api/import` takes (an export can be far larger than a message).
    pub max_import_bytes: usize,
    pub demo_delay: Duration,
    pub shutdown_grace: Duration,
    /// Header timeout, header size cap, idle timeout and connection cap (see `serve`).
    pub connections: ConnectionLimits,
    /// Tests: caps the database at this many pages (`PRAGMA max_page_count`), so a test can
    /// fill the "disk" without root. No setting reads it.
    #[doc(hidden)]
    pub store_max_pages: Option<u64>,
}

impl Default for Config {
    /// Demo mode with the built-in personas, data in `./data`, the bundle in `./dist`.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 7860)),
            api_key: None,
            base_url: official_base_url(),
            model: "gpt-4".to_owned(),
            data_dir: PathBuf::from("data"),
            backup: crate::backup::BackupSettings::default(),
            web_dir: PathBuf::from("dist"),
            personas: Personas::builtin(),
            rate_limit_per_minute: 60,
            trusted_proxies: 0,
            public_url: None,
            accounts: Accounts::default(),
            guest_ttl: Duration::from_secs(24 * 3600),
            model_titles: true,
            history_messages: 20,
            context_tokens: 0,
            moderation: ModerationMode::Local,
            moderation_failure: FailurePolicy::Closed,
            moderation_cache: 4096,
            max_upstream_concurrency: 64,
            upstream_connect_timeout: Duration::from_secs(10),
            upstream_timeout: Duration::from_secs(120),
            upstream_retries: 2,
            upstream_retry_base: Duration::from_millis(500),
            upstream_check_interval: Duration::from_secs(60),
            max_body_bytes: 1024 * 1024,
            max_import_bytes: 32 * 1024 * 1024,
            demo_delay: Duration::from_millis(15),
            shutdown_grace: Duration::from_secs(10),
            connections: ConnectionLimits::default(),
            store_max_pages: None,
        }
    }
}

#[allow(clippy::expect_used)] // a constant that the tests parse: it cannot fail at run time
fn official_base_url() -> Url {
    base_url(DEFAULT_BASE_URL).expect("the default base URL parses")
}

/// Parses an http(s) base URL and makes sure it ends with `/`.
pub fn base_url(text: &str) -> Result<Url, String> {
    let mut url =
        Url::parse(text.trim()).map_err(|err| format!("{text:?} is not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The URL with any user name or password removed, for status and logs.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

impl Config {
    /// Live mode with this key against this OpenAI-compatible base URL, moderation through
    /// the same upstream's `/moderations` (as `ASHLEY_MODERATION=openai`). For tests and embedding.
    pub fn live(api_key: &str, base: &str) -> Result<Self, ConfigError> {
        let base = base_url(base).map_err(|err| invalid("OPENAI_BASE_URL", err))?;
        Ok(Self {
            api_key: Some(Secret::new(api_key)),
            moderation: ModerationMode::OpenAi {
                base_url: base.clone(),
            },
            base_url: base,
            ..Self::default()
        })
    }

    /// What `/api/status` says about moderation.
    pub fn moderation_description(&self) -> String {
        let policy = match self.moderation_failure {
            FailurePolicy::Closed => "fail-closed",
            FailurePolicy::Open => "fail-open",
        };
        match &self.moderation {
            ModerationMode::OpenAi { .. } => {
                format!("openai ({}), {policy}", crate::moderation::OPENAI_MODEL)
            }
            ModerationMode::Guard { model, .. } => format!("guard model {model}, {policy}"),
            ModerationMode::Local => "local word list".to_owned(),
            ModerationMode::LocalFallback { host } => format!(
                "local word list (auto: {host} is not api.openai.com; set ASHLEY_MODERATION=guard for a guard model)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn base_urls_get_a_trailing_slash_and_lose_credentials_when_shown() {
        let url = base_url("http://user:pw@localhost:11434/v1").unwrap();
        assert_eq!(url.path(), "/v1/");
        assert_eq!(display_url(&url), "http://localhost:11434/v1/");
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("not a url").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::live("sk-test-secret", "http://127.0.0.1:9/v1").unwrap();
        assert!(!format!("{config:?}").contains("sk-test-secret"));
    }
}
