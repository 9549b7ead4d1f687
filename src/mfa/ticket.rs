//! The ticket of a sign-in halfway through: the first factor (the password) passed, and the
//! second is due, either a challenge (the user has factors) or an enrolment (MFA is required and
//! the user has none yet). It lives in a sealed, short-lived cookie ([`MFA_COOKIE_NAME`]) and
//! grants nothing but the second-factor pages: no session exists until the second factor passes.
//! Each ticket is spent once (its `id`, in the ledger), and it lives [`TICKET_LIFETIME_S`].

use crate::secret::{Sealer, SecretBytes};
use crate::session::MFA_COOKIE_NAME;
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
    /// When its password last changed: a ticket from before a reset or change completes nothing.
    pub password_changed_at_ms: u64,
    /// The first factor's `amr` values (`["pwd"]`).
    pub first_amr: Vec<String>,
    /// What is due.
    pub stage: Stage,
    /// Where the browser goes once signed in (already checked against the app's origins).
    pub return_to: String,
    /// When the first factor passed.
    pub issued_at_s: i64,
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
            password_changed_at_ms: 1,
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
