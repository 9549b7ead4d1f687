//! What a provider says about the user: token responses (RFC 6749 §5), the profile read through
//! the provider's claim mapping, and GitHub-style verified emails.

use super::provider::ProfileClaims;
use crate::authn::jwt::claims::lookup;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// A successful token response (RFC 6749 §5.1; OIDC Core 3.1.3.3).
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Its type; `Bearer` (any case) is the only one used.
    #[serde(default)]
    pub token_type: String,
    /// Its lifetime in seconds, if given.
    pub expires_in: Option<i64>,
    /// A refresh token, if the provider issued one.
    pub refresh_token: Option<String>,
    /// The ID token (OIDC).
    pub id_token: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenResponse([redacted])")
    }
}

/// Why a token endpoint answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// An OAuth error response (`invalid_grant`, GitHub's `bad_verification_code`, ...).
    Refused(String),
    /// Not a token response.
    Malformed,
}

/// Parses a token endpoint's JSON body. GitHub answers errors with status 200, so the body
/// decides, not the status.
pub fn parse_token_response(body: &[u8]) -> Result<TokenResponse, TokenError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| TokenError::Malformed)?;
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return Err(TokenError::Refused(error.chars().take(64).collect()));
    }
    let response: TokenResponse = serde_json::from_value(value).map_err(|_| TokenError::Malformed)?;
    if response.access_token.is_empty() || !response.token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Malformed);
    }
    Ok(response)
}

/// The user, as a provider describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The provider's stable subject.
    pub subject: String,
    /// A verified email, lower-cased.
    pub email: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// The tenant.
    pub tenant: Option<String>,
    /// How the IdP says the user authenticated (OIDC Core §2: `amr`, `acr`, `auth_time`), from
    /// its verified ID token only; empty for a plain OAuth 2.0 provider.
    pub authentication: Authentication,
    /// Custom attributes for the origin (a SAML provider's `attributes.custom`): name → values.
    pub attributes: std::collections::BTreeMap<String, Vec<String>>,
}

pub use super::authentication::Authentication;

/// Why a profile could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// No usable subject.
    MissingSubject,
    /// The userinfo `sub` is not the ID token's (OIDC Core 5.3.4: a substituted response).
    SubjectMismatch,
}

fn text(claims: &Map<String, Value>, path: &str) -> Option<String> {
    lookup(claims, path).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads a profile through the provider's claim mapping. An email counts only when the
/// `email_verified` claim (if mapped) is `true`.
pub fn profile_from_claims(claims: &Map<String, Value>, mapping: &ProfileClaims) -> Result<Profile, ProfileError> {
    let subject = match lookup(claims, &mapping.subject) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ProfileError::MissingSubject),
    };
    let verified = match &mapping.email_verified {
        None => true,
        Some(path) => matches!(lookup(claims, path), Some(Value::Bool(true))),
    };
    let email = text(claims, &mapping.email).filter(|_| verified).map(|e| e.to_ascii_lowercase());
    let groups = match lookup(claims, &mapping.groups) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    Ok(Profile {
        subject,
        email,
        name: text(claims, &mapping.name),
        groups,
        tenant: text(claims, &mapping.tenant),
        // Set by the flow, from the verified ID token only.
        authentication: Authentication::default(),
        attributes: Default::default(),
    })
}

/// Merges userinfo claims into the ID token's (OIDC Core 5.3.2): the userinfo `sub` must be the
/// ID token's; the ID token's own values win.
pub fn merge_userinfo(
    id_token: &Map<String, Value>,
    userinfo: &Map<String, Value>,
) -> Result<Map<String, Value>, ProfileError> {
    if userinfo.get("sub") != id_token.get("sub") {
        return Err(ProfileError::SubjectMismatch);
    }
    let mut merged = userinfo.clone();
    for (key, value) in id_token {
        merged.insert(key.clone(), value.clone());
    }
    Ok(merged)
}

