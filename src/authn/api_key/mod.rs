//! API keys: format, stored records, verification and the management API's input.
//!
//! A key is stored in KV under `apikey:<id>` as a [`KeyRecord`] holding only
//! `HMAC-SHA256(pepper, "<id>:<secret>")`; the pepper is a secret binding, so a dump of KV
//! cannot be brute-forced offline, and the plaintext key exists only in the creation response.
//! Revocation is also recorded in a Durable Object, which is strongly consistent; see the shell.

pub mod admin;
pub mod format;
pub mod store;

use crate::authn::principal::{AuthMethod, Principal};
use crate::identity::MappedIdentity;
use crate::secret::SecretBytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

/// The `api_keys` section of the configuration. API keys are enabled when the section exists.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeyConfig {
    /// The key prefix of this deployment: lower-case words joined by `_`, at most 16 characters. Default
    /// `pk_live`.
    pub prefix: String,
    /// A header that may carry a key besides `Authorization: Bearer`; `null` for none. Default `x-api-key`.
    pub header: Option<String>,
    /// How long an isolate trusts a key's state before it reads KV and the revocation Durable
    /// Object again: the bound on how long a revoked key keeps working elsewhere. In seconds: default 10,
    /// at most 300 (0 reads them on every request).
    pub cache_ttl_s: u64,
    /// The JWT scope that may use the management API; default `portcullis:admin`.
    pub admin_scope: String,
    /// How long a rotated key keeps working, unless the rotate request says otherwise, in seconds. Default
    /// 86400, at most 30 days.
    pub rotation_grace_s: u64,
    /// The longest lifetime a key may be created with: the most `expires_in_s` a create request may ask,
    /// in seconds. Default 63072000 (2 years). A key created without `expires_in_s` never expires.
    pub max_lifetime_s: u64,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        Self {
            prefix: "pk_live".into(),
            header: Some("x-api-key".into()),
            cache_ttl_s: 10,
            admin_scope: "portcullis:admin".into(),
            rotation_grace_s: 86_400,
            max_lifetime_s: 2 * 365 * 86_400,
        }
    }
}

impl ApiKeyConfig {
    /// Every problem, as (field, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !format::valid_prefix(&self.prefix) {
            problems.push((
                "prefix".into(),
                format!("{:?}: lower-case words joined by _, at most 16 characters", self.prefix),
            ));
        }
        if self
            .header
            .as_deref()
            .is_some_and(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            problems.push(("header".into(), "a header name".into()));
        }
        if self.cache_ttl_s > 300 {
            problems.push(("cache_ttl_s".into(), "at most 300".into()));
        }
        if self.rotation_grace_s > 30 * 86_400 {
            problems.push(("rotation_grace_s".into(), "at most 30 days".into()));
        }
        if self.max_lifetime_s == 0 {
            problems.push(("max_lifetime_s".into(), "must be positive".into()));
        }
        problems
    }
}

/// The KV key of a record.
pub fn record_key(id: &str) -> String {
    format!("apikey:{id}")
}

/// The KV key of a record's last-use time, kept apart so that a use never overwrites a revoke.
pub fn last_used_key(id: &str) -> String {
    format!("apikey-used:{id}")
}

/// Why an API key was refused. Clients see `invalid_token`; this goes to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyError {
    /// Not a well-formed key of this deployment (including a bad checksum).
    Malformed(format::FormatError),
    /// No key has this id.
    UnknownKey,
    /// The id exists, the secret does not match.
    WrongSecret,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Rotated, and its grace period is over.
    RotatedOut,
}

impl fmt::Display for ApiKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiKeyError::Malformed(format::FormatError::Malformed) => f.write_str("api_key_malformed"),
            ApiKeyError::Malformed(format::FormatError::WrongPrefix) => f.write_str("api_key_wrong_prefix"),
            ApiKeyError::Malformed(format::FormatError::BadChecksum) => f.write_str("api_key_bad_checksum"),
            ApiKeyError::UnknownKey => f.write_str("api_key_unknown"),
            ApiKeyError::WrongSecret => f.write_str("api_key_wrong_secret"),
            ApiKeyError::Expired => f.write_str("api_key_expired"),
            ApiKeyError::Revoked => f.write_str("api_key_revoked"),
            ApiKeyError::RotatedOut => f.write_str("api_key_rotated_out"),
        }
    }
}

/// The lifecycle state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Usable until it expires.
    Active,
    /// Replaced by another key; usable until `valid_until_ms`.
    Rotated,
    /// Never usable again.
    Revoked,
}

/// A stored key: metadata and the peppered hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id.
    pub id: String,
    /// `base64url(HMAC-SHA256(pepper, "<id>:<secret>"))`.
    pub hash: String,
    /// A label for people.
    pub name: Option<String>,
    /// Who the key acts as: the principal's subject.
    pub owner: String,
    /// The tenant the key belongs to.
    pub tenant: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// The rate-limit tier.
    pub tier: Option<String>,
    /// Creation time.
    pub created_at_ms: u64,
    /// Expiry, if any.
    pub expires_at_ms: Option<u64>,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// When a rotated or revoked key stops working.
    pub valid_until_ms: Option<u64>,
    /// The key that replaced this one.
    pub rotated_to: Option<String>,
}

