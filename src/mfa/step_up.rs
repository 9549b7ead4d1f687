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

/// The `amr` values that show a second factor (RFC 8176): a one-time code, a passkey or
/// security key, or `mfa` itself.
pub const SECOND_FACTOR_METHODS: [&str; 4] = ["otp", "swk", "hwk", "mfa"];

impl Method {
    /// Whether an `amr` list shows this factor.
    pub fn shown_by(self, amr: &[impl AsRef<str>]) -> bool {
        let shows = |wanted: &[&str]| amr.iter().any(|method| wanted.contains(&method.as_ref()));
        match self {
            Method::Webauthn => shows(&["hwk", "swk"]),
            Method::Otp => shows(&["otp"]),
            Method::Any => shows(&SECOND_FACTOR_METHODS),
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

/// A provider's `acr_values` for each step-up method of `routes[].mfa.methods`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpAcrValues {
    /// For `any`.
    pub any: Option<String>,
    /// For `otp`.
    pub otp: Option<String>,
    /// For `webauthn`.
    pub webauthn: Option<String>,
}

impl StepUpAcrValues {
    /// The value for a method, if the provider has one.
    pub fn for_method(&self, method: Method) -> Option<&str> {
        match method {
            Method::Any => self.any.as_deref(),
            Method::Otp => self.otp.as_deref(),
            Method::Webauthn => self.webauthn.as_deref(),
        }
    }

    /// Whether `value` is one of them (what a login start may pass on as `acr_values`).
    pub fn contains(&self, value: &str) -> bool {
        [&self.any, &self.otp, &self.webauthn].into_iter().flatten().any(|known| known == value)
    }

    /// The values to ask for a method: its own; for `any` without one, those of the factors
    /// that meet it.
    pub fn to_ask_for(&self, method: Method) -> Vec<&str> {
        match (method, self.for_method(method)) {
            (_, Some(value)) => vec![value],
            (Method::Any, None) => [&self.otp, &self.webauthn].into_iter().flatten().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The methods whose value `value` is (what a step-up that asked for it must then show).
    pub fn methods_for(&self, value: &str) -> Vec<Method> {
        [(Method::Any, &self.any), (Method::Otp, &self.otp), (Method::Webauthn, &self.webauthn)]
            .into_iter()
            .filter(|(_, known)| known.as_deref() == Some(value))
            .map(|(method, _)| method)
            .collect()
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

/// What a federated session's provider is asked for at a step-up (OIDC Core 3.1.2.1): `max_age`,
/// so that it authenticates the user again if its own sign-in is older, and `acr_values`, the
/// provider's names for the factors wanted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderAsk {
    /// `max_age`, in seconds.
    pub max_age_s: Option<u64>,
    /// `acr_values`, each one the provider's configured value.
    pub acr_values: Vec<String>,
}

impl ProviderAsk {
    /// Adds `value` to the `acr_values` asked for, once.
    pub fn ask_for(&mut self, value: &str) {
        if !self.acr_values.iter().any(|asked| asked == value) {
            self.acr_values.push(value.to_owned());
        }
    }

    /// What to ask the provider for, to meet `requirement` that a session fell short of; `None`
    /// when nothing the provider can be asked for would help (then a redirect would only loop).
    pub fn to_meet(requirement: &Requirement, shortfall: &Shortfall, values: &StepUpAcrValues) -> Option<Self> {
        let mut ask = Self { max_age_s: requirement.max_age_s, acr_values: Vec::new() };
        for value in requirement.methods.iter().flat_map(|method| values.to_ask_for(*method)) {
            ask.ask_for(value);
        }
        match shortfall {
            Shortfall::Method if ask.acr_values.is_empty() => None,
            Shortfall::Method | Shortfall::Stale => Some(ask),
        }
    }

    /// The query of a login start that asks it (`max_age`, `acr_values`).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(max_age) = self.max_age_s {
            pairs.push(("max_age", max_age.to_string()));
        }
        if !self.acr_values.is_empty() {
            pairs.push(("acr_values", self.acr_values.join(" ")));
        }
        pairs
    }

    /// Reads a login start's query: a `max_age` of 1 to 86400, and only the provider's own
    /// `acr_values` (anything else is dropped: a link cannot make the gateway send the provider
    /// parameters it was not configured with). `None` when it asks nothing.
    pub fn from_query(max_age: Option<&str>, acr_values: Option<&str>, values: &StepUpAcrValues) -> Option<Self> {
        // As a route's max_age_s: 1 to 86400 (0 would fail every callback after its first second).
        let max_age_s = max_age.and_then(|text| text.parse::<u64>().ok()).filter(|age| (1..=86_400).contains(age));
        let mut ask = Self { max_age_s, acr_values: Vec::new() };
        for value in acr_values.unwrap_or("").split(' ').filter(|value| values.contains(value)) {
            ask.ask_for(value);
        }
        (ask != Self::default()).then_some(ask)
    }
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

    #[test]
    fn a_provider_is_asked_only_for_what_could_help() {
        let values = StepUpAcrValues { webauthn: Some("urn:corp:phr".into()), ..Default::default() };
        let passkey = requirement(json!({ "required": true, "methods": ["webauthn", "otp"], "max_age_s": 300 }));
        let asked = ProviderAsk::to_meet(&passkey, &Shortfall::Method, &values).unwrap();
        assert_eq!(asked, ProviderAsk { max_age_s: Some(300), acr_values: vec!["urn:corp:phr".into()] });
        assert_eq!(asked.query_pairs(), [("max_age", "300".to_owned()), ("acr_values", "urn:corp:phr".to_owned())]);
        let otp = requirement(json!({ "required": true, "methods": ["otp"] }));
        assert_eq!(ProviderAsk::to_meet(&otp, &Shortfall::Method, &values), None, "no acr for otp: nothing to ask");
        let fresh_any = requirement(json!({ "required": true, "max_age_s": 60 }));
        assert_eq!(
            ProviderAsk::to_meet(&fresh_any, &Shortfall::Stale, &values),
            Some(ProviderAsk { max_age_s: Some(60), acr_values: vec!["urn:corp:phr".into()] }),
            "a stale sign-in is always worth a max_age (and `any` asks for the factors that meet it)"
        );
        assert_eq!(
            ProviderAsk::to_meet(&fresh_any, &Shortfall::Stale, &Default::default()),
            Some(ProviderAsk { max_age_s: Some(60), acr_values: vec![] }),
            "without acr values, a stale sign-in still gets max_age"
        );
        // A login start's query keeps only what the provider is configured with.
        let read = |max_age, acr| ProviderAsk::from_query(max_age, acr, &values);
        assert_eq!(read(Some("300"), Some("urn:corp:phr urn:evil urn:corp:phr")), Some(asked));
        assert_eq!(read(Some("86401"), Some("urn:evil")), None);
        assert_eq!(read(Some("-1"), None), None);
        assert_eq!(read(Some("0"), None), None, "0 is no route's max_age_s");
        assert_eq!(read(Some("1"), None), Some(ProviderAsk { max_age_s: Some(1), acr_values: vec![] }));
        // `any` falls back to the values of the factors that meet it.
        let any = requirement(json!({ "required": true }));
        let both = StepUpAcrValues { otp: Some("urn:otp".into()), ..values.clone() };
        assert_eq!(
            ProviderAsk::to_meet(&any, &Shortfall::Method, &both).map(|ask| ask.acr_values),
            Some(vec!["urn:otp".to_owned(), "urn:corp:phr".to_owned()])
        );
        assert_eq!(read(None, None), None);
    }
}
