//! Webhook signature verification for the schemes a sidecar can name in `verify = "..."`,
//! each as its provider documents it. Comparisons are constant-time, and refusals carry only
//! static text and numbers, so logging them cannot leak the secret or a computed signature.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

/// Replay window for timestamped schemes; both providers document 5 minutes.
const TOLERANCE_SECONDS: i64 = 300;
/// Cap on signatures considered per header, so a huge header cannot buy unbounded work.
const MAX_SIGNATURES: usize = 16;
/// Standard base64, lenient about padding since senders differ on it.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a webhook's deliveries are signed (the sidecar's `verify = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    None,
    StandardWebhooks,
    Github,
    Stripe,
    Shopify,
}

impl Scheme {
    const ALL: [Scheme; 5] = [
        Self::None,
        Self::StandardWebhooks,
        Self::Github,
        Self::Stripe,
        Self::Shopify,
    ];

    /// The sidecar spelling of this scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StandardWebhooks => "standard-webhooks",
            Self::Github => "github",
            Self::Stripe => "stripe",
            Self::Shopify => "shopify",
        }
    }

    /// Every scheme except `None` is meaningless without a shared secret.
    pub fn needs_secret(self) -> bool {
        self != Self::None
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `verify = "..."` value that names no known scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown verify scheme {0:?}; expected one of: none, standard-webhooks, github, stripe, shopify"
)]
pub struct UnknownScheme(pub String);

impl std::str::FromStr for Scheme {
    type Err = UnknownScheme;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownScheme(s.to_owned()))
    }
}

/// A delivery that passed: its id for deduplication, when the scheme names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub delivery_id: Option<String>,
}

/// Why a delivery was refused (logged by the host; must never contain the secret or a computed signature).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// `age_seconds` is negative when the timestamp is in the future.
    #[error("timestamp is {age_seconds}s old, outside the ±{tolerance_seconds}s tolerance")]
    Stale {
        age_seconds: i64,
        tolerance_seconds: i64,
    },
    #[error("no signature matched")]
    BadSignature,
    #[error("unusable secret: {0}")]
    BadSecret(&'static str),
}

/// Checks one delivery against `secret`; `now_unix` is passed in so tests and callers control the clock.
pub fn verify(
    scheme: Scheme,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<Verified, Refused> {
    if scheme.needs_secret() && secret.is_empty() {
        return Err(Refused::BadSecret("empty secret"));
    }
    let delivery_id = match scheme {
        Scheme::None => first_header(headers, &["webhook-id", "idempotency-key"])?,
        Scheme::StandardWebhooks => Some(standard(secret, headers, body, now_unix)?),
        Scheme::Github => {
            const H: &str = "x-hub-signature-256";
            let sig = required(headers, H)?.strip_prefix("sha256=");
            let sig = sig.and_then(hex_decode).ok_or(Refused::Malformed(H))?;
            check(hmac(secret, &[body]), vec![sig])?;
            first_header(headers, &["x-github-delivery"])?
        }
        Scheme::Stripe => {
            stripe(secret, headers, body, now_unix)?;
            // Stripe names no id header; the event id in the body serves instead.
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
        }
        Scheme::Shopify => {
            const H: &str = "x-shopify-hmac-sha256";
            let sig = required(headers, H)?;
            let sig = B64.decode(sig).map_err(|_| Refused::Malformed(H))?;
            check(hmac(secret, &[body]), vec![sig])?;
            first_header(headers, &["x-shopify-webhook-id", "x-shopify-event-id"])?
        }
    };
    Ok(Verified { delivery_id })
}

/// The headers a provider sends with `body` under `scheme`: the inverse of
/// [`verify`], for tools that play the provider (`keruj-host send
/// --webhook`, the test harness, the dev console). `id` goes in the
/// scheme's delivery-id header; Stripe has none (its id is the body's
/// `id`). A `whsec_` secret that is not base64 signs with its raw bytes,
/// which [`verify`] then refuses, as it would the provider's.
pub fn sign(
    scheme: Scheme,
    secret: &[u8],
    id: &str,
    body: &[u8],
    now_unix: i64,
) -> Vec<(&'static str, String)> {
    let ts = now_unix.to_string();
    match scheme {
        Scheme::None => vec![("webhook-id", id.to_owned())],
        Scheme::StandardWebhooks => {
            let key = secret
                .strip_prefix(b"whsec_")
                .and_then(|b64| B64.decode(b64).ok())
                .unwrap_or_else(|| secret.to_vec());
            let signed = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
            let sig = B64.encode(hmac(&key, &signed));
            vec![
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", ts),
                ("webhook-signature", format!("v1,{sig}")),
            ]
        }
        Scheme::Github => vec![
            (
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(hmac(secret, &[body]))),
            ),
            ("x-github-delivery", id.to_owned()),
        ],
        Scheme::Stripe => {
            let sig = hex::encode(hmac(secret, &[ts.as_bytes(), b".", body]));
            vec![("stripe-signature", format!("t={ts},v1={sig}"))]
        }
        Scheme::Shopify => vec![
            ("x-shopify-hmac-sha256", B64.encode(hmac(secret, &[body]))),
            ("x-shopify-webhook-id", id.to_owned()),
        ],
    }
}

