//! A user's second factors: what a sign-in does after its first factor, the `amr` a completed
//! sign-in carries, how a TOTP secret is sealed at rest (under the directory key, bound to its
//! row), and the enrolment in progress (the new secret travels sealed in the page's form until a
//! code proves the app has it; nothing is stored before that).

use super::step_up::SECOND_FACTOR_METHODS;
use crate::secret::{Sealer, SecretBytes};
use serde::{Deserialize, Serialize};

/// What a user has enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Enrolled {
    /// An authenticator app (TOTP).
    pub totp: bool,
    /// Passkeys.
    pub passkeys: usize,
    /// Unused recovery codes left.
    pub recovery_codes: usize,
}

impl Enrolled {
    /// Whether the user has a second factor (recovery codes alone are not one: they only stand in
    /// for a lost factor).
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// What follows a passed first factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Signed in: no second factor is enrolled or required.
    Session,
    /// The user must present a second factor.
    Challenge,
    /// MFA is required and the user has none: enrol one now, then sign in.
    Enrol,
}

/// Decides what follows the first factor. A user with a factor is always challenged, whether or
/// not the tenant requires it: an enrolled factor is never skipped.
pub fn after_first_factor(required: bool, enrolled: Enrolled) -> NextStep {
    match (enrolled.any(), required) {
        (true, _) => NextStep::Challenge,
        (false, true) => NextStep::Enrol,
        (false, false) => NextStep::Session,
    }
}

/// A second factor that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// A TOTP code (`otp`).
    Totp,
    /// A recovery code: a second factor (`mfa`), but not one a route asking for `otp` or a
    /// passkey accepts.
    RecoveryCode,
    /// A passkey: `swk` when synced (backup eligible), `hwk` when bound to its device.
    Passkey {
        /// Backup eligible.
        synced: bool,
    },
    /// A factor enrolled just now, during a required enrolment: `mfa` only. Binding a new
    /// factor shows the password's holder has it now, not which kind of factor it is worth
    /// (a `none` attestation proves no hardware), so no `otp`, `hwk` or `swk`.
    Enrolment,
}

/// The `amr` of a sign-in completed, or a session stepped up, by `second` (RFC 8176 §2): the
/// first factor's values, the second's, and `mfa`, each once. The second-factor values of an
/// earlier step are dropped: the session's new `auth_time` vouches only for the factor just
/// used, so a step-up with a recovery code does not keep an older passkey's `hwk` fresh.
pub fn amr_after(first: &[String], second: SecondFactor) -> Vec<String> {
    let mut amr: Vec<String> =
        first.iter().filter(|method| !SECOND_FACTOR_METHODS.contains(&method.as_str())).cloned().collect();
    let added: &[&str] = match second {
        SecondFactor::Totp => &["otp", "mfa"],
        SecondFactor::RecoveryCode | SecondFactor::Enrolment => &["mfa"],
        SecondFactor::Passkey { synced: true } => &["swk", "mfa"],
        SecondFactor::Passkey { synced: false } => &["hwk", "mfa"],
    };
    for value in added {
        if !amr.iter().any(|present| present == value) {
            amr.push((*value).to_owned());
        }
    }
    amr
}

/// A new factor id: `mfa_` and 128 random bits.
pub fn new_factor_id(entropy: &impl crate::ports::Entropy) -> Result<String, crate::ports::Unavailable> {
    use base64::Engine;
    Ok(format!("mfa_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(entropy.bytes::<16>()?)))
}

/// Where a stored TOTP secret belongs: a sealed secret copied to another row does not open.
#[derive(Debug, Clone, Copy)]
pub struct FactorRow<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// The factor's id.
    pub factor_id: &'a str,
}

impl FactorRow<'_> {
    fn aad(&self) -> Vec<u8> {
        [b"totp\0", self.tenant.as_bytes(), b"\0", self.user_id.as_bytes(), b"\0", self.factor_id.as_bytes()].concat()
    }
}

fn factor_sealer(directory_key: &SecretBytes) -> Sealer {
    Sealer::new(b"portcullis mfa factors v1\0", directory_key)
}

/// Seals a TOTP secret for its row.
pub fn seal_totp_secret(
    directory_key: &SecretBytes,
    row: FactorRow<'_>,
    secret: &SecretBytes,
    nonce: &[u8; 12],
) -> String {
    factor_sealer(directory_key).seal(&row.aad(), secret.expose(), nonce)
}

/// Opens a stored TOTP secret; `None` if it was sealed for another row or key, or altered.
pub fn open_totp_secret(directory_key: &SecretBytes, row: FactorRow<'_>, sealed: &str) -> Option<SecretBytes> {
    factor_sealer(directory_key).open(&row.aad(), sealed).map(SecretBytes::new)
}

/// How long an enrolment page's secret may wait for its first code.
pub const ENROLMENT_LIFETIME_S: i64 = 600;

#[derive(Serialize, Deserialize)]
struct EnrolmentState {
    secret: String,
    issued_at_s: i64,
}

fn enrolment_sealer(login_secret: &SecretBytes) -> Sealer {
    Sealer::new(b"portcullis totp enrolment v1\0", login_secret)
}

fn enrolment_aad(tenant: &str, user_id: &str) -> Vec<u8> {
    [tenant.as_bytes(), b"\0", user_id.as_bytes()].concat()
}

