//! SCIM Groups over D1: a row in `scim_groups` per group, and its members as the `memberships`
//! rows that name it, which logins keep too. Every write is one batch.

use super::d1::{changed_rows, database, failed, number, optional, statement, text};
use super::deadline::InTime;
use super::directory::D1Directory;
use crate::directory::scim::filter::Filter;
use crate::directory::scim::groups::{Group, GroupPage, GroupWrite, Member, ScimGroups};
use crate::directory::scim::sql::{where_clause, SqlValue, GROUP_COLUMNS};
use crate::directory::scim::users::Written;
use crate::directory::TenantScope;
use crate::ports::Unavailable;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

#[derive(Deserialize)]
struct GroupRow {
    id: String,
    display_name: String,
    external_id: Option<String>,
    created_at_ms: f64,
    updated_at_ms: f64,
}

impl GroupRow {
    fn into_group(self, members: Vec<Member>) -> Group {
        Group {
            id: self.id,
            display_name: self.display_name,
            external_id: self.external_id,
            members,
            created_at_ms: self.created_at_ms as u64,
            updated_at_ms: self.updated_at_ms as u64,
        }
    }
}

#[derive(Deserialize)]
struct MemberRow {
    group_name: String,
    user_id: String,
    user_name: Option<String>,
}

const GROUP_FIELDS: &str = "id, display_name, external_id, created_at_ms, updated_at_ms";

/// The members of the groups named `names`, in user id order.
async fn members_of(db: &D1Database, scope: &TenantScope, names: &[&str]) -> Result<Vec<MemberRow>, Unavailable> {
    let names = serde_json::to_string(names).map_err(failed)?;
    statement(
        db,
        "SELECT m.group_name, m.user_id, u.user_name FROM memberships m \
         JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id \
         WHERE m.tenant_id = ? AND m.group_name IN (SELECT value FROM json_each(?)) ORDER BY m.user_id",
        &[text(scope.id()), text(&names)],
    )?
    .all()
    .in_time()
    .await
    .map_err(failed)?
    .results::<MemberRow>()
    .map_err(failed)
}

fn with_members(rows: Vec<GroupRow>, members: &[MemberRow]) -> Vec<Group> {
    rows.into_iter()
        .map(|row| {
            let own = members
                .iter()
                .filter(|m| m.group_name == row.display_name)
                .map(|m| Member { id: m.user_id.clone(), user_name: m.user_name.clone() })
                .collect();
            row.into_group(own)
        })
        .collect()
}

