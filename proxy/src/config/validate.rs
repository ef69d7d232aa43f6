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
        if cli.upstream_check_secs == 0 {
            return Err(invalid("ASHLEY_UPSTREAM_CHECK_SECS", "must be at least 1"));
        }
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
    }
}
