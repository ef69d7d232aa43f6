//! Configuration: every flag with its environment variable, checked once at startup.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Parser, ValueEnum};
use reqwest::Url;

use crate::personas::Personas;

/// The official API; any OpenAI-compatible server works (Ollama, vLLM, llama.cpp, the HF router).
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The Ashley proxy: holds the API key, serves the app, its chat API and an OpenAI-compatible API.
///
/// Every option can also be set through the environment variable shown with it.
#[derive(Parser, Debug, Clone)]
#[command(name = "ashley-proxy", version, about, long_about = None)]
pub struct Cli {
    /// API key for the upstream. Without one (and without HF_TOKEN for a Hugging Face
    /// endpoint) the proxy answers from its offline demo backend.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Base URL of the OpenAI-compatible upstream (OpenAI, Ollama, vLLM, llama.cpp, the HF router).
    #[arg(long, env = "OPENAI_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub openai_base_url: String,
    /// Model the personas are answered with.
    #[arg(long, env = "OPENAI_MODEL", default_value = "gpt-4")]
    pub openai_model: String,
    /// Hugging Face token: used as the key when OPENAI_API_KEY is unset and the base URL is a
    /// Hugging Face endpoint (huggingface.co, hf.space).
    #[arg(long, env = "HF_TOKEN", hide_env_values = true)]
    pub hf_token: Option<String>,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 7860)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, env = "ASHLEY_HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Directory of the SQLite database [default: /data when it exists and is writable, else ./data].
    #[arg(long, env = "ASHLEY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory holding the trunk web bundle.
    #[arg(long, env = "ASHLEY_WEB_DIR", default_value = "dist")]
    pub web_dir: PathBuf,
    /// Personas file (TOML) replacing the built-in personas (see proxy/personas.toml).
    #[arg(long, env = "ASHLEY_PERSONAS")]
    pub personas: Option<PathBuf>,
    /// Requests per minute per client on the chat and session endpoints; 0 disables the limit.
    #[arg(long, env = "ASHLEY_RATE_LIMIT", default_value_t = 60)]
    pub rate_limit: u32,
    /// How many reverse proxies in front of this one append to X-Forwarded-For. 0 ignores the
    /// header (clients are identified by their TCP peer address); 1 suits a Hugging Face Space.
    #[arg(long, env = "ASHLEY_TRUSTED_PROXIES", default_value_t = 0)]
    pub trusted_proxies: usize,
    /// Hours a session may stay idle before it is deleted.
    #[arg(long, env = "ASHLEY_SESSION_TTL_HOURS", default_value_t = 24)]
    pub session_ttl_hours: u64,
    /// Stored messages sent upstream as context before the new message.
    #[arg(long, env = "ASHLEY_HISTORY_MESSAGES", default_value_t = 20)]
    pub history_messages: usize,
    /// Moderation: `auto` (OpenAI's endpoint with a key, the local word list without), `openai` or `local`.
    #[arg(long, env = "ASHLEY_MODERATION", value_enum, default_value_t = ModerationChoice::Auto)]
    pub moderation: ModerationChoice,
    /// What to do when the moderation call fails: `closed` refuses to send, `open` sends unchecked and says so.
    #[arg(long, env = "ASHLEY_MODERATION_FAILURE", value_enum, default_value_t = FailurePolicy::Closed)]
    pub moderation_failure: FailurePolicy,
    /// Base URL of the moderation endpoint [default: OPENAI_BASE_URL].
    #[arg(long, env = "ASHLEY_MODERATION_BASE_URL")]
    pub moderation_base_url: Option<String>,
    /// Moderation verdicts kept in the LRU cache.
    #[arg(long, env = "ASHLEY_MODERATION_CACHE", default_value_t = 4096)]
    pub moderation_cache: usize,
    /// Upstream calls allowed at once; more wait in a queue.
    #[arg(long, env = "ASHLEY_MAX_UPSTREAM_CONCURRENCY", default_value_t = 64)]
    pub max_upstream_concurrency: usize,
    /// Seconds allowed to connect to the upstream.
    #[arg(
        long,
        env = "ASHLEY_UPSTREAM_CONNECT_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub upstream_connect_timeout_secs: u64,
    /// Seconds allowed for a whole non-streamed upstream call, and between two chunks of a stream.
    #[arg(long, env = "ASHLEY_UPSTREAM_TIMEOUT_SECS", default_value_t = 120)]
    pub upstream_timeout_secs: u64,
    /// Retries of a failed upstream call before anything was forwarded (0 to 2).
    #[arg(long, env = "ASHLEY_UPSTREAM_RETRIES", default_value_t = 2)]
    pub upstream_retries: u32,
    /// First retry delay in milliseconds; doubles each retry, plus jitter.
    #[arg(long, env = "ASHLEY_UPSTREAM_RETRY_BASE_MS", default_value_t = 500)]
    pub upstream_retry_base_ms: u64,
    /// Seconds between upstream reachability checks shown in /api/status.
    #[arg(long, env = "ASHLEY_UPSTREAM_CHECK_SECS", default_value_t = 60)]
    pub upstream_check_secs: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ASHLEY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Milliseconds between the demo backend's deltas.
    #[arg(long, env = "ASHLEY_DEMO_DELAY_MS", default_value_t = 15)]
    pub demo_delay_ms: u64,
    /// Seconds in-flight streams may keep running after SIGTERM.
    #[arg(long, env = "ASHLEY_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Also write logs to this file (appended).
    #[arg(long, env = "ASHLEY_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Log filter, e.g. `info` or `ashley_proxy=debug` (RUST_LOG syntax).
    #[arg(long, env = "ASHLEY_LOG", default_value = "info")]
    pub log: String,
    /// Log format: `text` or `json`.
    #[arg(long, env = "ASHLEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModerationChoice {
    Auto,
    Openai,
    Local,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailurePolicy {
    /// Refuse to send the message when moderation cannot be reached.
    Closed,
    /// Send it unchecked and tell the person.
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

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
    OpenAi { base_url: Url },
    Local,
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
    pub web_dir: PathBuf,
    pub personas: Personas,
    pub rate_limit_per_minute: u32,
    pub trusted_proxies: usize,
    pub session_ttl: Duration,
    pub history_messages: usize,
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
    pub demo_delay: Duration,
    pub shutdown_grace: Duration,
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
            web_dir: PathBuf::from("dist"),
            personas: Personas::builtin(),
            rate_limit_per_minute: 60,
            trusted_proxies: 0,
            session_ttl: Duration::from_secs(24 * 3600),
            history_messages: 20,
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
            demo_delay: Duration::from_millis(15),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

#[allow(clippy::expect_used)] // a constant that the tests parse: it cannot fail at run time
fn official_base_url() -> Url {
    base_url(DEFAULT_BASE_URL).expect("the default base URL parses")
}

/// A setting that stops startup, naming the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
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

fn is_hugging_face(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host == "huggingface.co"
            || host.ends_with(".huggingface.co")
            || host.ends_with(".hf.space")
            || host.ends_with(".endpoints.huggingface.cloud")
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn default_data_dir() -> PathBuf {
    let space_storage = Path::new("/data");
    let writable = space_storage.is_dir()
        && std::fs::metadata(space_storage).is_ok_and(|meta| !meta.permissions().readonly());
    if writable {
        space_storage.to_path_buf()
    } else {
        PathBuf::from("data")
    }
}

impl Config {
    /// Checks the command line; the error names the setting that is wrong.
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let base = base_url(&cli.openai_base_url).map_err(|err| invalid("OPENAI_BASE_URL", err))?;
        let api_key = match (non_empty(cli.openai_api_key), non_empty(cli.hf_token)) {
            (Some(key), _) => Some(Secret::new(key)),
            (None, Some(token)) if is_hugging_face(&base) => Some(Secret::new(token)),
            (None, _) => None,
        };
        if let Some(key) = &api_key
            && key
                .expose()
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            return Err(invalid(
                "OPENAI_API_KEY",
                "contains whitespace or control characters",
            ));
        }
        let model = cli.openai_model.trim().to_owned();
        if model.is_empty() {
            return Err(invalid("OPENAI_MODEL", "must not be empty"));
        }
        let personas = match &cli.personas {
            Some(path) => {
                Personas::load(path).map_err(|err| invalid("ASHLEY_PERSONAS", err.to_string()))?
            }
            None => Personas::builtin(),
        };
        let moderation = match (cli.moderation, &api_key) {
            (ModerationChoice::Local, _) | (ModerationChoice::Auto, None) => ModerationMode::Local,
            (ModerationChoice::Openai, None) => {
                return Err(invalid(
                    "ASHLEY_MODERATION",
                    "`openai` needs OPENAI_API_KEY; use `local` or `auto`",
                ));
            }
            (ModerationChoice::Openai | ModerationChoice::Auto, Some(_)) => {
                let url = match &cli.moderation_base_url {
                    Some(text) => {
                        base_url(text).map_err(|err| invalid("ASHLEY_MODERATION_BASE_URL", err))?
                    }
                    None => base.clone(),
                };
                ModerationMode::OpenAi { base_url: url }
            }
        };
        if cli.upstream_retries > 2 {
            return Err(invalid("ASHLEY_UPSTREAM_RETRIES", "must be 0, 1 or 2"));
        }
        if cli.max_upstream_concurrency == 0 {
            return Err(invalid(
                "ASHLEY_MAX_UPSTREAM_CONCURRENCY",
                "must be at least 1",
            ));
        }
        if cli.session_ttl_hours == 0 {
            return Err(invalid("ASHLEY_SESSION_TTL_HOURS", "must be at least 1"));
        }
        if cli.history_messages > 200 {
            return Err(invalid("ASHLEY_HISTORY_MESSAGES", "must be at most 200"));
        }
        if cli.moderation_cache == 0 {
            return Err(invalid("ASHLEY_MODERATION_CACHE", "must be at least 1"));
        }
        if cli.upstream_timeout_secs == 0 || cli.upstream_connect_timeout_secs == 0 {
            return Err(invalid(
                "ASHLEY_UPSTREAM_TIMEOUT_SECS",
                "timeouts must be at least 1 s",
            ));
        }
        if cli.max_body_bytes < 16 * 1024 {
            return Err(invalid("ASHLEY_MAX_BODY_BYTES", "must be at least 16384"));
        }
        if cli.upstream_check_secs == 0 {
            return Err(invalid("ASHLEY_UPSTREAM_CHECK_SECS", "must be at least 1"));
        }
        Ok(Self {
            listen: SocketAddr::new(cli.host, cli.port),
            api_key,
            base_url: base,
            model,
            data_dir: cli.data_dir.unwrap_or_else(default_data_dir),
            web_dir: cli.web_dir,
            personas,
            rate_limit_per_minute: cli.rate_limit,
            trusted_proxies: cli.trusted_proxies,
            session_ttl: Duration::from_secs(cli.session_ttl_hours.saturating_mul(3600)),
            history_messages: cli.history_messages,
            moderation,
            moderation_failure: cli.moderation_failure,
            moderation_cache: cli.moderation_cache,
            max_upstream_concurrency: cli.max_upstream_concurrency,
            upstream_connect_timeout: Duration::from_secs(cli.upstream_connect_timeout_secs),
            upstream_timeout: Duration::from_secs(cli.upstream_timeout_secs),
            upstream_retries: cli.upstream_retries,
            upstream_retry_base: Duration::from_millis(cli.upstream_retry_base_ms),
            upstream_check_interval: Duration::from_secs(cli.upstream_check_secs),
            max_body_bytes: cli.max_body_bytes,
            demo_delay: Duration::from_millis(cli.demo_delay_ms),
            shutdown_grace: Duration::from_secs(cli.shutdown_grace_secs),
        })
    }

    /// Live mode with this key against this OpenAI-compatible base URL, moderation through
    /// the same upstream. For tests and embedding.
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
            ModerationMode::Local => "local word list".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["ashley-proxy"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn base_urls_get_a_trailing_slash_and_lose_credentials_when_shown() {
        let url = base_url("http://user:pw@localhost:11434/v1").unwrap();
        assert_eq!(url.path(), "/v1/");
        assert_eq!(display_url(&url), "http://localhost:11434/v1/");
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("not a url").is_err());
    }

    #[test]
    fn hf_token_is_the_key_only_for_hugging_face_endpoints() {
        let hf = Config::from_cli(cli(&[
            "--hf-token",
            "hf_x",
            "--openai-base-url",
            "https://router.huggingface.co/v1",
        ]))
        .unwrap();
        assert_eq!(hf.api_key.unwrap().expose(), "hf_x");
        let other = Config::from_cli(cli(&[
            "--hf-token",
            "hf_x",
            "--openai-base-url",
            "http://localhost:1/v1",
        ]))
        .unwrap();
        assert!(other.api_key.is_none());
    }

    #[test]
    fn bad_settings_are_named() {
        let err = Config::from_cli(cli(&["--openai-base-url", "nope"])).unwrap_err();
        assert_eq!(err.setting, "OPENAI_BASE_URL");
        let err = Config::from_cli(cli(&["--upstream-retries", "5"])).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_UPSTREAM_RETRIES");
        let err = Config::from_cli(cli(&["--moderation", "openai"])).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_MODERATION");
        assert!(err.to_string().contains("ASHLEY_MODERATION"));
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::live("sk-test-secret", "http://127.0.0.1:9/v1").unwrap();
        assert!(!format!("{config:?}").contains("sk-test-secret"));
    }
}
