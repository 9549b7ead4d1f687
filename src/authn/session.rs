//! The session authenticator's pure part: the checks a session record opened by its cookie must
//! pass, and the principal it then stands for.

use super::principal::{AuthMethod, Principal};
use crate::identity::MappedIdentity;
use crate::session::{SessionError, SessionRecord};
use serde_json::{json, Map, Value};

/// Proof that a session record passed its checks; only [`admit`] makes one, and only an
/// admitted record becomes a principal.
#[derive(Debug)]
pub struct Admitted {
    issuer: String,
}

/// Checks a record its cookie opened (and whose revocation state was checked), at `now_s`. The
/// idle timeout and the absolute lifetime come first; then `admission`, the login configuration's
/// say (a provider removed or a domain no longer allowed refuses), which names the issuer who
/// vouches for the subject.
pub fn admit(
    record: &SessionRecord,
    now_s: i64,
    idle_timeout_s: i64,
    admission: impl FnOnce(&SessionRecord) -> Result<String, SessionError>,
) -> Result<Admitted, SessionError> {
    record.check_lifetimes(now_s, idle_timeout_s)?;
    Ok(Admitted { issuer: admission(record)? })
}

impl Admitted {
    /// The principal the admitted session stands for, read from `record` as upkeep left it (a
    /// refresh or a touch changes its tokens and last use): the only way to one for a session.
    pub fn principal(self, record: &SessionRecord) -> Principal {
        principal(record, Some(self.issuer))
    }
}

/// The claim names a session principal carries: a claim condition on any other can never hold
/// for a session (the policy linter says so).
pub const SESSION_CLAIMS: &[&str] =
    &["sub", "provider", "email", "name", "tenant", "groups", "amr", "acr", "auth_time"];

fn principal(record: &SessionRecord, issuer: Option<String>) -> Principal {
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
    // A federated record from before its provider's word was vouched for carries its IdP's
    // `amr`/`acr` taken whole: they count for nothing (a password session's are its own).
    let believed = record.authentication_vouched || record.provider == crate::session::PASSWORD_PROVIDER;
    if !record.amr.is_empty() && believed {
        claims.insert("amr".into(), json!(record.amr));
    }
    if let Some(acr) = record.acr.as_ref().filter(|_| believed) {
        claims.insert("acr".into(), json!(acr));
    }
    // Unknown (0: the IdP did not say, or the record is older than the field): no claim, which no
    // `max_age` accepts.
    if record.auth_time_s > 0 {
        claims.insert("auth_time".into(), json!(record.auth_time_s));
    }
    Principal::new(identity, AuthMethod::Session, issuer)
        .with_claims(claims)
        .with_directory_user(record.user_id.clone(), record.directory_roles.clone())
        .with_attributes(record.attributes.clone())
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
            user_id: None,
            directory_roles: Vec::new(),
            connection_issuer: None,
            amr: Vec::new(),
            acr: None,
            auth_time_s: 0,
            authentication_vouched: false,
            saml: None,
            attributes: Default::default(),
        };
        let admit = |_: &SessionRecord| -> Result<String, SessionError> { Ok("https://idp.test".to_owned()) };
        let verify = |now_s, admission: &dyn Fn(&SessionRecord) -> Result<String, SessionError>| {
            super::admit(&record, now_s, 100, admission).map(|admitted| admitted.principal(&record))
        };
        assert_eq!(verify(10, &admit).err(), Some(SessionError::Expired));
        assert_eq!(verify(9, &|_| Err(SessionError::Revoked)).err(), Some(SessionError::Revoked));
        // Lifetimes come first: an expired session of a removed provider is expired.
        assert_eq!(verify(10, &|_| Err(SessionError::Revoked)).err(), Some(SessionError::Expired));
        let principal = verify(9, &admit).expect("a live session");
        assert_eq!(principal.issuer(), Some("https://idp.test"));
        assert_eq!(principal.method(), AuthMethod::Session);
        assert_eq!(principal.claims()["provider"], "corp");
        assert!(principal.claims().get("name").is_none());
        let full = SessionRecord {
            name: Some("Ann".into()),
            amr: vec!["pwd".into()],
            acr: Some("silver".into()),
            auth_time_s: 5,
            authentication_vouched: true,
            ..record.clone()
        };
        let every = super::principal(&full, None);
        let names: Vec<&str> = every.claims().keys().map(String::as_str).collect();
        assert!(names.iter().all(|name| SESSION_CLAIMS.contains(name)), "SESSION_CLAIMS lists {names:?}");
        assert_eq!(names.len(), SESSION_CLAIMS.len(), "and only those");
        assert!(principal.claims().get("auth_time").is_none(), "an unknown auth_time is no claim");
        let headers = principal.identity_headers();
        assert!(headers.contains(&("x-auth-method".into(), "session".into())));
        // How and when the user authenticated reach the origin, when known.
        assert!(!headers.iter().any(|(n, _)| n == "x-auth-time"));
        let strong = super::principal(&full, None).identity_headers();
        assert!(strong.contains(&("x-auth-amr".into(), "pwd".into())), "{strong:?}");
        assert!(strong.contains(&("x-auth-time".into(), "5".into())), "{strong:?}");
        assert!(headers.contains(&("x-auth-email".into(), "a@corp.test".into())));
        // A federated record from before `authentication`: its IdP's amr and acr count for nothing.
        let unvouched = super::principal(&SessionRecord { authentication_vouched: false, ..full.clone() }, None);
        assert!(unvouched.claims().get("amr").is_none() && unvouched.claims().get("acr").is_none());
        assert_eq!(unvouched.claims()["auth_time"], 5);
        let password = SessionRecord { provider: crate::session::PASSWORD_PROVIDER.into(), ..full.clone() };
        let own = super::principal(&SessionRecord { authentication_vouched: false, ..password }, None);
        assert_eq!(own.claims()["amr"], json!(["pwd"]), "a password session's amr is its own");
    }
}
