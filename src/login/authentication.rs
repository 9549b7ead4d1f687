//! How a user authenticated (RFC 8176 `amr`, `acr`, `auth_time`), as an ID token says, and how
//! far a provider is believed about it (`providers[].authentication`).

use crate::mfa::step_up::{Method, StepUpAcrValues};
use serde::Deserialize;
use serde_json::{Map, Value};

/// How a user authenticated: RFC 8176 method references, the context class, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    /// `amr`: `pwd`, `otp`, `hwk`, `swk`, `mfa`, ...
    pub amr: Vec<String>,
    /// `acr`.
    pub acr: Option<String>,
    /// `auth_time`, in seconds since the epoch.
    pub auth_time_s: Option<i64>,
}

impl Authentication {
    /// What the claims say: OIDC's names; values of the wrong type are left out.
    pub fn from_claims(claims: &Map<String, Value>) -> Self {
        let amr = match claims.get("amr") {
            Some(Value::Array(items)) => {
                items.iter().filter_map(Value::as_str).filter(|m| is_method(m)).map(str::to_owned).take(16).collect()
            }
            _ => Vec::new(),
        };
        let acr =
            claims.get("acr").and_then(Value::as_str).filter(|a| !a.is_empty() && a.len() <= 256).map(str::to_owned);
        let auth_time_s = claims.get("auth_time").and_then(Value::as_i64).filter(|t| *t > 0);
        Self { amr, acr, auth_time_s }
    }
}

/// How far a provider's word on how its users authenticated is taken (`providers[].authentication`).
/// Nothing by default: a provider's logins then carry no `amr`, and meet no route's `mfa`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationTrust {
    /// Take the ID token's `amr` (RFC 8176: `pwd`, `otp`, `hwk`, `swk`, `mfa`, ...) as the session's.
    /// Off by default.
    #[serde(default)]
    pub trust_amr: bool,
    /// `acr` values, each with the `amr` methods it vouches for, such as
    /// `{"http://schemas.openid.net/pape/policies/2007/06/multi-factor": ["mfa"]}`. None by default.
    #[serde(default)]
    pub acr: std::collections::BTreeMap<String, Vec<String>>,
    /// The `acr_values` to ask for when a route's `mfa` sends a session of this provider back to
    /// it for a factor it lacks, per method. None by default: then only a stale `auth_time` is
    /// sent back (with `max_age`); a missing factor gets the error page.
    #[serde(default)]
    pub step_up_acr_values: StepUpAcrValues,
    /// Every sign-in must be believed to have done a second factor (`mfa`, `otp`, `hwk` or
    /// `swk`), else 403 `mfa_required`; `step_up_acr_values` (`any`, else `otp` and `webauthn`)
    /// are then sent with every sign-in. Off by default.
    #[serde(default)]
    pub require_mfa: bool,
    /// Portcullis's own second factors (an authenticator app, passkeys, recovery codes, enrolled
    /// on the account pages) count for this provider's users. A sign-in the provider is not
    /// believed to have done with a second factor presents one of them after the provider, before
    /// any session exists, when the user has one; with `require_mfa` (or the tenant's
    /// `local_accounts` `require_mfa`), a user without one enrols one then. A route's step-up
    /// sends its sessions to Portcullis's second-factor page, not back to the provider. Needs
    /// `local_accounts` and the provider's `directory`. Off by default.
    #[serde(default)]
    pub local_factors: bool,
}

impl AuthenticationTrust {
    /// Whether it takes any of the provider's word (`trust_amr`, `acr`, `step_up_acr_values`),
    /// which only an OIDC provider gives; `require_mfa` and `local_factors` need none.
    pub fn believes_provider(&self) -> bool {
        self.trust_amr || !self.acr.is_empty() || self.step_up_acr_values != StepUpAcrValues::default()
    }

    /// Whether a sign-in that `vouched` for these methods still owes one of Portcullis's own
    /// second factors: with `local_factors`, when no believed method is a second factor.
    pub fn owes_local_factor(&self, vouched: &[String]) -> bool {
        self.local_factors && !Method::Any.shown_by(vouched)
    }

    /// What a session of this provider records of `said`: the [`vouched_amr`](Self::vouched_amr),
    /// the `acr` when it is believed (`trust_amr`, or an `acr` in the map), and `auth_time`
    /// (freshness, which `max_age` asks of every provider).
    pub fn vouched(&self, said: &Authentication) -> Authentication {
        Authentication {
            amr: self.vouched_amr(said),
            acr: said.acr.clone().filter(|acr| self.trust_amr || self.acr.contains_key(acr)),
            auth_time_s: said.auth_time_s,
        }
    }

    /// The `amr` a session of this provider records: the ID token's when trusted, and the methods
    /// its `acr` vouches for; each once.
    pub fn vouched_amr(&self, said: &Authentication) -> Vec<String> {
        let mut amr: Vec<String> = if self.trust_amr { said.amr.clone() } else { Vec::new() };
        let vouched = said.acr.as_ref().and_then(|acr| self.acr.get(acr)).into_iter().flatten();
        for method in vouched {
            if !amr.contains(method) {
                amr.push(method.clone());
            }
        }
        amr
    }

