//! A new session handed from a cross-site POST to a same-site GET. The IdP's POST to the SAML
//! ACS carries no `SameSite=Lax` cookie, so the ACS cannot see, and so cannot end, the session
//! the browser had (every sign-in must end it). The ACS therefore issues the new session without
//! setting its cookie: it seals the cookie into a short-lived handoff cookie and sends the
//! browser (303) to `{prefix}/saml/handoff`. That GET is a top-level navigation, which carries
//! `Lax` cookies: there the old session is ended, the handoff spent once, and the new session's
//! cookie set.

use super::error::LoginError;
use super::flow::FlowError;
use crate::ports::Ledger;
use crate::secret::{Sealer, SecretBytes};
use crate::session::SessionCookie;
use serde::{Deserialize, Serialize};

/// The handoff cookie's name.
pub const HANDOFF_COOKIE: &str = "__Host-portcullis-handoff";

/// How long a handoff may take: the browser follows a redirect.
pub const HANDOFF_LIFETIME_S: i64 = 60;

const LABEL: &[u8] = b"portcullis session handoff v1";
const AAD: &[u8] = HANDOFF_COOKIE.as_bytes();

/// What a handoff carries.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The new session's cookie value.
    session: String,
    /// Where the browser goes then (checked when the flow began).
    return_to: String,
    /// A random id, spent once.
    id: String,
    /// When the ACS sealed it.
    issued_at_s: i64,
    /// The provider and the subject, for the audit line of the sign-in it completes.
    provider: String,
    subject: String,
}

/// A handoff opened: the new session, where to go, and the id to spend.
#[derive(Debug)]
pub struct Handoff {
    /// The new session's cookie.
    pub session: SessionCookie,
    /// Where the browser goes.
    pub return_to: String,
    /// Spend this once (the ledger) before setting the cookie.
    pub id: String,
    /// Who signed in, with which provider (for the audit line).
    pub provider: String,
    /// The subject.
    pub subject: String,
}

/// What the ACS hands off.
#[derive(Debug, Clone, Copy)]
pub struct Handing<'a> {
    /// The new session.
    pub session: &'a SessionCookie,
    /// Where the browser goes then (checked when the flow began).
    pub return_to: &'a str,
    /// The provider.
    pub provider: &'a str,
    /// The subject.
    pub subject: &'a str,
}

/// How far the clock of the isolate that opens a handoff may be behind the one that sealed it.
const CLOCK_SKEW_S: i64 = 5;

/// The `Set-Cookie` of a handoff, with the random `id`.
pub fn set_cookie(handing: Handing<'_>, id: &str, key: &SecretBytes, nonce: &[u8; 12], now_s: i64) -> String {
    let sealed = Sealed {
        session: handing.session.value(),
        return_to: handing.return_to.to_owned(),
        id: id.to_owned(),
        issued_at_s: now_s,
        provider: handing.provider.to_owned(),
        subject: handing.subject.to_owned(),
    };
    let plaintext = serde_json::to_vec(&sealed).unwrap_or_default();
    let value = Sealer::new(LABEL, key).seal(AAD, &plaintext, nonce);
    format!("{HANDOFF_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={HANDOFF_LIFETIME_S}")
}

/// The `Set-Cookie` that clears the handoff.
pub fn clear_cookie() -> String {
    format!("{HANDOFF_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Opens a handoff cookie's value ([`open`]) and spends it: once, everywhere (the ledger, for
/// longer than a handoff lives). A ledger that cannot say fails closed.
pub async fn spend(value: &str, key: &SecretBytes, now_s: i64, ledger: &impl Ledger) -> Result<Handoff, FlowError> {
    let handoff = open(value, key, now_s)?;
    match ledger.claim_once(&format!("handoff:{}", handoff.id), 2_000 * HANDOFF_LIFETIME_S as u64).await? {
        true => Ok(handoff),
        false => Err(LoginError::Replayed.into()),
    }
}

/// Opens a handoff cookie's value: sealed here, at most [`HANDOFF_LIFETIME_S`] old.
pub fn open(value: &str, key: &SecretBytes, now_s: i64) -> Result<Handoff, LoginError> {
    let plaintext = Sealer::new(LABEL, key).open(AAD, value).ok_or(LoginError::StateInvalid)?;
    let sealed: Sealed = serde_json::from_slice(&plaintext).map_err(|_| LoginError::StateInvalid)?;
    if !(-CLOCK_SKEW_S..=HANDOFF_LIFETIME_S).contains(&(now_s - sealed.issued_at_s)) {
        return Err(LoginError::StateInvalid);
    }
    let session = SessionCookie::from_value(&sealed.session).map_err(|_| LoginError::StateInvalid)?;
    Ok(Handoff {
        session,
        return_to: sealed.return_to,
        id: sealed.id,
        provider: sealed.provider,
        subject: sealed.subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(set_cookie: &str) -> &str {
        set_cookie.split_once('=').unwrap().1.split(';').next().unwrap()
    }

    #[test]
    fn a_handoff_opens_once_in_its_minute_and_under_its_key_only() {
        let key = SecretBytes::new(vec![7; 32]);
        let session = SessionCookie::from_random(&[9; 48]);
        let handing = Handing { session: &session, return_to: "/app", provider: "okta", subject: "ann" };
        let cookie = set_cookie(handing, "h1", &key, &[1; 12], 1_000);
        assert!(cookie.contains("SameSite=Lax") && cookie.contains("Max-Age=60"), "{cookie}");
        let opened = open(value_of(&cookie), &key, 1_030).expect("within its minute");
        assert_eq!(
            (opened.session.value(), opened.return_to.as_str(), opened.id.as_str()),
            (session.value(), "/app", "h1")
        );
        assert_eq!(open(value_of(&cookie), &key, 1_061).unwrap_err(), LoginError::StateInvalid, "too late");
        assert!(open(value_of(&cookie), &key, 996).is_ok(), "a clock a few seconds behind");
        assert_eq!(open(value_of(&cookie), &key, 994).unwrap_err(), LoginError::StateInvalid, "from the future");
        assert_eq!((opened.provider.as_str(), opened.subject.as_str()), ("okta", "ann"));
        assert!(open(value_of(&cookie), &SecretBytes::new(vec![8; 32]), 1_030).is_err(), "another key");
        let mut tampered = value_of(&cookie).to_owned();
        tampered.pop();
        assert!(open(&tampered, &key, 1_030).is_err());
        assert!(!format!("{opened:?}").contains(&session.value()), "the session cookie is never printed");
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn a_handoff_is_spent_once_and_a_silent_ledger_fails_closed() {
        use crate::ports::memory::{block_on, MemoryLedger};
        let key = SecretBytes::new(vec![7; 32]);
        let session = SessionCookie::from_random(&[9; 48]);
        let handing = Handing { session: &session, return_to: "/app", provider: "okta", subject: "ann" };
        let cookie = set_cookie(handing, "h2", &key, &[2; 12], 1_000);
        let ledger = MemoryLedger::default();
        assert!(block_on(spend(value_of(&cookie), &key, 1_010, &ledger)).is_ok());
        assert_eq!(
            block_on(spend(value_of(&cookie), &key, 1_011, &ledger)).unwrap_err(),
            FlowError::Refused(LoginError::Replayed)
        );
        let other = set_cookie(handing, "h3", &key, &[3; 12], 1_000);
        ledger.set_available(false);
        assert!(matches!(block_on(spend(value_of(&other), &key, 1_010, &ledger)), Err(FlowError::Unavailable(_))));
    }
}
