//! The offline demo backend: a deterministic, clearly labelled markdown reply when no key is set.

use crate::personas::Persona;

/// The model name replies from the demo backend carry.
pub const DEMO_MODEL: &str = "ashley-demo";

/// The demo reply for `message` as `persona`: the same input always gives the same text.
pub fn reply(persona: &Persona, message: &str) -> String {
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
pub fn deltas(text: &str) -> Vec<String> {
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
pub fn estimate_tokens(text: &str) -> u32 {
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