    /// What is wrong with it, as (path, message) pairs under `path`.
    pub fn problems(&self, path: &str) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (acr, methods) in &self.acr {
            if acr.is_empty() || acr.len() > 256 {
                problems.push((format!("{path}.acr"), "acr values are 1 to 256 characters".into()));
            }
            if methods.is_empty() || !methods.iter().all(|m| is_method(m)) {
                problems
                    .push((format!("{path}.acr.{acr}"), "a list of amr methods (RFC 8176), such as [\"mfa\"]".into()));
            }
        }
        let any_vouched = self.acr.values().any(|methods| Method::Any.shown_by(methods));
        if self.require_mfa && !self.trust_amr && !any_vouched && !self.local_factors {
            problems.push((
                format!("{path}.require_mfa"),
                "needs trust_amr, an acr that vouches for a second factor, or local_factors: otherwise nobody signs in"
                    .into(),
            ));
        }
        let values = &self.step_up_acr_values;
        let slots = [
            ("any", Method::Any, &values.any),
            ("otp", Method::Otp, &values.otp),
            ("webauthn", Method::Webauthn, &values.webauthn),
        ];
        for (name, method, value) in slots {
            let Some(value) = value else { continue };
            let field = format!("{path}.step_up_acr_values.{name}");
            if value.is_empty() || value.len() > 256 || value.contains(' ') {
                problems.push((field, "one acr value: 1 to 256 characters, no spaces".into()));
                continue;
            }
            // Asking for an acr that would not be believed to meet the method only sends the
            // browser round again (with trust_amr, the amr is judged at the callback instead).
            let vouched = self.acr.get(value).map_or(&[][..], Vec::as_slice);
            if !self.trust_amr && !method.shown_by(vouched) {
                problems.push((field, format!("{value:?} must be in acr, vouching for a method that meets {name}")));
            }
        }
        problems
    }
}

/// An `amr` value: a short token (RFC 8176's are 2 to 5 letters).
fn is_method(text: &str) -> bool {
    !text.is_empty() && text.len() <= 32 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_provider_is_believed_only_as_far_as_configured() {
        let said = Authentication {
            amr: vec!["pwd".into(), "mfa".into()],
            acr: Some("urn:corp:mfa".into()),
            auth_time_s: Some(1),
        };
        assert_eq!(AuthenticationTrust::default().vouched_amr(&said), Vec::<String>::new(), "nothing by default");
        let amr_only = AuthenticationTrust { trust_amr: true, ..AuthenticationTrust::default() };
        assert_eq!(amr_only.vouched_amr(&said), ["pwd", "mfa"]);
        let by_acr: AuthenticationTrust = serde_json::from_value(
            json!({ "acr": { "urn:corp:mfa": ["mfa", "otp"], "urn:corp:phr": ["hwk", "mfa"] } }),
        )
        .unwrap();
        assert_eq!(by_acr.vouched_amr(&said), ["mfa", "otp"]);
        let other_acr = Authentication { acr: Some("urn:corp:pwd".into()), ..said.clone() };
        assert_eq!(by_acr.vouched_amr(&other_acr), Vec::<String>::new(), "an acr not in the map vouches for nothing");
        let both = AuthenticationTrust { trust_amr: true, ..by_acr };
        assert_eq!(both.vouched_amr(&said), ["pwd", "mfa", "otp"], "each once");
        let unbelieved = AuthenticationTrust::default().vouched(&said);
        assert_eq!(
            (unbelieved.acr, unbelieved.auth_time_s),
            (None, Some(1)),
            "the acr of an unbelieved provider is dropped"
        );
        assert_eq!(both.vouched(&said).acr.as_deref(), Some("urn:corp:mfa"));
        assert!(both.problems("p").is_empty());
        let bad: AuthenticationTrust = serde_json::from_value(
            json!({ "acr": { "": ["mfa"], "urn:x": [], "urn:y": ["two words"], "urn:m": ["mfa"] },
                    "step_up_acr_values": { "otp": "a b", "webauthn": "urn:m", "any": "urn:unmapped" } }),
        )
        .unwrap();
        let problems: Vec<String> = bad.problems("p").into_iter().map(|(path, _)| path).collect();
        assert_eq!(
            problems,
            [
                "p.acr",
                "p.acr.urn:x",
                "p.acr.urn:y",
                "p.step_up_acr_values.any",
                "p.step_up_acr_values.otp",
                "p.step_up_acr_values.webauthn"
            ],
            "an acr that vouches for mfa only cannot meet webauthn; an unmapped one meets nothing"
        );
        assert!(serde_json::from_value::<AuthenticationTrust>(json!({ "trust_amr": true, "trust": 1 })).is_err());
        let values =
            StepUpAcrValues { webauthn: Some("phr".into()), any: Some("phr".into()), ..StepUpAcrValues::default() };
        assert_eq!(values.methods_for("phr"), [Method::Any, Method::Webauthn]);
        assert_eq!(values.for_method(Method::Webauthn), Some("phr"));
        assert_eq!(values.for_method(Method::Otp), None);
        assert!(values.contains("phr") && !values.contains("phrh"));
    }

    #[test]
    fn portcullis_factors_are_owed_only_when_on_and_no_believed_method_is_a_second_factor() {
        let local: AuthenticationTrust =
            serde_json::from_value(json!({ "local_factors": true, "require_mfa": true })).unwrap();
        assert!(local.problems("p").is_empty(), "require_mfa can be met by Portcullis's factors");
        assert!(!local.believes_provider(), "takes none of the provider's word: an oauth2 provider may have it");
        assert!(local.owes_local_factor(&[]) && local.owes_local_factor(&["pwd".into()]));
        for second in ["mfa", "otp", "hwk", "swk"] {
            assert!(!local.owes_local_factor(&["pwd".into(), second.into()]), "{second}");
        }
        assert!(!AuthenticationTrust::default().owes_local_factor(&[]), "off by default");
        let believing = AuthenticationTrust { trust_amr: true, ..AuthenticationTrust::default() };
        assert!(believing.believes_provider());
    }
}
