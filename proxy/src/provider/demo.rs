//! The offline demo provider: a deterministic, clearly labelled markdown reply when no key is set.

use std::{collections::VecDeque, time::Duration};

use futures_util::{StreamExt as _, future::BoxFuture};

use super::{ChatParams, Completion, Finish, Piece, Provider, ProviderError, ReplyStream, Usage};
use crate::{api::Mode, personas::Persona};

/// Answers without a model: the same input always gives the same text, paced like a stream.
pub struct Demo {
    /// Between deltas, so the app's streaming is visible.
    delay: Duration,
}

impl Demo {
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }
}

/// The demo text for the newest user message, with usage estimated from the words.
fn answer(persona: &Persona, params: &ChatParams) -> (String, Usage) {
    let last_user = params
        .messages
        .iter()
        .rev()
        .find(|message| message.role == "user")
        .map_or("", |message| message.content.as_str());
    let text = reply(persona, last_user);
    let prompt_tokens = params
        .messages
        .iter()
        .map(|message| estimate_tokens(&message.content))
        .fold(0u32, u32::saturating_add);
    let completion_tokens = estimate_tokens(&text);
    let usage = Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens.saturating_add(completion_tokens),
    };
    (text, usage)
}

impl Provider for Demo {
    fn mode(&self) -> Mode {
        Mode::Demo
    }

    fn model(&self) -> &str {
        DEMO_MODEL
    }

    fn stream<'a>(
        &'a self,
        persona: &'a Persona,
        params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<ReplyStream, ProviderError>> {
        let (text, usage) = answer(persona, params);
        let deltas: VecDeque<String> = deltas(&text).into();
        let delay = self.delay;
        let stream =
            futures_util::stream::unfold((Some(deltas), true), move |(deltas, first)| async move {
                let mut deltas = deltas?;
                if !first && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let piece = match deltas.pop_front() {
                    Some(text) => Piece::Text(text),
                    None => {
                        let finish = Finish {
                            model: Some(DEMO_MODEL.to_owned()),
                            usage: Some(usage),
                            finish_reason: Some("stop".to_owned()),
                        };
                        return Some((Ok(Piece::End(finish)), (None, false)));
                    }
                };
                Some((Ok(piece), (Some(deltas), false)))
            });
        Box::pin(async move { Ok(stream.boxed()) })
    }

    /// The demo text at once: pacing only matters when streaming.
    fn complete<'a>(
        &'a self,
        persona: &'a Persona,
        params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        let (content, usage) = answer(persona, params);
        Box::pin(async move {
            Ok(Completion {
                model: DEMO_MODEL.to_owned(),
                content,
                finish_reason: "stop".to_owned(),
                usage: Some(usage),
            })
        })
    }
}

/// The model name replies from the demo backend carry.
pub const DEMO_MODEL: &str = "ashley-demo";

/// The demo reply for `message` as `persona`: the same input always gives the same text.
fn reply(persona: &Persona, message: &str) -> String {
    let quoted: String = message.chars().take(200).collect();
    let ellipsis = if message.chars().count() > 200 {
        "…"
    } else {
        ""
    };
    let quoted = quoted.replace('\n', " ");
    let words = message.split_whitespace().count();
    let chars = message.chars().count();
    format!(
        "**Demo mode**: this reply comes from Ashley's offline demo backend, not from a language model.\n\n\
         You wrote ({words} words, {chars} characters):\n\n\
         > {quoted}{ellipsis}\n\n\
         With a model connected, *{name}* would answer here. {name} is the persona for: {description}.\n\n\
         ### How to get real answers\n\
         1. Get an API key from OpenAI (or any OpenAI-compatible provider).\n\
         2. Set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for another provider; on a Hugging Face \
         Space add it as a secret, or use `HF_TOKEN` with the Hugging Face router).\n\
         3. Restart the proxy: the status panel then shows **live** instead of **demo**.\n",
        name = persona.name,
        description = persona.description.trim_end_matches('.'),
    )
}

/// Splits the reply into small deltas (a few words each) so it streams like a model's.
fn deltas(text: &str) -> Vec<String> {
    let mut deltas = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for ch in text.chars() {
        current.push(ch);
        if ch == ' ' || ch == '\n' {
            words += 1;
            if words == 3 {
                deltas.push(std::mem::take(&mut current));
                words = 0;
            }
        }
    }
    if !current.is_empty() {
        deltas.push(current);
    }
    deltas
}

/// A rough token count (words) so demo replies report usage like real ones.
fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::personas::Personas;

    #[test]
    fn demo_replies_are_deterministic_labelled_and_explain_the_key() {
        let personas = Personas::builtin();
        let Some(ashley) = personas.get("ashley") else {
            panic!("built-in persona missing");
        };
        let first = reply(ashley, "Hello there");
        assert_eq!(first, reply(ashley, "Hello there"));
        assert!(first.starts_with("**Demo mode**"));
        assert!(first.contains("OPENAI_API_KEY"));
        let parts = deltas(&first);
        assert!(parts.len() > 10);
        assert_eq!(parts.concat(), first);
    }
}
