//! Authorisation: what an authenticated principal may do on a route.
//!
//! A route's [`Requirements`] are checked in a fixed order, and the first failure is the reason:
//!
//! 1. the authenticator (`jwt`, `jwt:<issuer>`, `api_key`, `session`) is one the route accepts;
//! 2. the tenant binding: the `:param` path segment, or the first host label, equals the
//!    principal's tenant (BOLA and cross-tenant access are stopped at the edge);
//! 3. scopes (all, or any);
//! 4. roles (any, or all), where a principal holds a role when one of its groups maps to it, or
//!    a group is named like the role (RBAC, `roles` in the configuration);
//! 5. permissions, the union of the permissions of the principal's roles;
//! 6. claim conditions (`email_verified == true`, `amr` contains `mfa`).

use crate::authn::principal::{AuthMethod, Principal};
use crate::authn::select::Authenticator;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why an authenticated principal was refused. Each has its own stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzError {
    /// The route does not accept this kind of credential (or this issuer).
    AuthenticatorNotAllowed,
    /// The principal's tenant is not the one the request addresses.
    TenantMismatch,
    /// The principal lacks the route's scopes (RFC 6750 §3.1 `insufficient_scope`).
    InsufficientScope {
        /// The scopes the route requires, for the challenge.
        required: Vec<String>,
    },
    /// The principal lacks the route's roles.
    MissingRole,
    /// The principal's roles lack a permission the route requires.
    MissingPermission,
    /// A claim condition failed; the index of the condition.
    ClaimCondition(usize),
    /// The route needs a second factor, or a more recent authentication, than the principal's
    /// (RFC 9470); the challenge to send.
    StepUpRequired {
        /// The `WWW-Authenticate` value.
        challenge: String,
        /// What was short (which a page load's step-up asks for).
        shortfall: crate::mfa::step_up::Shortfall,
    },
}

impl AuthzError {
    /// The stable reason code sent to the client.
    pub fn code(&self) -> &'static str {
        match self {
            AuthzError::AuthenticatorNotAllowed => "authenticator_not_allowed",
            AuthzError::TenantMismatch => "tenant_mismatch",
            AuthzError::InsufficientScope { .. } => "insufficient_scope",
            AuthzError::MissingRole => "missing_role",
            AuthzError::MissingPermission => "missing_permission",
            AuthzError::ClaimCondition(_) => "claim_condition_failed",
            AuthzError::StepUpRequired { .. } => "insufficient_user_authentication",
        }
    }
}

impl fmt::Display for AuthzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthzError::InsufficientScope { required } => write!(f, "insufficient_scope: needs {}", required.join(" ")),
            AuthzError::ClaimCondition(index) => write!(f, "claim_condition_failed: claims[{index}]"),
            AuthzError::StepUpRequired { challenge, .. } => {
                write!(f, "insufficient_user_authentication: {challenge}")
            }
            other => f.write_str(other.code()),
        }
    }
}

/// Whether a verified principal came through an authenticator the route accepts (checked again
/// after verification: a `jwt:<issuer>` entry takes only that issuer's tokens).
fn accepts(authenticator: &Authenticator, principal: &Principal) -> bool {
    match (authenticator, principal.method()) {
        (Authenticator::Jwt(None), AuthMethod::Jwt) => true,
        (Authenticator::Jwt(Some(issuer)), AuthMethod::Jwt) => principal.issuer() == Some(issuer.as_str()),
        (Authenticator::ApiKey, AuthMethod::ApiKey) => true,
        (Authenticator::Session, AuthMethod::Session) => true,
        _ => false,
    }
}

/// Where the tenant a request addresses comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantBinding {
    /// A named path parameter, such as `:tenant` in `/tenants/:tenant/*`.
    PathParam(String),
    /// The first label of the host (`acme.example.com` addresses `acme`).
    Subdomain,
}

impl TenantBinding {
    /// Parses `path:<param>` or `subdomain`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "subdomain" => Ok(Self::Subdomain),
            _ => match text.strip_prefix("path:") {
                Some(param) if !param.is_empty() => Ok(Self::PathParam(param.to_owned())),
                _ => Err(format!("{text:?}: expected path:<param> or subdomain")),
            },
        }
    }
}

/// A condition on a claim of the principal's token.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCondition {
    /// The claim name, or a dotted path (`realm_access.roles`). Required, non-empty.
    pub claim: String,
    /// The claim must equal this JSON value exactly. Set exactly one of `equals` and `contains`.
    pub equals: Option<Value>,
    /// The claim (an array, or a space-separated string) must contain this value. Set exactly one of
    /// `equals` and `contains`.
    pub contains: Option<Value>,
}

impl ClaimCondition {
    /// Every problem with the condition.
    pub fn problems(&self) -> Vec<String> {
        match (&self.equals, &self.contains) {
            (Some(_), Some(_)) | (None, None) => vec!["set exactly one of equals and contains".into()],
            _ if self.claim.is_empty() => vec!["claim must not be empty".into()],
            _ => Vec::new(),
        }
    }

    fn holds(&self, principal: &Principal) -> bool {
        let Some(value) = crate::authn::jwt::claims::lookup(principal.claims(), &self.claim) else {
            return false;
        };
        match (&self.equals, &self.contains) {
            (Some(expected), _) => value == expected,
            (None, Some(item)) => match (value, item) {
                (Value::Array(items), _) => items.contains(item),
                (Value::String(text), Value::String(word)) => text.split_whitespace().any(|w| w == word),
                _ => false,
            },
            (None, None) => false,
        }
    }
}

/// All or any of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The names; empty means nothing is needed.
    pub names: Vec<String>,
    /// When true, any one suffices; otherwise all are needed.
    pub any: bool,
}

