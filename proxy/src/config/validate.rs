//! Turning the command line into a [`Config`]: defaults resolved, every value checked.

use std::{fmt, net::SocketAddr, time::Duration};

use reqwest::Url;

use super::{Cli, Config, ModerationChoice, ModerationMode, Secret, base_url};
use crate::personas::Personas;

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

pub(super) fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

fn is_hugging_face(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host == "huggingface.co"
            || host.ends_with(".huggingface.co")
            || host.ends_with(".hf.space")
            || host.ends_with(".endpoints.huggingface.cloud")
    })
}

/// Smaller than any chat model's context: a typo (a missing zero), not a model.
const MIN_CONTEXT_TOKENS: usize = 256;

/// `ASHLEY_GUEST_TTL_HOURS` when neither it nor its old name is set.
const DEFAULT_GUEST_TTL_HOURS: u64 = 24;

/// OpenAI's own API: the only provider known to serve `/v1/moderations`. Decided from the host
/// rather than by probing at start-up: a probe that fails for a moment (network, a restart)
/// would silently swap the safety check, and the answer would depend on when the proxy started.
fn is_openai(url: &Url) -> bool {
    url.host_str() == Some("api.openai.com")
}

/// Which moderator runs; the error names the setting to fix.
fn moderation_mode(
    choice: ModerationChoice,
    moderation_base_url: Option<&str>,
    guard_model: Option<String>,
    base: &Url,
    has_key: bool,
) -> Result<ModerationMode, ConfigError> {
    let moderation_url = moderation_base_url
        .map(|text| base_url(text).map_err(|err| invalid("ASHLEY_MODERATION_BASE_URL", err)))
        .transpose()?;
    if guard_model.is_some() && choice != ModerationChoice::Guard {
        return Err(invalid(
            "ASHLEY_GUARD_MODEL",
            "is set but ASHLEY_MODERATION is not `guard`; set ASHLEY_MODERATION=guard to use the guard model, or unset ASHLEY_GUARD_MODEL",
        ));
    }
    let endpoint = || moderation_url.clone().unwrap_or_else(|| base.clone());
    Ok(match (choice, has_key) {
        (ModerationChoice::Local, _) | (ModerationChoice::Auto, false) => ModerationMode::Local,
        (ModerationChoice::Openai | ModerationChoice::Guard, false) => {
            return Err(invalid(
                "ASHLEY_MODERATION",
                "`openai` and `guard` need OPENAI_API_KEY (without a key the proxy runs its demo); use `local` or `auto`",
            ));
        }
        (ModerationChoice::Openai, true) => ModerationMode::OpenAi {
            base_url: endpoint(),
        },
        (ModerationChoice::Guard, true) => {
            let Some(model) = guard_model else {
                return Err(invalid(
                    "ASHLEY_GUARD_MODEL",
                    "ASHLEY_MODERATION=guard needs the guard model's name, e.g. meta-llama/Llama-Guard-3-8B",
                ));
            };
            ModerationMode::Guard {
                base_url: endpoint(),
                model,
            }
        }
        (ModerationChoice::Auto, true) => match &moderation_url {
            Some(url) => ModerationMode::OpenAi {
                base_url: url.clone(),
            },
            None if is_openai(base) => ModerationMode::OpenAi {
                base_url: base.clone(),
            },
            None => ModerationMode::LocalFallback {
                host: base.host_str().unwrap_or("the provider").to_owned(),
            },
        },
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
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
        let moderation = moderation_mode(
            cli.moderation,
            cli.moderation_base_url.as_deref(),
            non_empty(cli.guard_model.clone()),
            &base,
            api_key.is_some(),
        )?;
        if cli.context_tokens != 0 && cli.context_tokens < MIN_CONTEXT_TOKENS {
            return Err(invalid(
                "ASHLEY_CONTEXT_TOKENS",
                format!("must be 0 (unknown) or at least {MIN_CONTEXT_TOKENS}"),
            ));
        }
        if cli.upstream_retries > 2 {
            return Err(invalid("ASHLEY_UPSTREAM_RETRIES", "must be 0, 1 or 2"));
        }
        if cli.max_upstream_concurrency == 0 {
            return Err(invalid(
                "ASHLEY_MAX_UPSTREAM_CONCURRENCY",
                "must be at least 1",
            ));
        }
        let (guest_ttl_hours, guest_ttl_setting) =
            match (cli.guest_ttl_hours, cli.session_ttl_hours) {
                (Some(hours), _) => (hours, "ASHLEY_GUEST_TTL_HOURS"),
                (None, Some(hours)) => (hours, "ASHLEY_SESSION_TTL_HOURS"),
                (None, None) => (DEFAULT_GUEST_TTL_HOURS, "ASHLEY_GUEST_TTL_HOURS"),
            };
        if guest_ttl_hours == 0 {
            return Err(invalid(guest_ttl_setting, "must be at least 1"));
        }
        if cli.history_messages > 200 {
            return Err(invalid("ASHLEY_HISTORY_MESSAGES", "must be at most 200"));
        }
        if cli.moderation_cache == 0 {
            return Err(invalid("ASHLEY_MODERATION_CACHE", "must be at least 1"));
        }
        if cli.upstream_timeout_secs == 0 {
            return Err(invalid(
                "ASHLEY_UPSTREAM_TIMEOUT_SECS",
                "must be at least 1 s",
            ));
        }
        if cli.upstream_connect_timeout_secs == 0 {
            return Err(invalid(
                "ASHLEY_UPSTREAM_CONNECT_TIMEOUT_SECS",
                "must be at least 1 s",
            ));
        }
        if cli.max_body_bytes < 16 * 1024 {
            return Err(invalid("ASHLEY_MAX_BODY_BYTES", "must be at least 16384"));
        }
        if cli.max_import_bytes < 16 * 1024 {
            return Err(invalid("ASHLEY_MAX_IMPORT_BYTES", "must be at least 16384"));
        }
        if cli.upstream_check_secs == 0 {
            return Err(invalid("ASHLEY_UPSTREAM_CHECK_SECS", "must be at least 1"));
        }
        let connections = cli.connections.check()?;
        let public_url = public_url(cli.public_url.as_deref(), cli.space_host.as_deref())?;
        let accounts = cli.accounts.check(public_url.as_ref())?;
        Ok(Self {
            listen: SocketAddr::new(cli.host, cli.port),
            api_key,
            base_url: base,
            model,
            backup: crate::backup::BackupSettings::from_args(&cli.backup, &cli.data_dir)?,
            data_dir: cli.data_dir,
            web_dir: cli.web_dir,
            personas,
            rate_limit_per_minute: cli.rate_limit,
            trusted_proxies: cli.trusted_proxies,
            public_url,
            accounts,
            guest_ttl: Duration::from_secs(guest_ttl_hours.saturating_mul(3600)),
            model_titles: cli.model_titles,
            history_messages: cli.history_messages,
            context_tokens: cli.context_tokens,
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
            max_import_bytes: cli.max_import_bytes,
            demo_delay: Duration::from_millis(cli.demo_delay_ms),
            shutdown_grace: Duration::from_secs(cli.shutdown_grace_secs),
            connections,
            store_max_pages: None,
        })
    }
}

/// `ASHLEY_PUBLIC_URL` when set, else the Space's own address.
fn public_url(setting: Option<&str>, space_host: Option<&str>) -> Result<Option<Url>, ConfigError> {
    match (setting, space_host) {
        (Some(text), _) => {
            let url = Url::parse(text).map_err(|err| {
                invalid(
                    "ASHLEY_PUBLIC_URL",
                    format!("{text:?} is not a URL ({err}); give the address people open, e.g. https://ashley.example.org"),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(invalid(
                    "ASHLEY_PUBLIC_URL",
                    format!("{text:?} must start with https:// (or http:// for a local test)"),
                ));
            }
            Ok(Some(url))
        }
        (None, Some(host)) if !host.is_empty() => Ok(Url::parse(&format!("https://{host}")).ok()),
        (None, _) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use clap::Parser as _;

    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["ashley-proxy"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
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
        let err = Config::from_cli(cli(&["--upstream-connect-timeout-secs", "0"])).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_UPSTREAM_CONNECT_TIMEOUT_SECS");
        let err = Config::from_cli(cli(&["--moderation", "openai"])).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_MODERATION");
        assert!(err.to_string().contains("ASHLEY_MODERATION"));
        let err = Config::from_cli(cli(&["--context-tokens", "100"])).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_CONTEXT_TOKENS");
    }

    fn with_key(args: &[&str]) -> Result<Config, ConfigError> {
        let mut all = vec!["--openai-api-key", "sk-x"];
        all.extend_from_slice(args);
        Config::from_cli(cli(&all))
    }

    #[test]
    fn auto_moderation_uses_openai_only_where_it_exists() {
        let openai = with_key(&[]).unwrap();
        assert!(matches!(openai.moderation, ModerationMode::OpenAi { .. }));
        let llama = with_key(&["--openai-base-url", "http://127.0.0.1:8080/v1"]).unwrap();
        assert_eq!(
            llama.moderation,
            ModerationMode::LocalFallback {
                host: "127.0.0.1".to_owned()
            }
        );
        assert!(
            llama
                .moderation_description()
                .starts_with("local word list (auto: 127.0.0.1 is not api.openai.com")
        );
        let named = with_key(&[
            "--openai-base-url",
            "http://127.0.0.1:8080/v1",
            "--moderation-base-url",
            "http://127.0.0.1:9090/v1",
        ])
        .unwrap();
        assert!(
            matches!(&named.moderation, ModerationMode::OpenAi { base_url } if base_url.port() == Some(9090))
        );
        assert_eq!(
            with_key(&[
                "--openai-base-url",
                "http://127.0.0.1:8080/v1",
                "--context-tokens",
                "2048"
            ])
            .unwrap()
            .context_tokens,
            2048
        );
    }

    #[test]
    fn guard_moderation_needs_its_model_and_names_it() {
        let err = with_key(&["--moderation", "guard"]).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_GUARD_MODEL");
        let err = with_key(&["--guard-model", "meta-llama/Llama-Guard-3-8B"]).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_GUARD_MODEL");
        let err =
            Config::from_cli(cli(&["--moderation", "guard", "--guard-model", "g"])).unwrap_err();
        assert_eq!(err.setting, "ASHLEY_MODERATION");
        let guard = with_key(&[
            "--openai-base-url",
            "https://router.huggingface.co/v1",
            "--moderation",
            "guard",
            "--guard-model",
            " meta-llama/Llama-Guard-3-8B ",
        ])
        .unwrap();
        assert_eq!(
            guard.moderation_description(),
            "guard model meta-llama/Llama-Guard-3-8B, fail-closed"
        );
        assert!(
            matches!(&guard.moderation, ModerationMode::Guard { base_url, .. } if base_url.host_str() == Some("router.huggingface.co"))
        );
    }
}
