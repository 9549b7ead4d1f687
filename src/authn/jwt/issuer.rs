//! Trusted issuers, from the `jwt` section of the configuration.
//!
//! Configuration decides trust, never the token: each issuer fixes its accepted audiences,
//! algorithms and key source. A token only picks which issuer's rules apply, through its `iss`.

use super::alg::Alg;
use super::keys::KeySet;
use crate::deploy::Environment;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Where an issuer's verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS URL, fetched and cached by the worker.
    JwksUrl(String),
    /// A JWKS written into the configuration.
    Inline(Arc<KeySet>),
    /// An HMAC secret, by the name of its secret binding (HS* only).
    HmacSecret(String),
}

/// Names (or dotted paths, such as `realm_access.roles`) of the claims that make a principal.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimNames {
    /// The subject; `sub` by default.
    pub subject: String,
    /// The email address; `email` by default.
    pub email: String,
    /// Groups or roles: an array of strings, or one space-separated string; `groups` by default.
    pub groups: String,
    /// Scopes: a space-separated string (RFC 9068 `scope`) or an array (`scp`); `scope` by
    /// default, with `scp` tried when it is absent.
    pub scopes: String,
    /// The tenant; `tenant` by default.
    pub tenant: String,
    /// The rate-limit tier (see `rate_limits[].tiers`); none by default.
    pub tier: Option<String>,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            email: "email".into(),
            groups: "groups".into(),
            scopes: "scope".into(),
            tenant: "tenant".into(),
            tier: None,
        }
    }
}

/// A trusted token issuer.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// Where the keys come from.
    pub key_source: KeySource,
    /// Accepted algorithms.
    pub algorithms: Vec<Alg>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_s: i64,
    /// Claims that must be present.
    pub required_claims: Vec<String>,
    /// The expected `typ` header, if any (for example `at+jwt`, RFC 9068).
    pub typ: Option<String>,
    /// Claim names for the principal.
    pub claims: ClaimNames,
}

/// The JWKS cache policy.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwksCachePolicy {
    /// Lifetime of a key set whose response has no `Cache-Control` max-age, in seconds. Default 600, between
    /// `min_ttl_s` and `max_ttl_s`.
    pub default_ttl_s: u64,
    /// Shortest lifetime, whatever `Cache-Control` says (a floor against refetch storms), in seconds. Default 60.
    pub min_ttl_s: u64,
    /// Longest lifetime, whatever `Cache-Control` says (a key removal is seen within this), in seconds.
    /// Default 86400.
    pub max_ttl_s: u64,
    /// How long after expiry a key set is still used when refreshing it fails, in seconds (default 3600).
    /// After that, requests fail closed with 503.
    pub max_stale_s: u64,
    /// The least time between two refreshes caused by unknown `kid`s, per issuer, in seconds. Default 30,
    /// at most 3600.
    pub refresh_cooldown_s: u64,
    /// How long a key set fetch may take, in milliseconds. Default 5000, 1 to 30000.
    pub fetch_timeout_ms: u64,
}

impl Default for JwksCachePolicy {
    fn default() -> Self {
        Self {
            default_ttl_s: 600,
            min_ttl_s: 60,
            max_ttl_s: 86_400,
            max_stale_s: 3600,
            refresh_cooldown_s: 30,
            fetch_timeout_ms: 5000,
        }
    }
}

/// The `jwt` section.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// Trusted issuers.
    pub issuers: Vec<Issuer>,
    /// JWKS caching.
    pub jwks_cache: JwksCachePolicy,
    /// How many verified tokens an isolate remembers (0: verify every signature).
    pub verified_cache_entries: usize,
}

/// The default size of the verified-token cache.
pub const DEFAULT_VERIFIED_CACHE_ENTRIES: usize = 10_000;

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            jwks_cache: JwksCachePolicy::default(),
            verified_cache_entries: DEFAULT_VERIFIED_CACHE_ENTRIES,
        }
    }
}

impl JwtConfig {
    /// The issuer whose `iss` is exactly this.
    pub fn issuer(&self, iss: &str) -> Option<&Issuer> {
        self.issuers.iter().find(|issuer| issuer.issuer == iss)
    }
}

