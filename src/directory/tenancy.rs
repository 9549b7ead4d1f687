//! What administrators do to tenants: create them, claim and verify their domains, and map their
//! groups to the deployment's roles. Each request's every problem is reported at once.

use super::domains::{normalize_domain, verify, DomainClaim, Verification};
use super::scim::token::{self, IssuedToken};
use super::store::Directory;
use super::tenants::{Claim, Tenant, TenantStore};
use super::{tenant_id_ok, DirectoryError, RoleMapping, TenantScope};
use crate::authz::Roles;
use crate::ports::{Clock, Entropy, HttpClient};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// Why a tenancy request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenancyError {
    /// The body's problems, every one.
    Invalid(Vec<String>),
    /// See [`DirectoryError`].
    Directory(DirectoryError),
}

impl<E: Into<DirectoryError>> From<E> for TenancyError {
    fn from(error: E) -> Self {
        TenancyError::Directory(error.into())
    }
}

/// `POST .../tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The id: 1 to 64 of a-z, 0-9, `-`, `_`.
    pub id: String,
    /// The display name; the id when absent.
    pub name: Option<String>,
}

/// The longest tenant name.
const MAX_NAME: usize = 200;

/// Creates a tenant.
pub async fn create_tenant(
    store: &impl TenantStore,
    clock: &impl Clock,
    request: NewTenant,
) -> Result<Tenant, TenancyError> {
    let mut problems = Vec::new();
    if !tenant_id_ok(&request.id) {
        problems.push("id: 1 to 64 characters of a-z, 0-9, - and _".to_owned());
    }
    let name = request.name.unwrap_or_else(|| request.id.clone());
    if name.trim().is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        problems.push(format!("name: 1 to {MAX_NAME} characters, no control characters"));
    }
    if !problems.is_empty() {
        return Err(TenancyError::Invalid(problems));
    }
    let tenant = Tenant { id: request.id, name, created_at_ms: clock.now_ms() };
    if !store.create_tenant(&tenant).await? {
        return Err(DirectoryError::TenantExists.into());
    }
    Ok(tenant)
}

/// The tenant, or 404 `tenant_not_found`.
pub async fn existing_tenant(store: &impl TenantStore, scope: &TenantScope) -> Result<Tenant, TenancyError> {
    store.tenant(scope).await?.ok_or(TenancyError::Directory(DirectoryError::TenantNotFound))
}

/// The most domains a tenant claims.
pub const MAX_DOMAINS: usize = 50;

/// `POST .../domains`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The domain to claim.
    pub domain: String,
}

/// Claims a domain for the tenant: the claim, and the TXT record that will prove it.
pub async fn claim_domain(
    store: &impl TenantStore,
    entropy: &impl Entropy,
    scope: &TenantScope,
    request: NewDomain,
) -> Result<DomainClaim, TenancyError> {
    let domain =
        normalize_domain(&request.domain).map_err(|why| TenancyError::Invalid(vec![format!("domain: {why}")]))?;
    existing_tenant(store, scope).await?;
    let held = store.domains(scope).await?;
    if held.len() >= MAX_DOMAINS && !held.iter().any(|claim| claim.domain == domain) {
        return Err(TenancyError::Invalid(vec![format!("domain: a tenant claims at most {MAX_DOMAINS} domains")]));
    }
    // A domain under one another tenant has verified is theirs to delegate, not anyone's to claim.
    let mut parent = domain.as_str();
    while let Some((_, rest)) = parent.split_once('.') {
        if !rest.contains('.') {
            break;
        }
        if store.verified_owner(rest).await?.is_some_and(|owner| &owner != scope) {
            return Err(DirectoryError::DomainClaimed.into());
        }
        parent = rest;
    }
    let token = URL_SAFE_NO_PAD.encode(entropy.bytes::<24>()?);
    match store.claim_domain(scope, &domain, &token).await? {
        Claim::Held(claim) => Ok(claim),
        Claim::TakenByAnother => Err(DirectoryError::DomainClaimed.into()),
    }
}

/// Looks the claim's TXT record up and, when it is there, marks the domain verified: from then
/// on it routes the tenant's users, and no other tenant can claim it.
pub async fn verify_domain(
    store: &impl TenantStore,
    http: &impl HttpClient,
    clock: &impl Clock,
    resolver: &str,
    scope: &TenantScope,
    domain: &str,
) -> Result<DomainClaim, TenancyError> {
    let claims = store.domains(scope).await?;
    let claim = claims.into_iter().find(|c| c.domain == domain).ok_or(DirectoryError::DomainNotFound)?;
    if claim.verified_at_ms.is_some() {
        return Ok(claim);
    }
    match verify(http, resolver, &claim).await.map_err(DirectoryError::ResolverUnavailable)? {
        Verification::NotFound { found } => Err(DirectoryError::DomainNotVerified { found }.into()),
        Verification::Proven => {
            let now = clock.now_ms();
            if !store.mark_verified(scope, domain, now).await? {
                return Err(DirectoryError::DomainClaimed.into());
            }
            Ok(DomainClaim { verified_at_ms: Some(now), ..claim })
        }
    }
}

