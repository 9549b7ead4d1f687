//! The ticket of a sign-in halfway through: the first factor (the password) passed, and the
//! second is due, either a challenge (the user has factors) or an enrolment (MFA is required and
//! the user has none yet). It lives in a sealed, short-lived cookie ([`MFA_COOKIE_NAME`]) and
//! grants nothing but the second-factor pages: no session exists until the second factor passes.
//! Each ticket is spent once (its `id`, in the ledger), and it lives [`TICKET_LIFETIME_S`].
//!
//! The first factor is a local account's password, or a sign-in provider whose users use
//! Portcullis's factors (`authentication.local_factors`). A provider's sign-in is held: the
//! session record it becomes is parked in KV, sealed and bound to the ticket's id
//! ([`seal_held`]), and only the ticket's completion stores it as a session.

use crate::secret::{Sealer, SecretBytes};
use crate::session::{SessionRecord, MFA_COOKIE_NAME};
use serde::{Deserialize, Serialize};

/// How long the second factor may take after the password.
pub const TICKET_LIFETIME_S: i64 = 300;

/// What is due next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Present a factor the user has.
    Challenge,
    /// Enrol one (MFA is required, and the user has none).
    Enrol,
}

/// A sign-in awaiting its second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorTicket {
    /// Random, spent once in the ledger when the sign-in completes.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The directory user who passed the first factor.
    pub user_id: String,
    /// Its email (the authenticator app's account name).
    pub email: String,
    /// What passed first.
    pub first_factor: FirstFactor,
    /// The first factor's `amr` values (`["pwd"]`; a provider's, as far as it is believed).
    pub first_amr: Vec<String>,
    /// What is due.
    pub stage: Stage,
    /// Where the browser goes once signed in (already checked against the app's origins).
    pub return_to: String,
    /// When the first factor passed.
    pub issued_at_s: i64,
}

impl Stage {
    /// How the audit names what a ticket of this stage is due.
    pub fn due(self) -> &'static str {
        match self {
            Stage::Challenge => "second factor due",
            Stage::Enrol => "second factor enrolment due",
        }
    }
}

/// A new ticket's id: 128 random bits, base64url.
pub fn new_id(entropy: &impl crate::ports::Entropy) -> Result<String, crate::ports::Unavailable> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(entropy.bytes::<16>()?))
}

/// The first factor of a sign-in awaiting its second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstFactor {
    /// The account's password.
    Password {
        /// When it last changed: a ticket from before a reset or change completes nothing.
        changed_at_ms: u64,
    },
    /// A sign-in provider (its id): the held session is parked under [`held_key`].
    Provider(String),
}

impl SecondFactorTicket {
    /// The sign-in's provider: `password` for a local account.
    pub fn provider(&self) -> &str {
        match &self.first_factor {
            FirstFactor::Password { .. } => crate::session::PASSWORD_PROVIDER,
            FirstFactor::Provider(provider) => provider,
        }
    }
}

/// Why a ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketError {
    /// No ticket, or one that does not open (tampered, or under another key).
    Invalid,
    /// Older than [`TICKET_LIFETIME_S`], or from the future.
    Expired,
}

const AAD: &[u8] = b"portcullis second-factor ticket v1";

fn sealer(login_secret: &SecretBytes) -> Sealer {
    Sealer::new(b"portcullis second-factor ticket.", login_secret)
}

/// Seals a ticket for its cookie.
pub fn seal(ticket: &SecondFactorTicket, login_secret: &SecretBytes, nonce: &[u8; 12]) -> String {
    let json = serde_json::to_vec(ticket).unwrap_or_default();
    sealer(login_secret).seal(AAD, &json, nonce)
}

/// Opens a ticket that is still good at `now_s`.
pub fn open(sealed: &str, login_secret: &SecretBytes, now_s: i64) -> Result<SecondFactorTicket, TicketError> {
    let json = sealer(login_secret).open(AAD, sealed).ok_or(TicketError::Invalid)?;
    let ticket: SecondFactorTicket = serde_json::from_slice(&json).map_err(|_| TicketError::Invalid)?;
    if !(0..=TICKET_LIFETIME_S).contains(&(now_s - ticket.issued_at_s)) {
        return Err(TicketError::Expired);
    }
    Ok(ticket)
}

/// The ledger id that spends a ticket once.
pub fn once_id(ticket: &SecondFactorTicket) -> String {
    format!("mfa-ticket:{}", ticket.id)
}

const HELD_AAD: &[u8] = b"portcullis held sign-in v1\n";

fn held_sealer(login_secret: &SecretBytes) -> Sealer {
    Sealer::new(b"portcullis held sign-in.", login_secret)
}

/// The KV key a provider's held sign-in is parked under (never a session's `session:` key).
pub fn held_key(ticket: &SecondFactorTicket) -> String {
    format!("mfa-held:{}", ticket.id)
}

/// Seals the session a provider's sign-in becomes, bound to its ticket.
pub fn seal_held(
    record: &SessionRecord,
    ticket: &SecondFactorTicket,
    login_secret: &SecretBytes,
    nonce: &[u8; 12],
) -> String {
    let json = serde_json::to_vec(record).unwrap_or_default();
    held_sealer(login_secret).seal(&[HELD_AAD, ticket.id.as_bytes()].concat(), &json, nonce)
}

