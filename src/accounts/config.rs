//! The `login.local_accounts` section: which tenants take email-and-password accounts, how their
//! passwords are hashed and judged, how long emailed links live, how failures are throttled, and
//! how mail is sent.

use super::throttle::ThrottlePolicy;
use crate::authn::password::breach::WhenUnavailable;
use crate::authn::password::hash::HashParams;
use crate::authn::password::policy::PasswordPolicy;
use crate::deploy::Environment;
use crate::directory::tenant_id_ok;
use crate::login::provider::check_url;
use serde::Deserialize;

/// Problems found while reading the section: (path relative to it, message).
pub type Problems = Vec<(String, String)>;

/// Have I Been Pwned's range API.
pub const DEFAULT_RANGE_URL: &str = "https://api.pwnedpasswords.com/range/";

/// The most bytes of a password read before anything is hashed (far above any 64-character
/// password, far below what would make hashing a denial of service).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A tenant whose users may have local accounts.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountTenant {
    /// The directory tenant's id (lower case, digits, `-` and `_`). It is created in the directory at the first
    /// sign-up if it does not exist yet. Required.
    pub id: String,
    /// Only emails in these domains may sign up (lower case). Empty (the default): any domain.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// Every account of this tenant must use a second factor: one without enrols it at its next sign-in. Off by
    /// default (`mfa_enforced` turns it on for every tenant).
    #[serde(default)]
    pub require_mfa: bool,
}

impl AccountTenant {
    /// Whether an email (lower-cased) may hold an account in this tenant.
    pub fn allows_email(&self, email: &str) -> bool {
        let Some((_, domain)) = email.rsplit_once('@') else { return false };
        self.allowed_email_domains.is_empty() || self.allowed_email_domains.iter().any(|allowed| allowed == domain)
    }
}

/// The argon2id cost, as configured.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHashParams {
    /// Memory in KiB; default 19456 (19 MiB, OWASP's minimum), at least 19456, at most 65536.
    pub memory_kib: u32,
    /// Passes; default 2, 1 to 10.
    pub iterations: u32,
    /// Lanes; default 1, 1 to 4.
    pub parallelism: u32,
}

impl Default for RawHashParams {
    fn default() -> Self {
        let params = HashParams::default();
        Self { memory_kib: params.memory_kib, iterations: params.iterations, parallelism: params.parallelism }
    }
}

/// What the breached-password check does when the range service cannot be asked.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawWhenUnavailable {
    /// Allow the password unchecked.
    Open,
    /// Refuse to set a password until the service answers.
    Closed,
}

/// The breached-password check (Have I Been Pwned's k-anonymity range API).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreachCheck {
    /// Check new passwords at all; on by default.
    pub enabled: bool,
    /// The range API's URL, ending where the 5-hex prefix goes; https (http in development). Default
    /// `https://api.pwnedpasswords.com/range/`.
    pub range_url: String,
    /// `closed` (the default: refuse to set a password for now) or `open` (allow it unchecked) when the service is
    /// down.
    pub when_unavailable: RawWhenUnavailable,
}

impl Default for BreachCheck {
    fn default() -> Self {
        Self { enabled: true, range_url: DEFAULT_RANGE_URL.into(), when_unavailable: RawWhenUnavailable::Closed }
    }
}

/// How failed sign-ins are throttled, for one kind of key (an email, or a client IP).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    /// Failures allowed without delay.
    pub free_failures: u32,
    /// After that, each failure doubles a wait before the next attempt, from this many milliseconds.
    pub base_delay_ms: u64,
    /// This many failures lock the key for `lock_s` (more than `free_failures`).
    pub lock_after: u32,
    /// How long a lock lasts, in seconds (60 to 86400).
    pub lock_s: u64,
    /// Failures older than this are forgotten, in seconds (60 to 86400).
    pub window_s: u64,
}

