//! SCIM Groups in the in-memory directory of the host tests: a group's members are the users
//! whose groups name it, as in D1's memberships.

use super::{Group, GroupPage, GroupWrite, Member, ScimGroups};
use crate::directory::scim::evaluate::matches;
use crate::directory::scim::filter::Filter;
use crate::directory::scim::users::Written;
use crate::directory::store::MemoryDirectory;
use crate::directory::TenantScope;
use crate::ports::Unavailable;

impl MemoryDirectory {
    fn with_members(&self, scope: &TenantScope, mut group: Group) -> Group {
        group.members = self
            .users(scope)
            .into_iter()
            .filter(|user| user.groups.contains(&group.display_name))
            .map(|user| Member { id: user.id, user_name: user.user_name })
            .collect();
        group
    }
}

impl ScimGroups for MemoryDirectory {
    async fn group(&self, scope: &TenantScope, id: &str, members: bool) -> Result<Option<Group>, Unavailable> {
        self.answer()?;
        let found =
            self.groups.borrow().iter().find(|(tenant, g)| tenant == scope.id() && g.id == id).map(|(_, g)| g.clone());
        Ok(found.map(|group| if members { self.with_members(scope, group) } else { group }))
    }

    async fn group_page(
        &self,
        scope: &TenantScope,
        filter: Option<&Filter>,
        start_index: u32,
        count: u32,
        members: bool,
    ) -> Result<GroupPage, Unavailable> {
        self.answer()?;
        let mut all: Vec<Group> =
            self.groups.borrow().iter().filter(|(tenant, _)| tenant == scope.id()).map(|(_, g)| g.clone()).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let selected: Vec<Group> = all
            .into_iter()
            .filter(|group| filter.is_none_or(|filter| matches(filter, &super::render(group, "", false))))
            .collect();
        let total = selected.len() as u32;
        let page = selected.into_iter().skip(start_index.saturating_sub(1) as usize).take(count as usize);
        let groups = page.map(|group| if members { self.with_members(scope, group) } else { group }).collect();
        Ok(GroupPage { total, groups })
    }

    async fn unknown_users(&self, scope: &TenantScope, ids: &[String]) -> Result<Vec<String>, Unavailable> {
        self.answer()?;
        let users = self.users(scope);
        Ok(ids.iter().filter(|id| !users.iter().any(|user| &user.id == *id)).cloned().collect())
    }

    async fn write_group(&self, scope: &TenantScope, write: &GroupWrite) -> Result<Written, Unavailable> {
        self.answer()?;
        let mut groups = self.groups.borrow_mut();
        let name = &write.group.display_name;
        let clash = groups.iter().any(|(tenant, g)| {
            tenant == scope.id() && g.id != write.group.id && g.display_name.to_lowercase() == name.to_lowercase()
        });
        if clash {
            return Ok(Written::Taken("displayName"));
        }
        let row = Group { members: Vec::new(), ..write.group.clone() };
        match groups.iter_mut().find(|(tenant, g)| tenant == scope.id() && g.id == write.group.id) {
            Some((_, stored)) => *stored = row,
            None if write.create => groups.push((scope.id().to_owned(), row)),
            None => return Ok(Written::Missing),
        }
        let mut users = self.users.borrow_mut();
        for ((tenant, id), user) in users.iter_mut() {
            if tenant != scope.id() {
                continue;
            }
            if let Some(old) = &write.renamed_from {
                for group in user.groups.iter_mut().filter(|g| *g == old) {
                    group.clone_from(name);
                }
            }
            if write.removed.contains(id) {
                user.groups.retain(|g| g != name);
            }
            if write.added.contains(id) && !user.groups.contains(name) {
                user.groups.push(name.clone());
                user.groups.sort();
            }
        }
        Ok(Written::Done)
    }

    async fn delete_group(&self, scope: &TenantScope, group: &Group) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut groups = self.groups.borrow_mut();
        let before = groups.len();
        groups.retain(|(tenant, g)| !(tenant == scope.id() && g.id == group.id));
        for ((tenant, _), user) in self.users.borrow_mut().iter_mut() {
            if tenant == scope.id() {
                user.groups.retain(|g| *g != group.display_name);
            }
        }
        Ok(groups.len() != before)
    }
}
