//! Fitting a conversation into the model's context: token estimates and the newest messages that fit.
//!
//! How the chat core uses it: the system prompt is always kept, and so are the newest messages
//! that fit; older ones are left out, never the middle of the conversation.
//! - With `ASHLEY_CONTEXT_TOKENS` set (the model's context size), the budget is that size less
//!   the reply's `max_tokens`; the core estimates the system prompt and each message with
//!   [`estimate_tokens`] and sends the system prompt plus `messages[newest_that_fit(..)?..]`.
//!   `None` (the newest message alone is too long) is answered with the context-too-long error
//!   without calling the provider.
//! - With it at 0 (unknown, the default) everything up to `ASHLEY_HISTORY_MESSAGES` is sent, and
//!   only the provider's overflow error (`context_length_exceeded`, llama.cpp's
//!   `exceed_context_size_error`) triggers fitting: the core retries once, with a budget below
//!   the estimate of what was refused (or the limit the error states), and if that fails too the
//!   person gets the context-too-long error.
//! - Whenever messages were left out, a notice tells the person that older messages were not
//!   sent to the model (they stay stored and shown).

/// Tokens a chat template adds around each message (ChatML: `<|im_start|>`, the role, a
/// newline, `<|im_end|>`, a newline; Llama 3 and others are similar or smaller).
pub const MESSAGE_OVERHEAD_TOKENS: usize = 5;

/// A tokenizer-free estimate of one message's tokens, its template overhead included.
///
/// BPE tokenizers give English about 4 characters or 3/4 of a word per token; text with many
/// short words (code, lists) is counted better by words, long words by characters, so the larger
/// of the two is taken. A non-ASCII character counts one token per UTF-8 byte: byte-level BPE
/// vocabularies trained mostly on English fall back to bytes there (SmolLM2 spends 3 tokens on
/// `漢`), so that is the worst case. Over-estimating a little is the safe side: it leaves out a
/// message too many rather than overflow.
pub fn estimate_tokens(text: &str) -> usize {
    let (ascii, other) = text.chars().fold((0usize, 0usize), |(ascii, other), ch| {
        if ch.is_ascii() {
            (ascii + 1, other)
        } else {
            (ascii, other + ch.len_utf8())
        }
    });
    let by_chars = ascii.div_ceil(4) + other;
    let by_words = (text.split_whitespace().count() * 4).div_ceil(3);
    by_chars.max(by_words) + MESSAGE_OVERHEAD_TOKENS
}

/// The index of the oldest message to keep so that the system prompt plus
/// `message_tokens[index..]` fit in `budget`; `None` when the system prompt and the newest
/// message alone do not fit. With no messages: `Some(0)` when the system prompt fits.
pub fn newest_that_fit(
    system_tokens: usize,
    message_tokens: &[usize],
    budget: usize,
) -> Option<usize> {
    let mut used = system_tokens;
    if used > budget {
        return None;
    }
    let mut first_kept = message_tokens.len();
    for (index, tokens) in message_tokens.iter().enumerate().rev() {
        used = used.saturating_add(*tokens);
        if used > budget {
            break;
        }
        first_kept = index;
    }
    if first_kept == message_tokens.len() && !message_tokens.is_empty() {
        return None;
    }
    Some(first_kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_take_the_larger_of_characters_and_words() {
        assert_eq!(estimate_tokens(""), MESSAGE_OVERHEAD_TOKENS);
        // 44 characters -> 11; 9 words -> 12.
        let english = "The quick brown fox jumps over the lazy dog.";
        assert_eq!(estimate_tokens(english), 12 + MESSAGE_OVERHEAD_TOKENS);
        // One long word: characters win.
        assert_eq!(
            estimate_tokens("antidisestablishmentarianism"),
            7 + MESSAGE_OVERHEAD_TOKENS
        );
        // Non-ASCII characters count a token per UTF-8 byte (SmolLM2: 3 tokens per `漢`).
        assert_eq!(estimate_tokens("日本語"), 9 + MESSAGE_OVERHEAD_TOKENS);
        assert_eq!(estimate_tokens("é"), 2 + MESSAGE_OVERHEAD_TOKENS);
    }

    #[test]
    fn estimates_err_on_the_high_side_of_a_real_tokenizer() {
        // SmolLM2's tokenizer (llama-server /tokenize): 221 tokens for this English text, 3,000
        // for the 1,000 CJK characters.
        let english = "The quick brown fox jumps over the lazy dog. ".repeat(22);
        let estimate = estimate_tokens(&english) - MESSAGE_OVERHEAD_TOKENS;
        assert!((221..=300).contains(&estimate), "{estimate}");
        let cjk = "漢".repeat(1000);
        assert!(estimate_tokens(&cjk) >= 3000);
    }

    #[test]
    fn keeps_everything_when_it_fits() {
        assert_eq!(newest_that_fit(10, &[5, 5, 5], 25), Some(0));
        assert_eq!(newest_that_fit(10, &[5, 5, 5], 100), Some(0));
    }

    #[test]
    fn leaves_out_the_oldest_messages_first() {
        // 10 + 5 + 5 = 20 fits, adding the 8 (index 1) would make 28.
        assert_eq!(newest_that_fit(10, &[3, 8, 5, 5], 24), Some(2));
        // Only the newest fits.
        assert_eq!(newest_that_fit(10, &[3, 8, 5, 5], 15), Some(3));
        // A message that does not fit stops the scan: older small ones are not picked past it.
        assert_eq!(newest_that_fit(0, &[1, 100, 1], 10), Some(2));
    }

    #[test]
    fn none_when_the_newest_message_alone_does_not_fit() {
        assert_eq!(newest_that_fit(10, &[1, 20], 25), None);
        assert_eq!(newest_that_fit(30, &[1], 25), None);
        assert_eq!(newest_that_fit(usize::MAX, &[1], 25), None);
        assert_eq!(newest_that_fit(1, &[1, usize::MAX], usize::MAX - 1), None);
    }

    #[test]
    fn an_empty_conversation_fits_when_the_system_prompt_does() {
        assert_eq!(newest_that_fit(10, &[], 10), Some(0));
        assert_eq!(newest_that_fit(11, &[], 10), None);
    }
}