impl RawThrottle {
    fn compile(self, path: &str, problems: &mut Problems) -> ThrottlePolicy {
        if self.lock_after <= self.free_failures || self.lock_after > 10_000 {
            problems.push((format!("{path}.lock_after"), "more than free_failures, at most 10000".into()));
        }
        if self.base_delay_ms > 60_000 {
            problems.push((format!("{path}.base_delay_ms"), "at most 60000".into()));
        }
        for (field, value) in [("lock_s", self.lock_s), ("window_s", self.window_s)] {
            if !(60..=86_400).contains(&value) {
                problems.push((format!("{path}.{field}"), "between 60 and 86400 seconds".into()));
            }
        }
        ThrottlePolicy {
            free_failures: self.free_failures,
            base_delay_ms: self.base_delay_ms,
            lock_after: self.lock_after,
            lock_ms: self.lock_s * 1000,
            window_ms: self.window_s * 1000,
        }
    }
}

/// Failed sign-in throttling, per account (email) and per client IP.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawThrottles {
    /// Per email, whether or not an account has it (so that throttling says nothing about which exist).
    /// Default: 3 free failures, then waits from 1 s doubling, locked for 15 minutes at 10, over a 15-minute window.
    pub account: RawThrottle,
    /// Per client IP, across emails (credential stuffing). Default: 20 free failures, waits from 1 s, locked for
    /// 15 minutes at 50, over 15 minutes.
    pub ip: RawThrottle,
}

impl Default for RawThrottles {
    fn default() -> Self {
        Self {
            account: RawThrottle { free_failures: 3, base_delay_ms: 1000, lock_after: 10, lock_s: 900, window_s: 900 },
            ip: RawThrottle { free_failures: 20, base_delay_ms: 1000, lock_after: 50, lock_s: 900, window_s: 900 },
        }
    }
}

/// Which mail sender.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailSenderKind {
    /// Cloudflare's `send_email` binding (Email Service): set `binding`.
    SendEmail,
    /// An HTTP mail API: `POST {url}` with `{"from", "to", "subject", "text", "html"}` as JSON and the bearer token
    /// from `token_secret`. Development and tests point it at a local capture.
    Http,
}

/// How mail leaves.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSender {
    /// `send_email` or `http`. Required.
    pub kind: MailSenderKind,
    /// `send_email`: the binding's name in wrangler.toml's `[[send_email]]`.
    pub binding: Option<String>,
    /// `http`: the API's URL, https (http in development).
    pub url: Option<String>,
    /// `http`: the NAME of the secret that holds the API's bearer token, not the token. Optional.
    pub token_secret: Option<String>,
}

/// Email.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The sender. Required.
    pub sender: MailSender,
    /// The From address (`name@domain`). Required.
    pub from: String,
}

/// Local accounts: email-and-password sign-up and sign-in for some tenants.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLocalAccounts {
    /// The tenants whose users may sign up with an email and a password; the first is where the pages go
    /// without `?tenant=`. At least one; ids unique. Required.
    pub tenants: Vec<AccountTenant>,
    /// The argon2id cost of new hashes; a sign-in rehashes a password stored with other parameters.
    #[serde(default)]
    pub hash: RawHashParams,
    /// The NAME of a secret (32+ characters) that peppers every password (HMAC-SHA256 before argon2id), not the
    /// pepper itself. It cannot be added, changed or removed later without resetting every password.
    pub pepper_secret: Option<String>,
    /// Every account of every tenant here must use a second factor (one without enrols it at its next sign-in),
    /// and the minimum password length is then 8, else 15 (NIST SP 800-63B-4 §3.1.1.2). Off by default.
    #[serde(default)]
    pub mfa_enforced: bool,
    /// The most characters a password may have; default 64, at least 64, at most 256.
    pub max_password_length: Option<usize>,
    /// The breached-password check.
    #[serde(default)]
    pub breach_check: BreachCheck,
    /// How long verification and reset links work, in seconds; default 1800, 900 to 3600.
    pub link_lifetime_s: Option<u64>,
    /// Failed sign-in throttling.
    #[serde(default)]
    pub throttle: RawThrottles,
    /// Email every successful sign-in to the account's owner; off by default.
    #[serde(default)]
    pub notify_sign_in: bool,
    /// Sign-in and sign-up answer no sooner than this many milliseconds after they arrive (0 to 5000, default
    /// 400), so that what their work costs (an old hash's cost, a store write) does not tell which emails have
    /// accounts. The wait is a timer: it costs no CPU.
    pub answer_floor_ms: Option<u64>,
    /// How verification, reset and notice emails are sent. Required.
    pub mail: MailConfig,
    /// Passkeys (WebAuthn): as a second factor, and as a sign-in of their own. Off when absent.
    pub passkeys: Option<RawPasskeys>,
}