/// Standard Webhooks / Svix: `v1,<base64>` entries over `{id}.{timestamp}.{body}`; returns the id.
fn standard(secret: &[u8], headers: &HeaderMap, body: &[u8], now: i64) -> Result<String, Refused> {
    const SIG: &str = "webhook-signature";
    let id = required(headers, "webhook-id")?;
    let ts = required(headers, "webhook-timestamp")?;
    check_fresh(ts, "webhook-timestamp", now)?;
    // `whsec_` marks a base64 key; anything else is taken as raw key bytes.
    let key = match secret.strip_prefix(b"whsec_") {
        Some(b64) => B64
            .decode(b64)
            .map_err(|_| Refused::BadSecret("bad whsec_ base64"))?,
        None => secret.to_vec(),
    };
    if key.is_empty() {
        return Err(Refused::BadSecret("empty key"));
    }
    let mut sigs = Vec::new();
    let entries = required(headers, SIG)?.split_ascii_whitespace();
    for entry in entries.take(MAX_SIGNATURES) {
        let (version, sig) = entry.split_once(',').ok_or(Refused::Malformed(SIG))?;
        if version == "v1" {
            sigs.push(B64.decode(sig).map_err(|_| Refused::Malformed(SIG))?);
        }
    }
    let signed = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
    check(hmac(&key, &signed), sigs)?;
    Ok(id.to_owned())
}

/// Stripe: `t=<unix>,v1=<hex>,...` over `{t}.{body}`, keyed by the whole `whsec_...` string as Stripe does.
fn stripe(secret: &[u8], headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Refused> {
    const H: &str = "stripe-signature";
    let mut ts = None;
    let mut sigs = Vec::new();
    for item in required(headers, H)?.split(',') {
        match item.trim().split_once('=').ok_or(Refused::Malformed(H))? {
            ("t", _) if ts.is_some() => return Err(Refused::Malformed("stripe-signature t")),
            ("t", t) => ts = Some(t),
            ("v1", _) if sigs.len() >= MAX_SIGNATURES => {}
            ("v1", sig) => sigs.push(hex_decode(sig).ok_or(Refused::Malformed(H))?),
            _ => {} // v0 and future schemes are not ours to check.
        }
    }
    let ts = ts.ok_or(Refused::Malformed("stripe-signature t"))?;
    check_fresh(ts, "stripe-signature t", now)?;
    check(hmac(secret, &[ts.as_bytes(), b".", body]), sigs)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    parts.iter().for_each(|p| mac.update(p));
    mac.finalize().into_bytes().to_vec()
}

/// Accepts if any candidate equals `expected`, comparing each in constant time.
fn check(expected: Vec<u8>, candidates: Vec<Vec<u8>>) -> Result<(), Refused> {
    let each = candidates.iter().map(|c| expected.ct_eq(c));
    let ok = each.fold(Choice::from(0), |a, b| a | b);
    bool::from(ok).then_some(()).ok_or(Refused::BadSignature)
}

/// Past and future both count: a far-future timestamp would stretch the replay window.
/// Digits only, since the timestamp text is part of the signed content.
fn check_fresh(ts: &str, what: &'static str, now: i64) -> Result<(), Refused> {
    let digits = ts.bytes().all(|b| b.is_ascii_digit());
    let ts = ts.parse::<i64>().ok().filter(|_| digits);
    let ts = ts.ok_or(Refused::Malformed(what))?;
    let age = now.saturating_sub(ts);
    if age.unsigned_abs() > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(Refused::Stale {
            age_seconds: age,
            tolerance_seconds: TOLERANCE_SECONDS,
        });
    }
    Ok(())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, Refused> {
    headers
        .get(name)
        .map(|v| std::str::from_utf8(v.as_bytes()).map_err(|_| Refused::Malformed(name)))
        .transpose()
}

fn required<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, Refused> {
    header(headers, name)?.ok_or(Refused::MissingHeader(name))
}

/// The first of `names` present, as an owned delivery id.
fn first_header(headers: &HeaderMap, names: &[&'static str]) -> Result<Option<String>, Refused> {
    for &name in names {
        if let Some(v) = header(headers, name)? {
            return Ok(Some(v.to_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
