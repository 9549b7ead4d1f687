//! The directory port, and the directory in memory for the host tests.

use super::{RoleMapping, TenantScope, User};
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
    /// Replaces a user's stored attributes.
    async fn save_user(&self, scope: &TenantScope, user: &User) -> Result<(), Unavailable>;
    /// Links the (connection, subject) identity to a user.
    async fn link(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<(), Unavailable>;
    /// The tenant's group → role mappings.
    async fn role_mappings(&self, scope: &TenantScope) -> Result<Vec<RoleMapping>, Unavailable>;
}

/// A directory in memory; [`MemoryDirectory::set_available`] simulates an outage.
#[derive(Debug)]
pub struct MemoryDirectory {
    users: RefCell<BTreeMap<(String, String), User>>,
    identities: RefCell<BTreeMap<(String, String, String), String>>,
    mappings: RefCell<BTreeMap<String, Vec<RoleMapping>>>,
    available: Cell<bool>,
}

impl Default for MemoryDirectory {
    fn default() -> Self {
        Self {
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

    fn answer(&self) -> Result<(), Unavailable> {
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

    async fn save_user(&self, scope: &TenantScope, user: &User) -> Result<(), Unavailable> {
        self.answer()?;
        self.users.borrow_mut().insert((scope.id().to_owned(), user.id.clone()), user.clone());
        Ok(())
    }

    async fn link(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<(), Unavailable> {
        self.answer()?;
        let key = (scope.id().to_owned(), connection.to_owned(), subject.to_owned());
        self.identities.borrow_mut().insert(key, user_id.to_owned());
        Ok(())
    }

    async fn role_mappings(&self, scope: &TenantScope) -> Result<Vec<RoleMapping>, Unavailable> {
        self.answer()?;
        Ok(self.mappings.borrow().get(scope.id()).cloned().unwrap_or_default())
    }
}
