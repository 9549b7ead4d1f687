//! SCIM Groups (RFC 7644 §3) over the [`ScimGroups`] port. A group is a name the tenant's role
//! mappings use and its members, the tenant's users; its memberships are the ones logins keep
//! too. A write is computed in memory as the members added and removed, and stored in one batch,
//! so a PATCH applies all of its operations or none. Members who leave a group that maps to a
//! role are named, so that the caller ends their sessions (a session carries its login's roles).

use super::error::ScimError;
use super::filter::{self, Filter};
use super::schema::{canonical_group, member_ids, GROUP_SCHEMA};
use super::sql::{where_clause, GROUP_COLUMNS};
use super::users::{rfc3339, Written, LIST_SCHEMA};
use crate::directory::store::Directory;
use crate::directory::TenantScope;
use crate::ports::{Clock, Entropy, Unavailable};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

pub use super::group::{Group, Member};

/// The most members a group has.
pub const MAX_GROUP_SIZE: usize = 100_000;

/// A write of a group: its row as it is to be, and the members it gains and loses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWrite {
    /// The group as it is to be (its `members` are not read: see `added` and `removed`).
    pub group: Group,
    /// Its name before, when it exists and the write renames it.
    pub renamed_from: Option<String>,
    /// Whether the group is new.
    pub create: bool,
    /// The user ids that join.
    pub added: Vec<String>,
    /// The user ids that leave.
    pub removed: Vec<String>,
}

/// A page of groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPage {
    /// How many groups match the filter in all.
    pub total: u32,
    /// This page's groups.
    pub groups: Vec<Group>,
}

/// The storage SCIM Groups need, scoped by tenant.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait ScimGroups {
    /// The group, with its members when `members` is set.
    async fn group(&self, scope: &TenantScope, id: &str, members: bool) -> Result<Option<Group>, Unavailable>;
    /// The groups `filter` selects, in id order, from the 1-based `start_index`.
    async fn group_page(
        &self,
        scope: &TenantScope,
        filter: Option<&Filter>,
        start_index: u32,
        count: u32,
        members: bool,
    ) -> Result<GroupPage, Unavailable>;
    /// The ids of `ids` that are no user of the tenant.
    async fn unknown_users(&self, scope: &TenantScope, ids: &[String]) -> Result<Vec<String>, Unavailable>;
    /// Stores a write, all of it or none; `Taken` when another group has the name.
    async fn write_group(&self, scope: &TenantScope, write: &GroupWrite) -> Result<Written, Unavailable>;
    /// Deletes a group and its memberships; `false` when there was none.
    async fn delete_group(&self, scope: &TenantScope, group: &Group) -> Result<bool, Unavailable>;
}

/// A group as SCIM shows it.
pub fn render(group: &Group, base_url: &str, with_members: bool) -> Value {
    let mut document = json!({
        "schemas": [GROUP_SCHEMA], "id": group.id, "displayName": group.display_name,
        "meta": { "resourceType": "Group", "created": rfc3339(group.created_at_ms),
                  "lastModified": rfc3339(group.updated_at_ms), "location": format!("{base_url}/Groups/{}", group.id) },
    });
    if let Some(external_id) = &group.external_id {
        document["externalId"] = json!(external_id);
    }
    if with_members && !group.members.is_empty() {
        let members: Vec<Value> = group
            .members
            .iter()
            // No `display`: IdPs compare the members they sent with the ones they get back.
            .map(|member| json!({ "value": member.id, "$ref": format!("{base_url}/Users/{}", member.id), "type": "User" }))
            .collect();
        document["members"] = Value::Array(members);
    }
    document
}

fn taken(written: Written) -> Result<(), ScimError> {
    match written {
        Written::Done => Ok(()),
        Written::Taken(_) => Err(ScimError::uniqueness("another group of this tenant has this displayName")),
        Written::Missing => Err(ScimError::not_found()),
    }
}

