//! Building what the model reads: the persona's system prompt, the stored messages, and trimming them to fit a token budget.

use super::fit;
use crate::{
    api::{HistoryMessage, Role},
    personas::Persona,
    provider::{ChatParams, WireMessage},
};

/// Told when older messages were not sent to the model (they stay stored and shown).
pub const LEFT_OUT_NOTICE: &str = "This conversation is longer than the model can read, so its oldest messages were not sent with this one (they are still saved here).";

/// The persona's system prompt followed by `history` (oldest first).
pub fn context(persona: &Persona, history: &[HistoryMessage]) -> ChatParams {
    let mut messages = Vec::with_capacity(history.len() + 1);
    messages.push(WireMessage {
        role: "system",
        content: persona.system_prompt.clone(),
    });
    // A reply cut before any text arrived (crash, Stop) says nothing; partial text is kept as said.
    let spoken = history
        .iter()
        .filter(|message| !(message.role == Role::Assistant && message.content.is_empty()));
    messages.extend(spoken.map(|message| WireMessage {
        role: match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        },
        content: message.content.clone(),
    }));
    ChatParams {
        messages,
        temperature: persona.temperature,
        max_tokens: persona.max_tokens,
    }
}

/// The prompt's budget in a context of `context_tokens`: what is left after room for the reply.
/// The reply's room is its `max_tokens` but at most a quarter of the context, so that a persona
/// allowed long replies still gets a prompt on a small model.
pub fn budget(context_tokens: usize, max_tokens: u32) -> usize {
    let reply = usize::try_from(max_tokens).unwrap_or(usize::MAX);
    context_tokens.saturating_sub(reply.min(context_tokens / 4))
}

/// A budget for a retry when the provider refused the prompt without saying its limit: the
/// system prompt and half of what the messages were estimated at.
pub fn halved(params: &ChatParams) -> usize {
    let mut tokens = params
        .messages
        .iter()
        .map(|message| fit::estimate_tokens(&message.content));
    let system = tokens.next().unwrap_or(0);
    let messages = tokens.fold(0, usize::saturating_add);
    system.saturating_add(messages / 2)
}

/// Leaves out the oldest messages (never the system prompt) until the rest fit `budget`.
/// `Some(n)`: `n` messages were left out; `None`: even the newest alone does not fit.
pub fn fit_to(params: &mut ChatParams, budget: usize) -> Option<usize> {
    let Some((system, messages)) = params.messages.split_first() else {
        return Some(0);
    };
    let system_tokens = fit::estimate_tokens(&system.content);
    let tokens: Vec<usize> = messages
        .iter()
        .map(|message| fit::estimate_tokens(&message.content))
        .collect();
    let first_kept = fit::newest_that_fit(system_tokens, &tokens, budget)?;
    params.messages.drain(1..=first_kept);
    Some(first_kept)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn params(texts: &[&str]) -> ChatParams {
        let mut messages = vec![WireMessage {
            role: "system",
            content: "Be brief.".to_owned(),
        }];
        messages.extend(texts.iter().map(|text| WireMessage {
            role: "user",
            content: (*text).to_owned(),
        }));
        ChatParams {
            messages,
            temperature: 1.0,
            max_tokens: 100,
        }
    }

    #[test]
    fn the_oldest_messages_go_first_and_the_system_prompt_stays() {
        let long = "word ".repeat(100);
        let mut asked = params(&[&long, &long, "newest"]);
        let budget = halved(&asked);
        assert_eq!(fit_to(&mut asked, budget), Some(2));
        assert_eq!(asked.messages.len(), 2);
        assert_eq!(asked.messages[0].content, "Be brief.");
        assert_eq!(asked.messages[1].content, "newest");
        let mut roomy = params(&[&long, "newest"]);
        assert_eq!(fit_to(&mut roomy, 10_000), Some(0));
        assert_eq!(roomy.messages.len(), 3);
        assert_eq!(fit_to(&mut params(&[&long]), 10), None);
    }

    #[test]
    fn the_reply_gets_at_most_a_quarter_of_a_small_context() {
        assert_eq!(budget(2048, 3000), 1536);
        assert_eq!(budget(128_000, 3000), 125_000);
    }
}
