//! SCIM Users in the in-memory directory of the host tests: the same uniqueness rules as D1's
//! indexes, and filters evaluated on each user as SCIM shows it.

use super::{render, Page, ScimUsers, Written};
use crate::directory::scim::evaluate::matches;
use crate::directory::scim::filter::Filter;
use crate::directory::store::MemoryDirectory;
use crate::directory::{TenantScope, User, UserStatus};
use crate::ports::Unavailable;

impl ScimUsers for MemoryDirectory {
    async fn insert_user(&self, scope: &TenantScope, user: &User) -> Result<Written, Unavailable> {
        self.answer()?;
        if let Some(taken) = self.unique_taken(scope, user) {
            return Ok(Written::Taken(taken));
        }
        self.users.borrow_mut().insert((scope.id().to_owned(), user.id.clone()), user.clone());
        Ok(Written::Done)
    }

    async fn replace_user(&self, scope: &TenantScope, user: &User) -> Result<Written, Unavailable> {
        self.answer()?;
        if let Some(taken) = self.unique_taken(scope, user) {
            return Ok(Written::Taken(taken));
        }
        let mut users = self.users.borrow_mut();
        let Some(stored) = users.get_mut(&(scope.id().to_owned(), user.id.clone())) else {
            return Ok(Written::Missing);
        };
        let status = if stored.status == UserStatus::Blocked { UserStatus::Blocked } else { user.status };
        *stored = User { groups: stored.groups.clone(), attributes: stored.attributes.clone(), status, ..user.clone() };
        Ok(Written::Done)
    }

    async fn delete_user(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        self.answer()?;
        let removed = self.users.borrow_mut().remove(&(scope.id().to_owned(), id.to_owned())).is_some();
        self.identities.borrow_mut().retain(|(tenant, _, _), user| !(tenant == scope.id() && user == id));
        Ok(removed)
    }

    async fn page(
        &self,
        scope: &TenantScope,
        filter: Option<&Filter>,
        start_index: u32,
        count: u32,
    ) -> Result<Page, Unavailable> {
        self.answer()?;
        let selected: Vec<User> = self
            .users(scope)
            .into_iter()
            .filter(|user| filter.is_none_or(|filter| matches(filter, &render(user, ""))))
            .collect();
        let total = selected.len() as u32;
        let users = selected.into_iter().skip(start_index.saturating_sub(1) as usize).take(count as usize).collect();
        Ok(Page { total, users })
    }
}

impl MemoryDirectory {
    /// The unique attribute another user of the tenant already holds, if any.
    fn unique_taken(&self, scope: &TenantScope, user: &User) -> Option<&'static str> {
        let others: Vec<User> = self.users(scope).into_iter().filter(|other| other.id != user.id).collect();
        let same_name = |other: &User| match (&other.user_name, &user.user_name) {
            (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
            _ => false,
        };
        if others.iter().any(same_name) {
            return Some("userName");
        }
        if user.email.is_some() && others.iter().any(|other| other.email == user.email) {
            return Some("email");
        }
        None
    }
}
