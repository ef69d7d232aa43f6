//! What an error notice says and whether Retry can help, decided by the proxy's [`ErrorCode`].

use ashley_proxy::api::{ErrorBody, ErrorCode};

use crate::conversation::MessageKind;
use crate::net::NetError;

/// The exact words shown when the proxy's storage is full.
pub const STORAGE_FULL_TEXT: &str = "Ashley's storage is full; the operator has been told. \
                                     Your message is kept — send it again later.";

/// An error notice: its kind, its text and whether a Retry button makes sense.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub kind: MessageKind,
    pub text: String,
    pub can_retry: bool,
}

/// How a failure is told, by who can fix it and whether waiting helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// The request itself is wrong: sending it again gives the same answer.
    Invalid,
    /// Moderation flagged it.
    Flagged,
    /// The conversation no longer fits the model: a new chat is needed.
    ContextTooLong,
    /// Waiting helps: Retry after the countdown.
    RateLimited,
    /// Nothing can be stored until the operator frees space.
    StorageFull,
    /// The proxy had a passing problem (its store, moderation, a restart): Retry.
    ServerTransient,
    /// The model provider had a passing problem: Retry.
    ProviderTransient,
    /// The provider refuses this proxy or this request: the operator (or a rephrase) must fix it.
    ProviderRefuses,
}

/// Every code the proxy answers, by class. No catch-all arm: a new code does not compile until
/// it is placed here. `None` for a code this build does not know (a newer proxy).
fn class_of(code: ErrorCode) -> Option<Class> {
    use ErrorCode as C;
    Some(match code {
        C::InvalidBody
        | C::MalformedJson
        | C::UnsupportedMediaType
        | C::BodyTooLarge
        | C::InvalidPath
        | C::UnknownEndpoint
        | C::MethodNotAllowed
        | C::EmptyMessage
        | C::MessageTooLong
        | C::UnknownPersona
        | C::UnknownSession
        | C::NothingToRegenerate
        | C::InvalidTitle
        | C::InvalidQuery
        | C::InvalidImport
        | C::UnsupportedExportVersion
        | C::UnknownReply
        | C::ReplyInProgress
        | C::InvalidMessages
        | C::UnsupportedRole
        | C::UnsupportedContent
        | C::UnsupportedParameter
        | C::InvalidTemperature
        | C::InvalidMaxTokens
        | C::ModelNotFound
        | C::FileNotFound
        | C::WebAppMissing
        | C::HeadersTooLarge
        | C::InvalidSignInCode
        | C::InvalidApiKey
        | C::AccountRequired
        | C::AdminRequired
        // A day's budget: waiting until midnight is not a Retry; the message says when.
        | C::QuotaExceeded
        | C::InsufficientQuota => Class::Invalid,
        C::ContentFlagged => Class::Flagged,
        C::ContextLengthExceeded | C::ContextTooLong => Class::ContextTooLong,
        C::RateLimited | C::UpstreamRateLimited | C::TooManyConnections => Class::RateLimited,
        C::StorageFull => Class::StorageFull,
        // Sign-in: Retry starts a new guest (the app renews a refused token itself).
        C::ModerationUnavailable
        | C::StoreUnavailable
        | C::InternalError
        | C::ShuttingDown
        | C::SignInRequired => Class::ServerTransient,
        C::UpstreamUnavailable
        | C::UpstreamUnreachable
        | C::UpstreamTimeout
        | C::UpstreamInvalidResponse
        | C::UpstreamDisconnected => Class::ProviderTransient,
        C::UpstreamRejected | C::UpstreamModelNotFound | C::UpstreamAuth => Class::ProviderRefuses,
        C::Unknown => return None,
    })
}

/// Without a code this build knows, the HTTP status says who is at fault.
fn class_of_status(status: Option<u16>, retry_after_secs: Option<u64>) -> Class {
    match status {
        Some(429) => Class::RateLimited,
        _ if retry_after_secs.is_some() => Class::RateLimited,
        Some(400..=499) => Class::Invalid,
        // 5xx, or an `error` event in a stream (no status): the server side, likely passing.
        Some(_) | None => Class::ServerTransient,
    }
}

/// The notice for a failed request. `server` is the proxy's URL (empty: the page's origin).
pub fn for_net_error(error: &NetError, server: &str) -> Notice {
    match error {
        NetError::Unreachable(reason) => {
            let target = if server.is_empty() {
                "the server this page came from".to_owned()
            } else {
                server.to_owned()
            };
            Notice {
                kind: MessageKind::Unreachable,
                text: format!(
                    "Cannot reach the Ashley proxy at {target} ({reason}). Check that the proxy is \
                     running and reachable (natively: `--server URL` or ASHLEY_SERVER), then Retry."
                ),
                can_retry: true,
            }
        }
        NetError::Http { status, body } => for_proxy_error(Some(*status), body.as_ref()),
        NetError::Invalid(reason) => Notice {
            kind: MessageKind::ProviderFailed,
            text: format!("The proxy sent an answer the app cannot read ({reason})."),
            can_retry: true,
        },
    }
}

