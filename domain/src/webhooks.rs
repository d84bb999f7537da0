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

/// IPv4 ranges no delivery may reach: every block of IANA's IPv4
/// Special-Purpose Address Registry, multicast, and the reserved rest.
const FORBIDDEN_V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0A00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared (CGNAT)
    (0x7F00_0000, 8),  // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link-local (the metadata service)
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 documentation
    (0xC01F_C400, 24), // 192.31.196.0/24 AS112
    (0xC034_C100, 24), // 192.52.193.0/24 AMT
    (0xC058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC0AF_3000, 24), // 192.175.48.0/24 AS112 direct delegation
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 documentation
    (0xCB00_7100, 24), // 203.0.113.0/24 documentation
    (0xE000_0000, 4),  // 224.0.0.0/4 multicast
    (0xF000_0000, 4),  // 240.0.0.0/4 reserved, and the broadcast address
];

/// IPv6 ranges no delivery may reach: every block of IANA's IPv6
/// Special-Purpose Address Registry, and the deprecated and embedding
/// forms (IPv4-compatible, IPv4-mapped and -translated, 6to4, Teredo,
/// NAT64, site-local) that reach an IPv4 host or a private network.
const FORBIDDEN_V6: &[(u128, u8)] = &[
    (0, 96),                           // ::/96 unspecified, loopback, IPv4-compatible
    (0xffff_0000_0000u128, 96),        // ::ffff:0:0/96 IPv4-mapped
    (0xffff_0000_0000_0000u128, 96),   // ::ffff:0:0:0/96 IPv4-translated
    (0x0064_ff9b_u128 << 96, 96),      // 64:ff9b::/96 NAT64
    (0x0064_ff9b_0001_u128 << 80, 48), // 64:ff9b:1::/48 local NAT64
    (0x0100_u128 << 112, 64),          // 100::/64 discard-only
    (0x2001_u128 << 112, 23), // 2001::/23 IETF protocol assignments (Teredo, ORCHID, benchmarking)
    (0x2001_0db8_u128 << 96, 32), // 2001:db8::/32 documentation
    (0x2002_u128 << 112, 16), // 2002::/16 6to4
    (0x2620_004f_8000_u128 << 80, 48), // 2620:4f:8000::/48 AS112
    (0x3fff_u128 << 112, 20), // 3fff::/20 documentation
    (0x5f00_u128 << 112, 16), // 5f00::/16 SRv6 SIDs
    (0xfc00_u128 << 112, 7),  // fc00::/7 unique local
    (0xfe80_u128 << 112, 10), // fe80::/10 link-local
    (0xfec0_u128 << 112, 10), // fec0::/10 site-local (deprecated)
    (0xff00_u128 << 112, 8),  // ff00::/8 multicast
];

/// True for an address no delivery may reach: any special-purpose range
/// (the tables above), in IPv4 or IPv6. An IPv6 form that embeds an IPv4
/// address (mapped, compatible, translated, 6to4, NAT64) is refused by
/// its own range, whatever IPv4 address it carries.
pub fn is_forbidden_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(address: Ipv4Addr) -> bool {
    let bits = u32::from(address);
    FORBIDDEN_V4
        .iter()
        .any(|&(network, length)| bits >> (32 - length) == network >> (32 - length))
}

fn is_forbidden_v6(address: Ipv6Addr) -> bool {
    let bits = u128::from(address);
    FORBIDDEN_V6
        .iter()
        .any(|&(network, length)| bits >> (128 - length) == network >> (128 - length))
}

