//! The two rules every webhook delivery follows, as pure functions the
//! sender and the tests share:
//!
//! - **Signatures**: `Webhook-Signature: t=<unix seconds>,v1=<hex>` where
//!   `v1` is HMAC-SHA256 over `<t>.<body>` with the endpoint's secret (the
//!   scheme receivers of Stripe-style webhooks already verify). During a
//!   secret rotation a delivery carries one `v1` per live secret.
//! - **Where a delivery may go**: https only (plain http only to loopback,
//!   when the dev server allows it), and never to an address that is
//!   loopback, private, link-local (the metadata service at
//!   169.254.169.254), shared (CGNAT), multicast, unspecified or
//!   documentation-only, in IPv4 or IPv6, checked on the addresses a name
//!   resolves to at send time, so a DNS answer cannot smuggle one in.

use crate::{Error, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How far a signature's timestamp may be from the receiver's clock.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// The `Webhook-Signature` value of `body` sent at `timestamp`.
pub fn signature_header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(sign(secret, timestamp, body)));
    }
    header
}

fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    mac(secret, timestamp, body)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// HMAC-SHA256 keyed by `secret`, fed `<timestamp>.<body>`.
fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRefusal {
    Malformed,
    /// The timestamp is outside the tolerance: a replay, or a bad clock.
    Stale,
    /// No `v1` matches the secret.
    Mismatch,
}

/// What a receiver does: check `header` against `body` with its secret,
/// at `now`, within `tolerance` seconds. Comparison is constant-time.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> std::result::Result<(), SignatureRefusal> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => candidates.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureRefusal::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureRefusal::Malformed);
    }
    if (now - timestamp).abs() > tolerance {
        return Err(SignatureRefusal::Stale);
    }
    for candidate in candidates {
        let Ok(bytes) = hex::decode(candidate) else {
            continue;
        };
        if mac(secret, timestamp, body).verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureRefusal::Mismatch)
}

/// True for an address no delivery may reach.
pub fn is_forbidden_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped and -compatible forms reach IPv4 hosts.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_v4(v4);
            }
            is_forbidden_v6(v6)
        }
    }
}

