//! Local accounts: email-and-password sign-up, email verification, sign-in, forgotten and changed
//! passwords, for the tenants the configuration names (NIST SP 800-63B-4, OWASP ASVS 5.0 V6).
//!
//! The password itself is judged and hashed by [`crate::authn::password`]; this module holds what
//! the flows decide: the section's configuration ([`config`]), the form bodies ([`form`]), the
//! emailed links ([`token`]), failed-attempt throttling ([`throttle`]), the emails ([`mail`]) and,
//! here, how a sign-in attempt ends. The shell (`shell::accounts`) performs the I/O.
//!
//! Nothing a visitor sees tells whether an email has an account: sign-in answers and times the
//! same for unknown emails (a dummy hash runs), throttling counts emails whether or not they exist,
//! a sign-up for a taken email gets the same page (the owner gets an email), and a reset request
//! always says a link was sent if the account exists.

pub mod config;
pub mod device;
pub mod form;
pub mod mail;
pub mod pages;
pub mod throttle;
pub mod token;

use crate::authn::password::hash::Verified;
use crate::authn::password::policy::PolicyFailure;
use crate::session::{SessionError, SessionRecord};
use config::LocalAccounts;
use form::FormError;
use throttle::Gate;

/// Why an account page refused a submission. The page is shown again with the reason
/// (`crate::error::account_reply` words it); none tells whether an email has an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountError {
    /// The form body is unusable.
    Form(FormError),
    /// The page names a tenant without local accounts.
    UnknownTenant,
    /// The email's domain may not sign up in this tenant.
    EmailNotAllowed,
    /// The new password breaks these rules (all of them at once).
    Policy(Vec<PolicyFailure>),
    /// The new password is among breached passwords, this many times.
    Breached(u64),
    /// The breached-password check is down and fails closed.
    BreachCheckUnavailable,
    /// Email or password incorrect (or the email is locked).
    Incorrect,
    /// Too many attempts: wait this many seconds.
    Wait(u64),
    /// The password is right, but the account is blocked.
    Disabled,
    /// The link is unknown, spent, expired, superseded or for something else.
    LinkInvalid,
    /// The verified email was taken by another account meanwhile.
    EmailInUse,
    /// The form did not come from this site.
    CsrfRejected,
    /// The email could not be sent: nothing was kept, try again.
    MailUnavailable,
    /// A store (the directory, the ledger) did not answer: nothing was changed, try again.
    Unavailable,
    /// The second factor's code is wrong, or was used already.
    CodeIncorrect,
    /// The sign-in awaiting a second factor expired, or was completed already: sign in again.
    SecondFactorExpired,
    /// The enrolment page is stale (or was for someone else): start it again.
    EnrolmentExpired,
    /// Changing this factor needs a session that passed the second factor.
    SecondFactorNeeded,
    /// Adding a first factor needs a recent sign-in (in the last 15 minutes).
    RecentSignInNeeded,
    /// A passkey response was refused.
    Passkey(crate::mfa::webauthn::PasskeyError),
    /// That passkey is registered already.
    PasskeyExists,
    /// The user has no passkey to sign in with (or passkeys are off).
    NoPasskey,
}

impl From<FormError> for AccountError {
    fn from(error: FormError) -> Self {
        AccountError::Form(error)
    }
}

/// The provider name of password sessions (`SessionRecord::provider`, the `provider` claim).
pub use crate::session::PASSWORD_PROVIDER;

pub use crate::directory::PASSWORD_CONNECTION;

/// The authentication method reference of a password sign-in (RFC 8176 §2).
pub const AMR_PASSWORD: &str = "pwd";

/// What a sign-in attempt's checks found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The gate the attempt met for the client IP.
    pub ip: Gate,
    /// The gate it met for the email.
    pub account: Gate,
    /// The password against the stored hash (`None`: no account, a dummy hash ran instead).
    pub verified: Option<Verified>,
    /// The account is active (not blocked or deprovisioned).
    pub active: bool,
}

/// How a sign-in attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Signed in; rehash the password with the current parameters when asked.
    SignedIn {
        /// The stored hash has other parameters than the configured ones.
        needs_rehash: bool,
    },
    /// "Email or password is incorrect": an unknown email, a wrong password, or a locked email
    /// (the attempt was counted as it was let through, see [`throttle::ThrottleOp::Attempt`]).
    Incorrect,
    /// Wait before trying again (the email or the IP is being slowed down): 429.
    Wait {
        /// Seconds until the next attempt is allowed.
        retry_after_s: u64,
    },
    /// The password is right, but the account is blocked: 403.
    Disabled,
}