/// Whether `id` is a group id this module makes.
pub fn group_id_ok(id: &str) -> bool {
    id.len() == 26
        && id.starts_with("grp_")
        && id[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The most identities one group change signs out (each is a Durable Object call): a change
/// that would sign out more is refused, to be made in smaller steps.
pub const MAX_SIGN_OUTS: u32 = 500;

/// A group write checked and ready, with the sessions that must end before it is stored (ended
/// first, a write that could not end them would lose them: a retry finds nothing left to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWrite {
    write: GroupWrite,
    /// The (connection, subject) identities of members who lose a role by the write.
    pub identities_to_end: Vec<(String, String)>,
}

async fn planned(
    groups: &impl ScimGroups,
    directory: &impl Directory,
    scope: &TenantScope,
    write: GroupWrite,
) -> Result<PendingWrite, ScimError> {
    if !write.added.is_empty() {
        let unknown = groups.unknown_users(scope, &write.added).await?;
        if !unknown.is_empty() {
            let listed: Vec<&str> = unknown.iter().take(5).map(String::as_str).collect();
            return Err(ScimError::invalid_value(format!(
                "members: no such users in this tenant: {}",
                listed.join(", ")
            )));
        }
    }
    let mut identities_to_end = Vec::new();
    if !write.removed.is_empty() || write.renamed_from.is_some() {
        // Those who leave, or every member when the name their roles hang on changes.
        let old_name = write.renamed_from.as_deref().unwrap_or(&write.group.display_name);
        let mappings = directory.role_mappings(scope).await?;
        if mappings.iter().any(|mapping| mapping.group == old_name) {
            let mut leaving = write.removed.clone();
            if write.renamed_from.is_some() {
                leaving.extend(write.group.members.iter().map(|m| m.id.clone()));
            }
            identities_to_end = directory.identities_of_users(scope, &leaving, MAX_SIGN_OUTS + 1).await?;
            if identities_to_end.len() > MAX_SIGN_OUTS as usize {
                return Err(ScimError::invalid_value(format!(
                    "members: more than {MAX_SIGN_OUTS} sign-ins would lose a role at once; make the change in smaller steps"
                )));
            }
        }
    }
    Ok(PendingWrite { write, identities_to_end })
}

/// Stores a pending write, once its sessions have ended; the group as stored.
pub async fn commit(groups: &impl ScimGroups, scope: &TenantScope, pending: PendingWrite) -> Result<Group, ScimError> {
    taken(groups.write_group(scope, &pending.write).await?)?;
    groups.group(scope, &pending.write.group.id, true).await?.ok_or_else(ScimError::not_found)
}

/// `POST /Groups`.
pub async fn create(
    groups: &impl ScimGroups,
    directory: &impl Directory,
    entropy: &impl Entropy,
    clock: &impl Clock,
    scope: &TenantScope,
    body: &Value,
) -> Result<PendingWrite, ScimError> {
    let (document, members) = canonical_group(body)?;
    let id = format!("grp_{}", URL_SAFE_NO_PAD.encode(entropy.bytes::<16>().map_err(|_| ScimError::unavailable())?));
    let now = clock.now_ms();
    let group = Group {
        id,
        display_name: text(&document, "displayName").unwrap_or_default(),
        external_id: text(&document, "externalId"),
        members: Vec::new(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    let write = GroupWrite { group, renamed_from: None, create: true, added: members, removed: Vec::new() };
    planned(groups, directory, scope, write).await
}

fn text(document: &Map<String, Value>, name: &str) -> Option<String> {
    document.get(name).and_then(Value::as_str).map(|text| text.trim().to_owned())
}

/// The group, or 404.
pub async fn get(groups: &impl ScimGroups, scope: &TenantScope, id: &str, members: bool) -> Result<Group, ScimError> {
    if !group_id_ok(id) {
        return Err(ScimError::not_found());
    }
    groups.group(scope, id, members).await?.ok_or_else(ScimError::not_found)
}

/// The write that turns `before` into a group named `name` with `members`.
fn diff(
    before: &Group,
    name: String,
    external_id: Option<String>,
    members: &BTreeSet<String>,
    now_ms: u64,
) -> GroupWrite {
    let had: BTreeSet<&String> = before.members.iter().map(|m| &m.id).collect();
    let added = members.iter().filter(|id| !had.contains(id)).cloned().collect();
    let removed = had.iter().filter(|id| !members.contains(**id)).map(|id| (*id).clone()).collect();
    let renamed_from = (name != before.display_name).then(|| before.display_name.clone());
    let group = Group { display_name: name, external_id, updated_at_ms: now_ms, ..before.clone() };
    GroupWrite { group, renamed_from, create: false, added, removed }
}

/// `PUT /Groups/:id`.
pub async fn replace(
    groups: &impl ScimGroups,
    directory: &impl Directory,
    clock: &impl Clock,
    scope: &TenantScope,
    id: &str,
    body: &Value,
) -> Result<PendingWrite, ScimError> {
    let before = get(groups, scope, id, true).await?;
    let (document, members) = canonical_group(body)?;
    let name = text(&document, "displayName").unwrap_or_default();
    let write = diff(&before, name, text(&document, "externalId"), &members.into_iter().collect(), clock.now_ms());
    planned(groups, directory, scope, write).await
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

/// The member ids a `members[value eq "..."]` path names (`or` of `eq`s too).
fn filtered_members(filter: &Filter, into: &mut Vec<String>) -> Result<(), ScimError> {
    use super::filter::{CompValue, CompareOp};
    match filter {
        Filter::Compare(path, CompareOp::Eq, CompValue::Str(id)) if path.name == "value" && path.sub.is_none() => {
            into.push(id.clone());
            Ok(())
        }
        Filter::Or(a, b) => {
            filtered_members(a, into)?;
            filtered_members(b, into)
        }
        _ => Err(ScimError::invalid_filter("a members filter is value eq \"<id>\", or several joined by or")),
    }
}

/// `PATCH /Groups/:id`, in the dialects of Okta (`members[value eq "id"]` to remove; a path-less
/// `replace` of `displayName`) and Entra ID (`Remove` of `members` with a list of values).
pub async fn patch(
    groups: &impl ScimGroups,
    directory: &impl Directory,
    clock: &impl Clock,
    scope: &TenantScope,
    id: &str,
    body: &Value,
) -> Result<PendingWrite, ScimError> {
    let before = get(groups, scope, id, true).await?;
    let Value::Object(request) = body else { return Err(ScimError::invalid_syntax("a PATCH body is a JSON object")) };
    let patch_schema = super::patch::PATCH_SCHEMA;
    let schemas_ok = field(request, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|s| s.as_str() == Some(patch_schema)));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!("schemas must list {patch_schema}")));
    }
    let Some(Value::Array(operations)) = field(request, "Operations") else {
        return Err(ScimError::invalid_syntax("Operations: a list is required"));
    };
    if operations.is_empty() || operations.len() > super::patch::MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!("Operations: 1 to {}", super::patch::MAX_OPERATIONS)));
    }
    let mut name = before.display_name.clone();
    let mut external_id = before.external_id.clone();
    let mut members: BTreeSet<String> = before.members.iter().map(|m| m.id.clone()).collect();
    for operation in operations {
        let Value::Object(operation) = operation else {
            return Err(ScimError::invalid_syntax("an operation is a JSON object"));
        };
        let op = field(operation, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).unwrap_or_default();
        let value = field(operation, "value");
        let path = match field(operation, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) => Some(path.trim().to_owned()),
            Some(_) => return Err(ScimError::invalid_path("path: a string is required")),
        };
        let set_text = |target: &mut String, value: Option<&Value>| match value {
            Some(Value::String(text)) if !text.trim().is_empty() && text.len() <= 256 => {
                *target = text.trim().to_owned();
                Ok(())
            }
            _ => Err(ScimError::invalid_value("displayName: a non-empty string of at most 256 bytes")),
        };
        match (op.as_str(), path.as_deref().map(str::to_ascii_lowercase).as_deref()) {
            ("add" | "replace", None) => {
                let Some(Value::Object(object)) = value else {
                    return Err(ScimError::invalid_value("an operation without a path needs an object value"));
                };
                for (key, item) in object {
                    match key.to_ascii_lowercase().as_str() {
                        "displayname" => set_text(&mut name, Some(item))?,
                        "externalid" => external_id = item.as_str().map(str::to_owned),
                        "members" => {
                            let ids = member_ids(Some(item))?;
                            if op == "replace" {
                                members.clear();
                            }
                            members.extend(ids);
                        }
                        "id" | "schemas" | "meta" => {}
                        other => {
                            return Err(ScimError::invalid_path(format!("{other} is not an attribute of a Group")))
                        }
                    }
                }
            }
            ("add" | "replace", Some("displayname")) => set_text(&mut name, value)?,
            ("add" | "replace", Some("externalid")) => external_id = value.and_then(Value::as_str).map(str::to_owned),
            ("remove", Some("externalid")) => external_id = None,
            ("add", Some("members")) => members.extend(member_ids(value)?),
            ("replace", Some("members")) => members = member_ids(value)?.into_iter().collect(),
            // Entra ID names the members to remove in the value; with none, all go.
            ("remove", Some("members")) => match value {
                Some(value) => {
                    for id in member_ids(Some(value))? {
                        members.remove(&id);
                    }
                }
                None => members.clear(),
            },
            ("remove", Some(lower)) if lower.starts_with("members[") && lower.ends_with(']') => {
                // Parsed as the IdP wrote it: ids compare exactly.
                let parsed = filter::parse(&filter_of(operation)).map_err(|e| ScimError::invalid_filter(e.0))?;
                let mut ids = Vec::new();
                filtered_members(&parsed, &mut ids)?;
                for id in ids {
                    members.remove(&id);
                }
            }
            ("remove", Some("displayname")) => return Err(ScimError::mutability("displayName is required")),
            ("add" | "replace" | "remove", Some(other)) => {
                return Err(ScimError::invalid_path(format!("{other} is not an attribute of a Group")))
            }
            _ => return Err(ScimError::invalid_syntax("op: add, replace or remove")),
        }
    }
    if members.len() > MAX_GROUP_SIZE {
        return Err(ScimError::invalid_value(format!("members: a group has at most {MAX_GROUP_SIZE}")));
    }
    let write = diff(&before, name, external_id, &members, clock.now_ms());
    planned(groups, directory, scope, write).await
}

