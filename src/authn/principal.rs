//! The verified caller: who it is, how it authenticated, and the headers the origin gets.

use crate::http::headers::HeaderList;
use crate::identity::MappedIdentity;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A bearer JWT from a configured issuer.
    Jwt,
    /// An API key.
    ApiKey,
    /// A browser session.
    Session,
}

impl AuthMethod {
    /// The name used in headers, assertions and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
            Self::Session => "session",
        }
    }
}

/// A verified identity. Only authenticators construct one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    identity: MappedIdentity,
    method: AuthMethod,
    issuer: Option<String>,
    key_id: Option<String>,
    user_id: Option<String>,
    directory_roles: Vec<String>,
    tier: Option<String>,
    claims: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
    roles: Vec<String>,
    attributes: std::sync::Arc<std::collections::BTreeMap<String, Vec<String>>>,
}

/// Characters percent-encoded in identity header values: controls, non-ASCII (by the encoder),
/// `%` itself, and `,`, which separates list items.
const HEADER_VALUE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%').add(b',');

fn header_value(value: &str) -> String {
    utf8_percent_encode(value, HEADER_VALUE_ESCAPES).to_string()
}

impl Principal {
    /// Only authenticators call this.
    pub(in crate::authn) fn new(identity: MappedIdentity, method: AuthMethod, issuer: Option<String>) -> Self {
        Self {
            identity,
            method,
            issuer,
            key_id: None,
            user_id: None,
            directory_roles: Vec::new(),
            tier: None,
            claims: Default::default(),
            roles: Vec::new(),
            attributes: Default::default(),
        }
    }

    /// Keeps a session's custom attributes (its IdP's, as the provider's mapping names them);
    /// only the session authenticator calls this.
    pub(in crate::authn) fn with_attributes(
        mut self,
        attributes: std::collections::BTreeMap<String, Vec<String>>,
    ) -> Self {
        self.attributes = std::sync::Arc::new(attributes);
        self
    }

    /// The custom attributes for the origin (a session's, from its SAML provider's mapping).
    pub fn attributes(&self) -> &std::collections::BTreeMap<String, Vec<String>> {
        &self.attributes
    }

    /// Keeps the verified token's claims, for claim conditions; only authenticators call this.
    pub(in crate::authn) fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.claims = std::sync::Arc::new(claims);
        self
    }

    /// Records the roles authorisation found; only authorisation (in the worker shell) calls this.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn with_roles(mut self, roles: Vec<String>) -> Self {
        self.roles = roles;
        self
    }

    /// The verified token's claims (empty for API keys).
    pub fn claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }

    /// The effective roles, once authorised.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Adds the API key id and rate-limit tier; only the API key authenticator calls this.
    pub(in crate::authn) fn with_key(mut self, key_id: String, tier: Option<String>) -> Self {
        self.key_id = Some(key_id);
        self.tier = tier;
        self
    }

    /// Adds the directory id of the user and the roles its tenant's group mappings grant; only
    /// the session authenticator calls this.
    pub(in crate::authn) fn with_directory_user(mut self, user_id: Option<String>, roles: Vec<String>) -> Self {
        self.user_id = user_id;
        self.directory_roles = roles;
        self
    }

    /// The roles the directory's group mappings granted (authorisation honours only those in the
    /// role catalogue).
    pub fn directory_roles(&self) -> &[String] {
        &self.directory_roles
    }

    /// The user's directory id, when a directory provisioned the user.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// Sets the rate-limit tier; only authenticators call this.
    pub(in crate::authn) fn with_tier(mut self, tier: Option<String>) -> Self {
        self.tier = tier;
        self
    }

    /// The API key id, for API-key principals.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The rate-limit tier: the API key's, or the JWT's tier claim.
    pub fn tier(&self) -> Option<&str> {
        self.tier.as_deref()
    }

    /// The subject identifier.
    pub fn subject(&self) -> &str {
        &self.identity.subject
    }

    /// How the principal authenticated.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The token issuer, for JWTs.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The mapped identity (email, groups, scopes, tenant).
    pub fn identity(&self) -> &MappedIdentity {
        &self.identity
    }

    /// The identity headers the origin receives. Values are percent-encoded where they hold
    /// controls, non-ASCII, `%` or `,`; lists are comma-separated (groups) or space-separated
    /// (scopes, as in OAuth).
    pub fn identity_headers(&self) -> HeaderList {
        let id = &self.identity;
        let mut headers = vec![
            ("x-auth-subject".to_owned(), header_value(&id.subject)),
            ("x-auth-method".to_owned(), self.method.name().to_owned()),
        ];
        let mut optional = |name: &str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                headers.push((name.to_owned(), value));
            }
        };
        optional("x-auth-issuer", self.issuer.as_deref().map(header_value));
        optional("x-auth-email", id.email.as_deref().map(header_value));
        optional("x-auth-groups", Some(id.groups.iter().map(|g| header_value(g)).collect::<Vec<_>>().join(",")));
        optional(
            "x-auth-scopes",
            Some(id.scopes.iter().map(|s| header_value(s).replace(' ', "%20")).collect::<Vec<_>>().join(" ")),
        );
        optional("x-auth-tenant", id.tenant.as_deref().map(header_value));
        optional("x-auth-key-id", self.key_id.clone());
        optional("x-auth-user-id", self.user_id.as_deref().map(header_value));
        optional("x-auth-roles", Some(self.roles.iter().map(|r| header_value(r)).collect::<Vec<_>>().join(",")));
        // How the user authenticated (RFC 8176 `amr`) and when (`auth_time`), when known.
        let amr = self.claims.get("amr").and_then(serde_json::Value::as_array).map(|methods| {
            methods.iter().filter_map(serde_json::Value::as_str).map(header_value).collect::<Vec<_>>().join(",")
        });
        optional("x-auth-amr", amr);
        optional(
            "x-auth-time",
            self.claims.get("auth_time").and_then(serde_json::Value::as_i64).map(|t| t.to_string()),
        );
        // Custom attributes, each as `x-auth-attr-<name>` (names are checked when configured).
        for (name, values) in self.attributes.iter() {
            // Spaces too: a value's own leading or trailing space would not survive a header.
            let value = values.iter().map(|v| header_value(v).replace(' ', "%20")).collect::<Vec<_>>().join(",");
            optional(&format!("x-auth-attr-{}", name.replace('_', "-")), Some(value));
        }
        headers
    }
}