/// Passkeys, as configured.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasskeys {
    /// The RP ID: a domain (never an IP address) that is the host of every origin or a parent of it. Default: the
    /// host of the first app origin.
    pub rp_id: Option<String>,
    /// The origins ceremonies may run on, exactly (`https://app.example.com`). Default: the app origins.
    pub origins: Option<Vec<String>>,
    /// Whether a passkey used as a second factor must verify its user (PIN or biometrics): `required` or
    /// `preferred` (the default). A passkey that signs in on its own must always verify its user.
    #[serde(default)]
    pub user_verification: RawUserVerification,
    /// What a signature counter that did not increase means (a cloned authenticator, or a buggy one): `refuse`
    /// the sign-in (the default) or `flag` it in the audit and go on.
    #[serde(default)]
    pub sign_count_regression: RawSignCountRegression,
    /// Offer "Sign in with a passkey" (no password, discoverable credentials, autofill); default true.
    pub passwordless: Option<bool>,
}

/// User verification for passkeys used as a second factor.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawUserVerification {
    /// Asked for, not required.
    #[default]
    Preferred,
    /// Required.
    Required,
}

/// What a signature counter that did not increase means.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawSignCountRegression {
    /// Refuse the sign-in.
    #[default]
    Refuse,
    /// Flag it in the audit, and go on.
    Flag,
}

/// Passkeys, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkeys {
    /// The RP ID, if configured (else the first app origin's host).
    pub rp_id: Option<String>,
    /// The allowed origins, if configured (else the app origins).
    pub origins: Option<Vec<String>>,
    /// Second-factor passkeys must verify their user.
    pub require_user_verification: bool,
    /// What a counter that did not increase means.
    pub sign_count: crate::mfa::webauthn::ceremony::SignCountPolicy,
    /// Passkeys may sign in on their own.
    pub passwordless: bool,
}

/// Whether `host` is the RP ID or below it (WebAuthn §5.1.3: a registrable domain suffix).
pub fn host_fits_rp_id(host: &str, rp_id: &str) -> bool {
    host == rp_id || host.strip_suffix(rp_id).is_some_and(|rest| rest.ends_with('.'))
}

/// Whether a string can be an RP ID: a lower-case domain name, not an IP address.
pub fn rp_id_ok(rp_id: &str) -> bool {
    let labels_ok = rp_id.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    let numeric = rp_id.split('.').all(|label| label.bytes().all(|b| b.is_ascii_digit()));
    !rp_id.is_empty() && rp_id.len() <= 253 && labels_ok && !numeric
}

