//! Browser sessions: the cookie, the sealed record in KV and its lifetimes (the pure core; the
//! store and the authenticator are in the worker shell).
//!
//! The cookie is `__Host-portcullis=<id>.<key>`: 16 random bytes that name the session and 32 that
//! encrypt it, so the cookie stays small whatever the IdP's tokens weigh. KV holds the record under
//! `session:<SHA-256(id)>`, sealed with AES-256-GCM under the cookie's key, with the KV key as
//! associated data: a dump of KV holds no usable token or profile, and knows no cookie.

pub mod index;
pub mod store;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The prefix of login ticket cookies; the rest of the name comes from the flow's `state`, so
/// logins in several tabs do not overwrite each other's tickets.
pub const TICKET_COOKIE_PREFIX: &str = "__Host-portcullis-login-";
/// The session cookie's name. `__Host-` makes browsers insist on `Secure`, `Path=/` and no
/// `Domain`, so no sibling subdomain can set or read it.
pub const COOKIE_NAME: &str = "__Host-portcullis";

/// A session's cookie: its id and its record key. Neither prints.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCookie {
    id: [u8; 16],
    key: [u8; 32],
}

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionCookie([redacted])")
    }
}

/// Why a session cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The cookie is not a session cookie of this format.
    MalformedCookie,
    /// The record does not decrypt under the cookie's key (tampered, or another session's).
    Undecryptable,
    /// Idle for longer than the idle timeout.
    Idle,
    /// Past its absolute lifetime.
    Expired,
    /// No record: logged out, expired from KV, or never existed.
    Unknown,
    /// Logged out or revoked (the revocation record says so, whatever KV still holds).
    Revoked,
    /// The provider refused to refresh the grant: the user was disabled or the grant revoked.
    GrantEnded,
}

impl SessionCookie {
    /// A cookie from 48 CSPRNG bytes.
    pub fn from_random(random: &[u8; 48]) -> Self {
        let mut id = [0u8; 16];
        let mut key = [0u8; 32];
        id.copy_from_slice(&random[..16]);
        key.copy_from_slice(&random[16..]);
        Self { id, key }
    }

    /// Reads the session cookie out of a `Cookie` request header.
    pub fn from_cookie_header(header: &str) -> Result<Self, SessionError> {
        Self::from_value(&cookie_value(header, COOKIE_NAME).ok_or(SessionError::MalformedCookie)?)
    }

    /// Reads a session cookie's value, `<id>.<key>`.
    pub fn from_value(value: &str) -> Result<Self, SessionError> {
        let (id, key) = value.split_once('.').ok_or(SessionError::MalformedCookie)?;
        let id = URL_SAFE_NO_PAD.decode(id).map_err(|_| SessionError::MalformedCookie)?;
        let key = URL_SAFE_NO_PAD.decode(key).map_err(|_| SessionError::MalformedCookie)?;
        Ok(Self {
            id: id.try_into().map_err(|_| SessionError::MalformedCookie)?,
            key: key.try_into().map_err(|_| SessionError::MalformedCookie)?,
        })
    }

    /// The cookie's value, `<id>.<key>` (a secret: the session's bearer credential).
    pub fn value(&self) -> String {
        format!("{}.{}", URL_SAFE_NO_PAD.encode(self.id), URL_SAFE_NO_PAD.encode(self.key))
    }

    /// The `Set-Cookie` value that stores this cookie for `max_age_s`.
    pub fn set_cookie(&self, max_age_s: u64) -> String {
        format!("{COOKIE_NAME}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_s}", self.value())
    }