/// The enrolment form's hidden field: the new secret, sealed for this user, with its time.
pub fn seal_enrolment(
    login_secret: &SecretBytes,
    tenant: &str,
    user_id: &str,
    secret: &SecretBytes,
    now_s: i64,
    nonce: &[u8; 12],
) -> String {
    let state = EnrolmentState { secret: data_encoding::BASE32_NOPAD.encode(secret.expose()), issued_at_s: now_s };
    let json = serde_json::to_vec(&state).unwrap_or_default();
    enrolment_sealer(login_secret).seal(&enrolment_aad(tenant, user_id), &json, nonce)
}

/// The secret of an enrolment form sealed for this user, if it is still fresh at `now_s`.
pub fn open_enrolment(
    login_secret: &SecretBytes,
    tenant: &str,
    user_id: &str,
    sealed: &str,
    now_s: i64,
) -> Option<SecretBytes> {
    let json = enrolment_sealer(login_secret).open(&enrolment_aad(tenant, user_id), sealed)?;
    let state: EnrolmentState = serde_json::from_slice(&json).ok()?;
    if !(0..=ENROLMENT_LIFETIME_S).contains(&(now_s - state.issued_at_s)) {
        return None;
    }
    data_encoding::BASE32_NOPAD.decode(state.secret.as_bytes()).ok().map(SecretBytes::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrolled_factor_is_always_challenged_and_a_required_one_is_enrolled() {
        let none = Enrolled::default();
        let totp = Enrolled { totp: true, passkeys: 0, recovery_codes: 10 };
        let passkey = Enrolled { totp: false, passkeys: 1, recovery_codes: 10 };
        let codes_only = Enrolled { totp: false, passkeys: 0, recovery_codes: 10 };
        let cases = [
            (false, none, NextStep::Session),
            (true, none, NextStep::Enrol),
            (false, totp, NextStep::Challenge),
            (true, totp, NextStep::Challenge),
            (false, passkey, NextStep::Challenge),
            // Recovery codes without a factor are not a factor: required MFA still enrols one.
            (true, codes_only, NextStep::Enrol),
            (false, codes_only, NextStep::Session),
        ];
        for (required, enrolled, expected) in cases {
            assert_eq!(after_first_factor(required, enrolled), expected, "{required} {enrolled:?}");
        }
    }

    #[test]
    fn a_completed_sign_in_lists_each_method_once() {
        let pwd = vec!["pwd".to_owned()];
        assert_eq!(amr_after(&pwd, SecondFactor::Totp), ["pwd", "otp", "mfa"]);
        assert_eq!(amr_after(&pwd, SecondFactor::RecoveryCode), ["pwd", "mfa"]);
        let again = amr_after(&amr_after(&pwd, SecondFactor::Totp), SecondFactor::Totp);
        assert_eq!(again, ["pwd", "otp", "mfa"]);
        assert_eq!(amr_after(&pwd, SecondFactor::Passkey { synced: false }), ["pwd", "hwk", "mfa"]);
        assert_eq!(amr_after(&[], SecondFactor::Passkey { synced: true }), ["swk", "mfa"]);
        let after_passkey = amr_after(&pwd, SecondFactor::Passkey { synced: false });
        assert_eq!(
            amr_after(&after_passkey, SecondFactor::RecoveryCode),
            ["pwd", "mfa"],
            "a step-up keeps no stale hwk"
        );
        assert_eq!(amr_after(&after_passkey, SecondFactor::Totp), ["pwd", "otp", "mfa"]);
        assert_eq!(amr_after(&pwd, SecondFactor::Enrolment), ["pwd", "mfa"], "an enrolment proves no kind of factor");
    }

    #[test]
    fn a_sealed_totp_secret_opens_only_in_its_own_row() {
        let key = SecretBytes::new(vec![1; 32]);
        let secret = SecretBytes::new(b"12345678901234567890".to_vec());
        let row = FactorRow { tenant: "acme", user_id: "u1", factor_id: "f1" };
        let sealed = seal_totp_secret(&key, row, &secret, &[2; 12]);
        assert_eq!(open_totp_secret(&key, row, &sealed), Some(secret.clone()));
        let elsewhere = [
            FactorRow { tenant: "other", ..row },
            FactorRow { user_id: "u2", ..row },
            FactorRow { factor_id: "f2", ..row },
        ];
        for other in elsewhere {
            assert_eq!(open_totp_secret(&key, other, &sealed), None, "{other:?}");
        }
        assert_eq!(open_totp_secret(&SecretBytes::new(vec![2; 32]), row, &sealed), None);
    }

    #[test]
    fn an_enrolment_opens_for_its_user_while_fresh() {
        let key = SecretBytes::new(vec![5; 32]);
        let secret = SecretBytes::new(vec![7; 20]);
        let sealed = seal_enrolment(&key, "acme", "u1", &secret, 1_000, &[3; 12]);
        assert_eq!(open_enrolment(&key, "acme", "u1", &sealed, 1_000 + ENROLMENT_LIFETIME_S), Some(secret));
        assert_eq!(open_enrolment(&key, "acme", "u1", &sealed, 1_001 + ENROLMENT_LIFETIME_S), None);
        assert_eq!(open_enrolment(&key, "acme", "u2", &sealed, 1_000), None, "another user's form");
        assert_eq!(open_enrolment(&key, "other", "u1", &sealed, 1_000), None);
        assert_eq!(open_enrolment(&key, "acme", "u1", "not sealed", 1_000), None);
    }
}