impl RawPasskeys {
    fn compile(self, problems: &mut Problems) -> Passkeys {
        if let Some(rp_id) = &self.rp_id {
            if !rp_id_ok(rp_id) {
                problems.push(("passkeys.rp_id".into(), "a lower-case domain name, not an IP address".into()));
            }
        }
        for (index, origin) in self.origins.iter().flatten().enumerate() {
            let parsed = url::Url::parse(origin).ok();
            let host = parsed.as_ref().and_then(|url| url.host_str().map(str::to_owned));
            let exact = parsed.as_ref().is_some_and(|url| url.origin().ascii_serialization() == *origin);
            let fits = match (&host, &self.rp_id) {
                (Some(host), Some(rp_id)) => host_fits_rp_id(host, rp_id),
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !exact || !fits {
                problems.push((
                    format!("passkeys.origins[{index}]"),
                    "an origin (scheme://host[:port]) whose host is the rp_id or below it".into(),
                ));
            }
        }
        use crate::mfa::webauthn::ceremony::SignCountPolicy;
        Passkeys {
            rp_id: self.rp_id,
            origins: self.origins,
            require_user_verification: self.user_verification == RawUserVerification::Required,
            sign_count: match self.sign_count_regression {
                RawSignCountRegression::Refuse => SignCountPolicy::Refuse,
                RawSignCountRegression::Flag => SignCountPolicy::Flag,
            },
            passwordless: self.passwordless.unwrap_or(true),
        }
    }
}

/// The compiled section.
#[derive(Debug, Clone)]
pub struct LocalAccounts {
    /// The tenants, the default first.
    pub tenants: Vec<AccountTenant>,
    /// The parameters of new hashes.
    pub hash: HashParams,
    /// The pepper's secret name.
    pub pepper_secret: Option<String>,
    /// The password rules.
    pub policy: PasswordPolicy,
    /// Every account must use a second factor.
    pub mfa_enforced: bool,
    /// The breach check: its range URL and what an outage means; `None` when off.
    pub breach_check: Option<(String, WhenUnavailable)>,
    /// How long emailed links work, in ms.
    pub link_lifetime_ms: u64,
    /// Per-email throttling.
    pub account_throttle: ThrottlePolicy,
    /// Per-IP throttling.
    pub ip_throttle: ThrottlePolicy,
    /// Email each sign-in.
    pub notify_sign_in: bool,
    /// The least time a sign-in or sign-up takes to answer.
    pub answer_floor_ms: u64,
    /// Email.
    pub mail: MailConfig,
    /// Passkeys, when on.
    pub passkeys: Option<Passkeys>,
}

impl LocalAccounts {
    /// The tenant a page names (`None`: the default one); `None` when it names one without local
    /// accounts.
    pub fn tenant(&self, named: Option<&str>) -> Option<&AccountTenant> {
        match named {
            None | Some("") => self.tenants.first(),
            Some(id) => self.tenants.iter().find(|tenant| tenant.id == id),
        }
    }

    /// Whether a tenant's accounts must use a second factor.
    pub fn requires_mfa(&self, tenant: &AccountTenant) -> bool {
        self.mfa_enforced || tenant.require_mfa
    }

    /// Whether a directory tenant's users must use a second factor, whatever their first
    /// (`mfa_enforced`, or the tenant listed here with `require_mfa`).
    pub fn tenant_requires_mfa(&self, tenant_id: &str) -> bool {
        self.mfa_enforced || self.tenants.iter().any(|tenant| tenant.id == tenant_id && tenant.require_mfa)
    }