    /// The KV key of the session's record: a hash, so KV never holds a usable cookie id.
    pub fn kv_key(&self) -> String {
        format!("session:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(self.id)))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }

    /// Seals a record with a fresh 96-bit nonce; the output is `nonce || ciphertext`.
    pub fn seal(&self, record: &SessionRecord, nonce: &[u8; 12]) -> Vec<u8> {
        let plaintext = serde_json::to_vec(record).unwrap_or_default();
        let aad = self.kv_key();
        let sealed = self
            .cipher()
            .encrypt(&Nonce::from(*nonce), Payload { msg: &plaintext, aad: aad.as_bytes() })
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens a sealed record.
    pub fn open(&self, sealed: &[u8]) -> Result<SessionRecord, SessionError> {
        if sealed.len() < 12 + 16 {
            return Err(SessionError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SessionError::Undecryptable)?;
        let aad = self.kv_key();
        let plaintext = self
            .cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: aad.as_bytes() })
            .map_err(|_| SessionError::Undecryptable)?;
        serde_json::from_slice(&plaintext).map_err(|_| SessionError::Undecryptable)
    }
}

/// The value of the cookie named exactly `name` in a `Cookie` request header (only ASCII space
/// and tab around a name or value are dropped). The `cookie` crate's parser trims Unicode white
/// space from names, so a cookie named `"\u{2000}__Host-portcullis"`, which a browser treats as
/// unprefixed and lets a sibling subdomain set, would read as the `__Host-` cookie: names are
/// compared as sent.
pub fn cookie_value(header: &str, name: &str) -> Option<String> {
    let ascii_blank = |c: char| c == ' ' || c == '\t';
    header.split(';').find_map(|pair| {
        let (raw_name, value) = pair.split_once('=')?;
        (raw_name.trim_matches(ascii_blank) == name).then(|| value.trim_matches(ascii_blank).to_owned())
    })
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The cookie of a setup session (see `directory::onboarding`).
pub const SETUP_COOKIE_NAME: &str = "__Host-portcullis-setup";

/// The cookie that names a browser that signed in to a local account (see `accounts::device`).
pub const DEVICE_COOKIE_NAME: &str = "__Host-portcullis-device";

/// The cookie of a sign-in halfway through: the first factor passed, the second is due (see
/// `mfa::ticket`).
pub const MFA_COOKIE_NAME: &str = "__Host-portcullis-mfa";

/// Whether a cookie name is one of Portcullis's own: the session, or any `__Host-portcullis-`
/// cookie (a login ticket, a setup session, a local account's device cookie, a sign-in awaiting
/// its second factor, a session handoff, and whatever comes next).
pub fn is_portcullis_cookie(name: &str) -> bool {
    const OWN_PREFIX: &str = "__Host-portcullis-";
    debug_assert!([SETUP_COOKIE_NAME, DEVICE_COOKIE_NAME, MFA_COOKIE_NAME, TICKET_COOKIE_PREFIX]
        .iter()
        .all(|n| n.starts_with(OWN_PREFIX)));
    name == COOKIE_NAME || name.starts_with(OWN_PREFIX)
}

/// Whether an origin's `Set-Cookie` value would set one of Portcullis's own cookies (the origin
/// may not: it could plant a session or a handoff). Names are trimmed generously here, as a
/// browser might.
pub fn sets_own_cookie(set_cookie: &str) -> bool {
    let name = set_cookie.split(';').next().unwrap_or("").split('=').next().unwrap_or("");
    is_portcullis_cookie(name.trim())
}

/// The `Cookie` header without Portcullis's cookies, for the origin (`None` when nothing is
/// left). The origin never sees the session id or its key.
pub fn strip_own_cookies(header: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_portcullis_cookie(pair.split_once('=').map_or(*pair, |(name, _)| name).trim()))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// The upstream provider's tokens, kept (encrypted) for refresh and logout. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTokens {
    /// The access token.
    pub access_token: String,
    /// When it expires, if the provider said.
    pub access_expires_at_s: Option<i64>,
    /// The refresh token, if any.
    pub refresh_token: Option<String>,
    /// The ID token, for `id_token_hint` at logout.
    pub id_token: Option<String>,
    /// When to refresh: the refresh margin before expiry, but never earlier than half the
    /// token's lifetime, so a short-lived token is not refreshed on every request.
    #[serde(default)]
    pub refresh_at_s: Option<i64>,
}

impl fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamTokens([redacted])")
    }
}

impl UpstreamTokens {
    /// Tokens just issued at `now_s`, living `expires_in_s`, to be refreshed `margin_s` before
    /// they expire (at most half their lifetime before).
    pub fn issued(
        access_token: String,
        expires_in_s: Option<i64>,
        refresh_token: Option<String>,
        id_token: Option<String>,
        now_s: i64,
        margin_s: i64,
    ) -> Self {
        let expires_in_s = expires_in_s.filter(|s| *s > 0);
        Self {
            access_token,
            access_expires_at_s: expires_in_s.map(|s| now_s + s),
            refresh_token,
            id_token,
            refresh_at_s: expires_in_s.map(|s| now_s + s - margin_s.min(s / 2)),
        }
    }