impl Needs {
    fn met_by(&self, held: &BTreeSet<&str>) -> bool {
        if self.names.is_empty() {
            return true;
        }
        let has = |name: &String| held.contains(name.as_str());
        if self.any {
            self.names.iter().any(has)
        } else {
            self.names.iter().all(has)
        }
    }
}

/// What a route requires of an authenticated principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Accepted credentials; empty accepts every configured authenticator.
    pub authenticators: Vec<Authenticator>,
    /// The tenant binding, if any.
    pub tenant: Option<TenantBinding>,
    /// Scopes (all by default).
    pub scopes: Needs,
    /// Roles (any by default).
    pub roles: Needs,
    /// Permissions, all needed.
    pub permissions: Vec<String>,
    /// Claim conditions, all needed.
    pub claims: Vec<ClaimCondition>,
    /// Step-up: the second factor the route needs, and how recent.
    pub mfa: Option<crate::mfa::step_up::Requirement>,
}

impl Requirements {
    /// Whether browser sessions may authenticate on the route.
    pub fn accepts_sessions(&self) -> bool {
        self.authenticators.is_empty() || self.authenticators.contains(&Authenticator::Session)
    }

    /// Whether the route requires anything beyond authentication.
    pub fn is_empty(&self) -> bool {
        self.authenticators.is_empty()
            && self.tenant.is_none()
            && self.scopes.names.is_empty()
            && self.roles.names.is_empty()
            && self.permissions.is_empty()
            && self.claims.is_empty()
            && self.mfa.is_none()
    }
}

/// A role: the permissions it grants and the IdP or API-key groups that confer it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDefinition {
    /// Permissions the role grants; none by default.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Groups whose members hold the role (a group with the role's own name confers it too); none by default.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Whether a tenant may grant the role: map its groups to it, and have its own IdP's users
    /// hold it. Off by default: a tenant's IdP can never confer a deployment's role.
    #[serde(default)]
    pub tenant_assignable: bool,
}

/// The role catalogue (RBAC).
pub type Roles = BTreeMap<String, RoleDefinition>;

/// What a successful authorisation established: the principal's effective roles and permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Roles held, sorted.
    pub roles: Vec<String>,
    /// Permissions held through those roles, sorted.
    pub permissions: Vec<String>,
}

/// The roles a principal holds: those whose groups it is in, those it is in by name, and those
/// its tenant's directory maps its groups to. Only roles of the catalogue are ever held: a tenant
/// maps its groups to the deployment's roles, it cannot invent one. A user of a tenant's
/// directory (whose groups its tenant's IdP asserts) holds only roles marked
/// `tenant_assignable`, however its groups are named.
pub fn effective_roles<'r>(roles: &'r Roles, principal: &Principal) -> BTreeSet<&'r str> {
    let groups = &principal.identity().groups;
    let granted = principal.directory_roles();
    let tenants_user = principal.user_id().is_some();
    roles
        .iter()
        .filter(|(_, role)| role.tenant_assignable || !tenants_user)
        .filter(|(name, role)| {
            groups.contains(name) || granted.contains(name) || role.groups.iter().any(|g| groups.contains(g))
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The request facts a tenant binding needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The host, lower case.
    pub host: &'a str,
    /// Named path parameters, decoded.
    pub params: &'a [(String, String)],
    /// Now, in seconds since the epoch (how recent an authentication is).
    pub now_s: i64,
}

/// Checks a principal against a route's requirements.
pub fn authorize(
    requirements: &Requirements,
    roles: &Roles,
    principal: &Principal,
    request: RequestFacts<'_>,
) -> Result<Grant, AuthzError> {
    if !requirements.authenticators.is_empty() && !requirements.authenticators.iter().any(|a| accepts(a, principal)) {
        return Err(AuthzError::AuthenticatorNotAllowed);
    }
    if let Some(binding) = &requirements.tenant {
        let addressed = match binding {
            TenantBinding::PathParam(name) => {
                request.params.iter().find(|(param, _)| param == name).map(|(_, value)| value.as_str())
            }
            TenantBinding::Subdomain => request.host.split('.').next().filter(|label| !label.is_empty()),
        };
        let own = principal.identity().tenant.as_deref();
        if addressed.is_none() || own.is_none() || addressed != own {
            return Err(AuthzError::TenantMismatch);
        }
    }
    let scopes: BTreeSet<&str> = principal.identity().scopes.iter().map(String::as_str).collect();
    if !requirements.scopes.met_by(&scopes) {
        return Err(AuthzError::InsufficientScope { required: requirements.scopes.names.clone() });
    }
    let held_roles = effective_roles(roles, principal);
    if !requirements.roles.met_by(&held_roles) {
        return Err(AuthzError::MissingRole);
    }
    let permissions: BTreeSet<&str> = held_roles
        .iter()
        .filter_map(|role| roles.get(*role))
        .flat_map(|role| role.permissions.iter().map(String::as_str))
        .collect();
    if !requirements.permissions.iter().all(|p| permissions.contains(p.as_str())) {
        return Err(AuthzError::MissingPermission);
    }
    if let Some(index) = requirements.claims.iter().position(|condition| !condition.holds(principal)) {
        return Err(AuthzError::ClaimCondition(index));
    }
    if let Some(mfa) = &requirements.mfa {
        if let Err(shortfall) = crate::mfa::step_up::check(mfa, principal.claims(), request.now_s) {
            let challenge = crate::mfa::step_up::challenge(mfa, &shortfall);
            return Err(AuthzError::StepUpRequired { challenge, shortfall });
        }
    }
    Ok(Grant {
        roles: held_roles.into_iter().map(str::to_owned).collect(),
        permissions: permissions.into_iter().map(str::to_owned).collect(),
    })
}