/// The primary, verified address from a GitHub-style emails list.
pub fn primary_verified_email(list: &Value) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|entry| {
            entry.get("primary") == Some(&Value::Bool(true)) && entry.get("verified") == Some(&Value::Bool(true))
        })
        .and_then(|entry| entry.get("email"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oidc_mapping() -> ProfileClaims {
        ProfileClaims {
            subject: "sub".into(),
            email: "email".into(),
            email_verified: Some("email_verified".into()),
            name: "name".into(),
            groups: "groups".into(),
            tenant: "tenant".into(),
        }
    }

    #[test]
    fn token_responses_table() {
        let cases: &[(&str, Result<(), TokenError>)] = &[
            (r#"{"access_token":"a","token_type":"Bearer","expires_in":60}"#, Ok(())),
            (r#"{"access_token":"a","token_type":"bearer","scope":"read:user"}"#, Ok(())),
            (
                r#"{"error":"bad_verification_code","error_description":"x"}"#,
                Err(TokenError::Refused("bad_verification_code".into())),
            ),
            (r#"{"access_token":"a","token_type":"mac"}"#, Err(TokenError::Malformed)),
            (r#"{"access_token":"","token_type":"Bearer"}"#, Err(TokenError::Malformed)),
            (r#"{"token_type":"Bearer"}"#, Err(TokenError::Malformed)),
            ("<html>", Err(TokenError::Malformed)),
        ];
        for (body, expected) in cases {
            assert_eq!(parse_token_response(body.as_bytes()).map(|_| ()), *expected, "{body}");
        }
        let parsed = parse_token_response(br#"{"access_token":"secret","token_type":"Bearer"}"#).unwrap();
        assert_eq!(format!("{parsed:?}"), "TokenResponse([redacted])");
    }

    #[test]
    fn profiles_read_through_the_mapping() {
        let claims = json!({ "sub": "u1", "email": "Alice@Corp.test", "email_verified": true, "name": "Alice",
                             "groups": ["eng", 7, "ops"], "tenant": "acme" });
        let profile = profile_from_claims(claims.as_object().unwrap(), &oidc_mapping()).unwrap();
        assert_eq!(
            profile,
            Profile {
                subject: "u1".into(),
                email: Some("alice@corp.test".into()),
                name: Some("Alice".into()),
                groups: vec!["eng".into(), "ops".into()],
                tenant: Some("acme".into()),
                authentication: Authentication::default(),
                attributes: Default::default(),
            }
        );
        let strong = json!({ "sub": "u1", "amr": ["pwd", "otp", 7, "x y"], "acr": "urn:mace:incommon:iap:silver",
                             "auth_time": 1_700_000_000 });
        // A profile never takes them from its claims (userinfo may merge in): the flow sets them
        // from the verified ID token.
        assert_eq!(
            profile_from_claims(strong.as_object().unwrap(), &oidc_mapping()).unwrap().authentication,
            Authentication::default()
        );
        let said = Authentication::from_claims(strong.as_object().unwrap());
        assert_eq!(said.amr, vec!["pwd".to_owned(), "otp".to_owned()]);
        assert_eq!(said.acr.as_deref(), Some("urn:mace:incommon:iap:silver"));
        assert_eq!(said.auth_time_s, Some(1_700_000_000));
        let odd = json!({ "sub": "u1", "amr": "pwd", "acr": 3, "auth_time": "soon" });
        assert_eq!(Authentication::from_claims(odd.as_object().unwrap()), Authentication::default());
        let unverified = json!({ "sub": "u1", "email": "a@corp.test", "email_verified": false });
        assert_eq!(profile_from_claims(unverified.as_object().unwrap(), &oidc_mapping()).unwrap().email, None);
        let unstated = json!({ "sub": "u1", "email": "a@corp.test", "email_verified": "true" });
        assert_eq!(profile_from_claims(unstated.as_object().unwrap(), &oidc_mapping()).unwrap().email, None);
        let github = ProfileClaims { subject: "id".into(), email_verified: None, ..oidc_mapping() };
        let numeric = json!({ "id": 583231, "login": "octocat", "email": null });
        let profile = profile_from_claims(numeric.as_object().unwrap(), &github).unwrap();
        assert_eq!((profile.subject.as_str(), profile.email), ("583231", None));
        for bad in [json!({}), json!({ "sub": "" }), json!({ "sub": ["x"] })] {
            assert_eq!(
                profile_from_claims(bad.as_object().unwrap(), &oidc_mapping()),
                Err(ProfileError::MissingSubject),
                "{bad}"
            );
        }
    }

    #[test]
    fn userinfo_merges_only_for_the_same_subject() {
        let id_token = json!({ "sub": "u1", "nonce": "n" });
        let userinfo = json!({ "sub": "u1", "email": "a@b.test", "nonce": "forged" });
        let merged = merge_userinfo(id_token.as_object().unwrap(), userinfo.as_object().unwrap()).unwrap();
        assert_eq!((merged["email"].clone(), merged["nonce"].clone()), (json!("a@b.test"), json!("n")));
        let other = json!({ "sub": "u2", "email": "a@b.test" });
        assert_eq!(
            merge_userinfo(id_token.as_object().unwrap(), other.as_object().unwrap()),
            Err(ProfileError::SubjectMismatch)
        );
    }

    #[test]
    fn only_a_primary_verified_email_counts() {
        let cases = [
            (json!([{ "email": "A@x.test", "primary": true, "verified": true }]), Some("a@x.test")),
            (
                json!([{ "email": "old@x.test", "primary": false, "verified": true },
                       { "email": "new@x.test", "primary": true, "verified": true }]),
                Some("new@x.test"),
            ),
            (json!([{ "email": "a@x.test", "primary": true, "verified": false }]), None),
            (json!([{ "email": "a@x.test", "primary": false, "verified": true }]), None),
            (json!({ "message": "Bad credentials" }), None),
        ];
        for (list, expected) in cases {
            assert_eq!(primary_verified_email(&list).as_deref(), expected, "{list}");
        }
    }
}

#[cfg(test)]
mod generative {
    use super::*;
    use crate::testing::any_json;
    use proptest::prelude::*;

    const FIELDS: &[&str] =
        &["access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope", "error"];

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn arbitrary_token_responses_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), value in any_json(FIELDS)) {
                let _ = parse_token_response(&bytes);
                let _ = parse_token_response(value.to_string().as_bytes());
            }
        }
}
