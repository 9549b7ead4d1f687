//! The directory port, and the directory (with its tenants) in memory for the host tests.

use super::connections::Connection;
use super::domains::DomainClaim;
use super::tenants::{Claim, ScimTokenInfo, Tenant, TenantStore};
use super::{RoleMapping, TenantScope, User, UserStatus};
use crate::ports::Unavailable;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// The directory's storage. Every operation is scoped by a tenant.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait Directory {
    /// The user the (connection, subject) identity is linked to, if any.
    async fn linked_user(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
    ) -> Result<Option<User>, Unavailable>;
    /// The user with this (lower-cased) email, if any.
    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>, Unavailable>;
    /// Creates a user linked to the (connection, subject) identity, both or neither.
    async fn create_linked(
        &self,
        scope: &TenantScope,
        user: &User,
        connection: &str,
        subject: &str,
    ) -> Result<(), Unavailable>;
    /// Replaces an active user's email, name and attributes, and its groups unless `memberships`
    /// keeps them (never its status: a user blocked meanwhile stays blocked and is left as it is);
    /// `false` when the user was no longer active, and nothing was written.
    async fn save_user(&self, scope: &TenantScope, user: &User, memberships: Memberships) -> Result<bool, Unavailable>;
    /// Links the (connection, subject) identity to an existing user and saves the user, both or
    /// neither; `false` when the user was no longer active, and nothing was written.
    async fn link(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
        user: &User,
        memberships: Memberships,
    ) -> Result<bool, Unavailable>;
    /// Sets a user's status.
    async fn set_status(
        &self,
        scope: &TenantScope,
        user_id: &str,
        status: UserStatus,
        now_ms: u64,
    ) -> Result<(), Unavailable>;
    /// The user with this directory id, if any.
    async fn user(&self, scope: &TenantScope, user_id: &str) -> Result<Option<User>, Unavailable>;
    /// The (connection, subject) identities linked to a user.
    async fn identities(&self, scope: &TenantScope, user_id: &str) -> Result<Vec<(String, String)>, Unavailable>;
    /// The tenant's group → role mappings.
    async fn role_mappings(&self, scope: &TenantScope) -> Result<Vec<RoleMapping>, Unavailable>;
    /// The (connection, subject) identities of a connection, at most `limit`.
    async fn identities_of_connection(
        &self,
        scope: &TenantScope,
        connection: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable>;
    /// The (connection, subject) identities of the tenant's users with these ids, at most `limit`.
    async fn identities_of_users(
        &self,
        scope: &TenantScope,
        user_ids: &[String],
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable>;
    /// The (connection, subject) identities of the tenant's users in any of `groups`, at most
    /// `limit`.
    async fn identities_in_groups(
        &self,
        scope: &TenantScope,
        groups: &[String],
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable>;
}

/// Whether a save writes the user's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memberships {
    /// The user's groups replace its memberships (the login's IdP is their source).
    Replace,
    /// Its memberships stay as they are (SCIM Groups are their source).
    Keep,
}

/// A directory in memory; [`MemoryDirectory::set_available`] simulates an outage.
#[derive(Debug)]
pub struct MemoryDirectory {
    pub(super) tenants: RefCell<BTreeMap<String, Tenant>>,
    pub(super) claims: RefCell<Vec<DomainClaim>>,
    pub(super) mappings: RefCell<BTreeMap<String, Vec<RoleMapping>>>,
    /// Connections.
    connections: RefCell<Vec<Connection>>,
    /// SCIM groups: (tenant, group without members).
    pub(super) groups: RefCell<Vec<(String, super::scim::group::Group)>>,
    /// SCIM tokens: (tenant, id, hash, created at).
    scim_tokens: RefCell<Vec<(String, String, String, u64)>>,
    pub(super) users: RefCell<BTreeMap<(String, String), User>>,
    pub(super) identities: RefCell<BTreeMap<(String, String, String), String>>,
    available: Cell<bool>,
}

impl Default for MemoryDirectory {
    fn default() -> Self {
        Self {
            tenants: RefCell::default(),
            claims: RefCell::default(),
            scim_tokens: RefCell::default(),
            groups: RefCell::default(),
            connections: RefCell::default(),
            users: RefCell::default(),
            identities: RefCell::default(),
            mappings: RefCell::default(),
            available: Cell::new(true),
        }
    }
}

impl MemoryDirectory {
    /// Whether the directory answers.
    pub fn set_available(&self, available: bool) {
        self.available.set(available);
    }

    /// Sets a tenant's role mappings.
    pub fn set_role_mappings(&self, scope: &TenantScope, mappings: Vec<RoleMapping>) {
        self.mappings.borrow_mut().insert(scope.id().to_owned(), mappings);
    }

    /// Every user of a tenant.
    pub fn users(&self, scope: &TenantScope) -> Vec<User> {
        self.users.borrow().iter().filter(|((tenant, _), _)| tenant == scope.id()).map(|(_, u)| u.clone()).collect()
    }

    pub(super) fn answer(&self) -> Result<(), Unavailable> {
        if self.available.get() {
            Ok(())
        } else {
            Err(Unavailable("directory switched off".into()))
        }
    }
}

impl Directory for MemoryDirectory {
    async fn linked_user(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
    ) -> Result<Option<User>, Unavailable> {
        self.answer()?;
        let key = (scope.id().to_owned(), connection.to_owned(), subject.to_owned());
        let Some(user_id) = self.identities.borrow().get(&key).cloned() else { return Ok(None) };
        Ok(self.users.borrow().get(&(scope.id().to_owned(), user_id)).cloned())
    }

    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>, Unavailable> {
        self.answer()?;
        Ok(self.users(scope).into_iter().find(|user| user.email.as_deref() == Some(email)))
    }

    async fn create_linked(
        &self,
        scope: &TenantScope,
        user: &User,
        connection: &str,
        subject: &str,
    ) -> Result<(), Unavailable> {
        self.answer()?;
        self.users.borrow_mut().insert((scope.id().to_owned(), user.id.clone()), user.clone());
        let key = (scope.id().to_owned(), connection.to_owned(), subject.to_owned());
        self.identities.borrow_mut().insert(key, user.id.clone());
        Ok(())
    }

    async fn save_user(&self, scope: &TenantScope, user: &User, memberships: Memberships) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut users = self.users.borrow_mut();
        let Some(stored) = users.get_mut(&(scope.id().to_owned(), user.id.clone())) else { return Ok(false) };
        if stored.status != UserStatus::Active {
            return Ok(false);
        }
        let groups = match memberships {
            Memberships::Replace => user.groups.clone(),
            Memberships::Keep => stored.groups.clone(),
        };
        *stored = User { status: stored.status, created_at_ms: stored.created_at_ms, groups, ..user.clone() };
        Ok(true)
    }

    async fn link(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
        user: &User,
        memberships: Memberships,
    ) -> Result<bool, Unavailable> {
        self.answer()?;
        let key = (scope.id().to_owned(), connection.to_owned(), subject.to_owned());
        if self.identities.borrow().contains_key(&key) {
            return Err(Unavailable("the identity is already linked".into()));
        }
        if !self.save_user(scope, user, memberships).await? {
            return Ok(false);
        }
        self.identities.borrow_mut().insert(key, user.id.clone());
        Ok(true)
    }

    async fn set_status(
        &self,
        scope: &TenantScope,
        user_id: &str,
        status: UserStatus,
        now_ms: u64,
    ) -> Result<(), Unavailable> {
        self.answer()?;
        if let Some(user) = self.users.borrow_mut().get_mut(&(scope.id().to_owned(), user_id.to_owned())) {
            user.status = status;
            user.updated_at_ms = now_ms;
        }
        Ok(())
    }

    async fn user(&self, scope: &TenantScope, user_id: &str) -> Result<Option<User>, Unavailable> {
        self.answer()?;
        Ok(self.users.borrow().get(&(scope.id().to_owned(), user_id.to_owned())).cloned())
    }

    async fn identities(&self, scope: &TenantScope, user_id: &str) -> Result<Vec<(String, String)>, Unavailable> {
        self.answer()?;
        let identities = self.identities.borrow();
        let linked = identities.iter().filter(|((tenant, _, _), user)| tenant == scope.id() && *user == user_id);
        Ok(linked.map(|((_, connection, subject), _)| (connection.clone(), subject.clone())).collect())
    }

    async fn role_mappings(&self, scope: &TenantScope) -> Result<Vec<RoleMapping>, Unavailable> {
        self.answer()?;
        Ok(self.mappings.borrow().get(scope.id()).cloned().unwrap_or_default())
    }

    async fn identities_of_connection(
        &self,
        scope: &TenantScope,
        connection: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable> {
        self.answer()?;
        let identities = self.identities.borrow();
        let linked = identities.keys().filter(|(tenant, via, _)| tenant == scope.id() && via == connection);
        Ok(linked.map(|(_, via, subject)| (via.clone(), subject.clone())).take(limit as usize).collect())
    }

    async fn identities_of_users(
        &self,
        scope: &TenantScope,
        user_ids: &[String],
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable> {
        self.answer()?;
        let identities = self.identities.borrow();
        let linked = identities.iter().filter(|((tenant, _, _), user)| tenant == scope.id() && user_ids.contains(user));
        Ok(linked
            .map(|((_, connection, subject), _)| (connection.clone(), subject.clone()))
            .take(limit as usize)
            .collect())
    }

    async fn identities_in_groups(
        &self,
        scope: &TenantScope,
        groups: &[String],
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable> {
        self.answer()?;
        let members: Vec<String> = self
            .users(scope)
            .into_iter()
            .filter(|user| user.groups.iter().any(|group| groups.contains(group)))
            .map(|user| user.id)
            .collect();
        let identities = self.identities.borrow();
        let linked = identities.iter().filter(|((tenant, _, _), user)| tenant == scope.id() && members.contains(user));
        Ok(linked
            .map(|((_, connection, subject), _)| (connection.clone(), subject.clone()))
            .take(limit as usize)
            .collect())
    }
}

impl TenantStore for MemoryDirectory {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut tenants = self.tenants.borrow_mut();
        if tenants.contains_key(&tenant.id) {
            return Ok(false);
        }
        tenants.insert(tenant.id.clone(), tenant.clone());
        Ok(true)
    }

    async fn tenant(&self, scope: &TenantScope) -> Result<Option<Tenant>, Unavailable> {
        self.answer()?;
        Ok(self.tenants.borrow().get(scope.id()).cloned())
    }

    async fn claim_domain(&self, scope: &TenantScope, domain: &str, token: &str) -> Result<Claim, Unavailable> {
        self.answer()?;
        let mut claims = self.claims.borrow_mut();
        if claims.iter().any(|c| c.domain == domain && c.tenant != scope.id() && c.verified_at_ms.is_some()) {
            return Ok(Claim::TakenByAnother);
        }
        if let Some(held) = claims.iter().find(|c| c.domain == domain && c.tenant == scope.id()) {
            return Ok(Claim::Held(held.clone()));
        }
        let claim =
            DomainClaim { domain: domain.into(), tenant: scope.id().into(), token: token.into(), verified_at_ms: None };
        claims.push(claim.clone());
        Ok(Claim::Held(claim))
    }

    async fn domains(&self, scope: &TenantScope) -> Result<Vec<DomainClaim>, Unavailable> {
        self.answer()?;
        Ok(self.claims.borrow().iter().filter(|c| c.tenant == scope.id()).cloned().collect())
    }

    async fn mark_verified(&self, scope: &TenantScope, domain: &str, now_ms: u64) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut claims = self.claims.borrow_mut();
        if claims.iter().any(|c| c.domain == domain && c.tenant != scope.id() && c.verified_at_ms.is_some()) {
            return Ok(false);
        }
        let Some(own) = claims.iter_mut().find(|c| c.domain == domain && c.tenant == scope.id()) else {
            return Ok(false);
        };
        own.verified_at_ms = Some(now_ms);
        claims.retain(|c| c.domain != domain || c.tenant == scope.id());
        Ok(true)
    }

    async fn release_domain(&self, scope: &TenantScope, domain: &str) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut claims = self.claims.borrow_mut();
        let before = claims.len();
        claims.retain(|c| c.domain != domain || c.tenant != scope.id());
        Ok(claims.len() != before)
    }

    async fn verified_owner(&self, domain: &str) -> Result<Option<TenantScope>, Unavailable> {
        self.answer()?;
        let claims = self.claims.borrow();
        Ok(claims.iter().find(|c| c.domain == domain && c.verified_at_ms.is_some()).map(|c| TenantScope::of(&c.tenant)))
    }

    async fn set_role_mappings(&self, scope: &TenantScope, mappings: &[RoleMapping]) -> Result<(), Unavailable> {
        self.answer()?;
        self.mappings.borrow_mut().insert(scope.id().to_owned(), mappings.to_vec());
        Ok(())
    }

    async fn add_scim_token(&self, scope: &TenantScope, id: &str, hash: &str, now_ms: u64) -> Result<(), Unavailable> {
        self.answer()?;
        self.scim_tokens.borrow_mut().push((scope.id().into(), id.into(), hash.into(), now_ms));
        Ok(())
    }

    async fn scim_token_tenant(&self, hash: &str) -> Result<Option<(TenantScope, String)>, Unavailable> {
        self.answer()?;
        Ok(self.scim_tokens.borrow().iter().find(|t| t.2 == hash).map(|t| (TenantScope::of(&t.0), t.1.clone())))
    }

    async fn scim_tokens(&self, scope: &TenantScope) -> Result<Vec<ScimTokenInfo>, Unavailable> {
        self.answer()?;
        let tokens = self.scim_tokens.borrow();
        let own = tokens.iter().filter(|t| t.0 == scope.id());
        Ok(own.map(|t| ScimTokenInfo { id: t.1.clone(), created_at_ms: t.3 }).collect())
    }

    async fn remove_scim_token(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut tokens = self.scim_tokens.borrow_mut();
        let before = tokens.len();
        tokens.retain(|t| !(t.0 == scope.id() && t.1 == id));
        Ok(tokens.len() != before)
    }

    async fn save_connection(&self, scope: &TenantScope, connection: &Connection) -> Result<bool, Unavailable> {
        self.answer()?;
        let stored = Connection { tenant: scope.id().to_owned(), ..connection.clone() };
        let mut connections = self.connections.borrow_mut();
        match connections.iter_mut().find(|c| c.id == stored.id) {
            Some(existing) if existing.tenant != stored.tenant => return Ok(false),
            Some(existing) => {
                existing.kind = stored.kind;
                existing.settings = stored.settings;
                existing.sealed_secret = stored.sealed_secret;
            }
            None => connections.push(stored),
        }
        Ok(true)
    }

    async fn connections(&self, scope: &TenantScope) -> Result<Vec<Connection>, Unavailable> {
        self.answer()?;
        Ok(self.connections.borrow().iter().filter(|c| c.tenant == scope.id()).cloned().collect())
    }

    async fn connection(&self, id: &str) -> Result<Option<Connection>, Unavailable> {
        self.answer()?;
        Ok(self.connections.borrow().iter().find(|c| c.id == id).cloned())
    }

    async fn activate_connection(&self, scope: &TenantScope, id: &str, _now_ms: u64) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut connections = self.connections.borrow_mut();
        let found = connections.iter_mut().find(|c| c.tenant == scope.id() && c.id == id);
        Ok(found.map(|connection| connection.active = true).is_some())
    }

    async fn remove_connection(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut connections = self.connections.borrow_mut();
        let before = connections.len();
        connections.retain(|c| !(c.tenant == scope.id() && c.id == id));
        Ok(connections.len() != before)
    }
}