/// Bearer JWT verification: the trusted issuers and the JWKS cache.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJwtConfig {
    /// The trusted issuers, each with a unique `issuer`; a token's `iss` picks one, and a token from any
    /// other issuer is refused. None by default.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<RawIssuer>"))]
    issuers: Vec<Value>,
    /// How fetched JWKS are cached and refreshed, for every issuer.
    #[serde(default)]
    jwks_cache: JwksCachePolicy,
    /// How many verified tokens an isolate remembers, so a repeated token's signature is checked once;
    /// 0 verifies every signature. Default 10000, at most 1000000.
    #[serde(default)]
    verified_cache_entries: Option<usize>,
}

/// A trusted token issuer: its `iss`, audiences, algorithms and where its keys come from.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIssuer {
    /// The exact `iss` value of this issuer's tokens: a URL, https in production. Required.
    issuer: String,
    /// Accepted `aud` values; a token must name at least one. Required, at least one non-empty string.
    audiences: Vec<String>,
    /// The URL of the issuer's JWKS (https in production), fetched and cached by the worker. Set exactly one
    /// of `jwks_url`, `jwks` and `hmac_secret`.
    jwks_url: Option<String>,
    /// A JWKS (`{"keys": [...]}`) of public keys written into the configuration; a key that cannot be used
    /// is a configuration error. Set exactly one of `jwks_url`, `jwks` and `hmac_secret`.
    jwks: Option<Value>,
    /// The NAME of the Worker secret that holds the HMAC key (at least 32 bytes), not the key itself; such
    /// an issuer accepts only HS256, HS384 and HS512. Set exactly one of `jwks_url`, `jwks` and `hmac_secret`.
    hmac_secret: Option<String>,
    /// Accepted `alg` values, at least one: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
    /// or (with `hmac_secret` only, and then only these) HS256, HS384, HS512. Required.
    algorithms: Vec<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds. Default 30, at most 300.
    leeway_s: Option<u32>,
    /// Claims (names or dotted paths) a token must carry with a non-null value. Default `["sub"]`.
    required_claims: Option<Vec<String>>,
    /// The `typ` header a token must have, such as `at+jwt` (RFC 9068; an `application/` prefix and case are
    /// ignored). Unset by default: `typ` is not checked.
    typ: Option<String>,
    /// Which claims hold the principal's subject, email, groups, scopes, tenant and rate-limit tier.
    #[serde(default)]
    claims: ClaimNames,
}

/// Problems found while reading the section: (path relative to `jwt`, message).
pub type Problems = Vec<(String, String)>;

fn parse_issuer(path: &str, raw: RawIssuer, environment: Environment, problems: &mut Problems) -> Option<Issuer> {
    let before = problems.len();
    let mut problem = |field: &str, message: String| problems.push((format!("{path}.{field}"), message));
    match url::Url::parse(&raw.issuer) {
        Ok(url) if url.scheme() == "https" || environment == Environment::Development => {}
        Ok(_) => problem("issuer", format!("{:?} must be an https URL in production", raw.issuer)),
        Err(_) => problem("issuer", format!("{:?} is not a URL", raw.issuer)),
    }
    if raw.audiences.is_empty() || raw.audiences.iter().any(String::is_empty) {
        problem("audiences", "list at least one non-empty audience".into());
    }
    let mut algorithms = Vec::new();
    for (index, name) in raw.algorithms.iter().enumerate() {
        match Alg::parse(name) {
            Some(alg) => algorithms.push(alg),
            None => problem(&format!("algorithms[{index}]"), format!("unsupported algorithm {name:?}")),
        }
    }
    if raw.algorithms.is_empty() {
        problem("algorithms", "list the accepted algorithms".into());
    }
    let symmetric = algorithms.iter().filter(|a| a.is_symmetric()).count();
    let sources = [raw.jwks_url.is_some(), raw.jwks.is_some(), raw.hmac_secret.is_some()];
    let key_source = match (raw.jwks_url, raw.jwks, raw.hmac_secret) {
        _ if sources.iter().filter(|s| **s).count() != 1 => {
            problem("jwks_url", "set exactly one of jwks_url, jwks and hmac_secret".into());
            None
        }
        (Some(jwks_url), _, _) => match url::Url::parse(&jwks_url) {
            Ok(url) if url.scheme() == "https" || environment == Environment::Development => {
                Some(KeySource::JwksUrl(jwks_url))
            }
            Ok(_) => {
                problem("jwks_url", format!("{jwks_url:?} must be an https URL in production"));
                None
            }
            Err(_) => {
                problem("jwks_url", format!("{jwks_url:?} is not a URL"));
                None
            }
        },
        (_, Some(jwks), _) => match KeySet::from_jwks(jwks.to_string().as_bytes()) {
            Ok((keys, ignored)) => {
                for key in ignored {
                    problem("jwks", format!("key {:?} cannot be used: {}", key.kid.unwrap_or_default(), key.reason));
                }
                Some(KeySource::Inline(Arc::new(keys)))
            }
            Err(message) => {
                problem("jwks", message);
                None
            }
        },
        (_, _, Some(secret)) => Some(KeySource::HmacSecret(secret)),
        (None, None, None) => None,
    };
    // Symmetric and asymmetric algorithms never share an issuer: an HMAC key is never a public
    // key, and a public key is never an HMAC secret (RFC 8725 §2.1, algorithm confusion).
    match &key_source {
        Some(KeySource::HmacSecret(_)) if symmetric != algorithms.len() => {
            problem("algorithms", "an hmac_secret issuer accepts only HS256, HS384 and HS512".into())
        }
        Some(KeySource::JwksUrl(_) | KeySource::Inline(_)) if symmetric > 0 => {
            problem("algorithms", "HS* algorithms need hmac_secret, never a key set".into())
        }
        _ => {}
    }
    let leeway_s = raw.leeway_s.unwrap_or(30);
    if leeway_s > 300 {
        problem("leeway_s", "at most 300 seconds".into());
    }
    if let Some(typ) = &raw.typ {
        if typ.is_empty() || !typ.bytes().all(|b| b.is_ascii_graphic()) {
            problem("typ", format!("{typ:?} is not a media type"));
        }
    }
    if problems.len() != before {
        return None;
    }
    Some(Issuer {
        issuer: raw.issuer,
        audiences: raw.audiences,
        key_source: key_source?,
        algorithms,
        leeway_s: i64::from(leeway_s),
        required_claims: raw.required_claims.unwrap_or_else(|| vec!["sub".into()]),
        typ: raw.typ,
        claims: raw.claims,
    })
}