/// The metadata shown by the management API: the record without its hash.
pub fn public_view(record: &KeyRecord, last_used_at_ms: Option<u64>) -> serde_json::Value {
    serde_json::json!({
        "id": record.id,
        "name": record.name,
        "owner": record.owner,
        "tenant": record.tenant,
        "scopes": record.scopes,
        "tier": record.tier,
        "created_at_ms": record.created_at_ms,
        "expires_at_ms": record.expires_at_ms,
        "status": record.status,
        "valid_until_ms": record.valid_until_ms,
        "rotated_to": record.rotated_to,
        "last_used_at_ms": last_used_at_ms,
    })
}

/// `HMAC-SHA256(pepper, "<id>:<secret>")`, base64url.
pub fn hash_secret(pepper: &SecretBytes, id: &str, secret: &SecretBytes) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper.expose()).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b":");
    mac.update(secret.expose());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Checks a presented key against its record at time `now_ms`, and returns the principal the key
/// acts as: the only way to get one for an API key. `revoked_at_ms` is the strongly consistent
/// revocation time from the Durable Object, when it has one.
pub fn verify(
    pepper: &SecretBytes,
    key: &format::ParsedKey,
    record: &KeyRecord,
    revoked_at_ms: Option<u64>,
    now_ms: u64,
) -> Result<Principal, ApiKeyError> {
    check(pepper, key, record, revoked_at_ms, now_ms)?;
    Ok(principal(record))
}

/// The checks of [`verify`]: secret, revocation, rotation grace, expiry.
fn check(
    pepper: &SecretBytes,
    key: &format::ParsedKey,
    record: &KeyRecord,
    revoked_at_ms: Option<u64>,
    now_ms: u64,
) -> Result<(), ApiKeyError> {
    let presented = hash_secret(pepper, &key.id, &key.secret);
    if record.id != key.id || !bool::from(presented.as_bytes().ct_eq(record.hash.as_bytes())) {
        return Err(ApiKeyError::WrongSecret);
    }
    if revoked_at_ms.is_some_and(|at| now_ms >= at) {
        return Err(if record.status == KeyStatus::Rotated { ApiKeyError::RotatedOut } else { ApiKeyError::Revoked });
    }
    match record.status {
        KeyStatus::Revoked => return Err(ApiKeyError::Revoked),
        KeyStatus::Rotated if record.valid_until_ms.is_none_or(|until| now_ms >= until) => {
            return Err(ApiKeyError::RotatedOut)
        }
        _ => {}
    }
    if record.expires_at_ms.is_some_and(|at| now_ms >= at) {
        return Err(ApiKeyError::Expired);
    }
    Ok(())
}

/// The principal a verified key acts as.
fn principal(record: &KeyRecord) -> Principal {
    let identity = MappedIdentity {
        subject: record.owner.clone(),
        email: None,
        groups: Vec::new(),
        scopes: record.scopes.clone(),
        tenant: record.tenant.clone(),
    };
    Principal::new(identity, AuthMethod::ApiKey, None).with_key(record.id.clone(), record.tier.clone())
}

/// The body of `POST /auth/api-keys`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Who the key acts as (required).
    pub owner: String,
    /// A label.
    pub name: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
    /// Scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The rate-limit tier.
    pub tier: Option<String>,
    /// Lifetime in seconds from now.
    pub expires_in_s: Option<u64>,
}

/// The body of `POST /auth/api-keys/:id/rotate` (may be empty).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old key keeps working, in seconds.
    pub grace_s: Option<u64>,
}

fn text_ok(value: &str, max: usize) -> bool {
    !value.is_empty() && value.len() <= max && !value.chars().any(char::is_control)
}

impl CreateRequest {
    /// Every problem with the request, as (field, message).
    pub fn problems(&self, max_lifetime_s: u64) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !text_ok(&self.owner, 256) {
            problems.push(("owner".into(), "1 to 256 characters, no control characters".into()));
        }
        for (field, value, max) in [("name", &self.name, 256), ("tenant", &self.tenant, 128), ("tier", &self.tier, 64)]
        {
            if value.as_deref().is_some_and(|v| !text_ok(v, max)) {
                problems.push((field.into(), format!("1 to {max} characters, no control characters")));
            }
        }
        if self.scopes.len() > 100 {
            problems.push(("scopes".into(), "at most 100 scopes".into()));
        }
        for (index, scope) in self.scopes.iter().enumerate() {
            if !crate::identity::is_scope_token(scope) {
                problems.push((format!("scopes[{index}]"), format!("{scope:?} is not a scope token")));
            }
        }
        if self.expires_in_s.is_some_and(|s| s == 0 || s > max_lifetime_s) {
            problems.push(("expires_in_s".into(), format!("between 1 and {max_lifetime_s}")));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> SecretBytes {
        SecretBytes::new(b"pepper-pepper-pepper-pepper-0001".to_vec())
    }

    fn record(id: &str, secret: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            hash: hash_secret(&pepper(), id, &SecretBytes::new(secret.as_bytes().to_vec())),
            name: None,
            owner: "svc-billing".into(),
            tenant: Some("acme".into()),
            scopes: vec!["orders:read".into()],
            tier: Some("gold".into()),
            created_at_ms: 1_000,
            expires_at_ms: Some(10_000),
            status: KeyStatus::Active,
            valid_until_ms: None,
            rotated_to: None,
        }
    }