/// The notice for an error the proxy reported: over HTTP (`status`) or as a stream `error`
/// event (no status).
pub fn for_proxy_error(status: Option<u16>, body: Option<&ErrorBody>) -> Notice {
    let message = match (body, status) {
        (Some(body), _) => body.message.clone(),
        (None, Some(status)) => format!("The proxy answered HTTP {status}."),
        (None, None) => "The proxy reported an error.".to_owned(),
    };
    let retry_after_secs = body.and_then(|b| b.retry_after_secs);
    let class = body
        .and_then(|b| b.code)
        .and_then(class_of)
        .unwrap_or_else(|| class_of_status(status, retry_after_secs));
    let (kind, text, can_retry) = match class {
        Class::Invalid => (MessageKind::Rejected, message, false),
        Class::Flagged => (MessageKind::Refusal, message, false),
        Class::ContextTooLong => (
            MessageKind::ContextTooLong,
            "This conversation is too long for the model to read. Start a new chat \
             (📝 New chat) to go on; what you typed stays in the composer."
                .to_owned(),
            false,
        ),
        Class::RateLimited => {
            // With a known wait the notice shows a live countdown instead (src/ui/chat.rs).
            let text = match retry_after_secs {
                Some(_) => format!("Too many messages: {message}"),
                None => {
                    format!("Too many messages: {message} Please wait a moment before retrying.")
                }
            };
            (MessageKind::RateLimited { retry_after_secs }, text, true)
        }
        Class::StorageFull => (
            MessageKind::StorageFull,
            STORAGE_FULL_TEXT.to_owned(),
            false,
        ),
        Class::ServerTransient => (
            MessageKind::ServerFailed,
            format!("The Ashley server had a problem: {message}"),
            true,
        ),
        Class::ProviderTransient => (
            MessageKind::ProviderFailed,
            format!("The AI provider failed: {message}"),
            true,
        ),
        Class::ProviderRefuses => (
            MessageKind::ProviderFailed,
            format!("The AI provider failed: {message}"),
            false,
        ),
    };
    Notice {
        kind,
        text,
        can_retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: Option<ErrorCode>, retry: Option<u64>) -> ErrorBody {
        ErrorBody {
            message: "m.".into(),
            kind: "api_error".into(),
            param: None,
            code,
            retry_after_secs: retry,
        }
    }

    fn notice(status: u16, code: ErrorCode) -> Notice {
        for_proxy_error(Some(status), Some(&body(Some(code), None)))
    }

    #[test]
    fn a_rate_limit_counts_down_then_offers_retry() {
        let rate = for_proxy_error(
            Some(429),
            Some(&body(Some(ErrorCode::RateLimited), Some(9))),
        );
        assert_eq!(
            rate.kind,
            MessageKind::RateLimited {
                retry_after_secs: Some(9)
            }
        );
        assert_eq!(rate.text, "Too many messages: m.");
        assert!(rate.can_retry);
        let upstream = notice(429, ErrorCode::UpstreamRateLimited);
        assert!(matches!(upstream.kind, MessageKind::RateLimited { .. }));
    }

    #[test]
    fn storage_full_says_the_message_is_kept_and_offers_no_retry() {
        let full = notice(507, ErrorCode::StorageFull);
        assert_eq!(full.kind, MessageKind::StorageFull);
        assert_eq!(
            full.text,
            "Ashley's storage is full; the operator has been told. Your message is kept — send it again later."
        );
        assert!(!full.can_retry);
    }

    #[test]
    fn a_conversation_too_long_suggests_a_new_chat_without_retry() {
        for code in [ErrorCode::ContextTooLong, ErrorCode::ContextLengthExceeded] {
            let long = notice(400, code);
            assert_eq!(long.kind, MessageKind::ContextTooLong);
            assert!(long.text.contains("too long") && long.text.contains("new chat"));
            assert!(!long.can_retry);
        }
    }

    #[test]
    fn validation_errors_offer_no_retry_and_passing_failures_do() {
        let rejected = notice(400, ErrorCode::MessageTooLong);
        assert_eq!(
            rejected,
            Notice {
                kind: MessageKind::Rejected,
                text: "m.".into(),
                can_retry: false
            }
        );
        for code in [
            ErrorCode::UpstreamUnavailable,
            ErrorCode::UpstreamTimeout,
            ErrorCode::UpstreamDisconnected,
        ] {
            let failed = notice(502, code);
            assert_eq!(failed.kind, MessageKind::ProviderFailed, "{code}");
            assert!(failed.can_retry, "{code}");
        }
        for code in [ErrorCode::StoreUnavailable, ErrorCode::ShuttingDown] {
            let failed = notice(503, code);
            assert_eq!(failed.kind, MessageKind::ServerFailed, "{code}");
            assert!(failed.can_retry, "{code}");
        }
        // The operator must fix the key or the model name: retrying changes nothing.
        assert!(!notice(502, ErrorCode::UpstreamAuth).can_retry);
        assert_eq!(
            notice(400, ErrorCode::ContentFlagged).kind,
            MessageKind::Refusal
        );
    }

    #[test]
    fn an_unknown_code_falls_back_on_the_status() {
        let unknown = |status| for_proxy_error(status, Some(&body(Some(ErrorCode::Unknown), None)));
        assert_eq!(unknown(Some(400)).kind, MessageKind::Rejected);
        assert!(!unknown(Some(400)).can_retry);
        assert!(matches!(
            unknown(Some(429)).kind,
            MessageKind::RateLimited { .. }
        ));
        assert!(unknown(Some(503)).can_retry);
        assert!(unknown(None).can_retry, "a stream error event");
        let bare = for_proxy_error(Some(502), None);
        assert_eq!(
            bare.text,
            "The Ashley server had a problem: The proxy answered HTTP 502."
        );
    }

    #[test]
    fn an_unreachable_proxy_names_the_address_and_offers_retry() {
        let unreachable = for_net_error(&NetError::Unreachable("refused".into()), "http://x:1");
        assert_eq!(unreachable.kind, MessageKind::Unreachable);
        assert!(unreachable.text.contains("http://x:1") && unreachable.text.contains("Retry"));
        assert!(unreachable.can_retry);
    }
}
