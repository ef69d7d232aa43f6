//! The command line: every flag with its environment variable and default, as `--help` shows them.

use std::{net::IpAddr, path::PathBuf};

use clap::{Parser, ValueEnum};

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
    /// Directory of the live SQLite database, on local disk (never a bucket mount).
    #[arg(long, env = "ASHLEY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub backup: crate::backup::BackupArgs,
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
    /// The address people reach Ashley at (e.g. https://ashley.example.org). On https, the
    /// sign-in cookie is `Secure; SameSite=None` so it works inside an iframe (a Space's page);
    /// on http it is `SameSite=Lax`. Defaults to https://$SPACE_HOST on a Hugging Face Space.
    #[arg(long, env = "ASHLEY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Set by Hugging Face on a Space: the Space's own host name.
    #[arg(long, env = "SPACE_HOST", hide = true)]
    pub space_host: Option<String>,
    /// Hours a guest's conversation may stay idle before it is deleted [default: 24]. A signed-in
    /// user's conversations stay until they delete them.
    #[arg(long, env = "ASHLEY_GUEST_TTL_HOURS")]
    pub guest_ttl_hours: Option<u64>,
    /// Whether the model names each conversation after its first reply (a short call that no
    /// daily budget counts); `off`: conversations keep the first words of their first message.
    #[arg(long, env = "ASHLEY_MODEL_TITLES", default_value = "on", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub model_titles: bool,
    /// The old name of ASHLEY_GUEST_TTL_HOURS, still read when that is not set.
    #[arg(long, env = "ASHLEY_SESSION_TTL_HOURS")]
    pub session_ttl_hours: Option<u64>,
    /// Stored messages sent upstream as context before the new message.
    #[arg(long, env = "ASHLEY_HISTORY_MESSAGES", default_value_t = 20)]
    pub history_messages: usize,
    /// The model's context size in tokens. When set, only the system prompt and the newest
    /// messages that fit (by an estimate) are sent; 0 means unknown: everything up to
    /// ASHLEY_HISTORY_MESSAGES is sent and only the provider's overflow error trims it.
    #[arg(long, env = "ASHLEY_CONTEXT_TOKENS", default_value_t = 0)]
    pub context_tokens: usize,
    /// Moderation: `auto` (OpenAI's endpoint when the provider is api.openai.com or
    /// ASHLEY_MODERATION_BASE_URL is set, else the local word list), `openai`, `guard` (a guard
    /// model, ASHLEY_GUARD_MODEL) or `local`.
    #[arg(long, env = "ASHLEY_MODERATION", value_enum, default_value_t = ModerationChoice::Auto)]
    pub moderation: ModerationChoice,
    /// The guard model `ASHLEY_MODERATION=guard` asks through the chat-completions API, e.g.
    /// meta-llama/Llama-Guard-3-8B on the Hugging Face router. It must answer in Llama Guard's format.
    #[arg(long, env = "ASHLEY_GUARD_MODEL")]
    pub guard_model: Option<String>,
    /// What to do when the moderation call fails: `closed` refuses to send, `open` sends unchecked and says so.
    #[arg(long, env = "ASHLEY_MODERATION_FAILURE", value_enum, default_value_t = FailurePolicy::Closed)]
    pub moderation_failure: FailurePolicy,
    /// Base URL of the moderation endpoint or the guard model [default: OPENAI_BASE_URL].
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
    /// Largest file `POST /api/import` accepts, in bytes (an export of many conversations).
    #[arg(long, env = "ASHLEY_MAX_IMPORT_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_import_bytes: usize,
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
    // Connection hygiene (header timeout, header size, idle timeout, connection cap).
    #[command(flatten)]
    pub connections: super::connections::ConnectionArgs,
    // Sign-in (OpenID Connect), guests and how long a sign-in lasts.
    #[command(flatten)]
    pub accounts: super::accounts::AccountArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModerationChoice {
    Auto,
    Openai,
    Guard,
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
