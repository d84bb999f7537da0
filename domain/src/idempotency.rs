//! Idempotent POSTs: a client's `Idempotency-Key` makes a retried request
//! answer with the first one's response instead of running again.
//!
//! What is kept, per API key and Idempotency-Key, for [`RETENTION`]:
//! the request's fingerprint (so the same key with another request is
//! refused, not replayed) and, once it finished, the response. Only
//! successes are kept: an error writes nothing, so running the retry again
//! is as safe as replaying it, and it sees the state of now.
//!
//! A kept response can hold a secret shown once (a new API key, a webhook
//! secret). It is sealed with AES-256-GCM under a key derived from the
//! caller's own API key secret, which the table never holds: reading the
//! table does not reveal what a replay would.

use crate::{Error, Result};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header of a replay.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a request holds its key before another may take it over (a
/// worker that died mid-request): longer than API Gateway's 30 s.
pub const LEASE: Duration = Duration::from_secs(60);
/// The longest key accepted (Stripe's bound).
pub const MAX_KEY_LEN: usize = 255;
/// The largest response body kept for replay; DynamoDB items stop at
/// 400 KB. A larger one is remembered as done, without its body.
pub const MAX_KEPT_BODY: usize = 300 * 1024;
/// Response headers a replay repeats.
pub const KEPT_HEADERS: [&str; 5] = [
    "content-type",
    "location",
    "etag",
    "last-modified",
    "content-disposition",
];

/// A client's Idempotency-Key: 1-255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(value: &[u8]) -> Result<Self> {
        let invalid = |message: String| Error::invalid("Idempotency-Key", message);
        if value.is_empty() || value.len() > MAX_KEY_LEN {
            return Err(invalid(format!(
                "the Idempotency-Key header must be 1-{MAX_KEY_LEN} characters, got {}; a UUID or ULID per logical request is ideal",
                value.len()
            )));
        }
        if !value.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(invalid(
                "the Idempotency-Key header may hold visible ASCII characters only (no spaces); a UUID or ULID per logical request is ideal".into(),
            ));
        }
        Ok(IdempotencyKey(String::from_utf8_lossy(value).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as stored: a digest, so any key fits a sort key and the
    /// client's own text is never written.
    pub fn digest(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..16])
    }
}

/// What identifies a request: method, path with query, and body.
pub fn fingerprint(method: &str, path_and_query: &str, content_type: &str, body: &[u8]) -> String {
    // Lengths first, so no split of the same bytes reads as another request.
    let mut digest = Sha256::new();
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        content_type.as_bytes(),
        body,
    ] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    hex::encode(digest.finalize())
}

/// A response kept for replay, its body sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Base64 of nonce and AES-256-GCM ciphertext; `None`: too large to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_body: Option<String>,
}

/// The replay key of one API key's secret and one Idempotency-Key.
pub struct ReplayKey(LessSafeKey);

impl ReplayKey {
    pub fn derive(api_key_secret: &str, key_id: &str, key: &IdempotencyKey) -> Self {
        let mut mac = <Hmac<Sha256>>::new_from_slice(api_key_secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(format!("idempotent-replay\n{key_id}\n{}", key.as_str()).as_bytes());
        let bytes = mac.finalize().into_bytes();
        let unbound =
            UnboundKey::new(&AES_256_GCM, &bytes).expect("a 32-byte key is an AES-256 key");
        ReplayKey(LessSafeKey::new(unbound))
    }

    /// Seal a body (a fresh random nonce each time).
    pub fn seal(&self, body: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system CSPRNG is unavailable");
        let mut sealed = body.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .expect("AES-GCM seals any body under 64 GiB");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Open a sealed body; `None` when it was sealed under another key
    /// (another API key's secret) or altered.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut ciphertext = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::empty(), &mut ciphertext)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// Whether a response is kept for replay: successes only.
pub fn keeps(status: u16) -> bool {
    (200..300).contains(&status)
}

/// What taking a key for a request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Nobody holds it: this request runs, holding `token`.
    Fresh { token: String },
    /// A request with this fingerprint finished: answer with its response.
    Done(KeptResponse),
    /// A request with this fingerprint is running now.
    Running,
    /// The key was used for another request.
    OtherRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse(b"01HZX-retry_1").is_ok());
        assert!(IdempotencyKey::parse(&[b'a'; MAX_KEY_LEN]).is_ok());
        for bad in [
            &b""[..],
            &[b'a'; MAX_KEY_LEN + 1][..],
            b"with space",
            b"tab\t",
            "caf\u{e9}".as_bytes(),
        ] {
            match IdempotencyKey::parse(bad) {
                Err(Error::Invalid { field: Some(f), .. }) => assert_eq!(f, "Idempotency-Key"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let key = IdempotencyKey::parse(b"k").unwrap();
        assert_eq!(key.digest().len(), 32);
        assert_ne!(key.digest(), IdempotencyKey::parse(b"K").unwrap().digest());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let json = "application/json";
        let base = fingerprint("POST", "/v1/accounts", json, b"{}");
        assert_eq!(base, fingerprint("POST", "/v1/accounts", json, b"{}"));
        assert_ne!(base, fingerprint("POST", "/v1/accounts", json, b"{ }"));
        assert_ne!(base, fingerprint("POST", "/v1/api-keys", json, b"{}"));
        assert_ne!(base, fingerprint("PUT", "/v1/accounts", json, b"{}"));
        // The content type is part of the request (issue 25 #4).
        assert_ne!(
            base,
            fingerprint("POST", "/v1/accounts", "text/plain", b"{}")
        );
        // The separator keeps path and body apart.
        assert_ne!(
            fingerprint("POST", "/a", json, b"b\nc"),
            fingerprint("POST", "/a\nb", json, b"c")
        );
    }

    #[test]
    fn sealed_bodies_open_only_with_the_same_secret_and_key() {
        let key = IdempotencyKey::parse(b"retry-1").unwrap();
        let sealer = ReplayKey::derive("secret-a", "key1", &key);
        let sealed = sealer.seal(b"{\"api_key\":\"oak_x\"}");
        assert!(!sealed.contains("oak_x"));
        assert_eq!(
            sealer.open(&sealed).as_deref(),
            Some(&b"{\"api_key\":\"oak_x\"}"[..])
        );
        // Two seals of one body differ (fresh nonces).
        assert_ne!(sealed, sealer.seal(b"{\"api_key\":\"oak_x\"}"));
        assert!(ReplayKey::derive("secret-b", "key1", &key)
            .open(&sealed)
            .is_none());
        let other = IdempotencyKey::parse(b"retry-2").unwrap();
        assert!(ReplayKey::derive("secret-a", "key1", &other)
            .open(&sealed)
            .is_none());
        assert!(sealer.open("not base64!").is_none());
        assert!(sealer.open("AAAA").is_none());
    }

    #[test]
    fn only_successes_are_kept() {
        assert!(keeps(200) && keeps(201) && keeps(202) && keeps(204));
        for status in [301, 400, 401, 403, 404, 409, 412, 422, 429, 500, 503] {
            assert!(!keeps(status), "{status}");
        }
    }
}
