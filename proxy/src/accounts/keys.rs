//! API keys for `/v1`: a signed-in user's own (`sk-ashley-` and 64 hex digits, shown once, kept
//! as a SHA-256 hash) and the operator's (`ASHLEY_API_KEYS`, compared in constant time).

use subtle::ConstantTimeEq as _;

use super::{Token, hash_text};
use crate::{chat::ChatError, config::Secret, store::TokenHash};

/// Every personal key starts so: recognisable in a leak scanner, and told apart from an
/// operator's key without a database lookup.
pub const KEY_PREFIX: &str = "sk-ashley-";

/// A new personal key: the text to show once, and its hash to store.
pub fn generate() -> Result<(String, TokenHash), ChatError> {
    let token = Token::generate()?;
    Ok((format!("{KEY_PREFIX}{}", token.expose()), token.hash()))
}

/// The hash of a presented personal key, when it has the shape of one.
pub fn parse(text: &str) -> Option<TokenHash> {
    text.strip_prefix(KEY_PREFIX)
        .and_then(Token::parse)
        .map(|token| token.hash())
}

/// The public id of a key: the first 8 bytes of its hash, in hex. Names it in lists and in
/// `DELETE /api/keys/{id}` without revealing anything that opens it.
pub fn key_id(hash: &TokenHash) -> String {
    hash.0
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `presented` is one of the operator's keys. The hashes are compared, each in
/// constant time, so neither the key's length nor its prefix leaks through timing.
pub fn is_operator_key(keys: &[Secret], presented: &str) -> bool {
    let presented = hash_text(presented);
    keys.iter().fold(false, |found, key| {
        let matches: bool = hash_text(key.expose()).0.ct_eq(&presented.0).into();
        found | matches
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_personal_key_round_trips_through_its_hash_only() {
        let (key, hash) = generate().unwrap();
        assert!(key.starts_with(KEY_PREFIX));
        assert_eq!(key.len(), KEY_PREFIX.len() + 64);
        assert_eq!(parse(&key), Some(hash));
        assert_eq!(parse(key.trim_start_matches(KEY_PREFIX)), None);
        assert_eq!(parse("sk-ashley-short"), None);
        assert_eq!(key_id(&hash).len(), 16);
    }

    #[test]
    fn operator_keys_match_exactly() {
        let keys = vec![
            Secret::new("operator-key-0123456789"),
            Secret::new("second-key-abcdefgh"),
        ];
        assert!(is_operator_key(&keys, "operator-key-0123456789"));
        assert!(is_operator_key(&keys, "second-key-abcdefgh"));
        assert!(!is_operator_key(&keys, "operator-key-012345678"));
        assert!(!is_operator_key(&keys, ""));
        assert!(!is_operator_key(&[], "operator-key-0123456789"));
    }
}
