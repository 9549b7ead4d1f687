//! The session authenticator's pure part: the principal a valid session record stands for.

use super::principal::{AuthMethod, Principal};
use crate::identity::MappedIdentity;
use crate::session::SessionRecord;
use serde_json::{json, Map, Value};

/// The principal for a session whose cookie opened its record and whose lifetimes, revocation
/// state and upstream grant were checked. `issuer` is the provider's (OIDC) issuer, if any.
pub fn principal(record: &SessionRecord, issuer: Option<String>) -> Principal {
    let identity = MappedIdentity {
        subject: record.subject.clone(),
        email: record.email.clone(),
        groups: record.groups.clone(),
        scopes: Vec::new(),
        tenant: record.tenant.clone(),
    };
    // Claim conditions on session routes see the profile under the usual claim names.
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(record.subject));
    claims.insert("provider".into(), json!(record.provider));
    let optional = [("email", &record.email), ("name", &record.name), ("tenant", &record.tenant)];
    for (name, value) in optional {
        if let Some(value) = value {
            claims.insert(name.into(), Value::String(value.clone()));
        }
    }
    claims.insert("groups".into(), json!(record.groups));
    Principal::new(identity, AuthMethod::Session, issuer).with_claims(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_principal_carries_the_profile() {
        let record = SessionRecord {
            subject: "u1".into(),
            email: Some("a@corp.test".into()),
            name: None,
            groups: vec!["eng".into()],
            tenant: Some("acme".into()),
            provider: "corp".into(),
            created_at_s: 0,
            created_at_ms: 0,
            last_seen_s: 0,
            expires_at_s: 10,
            tokens: None,
        };
        let principal = principal(&record, Some("https://idp.test".into()));
        assert_eq!(principal.method(), AuthMethod::Session);
        assert_eq!(principal.claims()["provider"], "corp");
        assert!(principal.claims().get("name").is_none());
        let headers = principal.identity_headers();
        assert!(headers.contains(&("x-auth-method".into(), "session".into())));
        assert!(headers.contains(&("x-auth-email".into(), "a@corp.test".into())));
    }
}