impl ScimGroups for D1Directory<'_> {
    async fn group(&self, scope: &TenantScope, id: &str, members: bool) -> Result<Option<Group>, Unavailable> {
        let db = database(self.0)?;
        let row = statement(
            &db,
            &format!("SELECT {GROUP_FIELDS} FROM scim_groups WHERE tenant_id = ? AND id = ?"),
            &[text(scope.id()), text(id)],
        )?
        .first::<GroupRow>(None)
        .in_time()
        .await
        .map_err(failed)?;
        let Some(row) = row else { return Ok(None) };
        if !members {
            return Ok(Some(row.into_group(Vec::new())));
        }
        let rows = members_of(&db, scope, &[row.display_name.as_str()]).await?;
        Ok(with_members(vec![row], &rows).pop())
    }

    async fn group_page(
        &self,
        scope: &TenantScope,
        filter: Option<&Filter>,
        start_index: u32,
        count: u32,
        members: bool,
    ) -> Result<GroupPage, Unavailable> {
        #[derive(Deserialize)]
        struct Total {
            total: f64,
        }
        let db = database(self.0)?;
        let clause = match filter {
            Some(filter) => Some(where_clause(filter, GROUP_COLUMNS).map_err(|e| failed(e.0))?),
            None => None,
        };
        let mut values = vec![text(scope.id())];
        let condition = match &clause {
            Some(clause) => {
                values.extend(clause.params.iter().map(|SqlValue::Text(value)| text(value)));
                format!(" AND ({})", clause.sql)
            }
            None => String::new(),
        };
        let total = statement(
            &db,
            &format!("SELECT COUNT(*) AS total FROM scim_groups WHERE tenant_id = ?{condition}"),
            &values,
        )?;
        let mut paged: Vec<JsValue> = values.clone();
        paged.push(number(u64::from(count)));
        paged.push(number(u64::from(start_index.saturating_sub(1))));
        let rows = statement(
            &db,
            &format!(
                "SELECT {GROUP_FIELDS} FROM scim_groups WHERE tenant_id = ?{condition} ORDER BY id LIMIT ? OFFSET ?"
            ),
            &paged,
        )?;
        let results = db.batch(vec![total, rows]).in_time().await.map_err(failed)?;
        let total = match results.first() {
            Some(result) => result.results::<Total>().map_err(failed)?.first().map_or(0, |t| t.total as u32),
            None => 0,
        };
        let rows = match results.get(1) {
            Some(result) => result.results::<GroupRow>().map_err(failed)?,
            None => Vec::new(),
        };
        let member_rows = if members && !rows.is_empty() {
            let names: Vec<&str> = rows.iter().map(|row| row.display_name.as_str()).collect();
            members_of(&db, scope, &names).await?
        } else {
            Vec::new()
        };
        Ok(GroupPage { total, groups: with_members(rows, &member_rows) })
    }

    async fn unknown_users(&self, scope: &TenantScope, ids: &[String]) -> Result<Vec<String>, Unavailable> {
        #[derive(Deserialize)]
        struct Known {
            id: String,
        }
        let db = database(self.0)?;
        let wanted = serde_json::to_string(ids).map_err(failed)?;
        let known = statement(
            &db,
            "SELECT id FROM users WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))",
            &[text(scope.id()), text(&wanted)],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?
        .results::<Known>()
        .map_err(failed)?;
        Ok(ids.iter().filter(|id| !known.iter().any(|k| &k.id == *id)).cloned().collect())
    }

    async fn write_group(&self, scope: &TenantScope, write: &GroupWrite) -> Result<Written, Unavailable> {
        let db = database(self.0)?;
        let group = &write.group;
        let tenant = text(scope.id());
        let name = text(&group.display_name);
        let mut statements = vec![if write.create {
            statement(
                &db,
                &format!("INSERT INTO scim_groups (tenant_id, {GROUP_FIELDS}) VALUES (?, ?, ?, ?, ?, ?)"),
                &[
                    tenant.clone(),
                    text(&group.id),
                    name.clone(),
                    optional(&group.external_id),
                    number(group.created_at_ms),
                    number(group.updated_at_ms),
                ],
            )?
        } else {
            statement(
                &db,
                "UPDATE scim_groups SET display_name = ?, external_id = ?, updated_at_ms = ? WHERE tenant_id = ? AND id = ?",
                &[name.clone(), optional(&group.external_id), number(group.updated_at_ms), tenant.clone(), text(&group.id)],
            )?
        }];
        if let Some(old) = &write.renamed_from {
            // A member already in a group of the new name keeps that one membership.
            statements.push(statement(
                &db,
                "UPDATE OR IGNORE memberships SET group_name = ? WHERE tenant_id = ? AND group_name = ?",
                &[name.clone(), tenant.clone(), text(old)],
            )?);
            statements.push(statement(
                &db,
                "DELETE FROM memberships WHERE tenant_id = ? AND group_name = ?",
                &[tenant.clone(), text(old)],
            )?);
        }
        if !write.removed.is_empty() {
            let removed = serde_json::to_string(&write.removed).map_err(failed)?;
            statements.push(statement(
                &db,
                "DELETE FROM memberships WHERE tenant_id = ? AND group_name = ? \
                 AND user_id IN (SELECT value FROM json_each(?))",
                &[tenant.clone(), name.clone(), text(&removed)],
            )?);
        }
        if !write.added.is_empty() {
            let added = serde_json::to_string(&write.added).map_err(failed)?;
            // Only the tenant's own users join, whatever the ids say.
            statements.push(statement(
                &db,
                "INSERT OR IGNORE INTO memberships (tenant_id, user_id, group_name) \
                 SELECT ?1, j.value, ?2 FROM json_each(?3) j \
                 WHERE EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = ?1 AND u.id = j.value)",
                &[tenant.clone(), name.clone(), text(&added)],
            )?);
        }
        match db.batch(statements).in_time().await {
            Ok(results) if !write.create => {
                let changed = match results.first() {
                    Some(result) => changed_rows(result)?,
                    None => 0,
                };
                Ok(if changed == 0 { Written::Missing } else { Written::Done })
            }
            Ok(_) => Ok(Written::Done),
            Err(error) if error.to_string().contains("UNIQUE constraint failed") => Ok(Written::Taken("displayName")),
            Err(error) => Err(failed(error)),
        }
    }

    async fn delete_group(&self, scope: &TenantScope, group: &Group) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let results = db
            .batch(vec![
                statement(
                    &db,
                    "DELETE FROM memberships WHERE tenant_id = ? AND group_name = ?",
                    &[text(scope.id()), text(&group.display_name)],
                )?,
                statement(
                    &db,
                    "DELETE FROM scim_groups WHERE tenant_id = ? AND id = ?",
                    &[text(scope.id()), text(&group.id)],
                )?,
            ])
            .in_time()
            .await
            .map_err(failed)?;
        let deleted = match results.get(1) {
            Some(result) => changed_rows(result)?,
            None => 0,
        };
        Ok(deleted > 0)
    }
}