    /// Reads the section.
    pub fn compile(raw: RawLocalAccounts, environment: Environment) -> Result<Self, Problems> {
        let mut problems = Problems::new();
        if raw.tenants.is_empty() {
            problems.push(("tenants".into(), "list at least one tenant".into()));
        }
        for (index, tenant) in raw.tenants.iter().enumerate() {
            if !tenant_id_ok(&tenant.id) {
                problems.push((format!("tenants[{index}].id"), "lower case letters, digits, - and _ (1 to 64)".into()));
            }
            if raw.tenants[..index].iter().any(|earlier| earlier.id == tenant.id) {
                problems.push((format!("tenants[{index}].id"), format!("duplicate tenant {:?}", tenant.id)));
            }
            for (at, domain) in tenant.allowed_email_domains.iter().enumerate() {
                let ok = !domain.is_empty()
                    && domain.contains('.')
                    && domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
                if !ok {
                    problems.push((
                        format!("tenants[{index}].allowed_email_domains[{at}]"),
                        format!("{domain:?} is not a lower-case domain"),
                    ));
                }
            }
        }
        let h = raw.hash;
        if !(19_456..=65_536).contains(&h.memory_kib) {
            problems.push(("hash.memory_kib".into(), "between 19456 (OWASP's minimum) and 65536".into()));
        }
        if !(1..=10).contains(&h.iterations) {
            problems.push(("hash.iterations".into(), "between 1 and 10".into()));
        }
        if !(1..=4).contains(&h.parallelism) {
            problems.push(("hash.parallelism".into(), "between 1 and 4".into()));
        }
        let mut policy = PasswordPolicy::nist(raw.mfa_enforced);
        if let Some(max) = raw.max_password_length {
            if !(64..=256).contains(&max) {
                problems.push(("max_password_length".into(), "between 64 and 256".into()));
            }
            policy.max_length = max;
        }
        let breach_check = if raw.breach_check.enabled {
            let url = &raw.breach_check.range_url;
            check_url(&mut problems, "breach_check.range_url", url, environment);
            if url::Url::parse(url).is_ok_and(|parsed| parsed.query().is_some()) {
                problems.push(("breach_check.range_url".into(), format!("{url:?} must have no query")));
            }
            let when = match raw.breach_check.when_unavailable {
                RawWhenUnavailable::Open => WhenUnavailable::FailOpen,
                RawWhenUnavailable::Closed => WhenUnavailable::FailClosed,
            };
            Some((url.clone(), when))
        } else {
            None
        };
        let link_lifetime_s = raw.link_lifetime_s.unwrap_or(1800);
        if !(900..=3600).contains(&link_lifetime_s) {
            problems.push(("link_lifetime_s".into(), "between 900 and 3600 seconds".into()));
        }
        let answer_floor_ms = raw.answer_floor_ms.unwrap_or(400);
        if answer_floor_ms > 5000 {
            problems.push(("answer_floor_ms".into(), "at most 5000".into()));
        }
        let account_throttle = raw.throttle.account.compile("throttle.account", &mut problems);
        let ip_throttle = raw.throttle.ip.compile("throttle.ip", &mut problems);
        let from_ok = raw.mail.from.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !raw.mail.from.contains(['<', '>', '"', '\r', '\n', ' '])
        });
        if !from_ok {
            problems.push(("mail.from".into(), "an address, name@domain".into()));
        }
        let sender = &raw.mail.sender;
        match (sender.kind, &sender.url, &sender.binding) {
            (MailSenderKind::Http, Some(url), None) => check_url(&mut problems, "mail.sender.url", url, environment),
            (MailSenderKind::Http, _, _) => {
                problems.push(("mail.sender".into(), "an http sender has a url and no binding".into()));
            }
            (MailSenderKind::SendEmail, None, Some(binding))
                if !binding.is_empty() && sender.token_secret.is_none() => {}
            (MailSenderKind::SendEmail, _, _) => {
                problems.push(("mail.sender".into(), "a send_email sender names its binding, and nothing else".into()));
            }
        }
        let passkeys = raw.passkeys.map(|passkeys| passkeys.compile(&mut problems));
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            passkeys,
            mfa_enforced: raw.mfa_enforced,
            tenants: raw.tenants,
            hash: HashParams { memory_kib: h.memory_kib, iterations: h.iterations, parallelism: h.parallelism },
            pepper_secret: raw.pepper_secret,
            policy,
            breach_check,
            link_lifetime_ms: link_lifetime_s * 1000,
            account_throttle,
            ip_throttle,
            notify_sign_in: raw.notify_sign_in,
            answer_floor_ms,
            mail: raw.mail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(value: serde_json::Value, environment: Environment) -> Result<LocalAccounts, Problems> {
        LocalAccounts::compile(serde_json::from_value(value).expect("raw section"), environment)
    }

    fn minimal() -> serde_json::Value {
        json!({ "tenants": [{ "id": "acme" }],
                "mail": { "from": "no-reply@acme.test", "sender": { "kind": "http", "url": "https://mail.test/send" } } })
    }