/// Decides a sign-in attempt at `now_ms`. A locked email answers exactly like a wrong password
/// (and the password is not looked at); a wait is the same for every email.
pub fn decide_sign_in(attempt: Attempt, now_ms: u64) -> SignInOutcome {
    let wait = |until_ms: u64| SignInOutcome::Wait { retry_after_s: throttle::wait_s(until_ms, now_ms) };
    match (attempt.ip, attempt.account) {
        (Gate::Wait { until_ms } | Gate::Locked { until_ms }, _) => return wait(until_ms),
        (_, Gate::Wait { until_ms }) => return wait(until_ms),
        (_, Gate::Locked { .. }) => return SignInOutcome::Incorrect,
        (Gate::Open, Gate::Open) => {}
    }
    match attempt.verified {
        Some(Verified::Match { needs_rehash }) if attempt.active => SignInOutcome::SignedIn { needs_rehash },
        Some(Verified::Match { .. }) => SignInOutcome::Disabled,
        Some(Verified::Mismatch) | None => SignInOutcome::Incorrect,
    }
}

/// The issuer that vouches for password sessions: the gateway itself, at its accounts pages.
pub fn password_issuer(login: &crate::login::config::LoginConfig, edge_prefix: &str) -> String {
    format!("{}{edge_prefix}/accounts", login.own_origin().unwrap_or_default())
}

/// Whether a user who signed in first with `provider` presents Portcullis's own second factors
/// (rather than the provider's own): always after a password; for a directory user
/// (`directory_tenant`), after a configured provider with `authentication.local_factors`, or
/// after a tenant's own connection when that tenant must use a second factor (its IdP is not
/// believed about how the user authenticated). Any other provider keeps its own factors.
pub fn uses_local_factors(
    accounts: &LocalAccounts,
    login: Option<&crate::login::config::LoginConfig>,
    provider: &str,
    directory_tenant: Option<&str>,
) -> bool {
    if provider == PASSWORD_PROVIDER {
        return true;
    }
    let Some(tenant) = directory_tenant else { return false };
    match login.and_then(|login| login.provider(provider)) {
        Some(configured) => configured.authentication.local_factors,
        None => crate::directory::connections::connection_id_ok(provider) && accounts.tenant_requires_mfa(tenant),
    }
}

/// Whether a user who owes one of Portcullis's factors after a provider's sign-in, and has none,
/// must enrol one now (rather than sign in without): the provider requires one, or the user's
/// tenant does.
pub fn local_factor_required(accounts: &LocalAccounts, owed: &crate::login::flow::LocalFactorOwed) -> bool {
    owed.provider_requires || accounts.tenant_requires_mfa(&owed.tenant)
}

/// Whether the configuration still admits a password session: local accounts still on, for its
/// tenant. The issuer is the gateway's ([`password_issuer`]).
pub fn admit_password_session(
    accounts: Option<&LocalAccounts>,
    record: &SessionRecord,
    issuer: String,
) -> Result<String, SessionError> {
    let tenant = record.tenant.as_deref().ok_or(SessionError::Revoked)?;
    match accounts.and_then(|accounts| accounts.tenant(Some(tenant))) {
        Some(listed) if record.email.as_deref().is_some_and(|email| listed.allows_email(email)) => Ok(issuer),
        _ => Err(SessionError::Revoked),
    }
}

/// The throttle key of an email in a tenant: its digest, so that the ledger holds no addresses.
pub fn account_throttle_id(tenant: &str, email: &str) -> String {
    format!("pwd:{}", crate::secret::sha256_hex(&format!("{tenant}\n{email}")))
}