/// Check a webhook URL as given, parsed as a browser parses it (the WHATWG
/// URL standard, as the `url` crate implements it): https, no
/// credentials, a valid port other than 0, and a host written canonically
/// (no trailing dot, no numeric shorthand such as `127.1` or `0x7f000001`,
/// no characters a parser maps to others) that is neither `localhost` nor
/// a special-purpose address. The addresses a name resolves to are checked
/// again at each send.
pub fn check_url(field: &str, url: &str, allow_loopback_http: bool) -> Result<()> {
    let refuse = |why: &str| {
        Error::invalid(
            field,
            format!("{why}; give an https:// URL of a public host"),
        )
    };
    if url.len() > MAX_URL_LEN {
        return Err(refuse(&format!(
            "the URL is longer than {MAX_URL_LEN} characters"
        )));
    }
    let parsed = url::Url::parse(url).map_err(|err| refuse(&format!("not a valid URL ({err})")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse("credentials in the URL are not accepted"));
    }
    let Some(host) = parsed.host() else {
        return Err(refuse("the URL has no host"));
    };
    if parsed.port() == Some(0) {
        return Err(refuse("port 0 is not a port"));
    }
    // The host as written, which must be what the parser made of it.
    let written = crate::validation::written_host(url);
    let canonical = parsed.host_str().unwrap_or_default();
    if !written.eq_ignore_ascii_case(canonical) {
        return Err(refuse(&format!(
            "the host '{}' is not written canonically (it means '{}')",
            crate::validation::echo(written),
            crate::validation::echo(canonical)
        )));
    }
    let address = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    let name = canonical.to_ascii_lowercase();
    let loopback_name = name == "localhost" || name.ends_with(".localhost");
    let loopback = address.is_some_and(|a| a.is_loopback()) || loopback_name;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_loopback_http && loopback => return Ok(()),
        _ => return Err(refuse("only https is accepted")),
    }
    if loopback_name || name.ends_with('.') || address.is_some_and(is_forbidden_address) {
        return Err(refuse(&format!(
            "'{}' is not a public address",
            crate::validation::echo(canonical)
        )));
    }
    Ok(())
}

/// A webhook URL as events and logs show it: its origin, then `/…` when
/// it has a path or query (which often is the URL's secret).
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.path() == "/" && parsed.query().is_none() => {
            parsed.origin().ascii_serialization()
        }
        Ok(parsed) => format!("{}/…", parsed.origin().ascii_serialization()),
        Err(_) => "…".to_string(),
    }
}

/// Endpoints one tenant may register.
pub const MAX_WEBHOOKS: usize = 25;
pub const MAX_URL_LEN: usize = 2048;
/// An https URL of a host name as the OpenAPI document states it: a subset
/// of what [`check_url`] accepts (which also takes public IP literals and
/// other ports), so a URL that matches is never refused for its form.
pub const HTTPS_URL_PATTERN: &str = r"^https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[1-9][0-9]{0,3})?(?:[/?#][!-~]*)?$";
pub const MAX_DESCRIPTION_LEN: usize = 256;
/// Hours a rotated secret may keep signing beside its successor.
pub const MAX_OVERLAP_HOURS: u32 = 168;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_the_stated_pattern_admits_is_accepted() {
        let pattern = regex::Regex::new(HTTPS_URL_PATTERN).unwrap();
        for url in [
            "https://hooks.example.com",
            "https://a.b/x?y=1#z",
            "https://Hooks.Example.COM:8443/receive",
            "https://xn--bcher-kva.example/hook",
            "https://a-1.b-2.io/",
        ] {
            assert!(pattern.is_match(url), "{url}");
            assert!(check_url("url", url, false).is_ok(), "{url}");
        }
        for url in [
            "https://",
            "http://example.com",
            "https://1.2.3.4/",
            "https://example",
        ] {
            assert!(!pattern.is_match(url), "{url}");
        }
    }

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
            "192.88.99.1",
            "192.0.0.8",
            "203.0.113.7",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "::ffff:0:7f00:1",
            "fec0::1",
            "2002:7f00:1::",
            "2001::1",
            "100::1",
            "3fff::1",
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
            // Issue 25 #9: every form a WHATWG parser reads as another host.
            "https://127.1/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://017700000001/",
            "https://0x7f.1/",
            "https://0/",
            "https://127.0.0.1./",
            "https://169.254.169.254./",
            "https://localhost./",
            "https://foo.localhost/",
            "https://hooks.example.com./",
            "https://[::127.0.0.1]/",
            "https://[::a9fe:a9fe]/",
            "https://[::ffff:0:7f00:1]/",
            "https://[fec0::1]/",
            "https://[2002:7f00:1::]/",
            "https://[fe80::1%25lo]/",
            "https://192.88.99.1/",
            "https://hooks .example.com/",
            "https://hooks\u{3002}example\u{3002}com/",
            "https://hooks\u{ff0e}example.com/",
            "https://host:3953:443/",
            "https://hooks.example.com:0/",
            "https://hooks.example.com:99999/",
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
        assert!(check_url("url", "https://Hooks.Example.com:443/x", false).is_ok());
        assert!(check_url("url", "https://[2606:4700:4700::1111]/x", false).is_ok());
        assert!(check_url("url", "http://10.0.0.1/hook", true).is_err());
    }
}
