//! The tokens of emailed links (verify an email, reset a password): 256 bits from the CSPRNG,
//! shown once in the link and stored only as their SHA-256, valid for a configured 15 to 60
//! minutes, and spent once through the Durable Object ledger. The link carries the token alone:
//! no email address, no user id.

use crate::ports::{Entropy, Unavailable};
use crate::secret::sha256_hex;
use crate::secret::SecretString;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The token's length in bytes.
const TOKEN_BYTES: usize = 32;
/// Its length as base64url.
const TOKEN_CHARS: usize = 43;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Finish a sign-up by proving the email.
    Verify,
    /// Set a new password.
    Reset,
}

impl Purpose {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
        }
    }

    /// From storage.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "verify" => Some(Purpose::Verify),
            "reset" => Some(Purpose::Reset),
            _ => None,
        }
    }
}

/// A fresh token, to put in one email. Not `Clone`: it is shown once.
pub struct LinkToken(SecretString);

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken([redacted])")
    }
}

impl LinkToken {
    /// A new token from the entropy port.
    pub fn generate(entropy: &impl Entropy) -> Result<Self, Unavailable> {
        let bytes: [u8; TOKEN_BYTES] = entropy.bytes()?;
        Ok(Self(SecretString::new(URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// The token for the link.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// What is stored.
    pub fn digest(&self) -> String {
        sha256_hex(self.0.expose())
    }
}

/// The stored digest of a presented token, or `None` when it cannot be one this module made (so
/// that junk never reaches the store).
pub fn presented_digest(presented: &str) -> Option<String> {
    let well_formed = presented.len() == TOKEN_CHARS
        && presented.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD.decode(presented).is_ok_and(|bytes| bytes.len() == TOKEN_BYTES);
    well_formed.then(|| sha256_hex(presented))
}

/// The ledger id that spends a token once.
pub fn once_id(digest: &str) -> String {
    format!("account-link:{digest}")
}

/// A stored link, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    /// What it is for.
    pub purpose: Purpose,
    /// The tenant.
    pub tenant: String,
    /// The email it was sent to.
    pub email: String,
    /// The user it resets (a reset link).
    pub user_id: Option<String>,
    /// The password hash a verified sign-up gets (a verify link).
    pub pending_hash: Option<String>,
    /// When the user's password last changed as the link was made (a reset link): a later change
    /// voids it.
    pub credential_changed_at_ms: Option<u64>,
    /// When it stops working.
    pub expires_at_ms: u64,
}

/// Why a link does not work. Each gets the same page: the link is not valid (any longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// Not a token, or not one that was stored (or it was spent and forgotten).
    Unknown,
    /// Made for the other purpose.
    WrongPurpose,
    /// Past its lifetime.
    Expired,
    /// The password changed since the reset link was made.
    Superseded,
}

/// Whether a stored link still works for `purpose` at `now_ms`, given when the user's password
/// last changed (a reset link only).
pub fn check_link(
    stored: Option<&StoredLink>,
    purpose: Purpose,
    now_ms: u64,
    credential_changed_at_ms: Option<u64>,
) -> Result<(), LinkRefused> {
    let link = stored.ok_or(LinkRefused::Unknown)?;
    if link.purpose != purpose {
        return Err(LinkRefused::WrongPurpose);
    }
    if now_ms >= link.expires_at_ms {
        return Err(LinkRefused::Expired);
    }
    if purpose == Purpose::Reset && link.credential_changed_at_ms != credential_changed_at_ms {
        return Err(LinkRefused::Superseded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SystemEntropy;

    #[test]
    fn tokens_are_long_random_and_stored_only_as_digests() {
        let entropy = SystemEntropy;
        let first = LinkToken::generate(&entropy).expect("token");
        let second = LinkToken::generate(&entropy).expect("token");
        assert_ne!(first.expose(), second.expose());
        assert_eq!(first.expose().len(), TOKEN_CHARS);
        assert_eq!(presented_digest(first.expose()), Some(first.digest()));
        assert_ne!(first.digest(), first.expose());
        assert_eq!(format!("{first:?}"), "LinkToken([redacted])");
        let cases = ["", "short", &"A".repeat(44), &format!("{}=", &first.expose()[..42]), &"%".repeat(43)];
        for junk in cases {
            assert_eq!(presented_digest(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_link_works_once_for_its_purpose_until_it_expires_or_the_password_changes() {
        let reset = StoredLink {
            purpose: Purpose::Reset,
            tenant: "acme".into(),
            email: "ann@acme.test".into(),
            user_id: Some("usr_x".into()),
            pending_hash: None,
            credential_changed_at_ms: Some(100),
            expires_at_ms: 1_000,
        };
        let cases: &[(Option<&StoredLink>, Purpose, u64, Option<u64>, Result<(), LinkRefused>)] = &[
            (Some(&reset), Purpose::Reset, 999, Some(100), Ok(())),
            (None, Purpose::Reset, 999, Some(100), Err(LinkRefused::Unknown)),
            (Some(&reset), Purpose::Verify, 999, Some(100), Err(LinkRefused::WrongPurpose)),
            (Some(&reset), Purpose::Reset, 1_000, Some(100), Err(LinkRefused::Expired)),
            (Some(&reset), Purpose::Reset, 999, Some(500), Err(LinkRefused::Superseded)),
        ];
        for (stored, purpose, now, changed, expected) in cases {
            assert_eq!(check_link(*stored, *purpose, *now, *changed), *expected, "{purpose:?} at {now}");
        }
        assert_eq!(Purpose::parse(Purpose::Verify.as_str()), Some(Purpose::Verify));
        assert_eq!(Purpose::parse("other"), None);
    }
}