    /// Whether the access token should be refreshed at `now_s`.
    pub fn needs_refresh(&self, now_s: i64, margin_s: i64) -> bool {
        match (self.refresh_at_s, self.access_expires_at_s) {
            (Some(at), _) => now_s >= at,
            (None, Some(expires)) => now_s >= expires - margin_s,
            (None, None) => false,
        }
    }

    /// Whether the access token has expired at `now_s`.
    pub fn expired(&self, now_s: i64) -> bool {
        self.access_expires_at_s.is_some_and(|expires| now_s >= expires)
    }
}

/// What a session remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The subject.
    pub subject: String,
    /// Email, if the provider gave a verified one.
    pub email: Option<String>,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// The login provider's id.
    pub provider: String,
    /// When the session began.
    pub created_at_s: i64,
    /// The same, in milliseconds: a revocation of all of a user's sessions ends exactly those
    /// created before it.
    #[serde(default)]
    pub created_at_ms: i64,
    /// When it was last used.
    pub last_seen_s: i64,
    /// When it ends, however active.
    pub expires_at_s: i64,
    /// The provider's tokens.
    #[serde(default)]
    pub tokens: Option<UpstreamTokens>,
    /// The directory id of the user, when the provider provisions into a directory.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The roles the tenant's group mappings granted at login, from the directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directory_roles: Vec<String>,
    /// The identity issuer, for a session of a tenant's stored connection (a configured
    /// provider's comes from the configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_issuer: Option<String>,
    /// How the user authenticated (RFC 8176 values: `pwd` for a local account's password); empty
    /// for a federated login, whose IdP decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The authentication context class the IdP named (`acr`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// When the user authenticated (`auth_time`): the IdP's word, or the session's own start.
    /// 0 in records from before it was kept: the session's start is used.
    #[serde(default)]
    pub auth_time_s: i64,
    /// A federated session's `amr` and `acr` were vouched for by its provider's `authentication`
    /// (false in records from before it was: their IdP's word, taken whole, counts for nothing).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authentication_vouched: bool,
    /// A SAML session's subject as its IdP named it, for Single Logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlSubject>,
    /// Custom attributes for the origin (a SAML provider's `attributes.custom`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, Vec<String>>,
}

/// A SAML session's subject as its IdP's assertion named it: whom this SP's `LogoutRequest`
/// (Single Logout) signs out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamlSubject {
    /// The `NameID`.
    pub name_id: String,
    /// Its `Format`, if the assertion gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Its `NameQualifier`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_qualifier: Option<String>,
    /// Its `SPNameQualifier`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_name_qualifier: Option<String>,
    /// The `AuthnStatement`'s `SessionIndex`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_index: Option<String>,
}

/// The provider name of password sessions (`SessionRecord::provider`, the `provider` claim):
/// local accounts' sessions, whose `amr` is Portcullis's own.
pub const PASSWORD_PROVIDER: &str = "password";

impl SessionRecord {
    /// Checks the idle timeout and the absolute lifetime at `now_s`.
    pub fn check_lifetimes(&self, now_s: i64, idle_timeout_s: i64) -> Result<(), SessionError> {
        if now_s >= self.expires_at_s {
            return Err(SessionError::Expired);
        }
        if now_s - self.last_seen_s >= idle_timeout_s {
            return Err(SessionError::Idle);
        }
        Ok(())
    }
}

/// Whether a session is revoked at `now_ms`: its own revocation once it takes effect, or its
/// subject's ("end all of this user's sessions") when that came after the session began. The
/// revocation records come from the Durable Object, so they win over whatever KV still holds.
pub fn is_revoked(
    session_revoked_at_ms: Option<u64>,
    subject_revoked_at_ms: Option<u64>,
    session_created_at_ms: i64,
    now_ms: u64,
) -> bool {
    session_revoked_at_ms.is_some_and(|at| at <= now_ms)
        || subject_revoked_at_ms.is_some_and(|at| at > session_created_at_ms.max(0) as u64)
}

/// Why the provider's tokens could not be refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The session holds no refresh token, or its provider is no longer configured.
    CannotRefresh,
    /// The provider answered `invalid_grant`: the user was disabled, or the grant revoked.
    GrantRefused,
    /// Anything else: an outage, a misconfigured client. Not the user's doing.
    Unavailable,
}