/// The most SCIM tokens a tenant holds at once (one per IdP, and one more while rotating).
pub const MAX_SCIM_TOKENS: usize = 10;

/// Issues a SCIM bearer token for the tenant; the answer is the only time the token is seen.
pub async fn issue_scim_token(
    store: &impl TenantStore,
    entropy: &impl Entropy,
    clock: &impl Clock,
    scope: &TenantScope,
) -> Result<IssuedToken, TenancyError> {
    existing_tenant(store, scope).await?;
    if store.scim_tokens(scope).await?.len() >= MAX_SCIM_TOKENS {
        return Err(TenancyError::Invalid(vec![format!(
            "a tenant has at most {MAX_SCIM_TOKENS} SCIM tokens: revoke one first"
        )]));
    }
    let issued = token::issue(entropy)?;
    store.add_scim_token(scope, &issued.id, &issued.hash, clock.now_ms()).await?;
    Ok(issued)
}

/// `PUT .../role-mappings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMappings {
    /// Every mapping of the tenant: the ones not listed are dropped.
    pub mappings: Vec<MappingEntry>,
}

/// One group → role mapping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingEntry {
    /// The group, as the IdP names it.
    pub group: String,
    /// A role of the deployment's catalogue.
    pub role: String,
}

/// The most mappings a tenant has.
pub const MAX_MAPPINGS: usize = 500;

/// What replacing the mappings did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingChange {
    /// The mappings now.
    pub mappings: Vec<RoleMapping>,
    /// The groups whose members lost a role: their sessions must end, since a session carries
    /// the roles of its login.
    pub groups_losing_roles: Vec<String>,
}

/// Checks a replacement of the tenant's mappings and works out who loses a role, without writing.
/// Every role must be one of the deployment's, and one it lets tenants assign: a tenant maps its
/// groups to the roles the routes know, it cannot invent one. The caller ends the sessions of
/// those losing a role *before* [`apply_role_mappings`]: a retry after a failed write then finds
/// the same difference, where a retry after a write would find none and sign nobody out.
pub async fn plan_role_mappings(
    store: &impl TenantStore,
    directory: &impl Directory,
    catalogue: &Roles,
    scope: &TenantScope,
    request: RoleMappings,
) -> Result<MappingChange, TenancyError> {
    let mut problems = Vec::new();
    if request.mappings.len() > MAX_MAPPINGS {
        problems.push(format!("mappings: at most {MAX_MAPPINGS}"));
    }
    for (index, entry) in request.mappings.iter().enumerate() {
        if entry.group.is_empty() || entry.group.len() > 256 || entry.group.chars().any(char::is_control) {
            problems.push(format!("mappings[{index}].group: 1 to 256 bytes, no control characters"));
        }
        match catalogue.get(&entry.role) {
            None => problems.push(format!("mappings[{index}].role: {:?} is not a role of this deployment", entry.role)),
            Some(role) if !role.tenant_assignable => problems.push(format!(
                "mappings[{index}].role: {:?} is not tenant_assignable: only the deployment grants it",
                entry.role
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(TenancyError::Invalid(problems));
    }
    existing_tenant(store, scope).await?;
    let mut mappings: Vec<RoleMapping> =
        request.mappings.into_iter().map(|e| RoleMapping { group: e.group, role: e.role }).collect();
    mappings.sort_by(|a, b| (&a.group, &a.role).cmp(&(&b.group, &b.role)));
    mappings.dedup();
    let before = directory.role_mappings(scope).await?;
    let mut groups_losing_roles: Vec<String> =
        before.into_iter().filter(|old| !mappings.contains(old)).map(|old| old.group).collect();
    groups_losing_roles.sort();
    groups_losing_roles.dedup();
    Ok(MappingChange { mappings, groups_losing_roles })
}

/// Writes the mappings a [`plan_role_mappings`] checked.
pub async fn apply_role_mappings(
    store: &impl TenantStore,
    scope: &TenantScope,
    change: &MappingChange,
) -> Result<(), TenancyError> {
    store.set_role_mappings(scope, &change.mappings).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