/// The filter inside a `members[...]` path, as the IdP wrote it.
fn filter_of(operation: &Map<String, Value>) -> String {
    let path = field(operation, "path").and_then(Value::as_str).unwrap_or_default().trim();
    let start = path.find('[').map_or(0, |at| at + 1);
    let end = path.rfind(']').unwrap_or(path.len()).max(start);
    path[start..end].to_owned()
}

/// `DELETE /Groups/:id`, first half: the group, and the identities of members who lose a role,
/// whose sessions the caller ends before [`delete`].
pub async fn before_delete(
    groups: &impl ScimGroups,
    directory: &impl Directory,
    scope: &TenantScope,
    id: &str,
) -> Result<(Group, Vec<(String, String)>), ScimError> {
    let group = get(groups, scope, id, true).await?;
    let mappings = directory.role_mappings(scope).await?;
    let mut identities = Vec::new();
    if mappings.iter().any(|mapping| mapping.group == group.display_name) {
        let members: Vec<String> = group.members.iter().map(|m| m.id.clone()).collect();
        identities = directory.identities_of_users(scope, &members, MAX_SIGN_OUTS + 1).await?;
        if identities.len() > MAX_SIGN_OUTS as usize {
            return Err(ScimError::invalid_value(format!(
                "more than {MAX_SIGN_OUTS} sign-ins would lose a role at once; remove members in smaller steps first"
            )));
        }
    }
    Ok((group, identities))
}