    #[test]
    fn the_defaults_follow_nist_and_owasp() {
        let accounts = compile(minimal(), Environment::Production).expect("valid");
        assert_eq!(accounts.hash, HashParams::default());
        assert_eq!((accounts.policy.min_length, accounts.policy.max_length), (15, 64));
        assert_eq!(accounts.breach_check, Some((DEFAULT_RANGE_URL.to_owned(), WhenUnavailable::FailClosed)));
        assert_eq!(accounts.answer_floor_ms, 400);
        assert_eq!(accounts.link_lifetime_ms, 1_800_000);
        assert_eq!(accounts.tenant(None).map(|t| t.id.as_str()), Some("acme"));
        assert!(accounts.tenant(Some("other")).is_none());
        let mut mfa = minimal();
        mfa["mfa_enforced"] = json!(true);
        assert_eq!(compile(mfa, Environment::Production).expect("valid").policy.min_length, 8);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let value = json!({
            "tenants": [{ "id": "Acme", "allowed_email_domains": ["ACME.test"] }, { "id": "Acme" }],
            "hash": { "memory_kib": 4096, "iterations": 0, "parallelism": 9 },
            "max_password_length": 32,
            "breach_check": { "range_url": "http://hibp.test/range/" },
            "link_lifetime_s": 60,
            "throttle": { "account": { "free_failures": 5, "base_delay_ms": 1, "lock_after": 5, "lock_s": 1, "window_s": 60 } },
            "mail": { "from": "Acme <no-reply@acme.test>", "sender": { "kind": "http", "url": "http://mail.test/send" } }
        });
        let problems = compile(value, Environment::Production).expect_err("refused");
        let fields: Vec<&str> = problems.iter().map(|(field, _)| field.as_str()).collect();
        for wanted in [
            "tenants[0].id",
            "tenants[0].allowed_email_domains[0]",
            "tenants[1].id",
            "hash.memory_kib",
            "hash.iterations",
            "hash.parallelism",
            "max_password_length",
            "breach_check.range_url",
            "link_lifetime_s",
            "throttle.account.lock_after",
            "throttle.account.lock_s",
            "mail.from",
            "mail.sender.url",
        ] {
            assert!(fields.contains(&wanted), "{wanted} in {fields:?}");
        }
    }

    #[test]
    fn allowed_domains_limit_who_may_sign_up() {
        let tenant =
            AccountTenant { id: "acme".into(), allowed_email_domains: vec!["acme.test".into()], require_mfa: false };
        let cases = [("ann@acme.test", true), ("ann@evil.test", false), ("ann@sub.acme.test", false), ("ann", false)];
        for (email, allowed) in cases {
            assert_eq!(tenant.allows_email(email), allowed, "{email}");
        }
        let open = AccountTenant { id: "acme".into(), allowed_email_domains: Vec::new(), require_mfa: false };
        assert!(open.allows_email("ann@anywhere.test"));
    }

    #[test]
    fn passkeys_need_a_domain_rp_id_that_covers_every_origin() {
        let mut raw = minimal();
        assert_eq!(compile(raw.clone(), Environment::Production).unwrap().passkeys, None);
        raw["passkeys"] = json!({ "rp_id": "example.com", "origins": ["https://app.example.com", "https://example.com"],
                                  "user_verification": "required", "sign_count_regression": "flag" });
        let passkeys = compile(raw.clone(), Environment::Production).unwrap().passkeys.unwrap();
        assert!(passkeys.require_user_verification && passkeys.passwordless);
        assert_eq!(passkeys.sign_count, crate::mfa::webauthn::ceremony::SignCountPolicy::Flag);
        for (field, value) in [
            ("rp_id", json!("127.0.0.1")),
            ("rp_id", json!("Example.com")),
            ("origins", json!(["https://evil.com"])),
            ("origins", json!(["https://notexample.com"])),
            ("origins", json!(["https://app.example.com/path"])),
        ] {
            let mut bad = raw.clone();
            bad["passkeys"][field] = value.clone();
            let problems = compile(bad, Environment::Production).unwrap_err();
            assert!(problems.iter().any(|(at, _)| at.starts_with("passkeys.")), "{field} {value}: {problems:?}");
        }
        assert!(host_fits_rp_id("a.b.example.com", "example.com") && !host_fits_rp_id("badexample.com", "example.com"));
        assert!(rp_id_ok("localhost") && !rp_id_ok("10.0.0.1") && !rp_id_ok(""));
    }
}