/// The throttle key of a client IP: an IPv4 address, or an IPv6 address's /64 (one subscriber's
/// network holds 2^64 addresses, which would each be counted apart).
pub fn ip_throttle_id(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        // An IPv4 address written as IPv6 (`::ffff:203.0.113.7`) is that IPv4 address.
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => {
            format!("pwdip:{}", v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default())
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("pwdip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V4(v4)) => format!("pwdip:{v4}"),
        Err(_) => format!("pwdip:{ip}"),
    }
}

/// The words a tenant's passwords may not contain (NIST SP 800-63B-4 §3.1.1.2): the email's local
/// part, its domain's first label, the tenant and the product's name.
pub fn context_words<'a>(email: &'a str, tenant: &'a str, product: &'a str) -> Vec<&'a str> {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let first_label = domain.split('.').next().unwrap_or("");
    let mut words = vec![local, first_label, tenant, product];
    words.retain(|word| !word.is_empty());
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_attempt_ends_by_the_gates_then_the_password() {
        let now = 10_000;
        let attempt = |ip, account, verified, active| Attempt { ip, account, verified, active };
        let matched = Some(Verified::Match { needs_rehash: false });
        let wait = Gate::Wait { until_ms: now + 2_500 };
        let locked = Gate::Locked { until_ms: now + 900_000 };
        let open = Gate::Open;
        let cases = [
            (attempt(open, open, matched, true), SignInOutcome::SignedIn { needs_rehash: false }),
            (
                attempt(open, open, Some(Verified::Match { needs_rehash: true }), true),
                SignInOutcome::SignedIn { needs_rehash: true },
            ),
            (attempt(open, open, Some(Verified::Mismatch), true), SignInOutcome::Incorrect),
            // An unknown email (a dummy hash ran) answers like a wrong password.
            (attempt(open, open, None, true), SignInOutcome::Incorrect),
            (attempt(open, open, matched, false), SignInOutcome::Disabled),
            // A locked email: the right password changes nothing, and nothing more is counted.
            (attempt(open, locked, matched, true), SignInOutcome::Incorrect),
            (attempt(open, wait, matched, true), SignInOutcome::Wait { retry_after_s: 3 }),
            (attempt(wait, open, matched, true), SignInOutcome::Wait { retry_after_s: 3 }),
            (attempt(locked, open, matched, true), SignInOutcome::Wait { retry_after_s: 900 }),
        ];
        for (attempt, expected) in cases {
            assert_eq!(decide_sign_in(attempt, now), expected, "{attempt:?}");
        }
    }

    #[test]
    fn throttle_keys_hold_no_address_and_context_words_come_from_the_account() {
        let id = account_throttle_id("acme", "ann@acme.test");
        assert!(id.starts_with("pwd:") && !id.contains("ann"));
        assert_ne!(id, account_throttle_id("other", "ann@acme.test"));
        assert_eq!(
            context_words("ann.smith@acme.test", "acme-corp", "Portcullis"),
            ["ann.smith", "acme", "acme-corp", "Portcullis"]
        );
        // One IPv6 /64 is one key, however its addresses vary.
        assert_eq!(ip_throttle_id("2001:db8:1:2::1"), ip_throttle_id("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(ip_throttle_id("2001:db8:1:2::1"), ip_throttle_id("2001:db8:1:3::1"));
        assert_eq!(ip_throttle_id("203.0.113.7"), "pwdip:203.0.113.7");
        assert_eq!(ip_throttle_id("::ffff:203.0.113.7"), "pwdip:203.0.113.7");
        assert_ne!(ip_throttle_id("::ffff:203.0.113.7"), ip_throttle_id("::ffff:203.0.113.8"));
    }

    #[test]
    fn portcullis_factors_follow_a_password_a_local_factors_provider_and_a_demanding_tenants_connections() {
        use crate::deploy::Environment;
        use serde_json::json;
        let accounts = LocalAccounts::compile(
            serde_json::from_value(json!({
                "tenants": [{ "id": "acme", "require_mfa": true }, { "id": "beta" }],
                "mail": { "from": "no-reply@acme.test", "sender": { "kind": "http", "url": "https://mail.test/send" } }
            }))
            .expect("raw section"),
            Environment::Production,
        )
        .expect("valid local accounts");
        let login = crate::login::config::LoginConfig::from_value(
            &json!({
                "redirect_uri": "https://app.test/auth/callback",
                "providers": [
                    { "id": "corp", "type": "oidc", "issuer": "https://idp.test", "client_id": "c1",
                      "client_secret": "S", "directory": { "tenant": "beta" },
                      "authentication": { "local_factors": true } },
                    { "id": "social", "type": "oidc", "issuer": "https://social.test", "client_id": "c2",
                      "client_secret": "S", "directory": { "tenant": "acme" } }
                ]
            }),
            Environment::Production,
            "/auth",
        )
        .expect("valid login");
        let connection = crate::directory::connections::new_connection_id([7; 16]);
        let uses = |provider: &str, tenant: Option<&str>| uses_local_factors(&accounts, Some(&login), provider, tenant);
        assert!(uses(PASSWORD_PROVIDER, Some("beta")), "a password's second factor is always Portcullis's");
        assert!(uses("corp", Some("beta")), "a provider with local_factors");
        assert!(!uses("corp", None), "nobody outside the directory has Portcullis's factors");
        assert!(!uses("social", Some("acme")), "a configured provider keeps its own, even for a demanding tenant");
        assert!(uses(&connection, Some("acme")), "a tenant that must use a second factor: its connections' users");
        assert!(!uses(&connection, Some("beta")), "a tenant that need not: its IdP's factors");
        assert!(!uses("removed-provider", Some("acme")), "an unknown provider is no connection");
        assert!(!uses_local_factors(&accounts, None, "corp", Some("beta")), "without the login section, no provider");

        let owed = |tenant: &str, provider_requires| crate::login::flow::LocalFactorOwed {
            tenant: tenant.into(),
            user_id: "u1".into(),
            provider_requires,
        };
        assert!(local_factor_required(&accounts, &owed("beta", true)));
        assert!(local_factor_required(&accounts, &owed("acme", false)), "the tenant requires one");
        assert!(
            !local_factor_required(&accounts, &owed("beta", false)),
            "nobody requires one: a user without signs in"
        );
    }
}