impl JwtConfig {
    /// Reads the `jwt` section. Problems are reported with paths relative to the section.
    #[inline(never)]
    pub fn from_value(value: &Value, environment: Environment) -> Result<Self, Problems> {
        let mut problems = Problems::new();
        let raw: RawJwtConfig = match serde_path_to_error::deserialize(value) {
            Ok(raw) => raw,
            Err(error) => {
                let inner = error.path().to_string();
                return Err(vec![(inner, error.into_inner().to_string())]);
            }
        };
        let mut issuers: Vec<Issuer> = Vec::new();
        for (index, value) in raw.issuers.iter().enumerate() {
            let path = format!("issuers[{index}]");
            match serde_path_to_error::deserialize::<_, RawIssuer>(value) {
                Ok(raw) => {
                    if let Some(issuer) = parse_issuer(&path, raw, environment, &mut problems) {
                        if issuers.iter().any(|other| other.issuer == issuer.issuer) {
                            problems.push((format!("{path}.issuer"), format!("duplicate issuer {:?}", issuer.issuer)));
                        }
                        issuers.push(issuer);
                    }
                }
                Err(error) => {
                    let inner = error.path().to_string();
                    let full = if inner == "." { path } else { format!("{path}.{inner}") };
                    problems.push((full, error.into_inner().to_string()));
                }
            }
        }
        let cache = &raw.jwks_cache;
        if cache.min_ttl_s > cache.max_ttl_s
            || cache.default_ttl_s < cache.min_ttl_s
            || cache.default_ttl_s > cache.max_ttl_s
        {
            problems.push(("jwks_cache".into(), "need min_ttl_s <= default_ttl_s <= max_ttl_s".into()));
        }
        if raw.verified_cache_entries.is_some_and(|n| n > 1_000_000) {
            problems.push(("verified_cache_entries".into(), "at most 1000000".into()));
        }
        if cache.refresh_cooldown_s > 3600 {
            problems.push(("jwks_cache.refresh_cooldown_s".into(), "at most 3600".into()));
        }
        if cache.fetch_timeout_ms == 0 || cache.fetch_timeout_ms > 30_000 {
            problems.push(("jwks_cache.fetch_timeout_ms".into(), "must be between 1 and 30000".into()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            issuers,
            jwks_cache: raw.jwks_cache,
            verified_cache_entries: raw.verified_cache_entries.unwrap_or(DEFAULT_VERIFIED_CACHE_ENTRIES),
        })
    }
}