/// Opens a held sign-in: only under its own ticket, and only for the ticket's user.
pub fn open_held(sealed: &str, ticket: &SecondFactorTicket, login_secret: &SecretBytes) -> Option<SessionRecord> {
    let json = held_sealer(login_secret).open(&[HELD_AAD, ticket.id.as_bytes()].concat(), sealed)?;
    let record: SessionRecord = serde_json::from_slice(&json).ok()?;
    let same_user = record.user_id.as_deref() == Some(ticket.user_id.as_str())
        && record.tenant.as_deref() == Some(ticket.tenant.as_str())
        && record.provider == ticket.provider();
    same_user.then_some(record)
}

/// `Set-Cookie` for a sealed ticket: host-only, HTTPS only, out of scripts' reach, and gone when
/// the ticket expires.
pub fn set_cookie(sealed: &str) -> String {
    format!("{MFA_COOKIE_NAME}={sealed}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={TICKET_LIFETIME_S}")
}

/// `Set-Cookie` that removes the ticket.
pub fn clear_cookie() -> String {
    format!("{MFA_COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ticket() -> SecondFactorTicket {
        SecondFactorTicket {
            id: "t1".into(),
            tenant: "acme".into(),
            user_id: "u1".into(),
            email: "ann@acme.test".into(),
            first_factor: FirstFactor::Password { changed_at_ms: 1 },
            first_amr: vec!["pwd".into()],
            stage: Stage::Challenge,
            return_to: "/app".into(),
            issued_at_s: 1_000,
        }
    }

    #[test]
    fn a_ticket_opens_within_its_lifetime_under_its_own_key_only() {
        let key = SecretBytes::new(vec![3; 32]);
        let sealed = seal(&ticket(), &key, &[9; 12]);
        assert!(!sealed.contains("acme") && !sealed.contains("ann"), "sealed, not only signed");
        let cases = [
            (1_000, Ok(ticket())),
            (1_000 + TICKET_LIFETIME_S, Ok(ticket())),
            (1_001 + TICKET_LIFETIME_S, Err(TicketError::Expired)),
            (999, Err(TicketError::Expired)),
        ];
        for (now, expected) in cases {
            assert_eq!(open(&sealed, &key, now), expected, "at {now}");
        }
        assert_eq!(open(&sealed, &SecretBytes::new(vec![4; 32]), 1_000), Err(TicketError::Invalid));
        // A login ticket's sealer (another label) does not open it either.
        let login_ticket = Sealer::new(b"portcullis-login-ticket.", &key);
        assert_eq!(login_ticket.open(AAD, &sealed), None);
        assert!(set_cookie(&sealed).starts_with("__Host-portcullis-mfa=") && clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn a_held_sign_in_opens_only_under_its_own_ticket_for_its_own_user() {
        let key = SecretBytes::new(vec![3; 32]);
        let ticket = SecondFactorTicket { first_factor: FirstFactor::Provider("corp".into()), ..ticket() };
        let record: SessionRecord = serde_json::from_value(serde_json::json!({
            "subject": "idp-sub", "email": "ann@acme.test", "groups": [], "tenant": "acme", "provider": "corp",
            "created_at_s": 1_000, "last_seen_s": 1_000, "expires_at_s": 9_000, "user_id": "u1",
            "tokens": { "access_token": "upstream-secret", "access_expires_at_s": null, "refresh_token": null,
                        "id_token": null, "refresh_at_s": null }
        }))
        .unwrap();
        let sealed = seal_held(&record, &ticket, &key, &[1; 12]);
        assert!(!sealed.contains("upstream-secret"), "the upstream tokens are sealed at rest");
        assert_eq!(open_held(&sealed, &ticket, &key), Some(record.clone()));
        assert_eq!(held_key(&ticket), "mfa-held:t1");
        let other_ticket = SecondFactorTicket { id: "t2".into(), ..ticket.clone() };
        assert_eq!(open_held(&sealed, &other_ticket, &key), None, "bound to its ticket's id");
        assert_eq!(open_held(&sealed, &ticket, &SecretBytes::new(vec![4; 32])), None);
        // A ticket of another user (or provider) cannot complete a record parked for the first.
        for (field, value) in [("user_id", "u2"), ("tenant", "other"), ("provider", "password")] {
            let mut json = serde_json::to_value(&record).unwrap();
            json[field] = serde_json::json!(value);
            let stranger: SessionRecord = serde_json::from_value(json).unwrap();
            assert_eq!(open_held(&seal_held(&stranger, &ticket, &key, &[1; 12]), &ticket, &key), None, "{field}");
        }
        assert_eq!(ticket.provider(), "corp");
        assert_eq!(self::ticket().provider(), crate::session::PASSWORD_PROVIDER);
    }

    proptest! {
        #[test]
        fn arbitrary_cookies_and_any_changed_character_never_open(
            garbage in "\\PC{0,200}",
            position in any::<prop::sample::Index>(),
            replacement in "[A-Za-z0-9_.-]",
        ) {
            let key = SecretBytes::new(vec![3; 32]);
            prop_assert!(open(&garbage, &key, 1_000).is_err());
            let sealed = seal(&ticket(), &key, &[9; 12]);
            let index = position.index(sealed.len());
            let mut changed = sealed.clone();
            changed.replace_range(index..index + 1, &replacement);
            if changed != sealed {
                prop_assert!(open(&changed, &key, 1_000).is_err());
            }
        }
    }
}
