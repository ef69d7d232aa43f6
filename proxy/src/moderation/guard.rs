//! Moderation by a guard model (Llama Guard) through the provider's chat-completions API: the call and its strict verdict parser.
//!
//! The guard model gets the person's message as the only user message; its chat template wraps
//! it in the classification prompt (that is how Llama Guard 3/4 are served on the Hugging Face
//! router, vLLM and llama.cpp). It answers `safe`, or `unsafe` and a line of category codes
//! (`S1,S10`). Anything else means the check failed, never that the message is clean.

use reqwest::Url;
use serde::Deserialize;

use crate::provider::{ProviderError, Upstream};

/// Enough for `unsafe` plus every category code; a guard that rambles past it is unreadable.
const GUARD_MAX_TOKENS: u32 = 32;

/// Llama Guard 3 and 4's categories (the MLCommons hazard taxonomy), as category names in the
/// style of OpenAI's (`_` reads as a space, see [`super::refusal_message`]).
const CATEGORIES: &[(&str, &str)] = &[
    ("S1", "violent_crimes"),
    ("S2", "non_violent_crimes"),
    ("S3", "sex_related_crimes"),
    ("S4", "child_sexual_exploitation"),
    ("S5", "defamation"),
    ("S6", "specialized_advice"),
    ("S7", "privacy"),
    ("S8", "intellectual_property"),
    ("S9", "indiscriminate_weapons"),
    ("S10", "hate"),
    ("S11", "suicide_and_self-harm"),
    ("S12", "sexual_content"),
    ("S13", "elections"),
    ("S14", "code_interpreter_abuse"),
];

/// Why a guard check gave no verdict.
#[derive(Debug)]
pub enum GuardFailure {
    Upstream(ProviderError),
    /// The answer was not in the guard format; says what was wrong, never the text itself
    /// (it may repeat the person's message).
    Unreadable(&'static str),
}

#[derive(Deserialize)]
struct GuardCompletion {
    #[serde(default)]
    choices: Vec<GuardChoice>,
}

#[derive(Deserialize)]
struct GuardChoice {
    message: Option<GuardMessage>,
}

#[derive(Deserialize)]
struct GuardMessage {
    content: Option<String>,
}

/// Asks the guard `model` at `{base}/chat/completions` about `text`: the flagged category
/// names, empty when safe.
pub async fn check(
    upstream: &Upstream,
    base: &Url,
    model: &str,
    text: &str,
) -> Result<Vec<String>, GuardFailure> {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "temperature": 0,
        "max_tokens": GUARD_MAX_TOKENS,
        "stream": false,
    });
    let url = base
        .join("chat/completions")
        .unwrap_or_else(|_| base.clone());
    let answer = post_to_provider(upstream, url, &body)
        .await
        .map_err(GuardFailure::Upstream)?;
    let content = answer
        .choices
        .into_iter()
        .next()
        .and_then(|choice| choice.message)
        .and_then(|message| message.content)
        .ok_or(GuardFailure::Unreadable(
            "the answer has no message content",
        ))?;
    parse_verdict(&content).map_err(GuardFailure::Unreadable)
}

/// The only place moderation uses the provider client (retries, timeouts, the key); re-point
/// this one function when the client moves.
async fn post_to_provider(
    upstream: &Upstream,
    url: Url,
    body: &serde_json::Value,
) -> Result<GuardCompletion, ProviderError> {
    let bytes =
        serde_json::to_vec(body).map_err(|err| ProviderError::Transport(err.to_string()))?;
    upstream.post_json(url, bytes, "guard verdict").await
}

/// Parses a Llama Guard answer strictly: `safe` alone, or `unsafe` then one line of codes
/// (`S1,S10`, spaces allowed around the commas). Whitespace around lines and blank lines are
/// ignored (Llama Guard 3 starts with two newlines); any other text fails. Codes outside
/// S1-S14 (a guard with custom categories) still refuse, named `policy (S15)`.
pub fn parse_verdict(answer: &str) -> Result<Vec<String>, &'static str> {
    let mut lines = answer
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let verdict = lines.next().ok_or("the answer is empty")?;
    let codes = lines.next();
    if lines.next().is_some() {
        return Err("the answer has more than two lines");
    }
    match (verdict, codes) {
        ("safe", None) => Ok(Vec::new()),
        ("safe", Some(_)) => Err("`safe` is followed by more text"),
        ("unsafe", None) => Err("`unsafe` has no category line"),
        ("unsafe", Some(codes)) => {
            let mut names: Vec<String> = Vec::new();
            for code in codes.split(',').map(str::trim) {
                let name = category_name(code).ok_or("a category is not a code like S1")?;
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Ok(names)
        }
        _ => Err("the first line is neither `safe` nor `unsafe`"),
    }
}

fn category_name(code: &str) -> Option<String> {
    let digits = code.strip_prefix('S')?;
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let known = CATEGORIES
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, name)| (*name).to_owned());
    Some(known.unwrap_or_else(|| format!("policy/{code}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_alone_is_clean() {
        assert_eq!(parse_verdict("safe"), Ok(Vec::new()));
    }

    #[test]
    fn unsafe_names_its_categories_in_order_without_repeats() {
        assert_eq!(
            parse_verdict("unsafe\nS1,S10"),
            Ok(vec!["violent_crimes".to_owned(), "hate".to_owned()])
        );
        assert_eq!(
            parse_verdict("unsafe\nS11, S11,S15"),
            Ok(vec![
                "suicide_and_self-harm".to_owned(),
                "policy/S15".to_owned()
            ])
        );
        let message =
            super::super::refusal_message(&parse_verdict("unsafe\nS1,S11").unwrap_or_default());
        assert_eq!(
            message,
            "I cannot process that message: it was flagged for violent crimes and suicide and self-harm."
        );
    }

    #[test]
    fn whitespace_around_lines_is_ignored() {
        assert_eq!(parse_verdict("\n\nsafe\n"), Ok(Vec::new()));
        assert_eq!(parse_verdict("  safe  "), Ok(Vec::new()));
        assert_eq!(
            parse_verdict("\n\n unsafe \r\n\n  S2 \n"),
            Ok(vec!["non_violent_crimes".to_owned()])
        );
    }

    #[test]
    fn anything_else_is_a_failed_check() {
        for junk in [
            "",
            "   \n ",
            "Safe",
            "SAFE",
            "safe.",
            "The message is safe.",
            "safe\nS1",
            "unsafe",
            "unsafe\n",
            "unsafe\nviolence",
            "unsafe\nS1,",
            "unsafe\nS1 S2",
            "unsafe\ns1",
            "unsafe\nS123",
            "unsafe\nS1\nbecause it is violent",
            "I cannot help with that.",
        ] {
            assert!(parse_verdict(junk).is_err(), "{junk:?} must fail");
        }
    }
}