/// What a failed refresh does to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRefreshFailure {
    /// Keep the session as it is (its current token is still good, or the route does not care).
    Keep,
    /// End the session everywhere: the provider ended the grant.
    End,
    /// Refuse this request as unavailable (503) but keep the session for a later try.
    Unavailable,
    /// Refuse this request: the token expired and cannot be renewed (401 `invalid_session`).
    Refuse,
}

/// The keep-or-end policy after a failed refresh. With `revalidate` off the provider's grant
/// never decides, so the session lives on. With it on, only the provider ending the grant ends
/// the session; an outage or an unrenewable token refuses requests only once the token expired.
pub fn after_refresh_failure(failure: RefreshFailure, token_expired: bool, revalidate: bool) -> AfterRefreshFailure {
    match (failure, revalidate, token_expired) {
        (_, false, _) => AfterRefreshFailure::Keep,
        (RefreshFailure::GrantRefused, true, _) => AfterRefreshFailure::End,
        (RefreshFailure::CannotRefresh, true, true) => AfterRefreshFailure::Refuse,
        (RefreshFailure::Unavailable, true, true) => AfterRefreshFailure::Unavailable,
        (_, true, false) => AfterRefreshFailure::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(seed: u8) -> SessionCookie {
        SessionCookie::from_random(&[seed; 48])
    }

    pub(super) fn record() -> SessionRecord {
        SessionRecord {
            subject: "alice".into(),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            groups: vec!["finance".into()],
            tenant: Some("acme".into()),
            provider: "idp".into(),
            created_at_s: 1_000,
            created_at_ms: 1_000_000,
            last_seen_s: 1_500,
            expires_at_s: 10_000,
            tokens: Some(UpstreamTokens {
                access_token: "upstream-access-token".into(),
                access_expires_at_s: Some(2_000),
                refresh_token: Some("upstream-refresh-token".into()),
                id_token: None,
                refresh_at_s: None,
            }),
            user_id: Some("usr_1".into()),
            directory_roles: Vec::new(),
            connection_issuer: None,
            amr: Vec::new(),
            acr: None,
            auth_time_s: 0,
            authentication_vouched: false,
            saml: None,
            attributes: Default::default(),
        }
    }

    #[test]
    fn records_round_trip_and_reveal_nothing_without_the_cookie() {
        let cookie = cookie(7);
        let sealed = cookie.seal(&record(), &[1; 12]);
        assert_eq!(cookie.open(&sealed), Ok(record()));
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("alice") && !text.contains("acme"), "the record is encrypted");
        assert!(!text.contains("upstream"), "so are the provider's tokens");
        assert!(!format!("{:?}", record()).contains("upstream-"), "tokens never print");
        assert!(!cookie.kv_key().contains(&URL_SAFE_NO_PAD.encode([7u8; 16])), "KV never holds the cookie id");
    }

    #[test]
    fn tampered_swapped_or_truncated_records_do_not_open() {
        let alice = cookie(7);
        let mallory = cookie(9);
        let sealed = alice.seal(&record(), &[1; 12]);
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        let cases: &[(&SessionCookie, &[u8])] = &[
            (&alice, &flipped),      // a flipped bit
            (&mallory, &sealed),     // another session's key
            (&alice, &sealed[..20]), // truncated
            (&alice, b""),           // empty
        ];
        for (cookie, bytes) in cases {
            assert_eq!(cookie.open(bytes), Err(SessionError::Undecryptable));
        }
        // The same key under another id: the associated data (the KV key) no longer matches.
        let mut moved = alice.clone();
        moved.id[0] ^= 1;
        assert_eq!(moved.open(&sealed), Err(SessionError::Undecryptable));
    }

    #[test]
    fn cookies_parse_strictly() {
        let cookie = cookie(3);
        let set = cookie.set_cookie(3600);
        assert!(
            set.starts_with("__Host-portcullis=") && set.contains("; Secure; HttpOnly; SameSite=Lax; Max-Age=3600")
        );
        let value = set.split(';').next().unwrap();
        let header = format!("theme=dark; {value}; other=1");
        assert_eq!(SessionCookie::from_cookie_header(&header), Ok(cookie.clone()));
        assert!(
            value.len() < 100,
            "what the browser sends stays small, whatever the IdP's tokens weigh: {}",
            value.len()
        );
        for bad in [
            "",
            "theme=dark",
            "__Host-portcullis=abc",
            "__Host-portcullis=a.b",
            "__Host-portcullis=AAAA.AAAA",
            "portcullis=x.y",
        ] {
            assert_eq!(SessionCookie::from_cookie_header(bad), Err(SessionError::MalformedCookie), "{bad}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
        assert_eq!(format!("{cookie:?}"), "SessionCookie([redacted])");
        // A name with Unicode white space around it is another cookie, one a browser lets a
        // sibling subdomain set (no __Host- rules for it): never read as Portcullis's.
        for lookalike in ["\u{2000}__Host-portcullis", "__Host-portcullis\u{a0}", "\u{3000}__Host-portcullis"] {
            let header = format!("{lookalike}={}", value.split_once('=').unwrap().1);
            assert_eq!(cookie_value(&header, COOKIE_NAME), None, "{lookalike:?}");
            assert_eq!(SessionCookie::from_cookie_header(&header), Err(SessionError::MalformedCookie));
        }
        assert_eq!(cookie_value(" \t__Host-portcullis-mfa = v ; x=1", MFA_COOKIE_NAME).as_deref(), Some("v"));
    }

    #[test]
    fn the_origin_may_not_set_portcullis_cookies() {
        for own in [
            "__Host-portcullis=x.y; Path=/",
            "__Host-portcullis-handoff=v; Path=/; Secure",
            " __Host-portcullis-login-ab=1",
        ] {
            assert!(sets_own_cookie(own), "{own}");
        }
        for theirs in ["theme=dark; Path=/", "__Host-app=1", "__Host-portcullisX=1"] {
            assert!(!sets_own_cookie(theirs), "{theirs}");
        }
    }

    #[test]
    fn the_origin_never_gets_portcullis_cookies() {
        let cases: &[(&str, Option<&str>)] = &[
            ("__Host-portcullis=a.b; theme=dark", Some("theme=dark")),
            ("a=1; __Host-portcullis-login-abc=x; b=2", Some("a=1; b=2")),
            ("__Host-portcullis-setup=s; theme=dark", Some("theme=dark")),
            ("__Host-portcullis-device=d.t; theme=dark", Some("theme=dark")),
            ("__Host-portcullis=a.b", None),
            ("__Host-portcullisX=1", Some("__Host-portcullisX=1")),
            ("a=1; __Host-portcullis-handoff=sealed", Some("a=1")),
            ("__Host-portcullis-anything-new=1; b=2", Some("b=2")),
            ("theme=dark;;  lang=en", Some("theme=dark; lang=en")),
            ("flag", Some("flag")),
        ];
        for (header, expected) in cases {
            assert_eq!(strip_own_cookies(header).as_deref(), *expected, "{header}");
        }
    }

    #[test]
    fn refresh_is_due_within_the_margin() {
        let tokens = record().tokens.unwrap();
        let cases = [(1_939, false, false), (1_940, true, false), (2_000, true, true)];
        for (now, due, expired) in cases {
            assert_eq!((tokens.needs_refresh(now, 60), tokens.expired(now)), (due, expired), "at {now}");
        }
        let timeless = UpstreamTokens { access_expires_at_s: None, ..tokens };
        assert!(!timeless.needs_refresh(i64::MAX, 60));
        // Issued tokens: the margin, but at most half the lifetime.
        let cases = [
            (Some(3600), 60, Some(1_000 + 3540)),
            (Some(60), 60, Some(1_000 + 30)),
            (Some(0), 60, None),
            (None, 60, None),
        ];
        for (expires_in, margin, refresh_at) in cases {
            let issued = UpstreamTokens::issued("a".into(), expires_in, None, None, 1_000, margin);
            assert_eq!(issued.refresh_at_s, refresh_at, "{expires_in:?}");
        }
    }

    #[test]
    fn lifetimes_table() {
        let cases: &[(i64, Result<(), SessionError>)] =
            &[(1_600, Ok(())), (3_299, Ok(())), (3_300, Err(SessionError::Idle)), (10_000, Err(SessionError::Expired))];
        for (now, expected) in cases {
            assert_eq!(record().check_lifetimes(*now, 1_800), *expected, "at {now}");
        }
    }

    #[test]
    fn which_revocation_wins() {
        // (session revoked at, subject revoked at, session created at, now, revoked?)
        let cases: &[(Option<u64>, Option<u64>, i64, u64, bool)] = &[
            (None, None, 1_000, 5_000, false),
            (Some(4_000), None, 1_000, 5_000, true),
            (Some(6_000), None, 1_000, 5_000, false), // not in effect yet
            (Some(5_000), None, 1_000, 5_000, true),
            (None, Some(2_000), 1_000, 5_000, true), // "end all sessions" after this one began
            (None, Some(500), 1_000, 5_000, false),  // ... before it began: a later login survives
            (None, Some(1_000), 1_000, 5_000, false),
            (None, Some(1), -5, 5_000, true), // a nonsense creation time counts as the epoch
        ];
        for (session, subject, created, now, expected) in cases {
            assert_eq!(is_revoked(*session, *subject, *created, *now), *expected, "{session:?} {subject:?} {created}");
        }
    }

    #[test]
    fn keep_or_end_after_a_failed_refresh() {
        use AfterRefreshFailure::{End, Keep, Refuse};
        use RefreshFailure::{CannotRefresh, GrantRefused};
        // (failure, token expired, revalidate, outcome)
        let cases = [
            (GrantRefused, false, true, End),
            (GrantRefused, true, true, End),
            (GrantRefused, true, false, Keep),
            (CannotRefresh, false, true, Keep),
            (CannotRefresh, true, true, Refuse),
            (CannotRefresh, true, false, Keep),
            (RefreshFailure::Unavailable, false, true, Keep),
            (RefreshFailure::Unavailable, true, true, AfterRefreshFailure::Unavailable),
            (RefreshFailure::Unavailable, true, false, Keep),
        ];
        for (failure, expired, revalidate, expected) in cases {
            assert_eq!(
                after_refresh_failure(failure, expired, revalidate),
                expected,
                "{failure:?} {expired} {revalidate}"
            );
        }
    }
}

#[cfg(test)]
mod generative {
    use super::*;
    use proptest::prelude::*;

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn any_cookie_header_is_read_without_panicking(header in "\\PC{0,120}") {
                let _ = cookie_value(&header, COOKIE_NAME);
                let _ = SessionCookie::from_cookie_header(&header);
                if let Some(kept) = strip_own_cookies(&header) {
                    for cookie in cookie::Cookie::split_parse(kept.as_str()).filter_map(Result::ok) {
                        prop_assert!(!is_portcullis_cookie(cookie.name()), "{} was kept", cookie.name());
                    }
                }
            }

            #[test]
            fn cookie_values_round_trip(pairs in proptest::collection::btree_map("[A-Za-z][A-Za-z0-9_-]{0,8}", "[A-Za-z0-9._~-]{0,16}", 1..6)) {
                let header = pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ");
                for (name, value) in &pairs {
                    let read = cookie_value(&header, name);
                    prop_assert_eq!(read.as_deref(), Some(value.as_str()));
                }
            }

            #[test]
            fn a_session_cookie_round_trips_and_any_other_value_is_refused(random in proptest::array::uniform32(any::<u8>()), more in proptest::array::uniform16(any::<u8>()), junk in "\\PC{0,80}") {
                let mut bytes = [0u8; 48];
                bytes[..32].copy_from_slice(&random);
                bytes[32..].copy_from_slice(&more);
                let cookie = SessionCookie::from_random(&bytes);
                let set = cookie.set_cookie(60);
                let value = set.split(';').next().unwrap().trim_start_matches(&format!("{COOKIE_NAME}=")).to_owned();
                prop_assert_eq!(SessionCookie::from_value(&value).map(|c| c.kv_key()), Ok(cookie.kv_key()));
                if junk != value {
                    prop_assert!(SessionCookie::from_value(&junk).map(|c| c.kv_key() != cookie.kv_key()).unwrap_or(true));
                }
            }

            /// A sealed record with any byte changed does not open.
            #[test]
            fn no_changed_byte_of_a_sealed_record_opens(position in any::<proptest::sample::Index>(), flip in 1u8..=255) {
                let cookie = SessionCookie::from_random(&[7; 48]);
                let mut sealed = cookie.seal(&super::tests::record(), &[1; 12]);
                let index = position.index(sealed.len());
                sealed[index] ^= flip;
                prop_assert!(cookie.open(&sealed).is_err());
            }
        }
}
