//! The tenants port: tenants, their domain claims and their group → role mappings
//! (the in-memory directory of the host tests keeps them too).
//!
//! Every operation is scoped by a tenant but one: [`TenantStore::verified_owner`], which is how
//! home-realm discovery finds a tenant from an email, and answers only for verified domains.

use super::connections::Connection;
use super::domains::DomainClaim;
use super::{RoleMapping, TenantScope};
use crate::ports::Unavailable;
use serde::Serialize;

/// A tenant: a customer of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// Its id, as in URLs and sessions.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// When it was created.
    pub created_at_ms: u64,
}

/// A SCIM token as listed: never the token, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ScimTokenInfo {
    /// The token's id.
    pub id: String,
    /// When it was issued.
    pub created_at_ms: u64,
}

/// What claiming a domain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The tenant's claim, new or as it already was.
    Held(DomainClaim),
    /// Another tenant has verified the domain: it is theirs.
    TakenByAnother,
}

/// The storage of tenants and what belongs to them directly.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait TenantStore {
    /// Creates a tenant; `false` when one with its id exists (and is left as it is).
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, Unavailable>;
    /// The tenant, if it exists.
    async fn tenant(&self, scope: &TenantScope) -> Result<Option<Tenant>, Unavailable>;
    /// Records the tenant's claim on `domain` with `token`, unless it has one (then that one is
    /// kept) or another tenant has verified the domain. Unverified claims of other tenants do not
    /// stand in the way: a squatter cannot keep the owner out.
    async fn claim_domain(&self, scope: &TenantScope, domain: &str, token: &str) -> Result<Claim, Unavailable>;
    /// The tenant's claims, verified or not.
    async fn domains(&self, scope: &TenantScope) -> Result<Vec<DomainClaim>, Unavailable>;
    /// Marks the tenant's claim verified, and drops every other tenant's claim of the domain;
    /// `false` when another tenant verified it first (the claim is left unverified).
    async fn mark_verified(&self, scope: &TenantScope, domain: &str, now_ms: u64) -> Result<bool, Unavailable>;
    /// Drops the tenant's claim; `false` when it had none.
    async fn release_domain(&self, scope: &TenantScope, domain: &str) -> Result<bool, Unavailable>;
    /// The tenant that has verified `domain`, if one has.
    async fn verified_owner(&self, domain: &str) -> Result<Option<TenantScope>, Unavailable>;
    /// Replaces the tenant's group → role mappings.
    async fn set_role_mappings(&self, scope: &TenantScope, mappings: &[RoleMapping]) -> Result<(), Unavailable>;
    /// Stores a SCIM token's hash for the tenant.
    async fn add_scim_token(&self, scope: &TenantScope, id: &str, hash: &str, now_ms: u64) -> Result<(), Unavailable>;
    /// The tenant whose SCIM token has this hash, and the token's id (for the audit log).
    async fn scim_token_tenant(&self, hash: &str) -> Result<Option<(TenantScope, String)>, Unavailable>;
    /// The tenant's SCIM tokens: (id, created at).
    async fn scim_tokens(&self, scope: &TenantScope) -> Result<Vec<ScimTokenInfo>, Unavailable>;
    /// Revokes one of the tenant's SCIM tokens; `false` when it had none with this id.
    async fn remove_scim_token(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable>;
    /// Stores a connection of the tenant, or replaces its settings and secret if the tenant has
    /// one with this id; `false` (nothing stored) when another tenant's connection has the id.
    async fn save_connection(&self, scope: &TenantScope, connection: &Connection) -> Result<bool, Unavailable>;
    /// The tenant's connections, oldest first.
    async fn connections(&self, scope: &TenantScope) -> Result<Vec<Connection>, Unavailable>;
    /// The connection with this id, whatever its tenant: a login callback knows only the id, and
    /// the connection names its tenant.
    async fn connection(&self, id: &str) -> Result<Option<Connection>, Unavailable>;
    /// Makes one of the tenant's connections sign users in; `false` when it had none with this id.
    async fn activate_connection(&self, scope: &TenantScope, id: &str, now_ms: u64) -> Result<bool, Unavailable>;
    /// Deletes one of the tenant's connections; `false` when it had none with this id.
    async fn remove_connection(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable>;
}
