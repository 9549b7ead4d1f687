//! Registered-claim checks (RFC 7519 §4.1) against an issuer's rules, with the time injected.

use super::error::JwtError;
use super::issuer::{ClaimNames, Issuer};
use crate::identity::MappedIdentity;
use serde_json::{Map, Value};

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(JwtError::Malformed),
        Some(_) => Err(JwtError::Malformed),
    }
}

/// Checks `iss`, `aud`, `exp`, `nbf`, `iat` and the issuer's required claims at time `now_s`.
pub fn check(issuer: &Issuer, claims: &Map<String, Value>, now_s: i64) -> Result<(), JwtError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
        return Err(JwtError::UnknownIssuer);
    }
    let now = now_s as f64;
    let leeway = issuer.leeway_s as f64;
    // RFC 7519 §4.1.4: the current time must be before exp. Tokens without exp are refused.
    let exp = numeric_date(claims, "exp")?.ok_or(JwtError::MissingClaim("exp".into()))?;
    if now >= exp + leeway {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now + leeway < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if iat > now + leeway {
            return Err(JwtError::IssuedInFuture);
        }
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => issuer.audiences.contains(aud),
        Some(Value::Array(auds)) => {
            auds.iter().all(Value::is_string)
                && auds.iter().filter_map(Value::as_str).any(|a| issuer.audiences.iter().any(|ok| ok == a))
        }
        _ => false,
    };
    if !audience_ok {
        return Err(JwtError::AudienceMismatch);
    }
    if let Some(missing) = issuer.required_claims.iter().find(|name| lookup(claims, name).is_none_or(Value::is_null)) {
        return Err(JwtError::MissingClaim(missing.clone()));
    }
    Ok(())
}

/// Looks a claim up by name, or by dotted path into nested objects (`realm_access.roles`).
pub fn lookup<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Maps claims to an identity. The subject must be a non-empty string.
pub fn map_identity(names: &ClaimNames, claims: &Map<String, Value>) -> Result<MappedIdentity, JwtError> {
    let subject = lookup(claims, &names.subject)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| JwtError::MissingClaim(names.subject.clone()))?;
    let scopes = match lookup(claims, &names.scopes) {
        Some(value) => string_list(Some(value)),
        None if names.scopes == "scope" => string_list(claims.get("scp")),
        None => Vec::new(),
    };
    let text = |name: &str| lookup(claims, name).and_then(Value::as_str).map(str::to_owned);
    Ok(MappedIdentity {
        subject: subject.to_owned(),
        email: text(&names.email),
        groups: string_list(lookup(claims, &names.groups)),
        scopes,
        tenant: text(&names.tenant),
    })
}