fn is_forbidden_v4(address: Ipv4Addr) -> bool {
    let [a, b, ..] = address.octets();
    address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_multicast()
        || address.is_broadcast()
        || address.is_unspecified()
        || address.is_documentation()
        || a == 0
        // Shared address space (CGNAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24, and benchmarking, 198.18.0.0/15.
        || (a == 192 && b == 0 && address.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
        // Reserved, 240.0.0.0/4.
        || a >= 240
}

fn is_forbidden_v6(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    address.is_loopback()
        || address.is_unspecified()
        || address.is_multicast()
        // Unique local fc00::/7 and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation 2001:db8::/32.
        || (first == 0x2001 && address.segments()[1] == 0x0db8)
        // NAT64 64:ff9b::/96 reaches IPv4 hosts.
        || (first == 0x0064 && address.segments()[1] == 0xff9b)
}

/// Check a webhook URL as given (scheme, no credentials, a host). The
/// addresses its host resolves to are checked again at each send.
pub fn check_url(field: &str, url: &str, allow_loopback_http: bool) -> Result<()> {
    let refuse = |why: &str| {
        Error::invalid(
            field,
            format!("{why}; give an https:// URL of a public host"),
        )
    };
    if url.len() > 2048 {
        return Err(refuse("the URL is longer than 2048 characters"));
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| refuse("not a URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(refuse("credentials in the URL are not accepted"));
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    if host.is_empty() {
        return Err(refuse("the URL has no host"));
    }
    let address = host.parse::<IpAddr>().ok();
    let loopback = address.is_some_and(|a| a.is_loopback()) || host == "localhost";
    match scheme {
        "https" => {}
        "http" if allow_loopback_http && loopback => return Ok(()),
        _ => return Err(refuse("only https is accepted")),
    }
    if host.eq_ignore_ascii_case("localhost") || address.is_some_and(is_forbidden_address) {
        return Err(refuse(&format!(
            "'{}' is not a public address",
            crate::validation::echo(host)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_verifies_what_the_sender_signed() {
        let body = br#"{"id":"evt_1","type":"account.created"}"#;
        let header = signature_header(&["whsec_new", "whsec_old"], 1_795_000_000, body);
        assert!(header.starts_with("t=1795000000,v1="));
        // Either live secret verifies during a rotation.
        for secret in ["whsec_new", "whsec_old"] {
            assert_eq!(
                verify_signature(
                    secret,
                    &header,
                    body,
                    1_795_000_100,
                    DEFAULT_TOLERANCE_SECONDS
                ),
                Ok(())
            );
        }
        let check = |secret, header: &str, body: &[u8], now| {
            verify_signature(secret, header, body, now, DEFAULT_TOLERANCE_SECONDS)
        };
        assert_eq!(
            check("whsec_wrong", &header, body, 1_795_000_000),
            Err(SignatureRefusal::Mismatch)
        );
        assert_eq!(
            check("whsec_new", &header, b"{}", 1_795_000_000),
            Err(SignatureRefusal::Mismatch)
        );
        // A replay an hour later is detected.
        assert_eq!(
            check("whsec_new", &header, body, 1_795_003_600),
            Err(SignatureRefusal::Stale)
        );
        assert_eq!(
            check("whsec_new", "v1=00", body, 1_795_000_000),
            Err(SignatureRefusal::Malformed)
        );
        assert_eq!(
            check("whsec_new", "t=1795000000", body, 1_795_000_000),
            Err(SignatureRefusal::Malformed)
        );
    }

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for forbidden in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(
                is_forbidden_address(forbidden.parse().unwrap()),
                "{forbidden}"
            );
        }
        for allowed in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "100.128.0.1",
        ] {
            assert!(!is_forbidden_address(allowed.parse().unwrap()), "{allowed}");
        }
    }

    #[test]
    fn urls_are_https_to_public_hosts() {
        assert!(check_url("url", "https://hooks.example.com/receive?x=1", false).is_ok());
        assert!(check_url("url", "https://93.184.216.34:8443/hook", false).is_ok());
        for refused in [
            "http://hooks.example.com/",
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost/",
            "https://user:pass@hooks.example.com/",
            "ftp://hooks.example.com/",
            "hooks.example.com",
            "https:///path",
        ] {
            let err = check_url("url", refused, false).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field: Some(f), .. } if f == "url"),
                "{refused}: {err:?}"
            );
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
        assert!(check_url("url", &long, false).is_err(), "longer than 2048");
        // The dev server may deliver to a receiver on loopback over http.
        assert!(check_url("url", "http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("url", "http://10.0.0.1/hook", true).is_err());
    }
}

/// Endpoints one tenant may register.
pub const MAX_WEBHOOKS: usize = 25;
/// How long the previous secret keeps signing after a rotation, by default.
pub const DEFAULT_OVERLAP_HOURS: u32 = 24;

/// A tenant's webhook endpoint as stored, with its signing secrets.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Webhook {
    pub webhook_id: String,
    pub url: String,
    /// The event types delivered; empty: all of them.
    #[serde(default)]
    pub event_types: Vec<crate::events::EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    /// The live signing secrets, newest first.
    pub secrets: Vec<SigningSecret>,
    pub created_at: crate::time::Timestamp,
    pub created_by: String,
    pub updated_at: crate::time::Timestamp,
    pub updated_by: String,
    pub version: u64,
    /// Since when every delivery has failed (none since succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<crate::time::Timestamp>,
    /// Why the sender disabled it (cleared when it is enabled again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

/// A signing secret; a rotated-out one signs until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SigningSecret {
    pub secret: String,
    pub created_at: crate::time::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<crate::time::Timestamp>,
}

/// A webhook as callers see it: never its secrets.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub webhook_id: String,
    pub url: String,
    /// Empty: every event type.
    pub event_types: Vec<crate::events::EventType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    /// While a rotation overlaps: when the previous secret stops signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<crate::time::Timestamp>,
    /// Since when every delivery has failed; past the disable span the
    /// endpoint is disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<crate::time::Timestamp>,
    /// Why the service disabled this endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: crate::time::Timestamp,
    pub created_by: String,
    pub updated_at: crate::time::Timestamp,
    pub updated_by: String,
    pub version: u64,
}

impl Webhook {
    pub fn view(&self) -> WebhookView {
        WebhookView {
            webhook_id: self.webhook_id.clone(),
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            previous_secret_expires_at: self.secrets.iter().skip(1).find_map(|s| s.expires_at),
            failing_since: self.failing_since,
            disabled_reason: self.disabled_reason.clone(),
            created_at: self.created_at,
            created_by: self.created_by.clone(),
            updated_at: self.updated_at,
            updated_by: self.updated_by.clone(),
            version: self.version,
        }
    }

    /// The secrets that sign a delivery at `now`, newest first.
    pub fn signing_secrets(&self, now: crate::time::Timestamp) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| s.secret.as_str())
            .collect()
    }

    /// Whether an event of `event_type` goes to this endpoint.
    pub fn wants(&self, event_type: crate::events::EventType) -> bool {
        self.enabled && (self.event_types.is_empty() || self.event_types.contains(&event_type))
    }
}

/// A new signing secret: `whsec_` and 32 bytes from the OS CSPRNG.
pub fn new_secret() -> String {
    format!("whsec_{}", crate::crypto::random_hex(32))
}
