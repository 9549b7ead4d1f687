//! Step-up per route: "this path needs a passkey used in the last 5 minutes". A route's
//! requirement is checked against how and when the principal authenticated (its `amr` and
//! `auth_time`); a shortfall is answered with RFC 9470's challenge for API calls, or by sending a
//! page load to the step-up page. The decision is pure: the clock comes in as an argument.

use serde::Deserialize;
use serde_json::Value;

/// A factor a route may ask for, as RFC 8176 method references name them.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A passkey or security key (`hwk` or `swk`, WebAuthn).
    Webauthn,
    /// A one-time code (`otp`: TOTP).
    Otp,
    /// Any second factor (`mfa`).
    Any,
}

impl Method {
    /// Whether an `amr` list shows this factor.
    fn shown_by(self, amr: &[&str]) -> bool {
        match self {
            Method::Webauthn => amr.iter().any(|m| matches!(*m, "hwk" | "swk")),
            Method::Otp => amr.contains(&"otp"),
            Method::Any => amr.iter().any(|m| matches!(*m, "mfa" | "otp" | "hwk" | "swk")),
        }
    }

    /// The name used in `acr_values` of the challenge.
    fn acr_name(self) -> &'static str {
        match self {
            Method::Webauthn => "phr",
            Method::Otp => "otp",
            Method::Any => "mfa",
        }
    }
}

/// A route's MFA requirement (`routes[].mfa`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Require a second factor on this route. Required.
    pub required: bool,
    /// Which factors count (any of them); default `["any"]`.
    #[serde(default = "any_method")]
    pub methods: Vec<Method>,
    /// How recently the user must have authenticated, in seconds (1 to 86400); none by default.
    pub max_age_s: Option<u64>,
}

fn any_method() -> Vec<Method> {
    vec![Method::Any]
}

/// Why a principal falls short of a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// None of the wanted factors was used.
    Method,
    /// It was, but longer ago than `max_age_s` (or when is unknown).
    Stale,
}

/// Whether a principal with these claims meets the requirement at `now_s`.
pub fn check(requirement: &Requirement, claims: &serde_json::Map<String, Value>, now_s: i64) -> Result<(), Shortfall> {
    if !requirement.required {
        return Ok(());
    }
    let amr: Vec<&str> = claims
        .get("amr")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |methods| methods.iter().filter_map(Value::as_str).collect());
    if !requirement.methods.iter().any(|method| method.shown_by(&amr)) {
        return Err(Shortfall::Method);
    }
    if let Some(max_age) = requirement.max_age_s {
        let auth_time = claims.get("auth_time").and_then(Value::as_i64);
        let fresh =
            auth_time.is_some_and(|t| now_s.checked_sub(t).is_some_and(|age| (0..=max_age as i64).contains(&age)));
        if !fresh {
            return Err(Shortfall::Stale);
        }
    }
    Ok(())
}

/// The `WWW-Authenticate` challenge of RFC 9470 §3 for an API call that falls short.
pub fn challenge(requirement: &Requirement, shortfall: &Shortfall) -> String {
    let acr_values: Vec<&str> = requirement.methods.iter().map(|m| m.acr_name()).collect();
    let description = match shortfall {
        Shortfall::Method => "a stronger authentication is required",
        Shortfall::Stale => "a more recent authentication is required",
    };
    let mut value = format!(
        "Bearer error=\"insufficient_user_authentication\", error_description=\"{description}\", acr_values=\"{}\"",
        acr_values.join(" ")
    );
    if let Some(max_age) = requirement.max_age_s {
        value.push_str(&format!(", max_age={max_age}"));
    }
    value
}

/// What is wrong with a requirement, as (field, message) pairs.
pub fn problems(requirement: &Requirement) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if requirement.methods.is_empty() {
        problems.push(("methods".into(), "name at least one method".into()));
    }
    if requirement.max_age_s.is_some_and(|age| !(1..=86_400).contains(&age)) {
        problems.push(("max_age_s".into(), "between 1 and 86400 seconds".into()));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn requirement(value: serde_json::Value) -> Requirement {
        serde_json::from_value(value).expect("a requirement")
    }

    #[test]
    fn step_up_decisions() {
        let now = 10_000;
        let passkey_5_min = requirement(json!({ "required": true, "methods": ["webauthn"], "max_age_s": 300 }));
        let any = requirement(json!({ "required": true }));
        let claims = |amr: serde_json::Value, auth_time: Option<i64>| {
            let mut map = serde_json::Map::new();
            map.insert("amr".into(), amr);
            if let Some(t) = auth_time {
                map.insert("auth_time".into(), json!(t));
            }
            map
        };
        let cases: &[(&Requirement, serde_json::Map<String, Value>, Result<(), Shortfall>)] = &[
            (&passkey_5_min, claims(json!(["pwd", "hwk", "mfa"]), Some(now - 60)), Ok(())),
            (&passkey_5_min, claims(json!(["swk"]), Some(now - 300)), Ok(())),
            // Stale auth_time.
            (&passkey_5_min, claims(json!(["hwk"]), Some(now - 301)), Err(Shortfall::Stale)),
            (&passkey_5_min, claims(json!(["hwk"]), None), Err(Shortfall::Stale)),
            (&passkey_5_min, claims(json!(["hwk"]), Some(now + 60)), Err(Shortfall::Stale)),
            (&passkey_5_min, claims(json!(["hwk"]), Some(i64::MIN)), Err(Shortfall::Stale)),
            (&passkey_5_min, claims(json!(["hwk"]), Some(0)), Err(Shortfall::Stale)),
            // The wrong method.
            (&passkey_5_min, claims(json!(["pwd", "otp", "mfa"]), Some(now)), Err(Shortfall::Method)),
            (&passkey_5_min, claims(json!("hwk"), Some(now)), Err(Shortfall::Method)),
            (&any, claims(json!(["pwd", "otp"]), None), Ok(())),
            (&any, claims(json!(["pwd"]), Some(now)), Err(Shortfall::Method)),
            (&requirement(json!({ "required": false })), claims(json!([]), None), Ok(())),
        ];
        for (requirement, claims, expected) in cases {
            assert_eq!(&check(requirement, claims, now), expected, "{requirement:?} {claims:?}");
        }
    }

    #[test]
    fn the_api_challenge_is_rfc_9470s() {
        let passkey = requirement(json!({ "required": true, "methods": ["webauthn"], "max_age_s": 300 }));
        assert_eq!(
            challenge(&passkey, &Shortfall::Stale),
            "Bearer error=\"insufficient_user_authentication\", error_description=\"a more recent authentication \
             is required\", acr_values=\"phr\", max_age=300"
        );
        let any = requirement(json!({ "required": true, "methods": ["otp", "webauthn"] }));
        assert!(challenge(&any, &Shortfall::Method).ends_with("acr_values=\"otp phr\""));
        assert_eq!(problems(&requirement(json!({ "required": true, "methods": [], "max_age_s": 0 }))).len(), 2);
        assert!(serde_json::from_value::<Requirement>(json!({ "required": true, "methods": ["sms"] })).is_err());
    }
}
