//! The policy checker's core: what the gateway would decide for a request and a principal,
//! computed by the same functions the worker runs (route matching, edge guard, authorisation).

use crate::authn::principal::{imagined, imagined_directory_user, AuthMethod, Principal};
use crate::authn::AuthnError;
use crate::authz::{authorize, RequestFacts};
use crate::config::Config;
use crate::error::Failure;
use crate::http::RequestHead;
use crate::identity::MappedIdentity;
use crate::pipeline::{admit, Admission};
use crate::policy::routes::Policy;
use serde::{Deserialize, Serialize};

/// A principal to simulate, as JSON: `{"method": "jwt", "subject": "...", ...}`. Without
/// `method` the request is anonymous.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalSpec {
    /// `jwt`, `api_key` or `session`; absent for an anonymous request.
    pub method: Option<String>,
    /// The subject.
    #[serde(default)]
    pub subject: String,
    /// The JWT issuer.
    pub issuer: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// API key id.
    pub key_id: Option<String>,
    /// Token claims, for claim conditions.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The directory id, for a session of a tenant's directory user.
    pub user_id: Option<String>,
    /// The roles the tenant's group mappings granted that user.
    #[serde(default)]
    pub directory_roles: Vec<String>,
}

/// What the gateway would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The HTTP status (200 standing for "forwarded to the origin").
    pub status: u16,
    /// The stable code of a refusal, or the policy that allowed.
    pub code: String,
    /// The id of the route that decided, if one matched.
    pub route: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// Effective roles, when allowed with a principal.
    pub roles: Vec<String>,
}

fn principal(spec: &PrincipalSpec) -> Result<Option<Principal>, String> {
    let method = match spec.method.as_deref() {
        None => return Ok(None),
        Some("jwt") => AuthMethod::Jwt,
        Some("api_key") => AuthMethod::ApiKey,
        Some("session") => AuthMethod::Session,
        Some(other) => return Err(format!("unknown method {other:?}: expected jwt, api_key or session")),
    };
    let identity = MappedIdentity {
        subject: spec.subject.clone(),
        email: spec.email.clone(),
        groups: spec.groups.clone(),
        scopes: spec.scopes.clone(),
        tenant: spec.tenant.clone(),
    };
    let key = spec.key_id.clone().map(|key_id| (key_id, None));
    let principal = imagined(identity, method, spec.issuer.clone(), spec.claims.clone(), key);
    Ok(Some(match &spec.user_id {
        Some(user_id) => imagined_directory_user(principal, user_id, spec.directory_roles.clone()),
        None => principal,
    }))
}

fn refused(failure: &Failure, route: Option<String>, reason: String) -> Verdict {
    let reply = failure.reply();
    Verdict { decision: "deny", status: reply.status, code: reply.code.to_owned(), route, reason, roles: Vec::new() }
}

/// Decides a request `METHOD URL` for a principal, as the worker would (minus credentials
/// verification and rate limits, which need the runtime).
pub fn simulate(
    config: &Config,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    spec: &PrincipalSpec,
) -> Result<Verdict, String> {
    let principal = principal(spec)?;
    let head = RequestHead { method: method.to_owned(), url: url.to_owned(), headers: headers.to_vec() };
    let proxy = match admit(config, &head) {
        Err(failure) => return Ok(refused(&failure, None, format!("refused before routing: {failure}"))),
        Ok(Admission::Edge(endpoint)) => {
            return Ok(Verdict {
                decision: "allow",
                status: 200,
                code: "edge".into(),
                route: None,
                reason: format!("served by Portcullis itself: {endpoint:?}"),
                roles: Vec::new(),
            })
        }
        Ok(Admission::Preflight { route, .. }) => {
            return Ok(Verdict {
                decision: "allow",
                status: 204,
                code: "cors_preflight".into(),
                route: Some(route.id.clone()),
                reason: "CORS preflight".into(),
                roles: Vec::new(),
            })
        }
        Ok(Admission::Proxy(proxy)) => proxy,
    };
    let route = proxy.route;
    let route_id = Some(route.id.clone());
    if route.policy == Policy::Public {
        return Ok(Verdict {
            decision: "allow",
            status: 200,
            code: "public".into(),
            route: route_id,
            reason: format!("route {} is public", route.id),
            roles: Vec::new(),
        });
    }
    let Some(principal) = principal else {
        return Ok(refused(&AuthnError::Missing.into(), route_id, format!("route {} needs authentication", route.id)));
    };
    // The host tool's own clock (a simulation, on the host): how recent an `auth_time` is.
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let facts = RequestFacts { host: &proxy.target.host, params: &proxy.params, now_s };
    match authorize(&route.requirements, &config.roles, &principal, facts) {
        Ok(grant) => Ok(Verdict {
            decision: "allow",
            status: 200,
            code: "authenticated".into(),
            route: route_id,
            reason: format!("route {} allows {} ({})", route.id, principal.subject(), principal.method().name()),
            roles: grant.roles,
        }),
        Err(error) => {
            let reason = format!("route {}: {error}", route.id);
            Ok(refused(&error.into(), route_id, reason))
        }
    }
}