/// A principal made up for a simulation or a test, never by a request: the policy simulator
/// (`npm run policy`, feature `cli`) and unit tests decide routes for imagined callers.
#[cfg(any(test, feature = "cli"))]
pub fn imagined(
    identity: MappedIdentity,
    method: AuthMethod,
    issuer: Option<String>,
    claims: serde_json::Map<String, serde_json::Value>,
    key: Option<(String, Option<String>)>,
) -> Principal {
    let principal = Principal::new(identity, method, issuer).with_claims(claims);
    match key {
        Some((key_id, tier)) => principal.with_key(key_id, tier),
        None => principal,
    }
}

/// An imagined principal as a tenant's directory user with `roles` from its group mappings.
#[cfg(any(test, feature = "cli"))]
pub fn imagined_directory_user(principal: Principal, user_id: &str, roles: Vec<String>) -> Principal {
    principal.with_directory_user(Some(user_id.to_owned()), roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_are_header_safe() {
        let principal = Principal::new(
            MappedIdentity {
                subject: "user\r\nX-Injected: 1".into(),
                email: Some("zoë@example.com".into()),
                groups: vec!["admins".into(), "a,b".into()],
                scopes: vec!["read:x".into(), "write".into()],
                tenant: Some("acme".into()),
            },
            AuthMethod::Jwt,
            Some("https://idp.example.com/".into()),
        )
        .with_attributes(
            [("cost_center".to_owned(), vec!["R&D, west".to_owned(), "4711\r\nX-Evil: 1".to_owned()])]
                .into_iter()
                .collect(),
        );
        let headers = principal.identity_headers();
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("x-auth-subject"), Some("user%0D%0AX-Injected: 1"));
        assert_eq!(get("x-auth-email"), Some("zo%C3%AB@example.com"));
        assert_eq!(get("x-auth-groups"), Some("admins,a%2Cb"));
        assert_eq!(get("x-auth-scopes"), Some("read:x write"));
        assert_eq!(get("x-auth-tenant"), Some("acme"));
        assert_eq!(get("x-auth-method"), Some("jwt"));
        assert_eq!(get("x-auth-issuer"), Some("https://idp.example.com/"));
        assert_eq!(
            get("x-auth-attr-cost-center"),
            Some("R&D%2C%20west,4711%0D%0AX-Evil:%201"),
            "a custom attribute, encoded"
        );
        assert!(headers.iter().all(|(_, v)| v.bytes().all(|b| (0x20..0x7f).contains(&b))));
    }

    #[test]
    fn empty_optional_identity_is_not_sent() {
        let principal = Principal::new(
            MappedIdentity { subject: "s".into(), email: None, groups: vec![], scopes: vec![], tenant: None },
            AuthMethod::Jwt,
            None,
        );
        let names: Vec<String> = principal.identity_headers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["x-auth-subject", "x-auth-method"]);
    }
}
