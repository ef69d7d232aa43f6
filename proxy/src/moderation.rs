//! Moderation before the model: OpenAI's endpoint or a guard model, with an LRU verdict cache, or a local word list.
//!
//! Which one runs is decided once at start-up (see `ModerationMode` in `config`): `auto` uses
//! OpenAI's `/v1/moderations` only when the provider is api.openai.com (or
//! `ASHLEY_MODERATION_BASE_URL` names an endpoint), because other providers (llama.cpp, Ollama,
//! vLLM, the Hugging Face router) have none and every message would be refused; there it falls
//! back to the local word list. `guard` asks a guard model (Llama Guard) through the
//! chat-completions API ([`guard`]).
//!
//! The local word list (used without a key, or with `ASHLEY_MODERATION=local`) matches whole
//! words and phrases, case-insensitively, ignoring punctuation:
//!
//! | category  | phrases |
//! |-----------|---------|
//! | violence  | kill you, murder you, shoot you, stab you, bomb threat, build a bomb, make a bomb, mass shooting |
//! | self-harm | kill myself, end my life, suicide method, hurt myself, cut myself |
//! | harassment/threatening | i will find you, you deserve to die, go die |
//! | illicit   | make meth, cook meth, buy stolen credit cards |

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex, PoisonError, atomic::Ordering::Relaxed},
};

use lru::LruCache;
use reqwest::Url;

use crate::{
    config::{FailurePolicy, ModerationMode},
    metrics::Metrics,
    provider::{ProviderError, Upstream},
};

pub mod guard;

use guard::GuardFailure;

/// OpenAI's moderation model.
pub const OPENAI_MODEL: &str = "omni-moderation-latest";

/// The local moderator's list, documented in this module's header.
pub const LOCAL_WORD_LIST: &[(&str, &[&str])] = &[
    (
        "violence",
        &[
            "kill you",
            "murder you",
            "shoot you",
            "stab you",
            "bomb threat",
            "build a bomb",
            "make a bomb",
            "mass shooting",
        ],
    ),
    (
        "self-harm",
        &[
            "kill myself",
            "end my life",
            "suicide method",
            "hurt myself",
            "cut myself",
        ],
    ),
    (
        "harassment/threatening",
        &["i will find you", "you deserve to die", "go die"],
    ),
    (
        "illicit",
        &["make meth", "cook meth", "buy stolen credit cards"],
    ),
];

/// What to do with a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Allow,
    /// Moderation failed and the fail-open policy lets it through; the person is told.
    AllowUnchecked {
        notice: String,
    },
    /// Flagged: not sent upstream.
    Refuse {
        message: String,
        categories: Vec<String>,
    },
    /// Moderation failed and the fail-closed policy keeps it back.
    Unavailable {
        message: String,
    },
}

enum Backend {
    OpenAi { base_url: Url },
    Guard { base_url: Url, model: String },
    Local,
}

/// Why a check gave no verdict: decides what the person is told.
enum CheckFailure {
    /// Worth trying again: the moderator was slow, unreachable or overloaded.
    Transient,
    /// The moderator refuses every call (no such endpoint, bad key or model): the operator's job.
    Misconfigured,
    /// This message could not be judged: the guard answered something that is not a verdict,
    /// or the message is too long for the guard model.
    NoVerdict,
}

/// The moderator; `Clone` shares the cache.
#[derive(Clone)]
pub struct Moderator {
    backend: Arc<Backend>,
    upstream: Upstream,
    cache: Arc<Mutex<LruCache<String, Vec<String>>>>,
    policy: FailurePolicy,
    metrics: Arc<Metrics>,
}

impl Moderator {
    pub fn new(
        mode: &ModerationMode,
        policy: FailurePolicy,
        cache_size: usize,
        upstream: Upstream,
        metrics: Arc<Metrics>,
    ) -> Self {
        let backend = match mode {
            ModerationMode::OpenAi { base_url } => Backend::OpenAi {
                base_url: base_url.clone(),
            },
            ModerationMode::Guard { base_url, model } => Backend::Guard {
                base_url: base_url.clone(),
                model: model.clone(),
            },
            ModerationMode::Local | ModerationMode::LocalFallback { .. } => Backend::Local,
        };
        Self {
            backend: Arc::new(backend),
            upstream,
            cache: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(cache_size).unwrap_or(NonZeroUsize::MIN),
            ))),
            policy,
            metrics,
        }
    }

    /// Checks one message. Verdicts from the endpoint are cached, so repeated text costs no call.
    pub async fn check(&self, text: &str) -> Decision {
        if matches!(&*self.backend, Backend::Local) {
            return decide(local_flags(text));
        }
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(text)
            .cloned();
        if let Some(flags) = cached {
            self.metrics.moderation_cache_hits.fetch_add(1, Relaxed);
            return self.count(decide(flags));
        }
        self.metrics.moderation_calls.fetch_add(1, Relaxed);
        match self.ask(text).await {
            Ok(flags) => {
                self.cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .put(text.to_owned(), flags.clone());
                self.count(decide(flags))
            }
            Err(failure) => {
                self.metrics.moderation_failures.fetch_add(1, Relaxed);
                self.on_failure(&failure)
            }
        }
    }

    /// One call to the configured moderator; the failure is logged here.
    async fn ask(&self, text: &str) -> Result<Vec<String>, CheckFailure> {
        match &*self.backend {
            Backend::Local => Ok(local_flags(text)),
            Backend::OpenAi { base_url } => self
                .upstream
                .moderate(base_url, OPENAI_MODEL, text)
                .await
                .map_err(|err| {
                    tracing::warn!("moderation call failed: {}", err.log_line());
                    upstream_failure(&err)
                }),
            Backend::Guard { base_url, model } => {
                guard::check(&self.upstream, base_url, model, text)
                    .await
                    .map_err(|failure| match failure {
                        GuardFailure::Upstream(err) => {
                            tracing::warn!("guard model call failed: {}", err.log_line());
                            upstream_failure(&err)
                        }
                        GuardFailure::Unreadable(why) => {
                            tracing::warn!("guard model {model} gave no verdict: {why}");
                            CheckFailure::NoVerdict
                        }
                    })
            }
        }
    }

    fn on_failure(&self, failure: &CheckFailure) -> Decision {
        if self.policy == FailurePolicy::Open {
            return Decision::AllowUnchecked {
                notice: "The safety check was unavailable, so this message was sent to the model without moderation.".to_owned(),
            };
        }
        let message = match failure {
            CheckFailure::Transient => {
                "The safety check is unavailable right now, so your message was not sent to the model. Try again in a moment."
            }
            CheckFailure::Misconfigured => {
                "The safety check is not set up correctly on this server, so your message was not sent to the model. The operator needs to check ASHLEY_MODERATION."
            }
            CheckFailure::NoVerdict => {
                "The safety check could not judge this message, so it was not sent to the model. Try rephrasing or shortening it."
            }
        };
        Decision::Unavailable {
            message: message.to_owned(),
        }
    }

    /// True when `text` is known to be clean without a call: the local list passes it, or
    /// the endpoint's cached verdict was clean. False means "ask [`Self::check`]".
    pub fn clean_without_call(&self, text: &str) -> bool {
        match &*self.backend {
            Backend::Local => local_flags(text).is_empty(),
            Backend::OpenAi { .. } | Backend::Guard { .. } => {
                let clean = self
                    .cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(text)
                    .is_some_and(Vec::is_empty);
                if clean {
                    self.metrics.moderation_cache_hits.fetch_add(1, Relaxed);
                }
                clean
            }
        }
    }

    fn count(&self, decision: Decision) -> Decision {
        if matches!(decision, Decision::Refuse { .. }) {
            self.metrics.moderation_flagged.fetch_add(1, Relaxed);
        }
        decision
    }
}