/// `DELETE /Groups/:id`, second half.
pub async fn delete(groups: &impl ScimGroups, scope: &TenantScope, group: &Group) -> Result<(), ScimError> {
    if !groups.delete_group(scope, group).await? {
        return Err(ScimError::not_found());
    }
    Ok(())
}

/// `GET /Groups`: a list response; `excludedAttributes=members` (as Entra ID asks) skips loading
/// the members.
pub async fn list(
    groups: &impl ScimGroups,
    scope: &TenantScope,
    query: super::users::ListQuery<'_>,
    with_members: bool,
    base_url: &str,
) -> Result<Value, ScimError> {
    let parsed = match query.filter {
        Some(text) => {
            let parsed = filter::parse(text).map_err(|e| ScimError::invalid_filter(e.0))?;
            where_clause(&parsed, GROUP_COLUMNS).map_err(|e| ScimError::invalid_filter(e.0))?;
            Some(parsed)
        }
        None => None,
    };
    let (start_index, count) = query.bounds()?;
    let page = groups.group_page(scope, parsed.as_ref(), start_index, count, with_members).await?;
    let resources: Vec<Value> = page.groups.iter().map(|group| render(group, base_url, with_members)).collect();
    Ok(json!({ "schemas": [LIST_SCHEMA], "totalResults": page.total, "startIndex": start_index,
               "itemsPerPage": resources.len(), "Resources": resources }))
}

pub mod memory;

#[cfg(test)]
mod tests;