    fn key(id: &str, secret: &str) -> format::ParsedKey {
        format::ParsedKey { id: id.into(), secret: SecretBytes::new(secret.as_bytes().to_vec()) }
    }

    #[test]
    fn hashing_is_peppered_bound_to_the_id_and_deterministic() {
        let secret = SecretBytes::new(b"s3cret".to_vec());
        let a = hash_secret(&pepper(), "id1", &secret);
        assert_eq!(a, hash_secret(&pepper(), "id1", &secret));
        assert_ne!(a, hash_secret(&pepper(), "id2", &secret));
        assert_ne!(a, hash_secret(&SecretBytes::new(b"another-pepper".to_vec()), "id1", &secret));
        // HMAC-SHA256(key = pepper, "id1:s3cret"), computed independently.
        assert_eq!(a.len(), 43);
        assert!(!a.contains("s3cret"));
    }

    #[test]
    fn verification_table() {
        let active = record("id1", "right");
        let revoked = KeyRecord { status: KeyStatus::Revoked, ..record("id1", "right") };
        let rotated = KeyRecord { status: KeyStatus::Rotated, valid_until_ms: Some(5_000), ..record("id1", "right") };
        let cases: &[(&str, &KeyRecord, Option<u64>, u64, Result<(), ApiKeyError>)] = &[
            ("valid", &active, None, 2_000, Ok(())),
            ("wrong secret", &active, None, 2_000, Err(ApiKeyError::WrongSecret)),
            ("expired", &active, None, 10_000, Err(ApiKeyError::Expired)),
            ("revoked in KV", &revoked, None, 2_000, Err(ApiKeyError::Revoked)),
            ("revoked in the DO before KV caught up", &active, Some(1_500), 2_000, Err(ApiKeyError::Revoked)),
            ("revocation scheduled for later", &active, Some(3_000), 2_000, Ok(())),
            ("rotated, within grace", &rotated, Some(5_000), 4_999, Ok(())),
            ("rotated, past grace", &rotated, Some(5_000), 5_000, Err(ApiKeyError::RotatedOut)),
            ("rotated, past grace, DO unaware", &rotated, None, 5_001, Err(ApiKeyError::RotatedOut)),
        ];
        for (name, record, revoked_at, now, expected) in cases {
            let secret = if *name == "wrong secret" { "wrong" } else { "right" };
            assert_eq!(check(&pepper(), &key("id1", secret), record, *revoked_at, *now), *expected, "{name}");
            let verified = verify(&pepper(), &key("id1", secret), record, *revoked_at, *now);
            assert_eq!(verified.map(|p| p.key_id().map(str::to_owned)), expected.map(|()| Some("id1".into())));
        }
        assert_eq!(
            check(&pepper(), &key("id2", "right"), &active, None, 2_000),
            Err(ApiKeyError::WrongSecret),
            "record of another id"
        );
    }

    #[test]
    fn the_principal_carries_scopes_tenant_and_key() {
        let principal = principal(&record("id1", "x"));
        assert_eq!(principal.subject(), "svc-billing");
        assert_eq!(principal.method(), AuthMethod::ApiKey);
        assert_eq!(principal.identity().scopes, ["orders:read"]);
        assert_eq!(principal.identity().tenant.as_deref(), Some("acme"));
        let headers = principal.identity_headers();
        assert!(headers.contains(&("x-auth-key-id".to_owned(), "id1".to_owned())));
        assert!(headers.contains(&("x-auth-method".to_owned(), "api_key".to_owned())));
    }

    #[test]
    fn create_requests_are_validated() {
        let parse = |json: &str| serde_json::from_str::<CreateRequest>(json);
        assert!(parse(r#"{"owner":"a","scopes":["orders:read"],"expires_in_s":60}"#)
            .unwrap()
            .problems(86_400)
            .is_empty());
        assert!(parse(r#"{"owner":"a","extra":1}"#).is_err(), "unknown fields are refused");
        assert!(parse(r#"{"scopes":[]}"#).is_err(), "owner is required");
        let bad = parse(r#"{"owner":"","tenant":"a\nb","scopes":["has space","ok"],"expires_in_s":0}"#).unwrap();
        let fields: Vec<String> = bad.problems(86_400).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["owner", "tenant", "scopes[0]", "expires_in_s"]);
    }
}