/// A provider that refuses the call itself (4xx but throttling and timeouts) will refuse every
/// later one too: telling the person to try again would promise a recovery that never comes.
/// An overflow of the guard model's context is this message's problem, not the setup's.
fn upstream_failure(err: &ProviderError) -> CheckFailure {
    let ProviderError::Status {
        status: 400..=499,
        code,
        ..
    } = err
    else {
        return CheckFailure::Transient;
    };
    if err.retry_delay(0, std::time::Duration::ZERO).is_some() {
        return CheckFailure::Transient;
    }
    match code.as_deref() {
        Some("context_length_exceeded" | "exceed_context_size_error") => CheckFailure::NoVerdict,
        _ => CheckFailure::Misconfigured,
    }
}

fn decide(categories: Vec<String>) -> Decision {
    if categories.is_empty() {
        return Decision::Allow;
    }
    Decision::Refuse {
        message: refusal_message(&categories),
        categories,
    }
}

/// "I cannot process that message: it was flagged for violence and harassment (threatening)."
pub fn refusal_message(categories: &[String]) -> String {
    let names: Vec<String> = categories
        .iter()
        .map(|category| match category.split_once('/') {
            Some((kind, detail)) => {
                format!("{} ({})", kind.replace('_', " "), detail.replace('_', " "))
            }
            None => category.replace('_', " "),
        })
        .collect();
    let listed = match names.as_slice() {
        [] => "content policy".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    format!("I cannot process that message: it was flagged for {listed}.")
}

/// The local word list's categories that `text` hits.
pub fn local_flags(text: &str) -> Vec<String> {
    let normalized: String = text
        .chars()
        .map(|ch| {
            if ch.is_alphanumeric() {
                ch.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let padded = format!(
        " {} ",
        normalized.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    LOCAL_WORD_LIST
        .iter()
        .filter(|(_, phrases)| {
            phrases
                .iter()
                .any(|phrase| padded.contains(&format!(" {phrase} ")))
        })
        .map(|(category, _)| (*category).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_list_matches_whole_phrases_only() {
        assert_eq!(local_flags("How do I BUILD a bomb?!"), ["violence"]);
        assert!(local_flags("a skill you can learn").is_empty());
        assert!(local_flags("Tell me about bombastic prose").is_empty());
        assert_eq!(
            local_flags("i will find you and kill you"),
            ["violence", "harassment/threatening"]
        );
    }

    #[test]
    fn only_throttling_and_outages_are_worth_a_retry() {
        let status = |status: u16, code: Option<&str>| ProviderError::Status {
            status,
            code: code.map(str::to_owned),
            retry_after: None,
            context_limit: None,
        };
        for transient in [
            status(429, None),
            status(503, None),
            status(408, None),
            ProviderError::Timeout,
            ProviderError::Connect("host".to_owned()),
        ] {
            assert!(matches!(
                upstream_failure(&transient),
                CheckFailure::Transient
            ));
        }
        for setup in [
            status(404, None),
            status(401, None),
            status(400, Some("model_not_found")),
        ] {
            assert!(matches!(
                upstream_failure(&setup),
                CheckFailure::Misconfigured
            ));
        }
        for too_long in ["context_length_exceeded", "exceed_context_size_error"] {
            assert!(matches!(
                upstream_failure(&status(400, Some(too_long))),
                CheckFailure::NoVerdict
            ));
        }
    }

    #[test]
    fn refusals_name_the_categories() {
        let message =
            refusal_message(&["violence".to_owned(), "harassment/threatening".to_owned()]);
        assert_eq!(
            message,
            "I cannot process that message: it was flagged for violence and harassment (threatening)."
        );
    }
}
