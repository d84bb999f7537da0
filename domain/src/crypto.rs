//! Secrets from the operating system's CSPRNG.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `bytes` random bytes from the OS CSPRNG, hex encoded.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system CSPRNG is unavailable");
    hex::encode(buffer)
}

/// `bytes` random bytes from the OS CSPRNG, standard base64 (padded).
pub fn random_base64(bytes: usize) -> String {
    use base64::Engine;
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system CSPRNG is unavailable");
    base64::engine::general_purpose::STANDARD.encode(buffer)
}

/// A new external ID: 160 bits from the CSPRNG, 40 hex characters, within
/// the character set and length STS accepts for `sts:ExternalId`.
pub fn new_external_id() -> String {
    random_hex(20)
}

/// SHA-256 of a secret, hex encoded. API key secrets carry 256 bits of
/// entropy, so a fast hash is enough: there is nothing to brute-force.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time comparison of a presented secret with a stored hash.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    hash_secret(secret)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_long_and_distinct() {
        let first = new_external_id();
        let second = new_external_id();
        assert_eq!(first.len(), 40);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(first, second);
    }

    #[test]
    fn hash_round_trip() {
        let hash = hash_secret("s3cret");
        assert!(secret_matches("s3cret", &hash));
        assert!(!secret_matches("s3cret!", &hash));
        assert!(!hash.contains("s3cret"));
    }
}
