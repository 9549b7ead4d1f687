//! SCIM Users (RFC 7644 §3): create, get, list with a filter, replace, PATCH and delete, over
//! the [`ScimUsers`] port. `active: false` deprovisions the user, and deleting removes it; either
//! way the caller gets the identities whose sessions it must end at once.

use super::error::ScimError;
use super::filter::{self, Filter};
use super::patch::patch_user;
use super::schema::{canonical_user, primary_email, ENTERPRISE_SCHEMA, USER_SCHEMA};
use super::sql::{where_clause, USER_COLUMNS};
use crate::directory::store::Directory;
use crate::directory::tenants::TenantStore;
use crate::directory::{user_id_ok, TenantScope, User, UserStatus};
use crate::ports::{Clock, Entropy, Unavailable};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// The schema URN of a list response.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The most resources one page holds.
pub const MAX_PAGE: u32 = 200;
/// A page's size when the IdP does not say.
pub const DEFAULT_PAGE: u32 = 100;

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored.
    Done,
    /// Another user of the tenant holds this unique value (`userName`, or the email).
    Taken(&'static str),
    /// No such user (a replace of one deleted meanwhile).
    Missing,
}

/// A page of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// How many users match the filter in all.
    pub total: u32,
    /// This page's users.
    pub users: Vec<User>,
}

/// The storage SCIM needs, scoped by tenant like the rest of the directory.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait ScimUsers {
    /// Stores a new user.
    async fn insert_user(&self, scope: &TenantScope, user: &User) -> Result<Written, Unavailable>;
    /// Replaces a user's SCIM attributes and status (never its groups, which logins and SCIM
    /// Groups keep).
    async fn replace_user(&self, scope: &TenantScope, user: &User) -> Result<Written, Unavailable>;
    /// Deletes a user, its identities and memberships; `false` when there was none.
    async fn delete_user(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable>;
    /// The users `filter` selects, in id order, from the 1-based `start_index`.
    async fn page(
        &self,
        scope: &TenantScope,
        filter: Option<&Filter>,
        start_index: u32,
        count: u32,
    ) -> Result<Page, Unavailable>;
}

/// The result of a write, and whose sessions must end now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The user as stored.
    pub user: User,
    /// The (connection, subject) identities whose sessions end: the user was deprovisioned.
    pub identities_to_end: Vec<(String, String)>,
}

impl From<Unavailable> for ScimError {
    fn from(_: Unavailable) -> Self {
        ScimError::unavailable()
    }
}

fn status_after(profile: &Map<String, Value>, before: Option<UserStatus>) -> UserStatus {
    match (profile.get("active"), before) {
        // An administrator's block is not the IdP's to lift, nor to turn into something else.
        (_, Some(UserStatus::Blocked)) => UserStatus::Blocked,
        (Some(Value::Bool(false)), _) => UserStatus::Deprovisioned,
        // Only an explicit `active: true` brings a deprovisioned user back.
        (Some(Value::Bool(true)), _) => UserStatus::Active,
        (_, Some(UserStatus::Deprovisioned)) => UserStatus::Deprovisioned,
        _ => UserStatus::Active,
    }
}

/// The user a canonical document describes.
fn user_from(id: String, profile: Map<String, Value>, before: Option<&User>, now_ms: u64) -> User {
    let text = |name: &str| profile.get(name).and_then(Value::as_str).map(str::to_owned);
    let status = status_after(&profile, before.map(|user| user.status));
    User {
        id,
        user_name: text("userName").map(|name| name.trim().to_owned()),
        external_id: text("externalId"),
        email: primary_email(&profile),
        name: text("displayName"),
        status,
        groups: before.map(|user| user.groups.clone()).unwrap_or_default(),
        attributes: before.map(|user| user.attributes.clone()).unwrap_or_default(),
        created_at_ms: before.map_or(now_ms, |user| user.created_at_ms),
        updated_at_ms: now_ms,
        profile,
    }
}

/// A user as SCIM shows it; its columns are the source of what they hold.
pub fn render(user: &User, base_url: &str) -> Value {
    let mut document = user.profile.clone();
    document.remove("active");
    let mut set = |name: &str, value: Option<&String>| match value {
        Some(value) => {
            document.insert(name.into(), json!(value));
        }
        None => {
            document.remove(name);
        }
    };
    set("userName", user.user_name.as_ref().or(user.email.as_ref()));
    set("externalId", user.external_id.as_ref());
    set("displayName", user.name.as_ref());
    if !document.contains_key("emails") {
        if let Some(email) = &user.email {
            document.insert("emails".into(), json!([{ "value": email, "primary": true }]));
        }
    }
    let mut schemas = vec![json!(USER_SCHEMA)];
    if document.contains_key(ENTERPRISE_SCHEMA) {
        schemas.push(json!(ENTERPRISE_SCHEMA));
    }
    document.insert("schemas".into(), Value::Array(schemas));
    document.insert("id".into(), json!(user.id));
    // `active` as the IdP last wrote it; a user it never wrote (provisioned at login) or that an
    // administrator blocked shows its state. One the IdP removed `active` from stays without it
    // (and, deprovisioned, stays so: only an explicit `active: true` brings it back).
    let wrote_active = user.profile.contains_key("active");
    if wrote_active || user.profile.is_empty() || user.status == UserStatus::Blocked {
        document.insert("active".into(), json!(user.status == UserStatus::Active));
    }
    document.insert(
        "meta".into(),
        json!({ "resourceType": "User", "created": rfc3339(user.created_at_ms),
                "lastModified": rfc3339(user.updated_at_ms), "location": format!("{base_url}/Users/{}", user.id) }),
    );
    Value::Object(document)
}

/// Milliseconds since the epoch as RFC 3339 UTC, such as `2026-12-02T19:26:49.123Z`.
pub fn rfc3339(ms: u64) -> String {
    let rest = ms % 86_400_000;
    let (year, month, day) = crate::calendar::civil_from_days(ms / 86_400_000);
    let (hours, minutes, seconds, millis) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z")
}

/// A tenant's IdP speaks for its own domains only: an email in a domain another tenant has
/// verified is refused, as logins drop it.
async fn email_is_the_tenants(tenants: &impl TenantStore, scope: &TenantScope, user: &User) -> Result<(), ScimError> {
    let Some(domain) = user.email.as_deref().and_then(|email| email.rsplit_once('@')).map(|(_, domain)| domain) else {
        return Ok(());
    };
    match tenants.verified_owner(domain).await? {
        Some(owner) if &owner != scope => {
            Err(ScimError::invalid_value("emails: the domain belongs to another tenant of this deployment"))
        }
        _ => Ok(()),
    }
}

fn taken(written: Written) -> Result<(), ScimError> {
    match written {
        Written::Done => Ok(()),
        Written::Taken(what) => Err(ScimError::uniqueness(format!("another user of this tenant has this {what}"))),
        Written::Missing => Err(ScimError::not_found()),
    }
}

/// `POST /Users`.
pub async fn create(
    users: &impl ScimUsers,
    tenants: &impl TenantStore,
    entropy: &impl Entropy,
    clock: &impl Clock,
    scope: &TenantScope,
    body: &Value,
) -> Result<User, ScimError> {
    let profile = canonical_user(body)?;
    let id = format!("usr_{}", URL_SAFE_NO_PAD.encode(entropy.bytes::<16>().map_err(|_| ScimError::unavailable())?));
    let user = user_from(id, profile, None, clock.now_ms());
    email_is_the_tenants(tenants, scope, &user).await?;
    taken(users.insert_user(scope, &user).await?)?;
    Ok(user)
}

/// The user, or 404.
pub async fn get(directory: &impl Directory, scope: &TenantScope, id: &str) -> Result<User, ScimError> {
    if !user_id_ok(id) {
        return Err(ScimError::not_found());
    }
    directory.user(scope, id).await?.ok_or_else(ScimError::not_found)
}

async fn store(
    users: &impl ScimUsers,
    directory: &impl Directory,
    tenants: &impl TenantStore,
    scope: &TenantScope,
    user: User,
) -> Result<Change, ScimError> {
    email_is_the_tenants(tenants, scope, &user).await?;
    taken(users.replace_user(scope, &user).await?)?;
    // Whenever the user may not sign in, not only when it stops: an IdP that retries after a
    // failed revocation gets the identities again, so its retry finishes the job.
    let identities_to_end =
        if user.status == UserStatus::Active { Vec::new() } else { directory.identities(scope, &user.id).await? };
    Ok(Change { user, identities_to_end })
}

/// `PUT /Users/:id`: the document replaces the user's SCIM attributes.
pub async fn replace(
    users: &impl ScimUsers,
    directory: &impl Directory,
    tenants: &impl TenantStore,
    clock: &impl Clock,
    scope: &TenantScope,
    id: &str,
    body: &Value,
) -> Result<Change, ScimError> {
    let before = get(directory, scope, id).await?;
    let profile = canonical_user(body)?;
    let user = user_from(before.id.clone(), profile, Some(&before), clock.now_ms());
    store(users, directory, tenants, scope, user).await
}

/// `PATCH /Users/:id`.
pub async fn patch(
    users: &impl ScimUsers,
    directory: &impl Directory,
    tenants: &impl TenantStore,
    clock: &impl Clock,
    scope: &TenantScope,
    id: &str,
    body: &Value,
) -> Result<Change, ScimError> {
    let before = get(directory, scope, id).await?;
    let mut current = render(&before, "");
    if let Value::Object(document) = &mut current {
        for server_owned in ["id", "meta", "schemas"] {
            document.remove(server_owned);
        }
    }
    let current = canonical_user(&current)?;
    let profile = patch_user(&current, body)?;
    let user = user_from(before.id.clone(), profile, Some(&before), clock.now_ms());
    store(users, directory, tenants, scope, user).await
}

/// `DELETE /Users/:id`, first half: the user, and the identities whose sessions the caller must
/// end before [`delete`] removes them (a deletion that could not end them would lose them). An
/// administrator's block is refused: deleting would drop it with the identities, and the next
/// login would make a new, active user.
pub async fn before_delete(
    directory: &impl Directory,
    scope: &TenantScope,
    id: &str,
) -> Result<(User, Vec<(String, String)>), ScimError> {
    let user = get(directory, scope, id).await?;
    if user.status == UserStatus::Blocked {
        return Err(ScimError::status(409, "the user is blocked by an administrator; unblock it first"));
    }
    let identities = directory.identities(scope, &user.id).await?;
    Ok((user, identities))
}

/// `DELETE /Users/:id`, second half, once the user's sessions have ended.
pub async fn delete(users: &impl ScimUsers, scope: &TenantScope, user: &User) -> Result<(), ScimError> {
    if !users.delete_user(scope, &user.id).await? {
        return Err(ScimError::not_found());
    }
    Ok(())
}

/// A list request's query: `filter`, `startIndex`, `count`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    /// The filter, if any.
    pub filter: Option<&'a str>,
    /// `startIndex`, 1-based.
    pub start_index: Option<&'a str>,
    /// `count`.
    pub count: Option<&'a str>,
}

impl ListQuery<'_> {
    /// `startIndex` and `count` as RFC 7644 §3.4.2.4 reads them: an index below 1 means 1, a
    /// negative count means 0, and a count above [`MAX_PAGE`] means that many.
    pub fn bounds(&self) -> Result<(u32, u32), ScimError> {
        let number = |text: Option<&str>, default: i64| match text {
            None => Ok(default),
            Some(text) => {
                text.trim().parse::<i64>().map_err(|_| ScimError::invalid_value("startIndex and count are integers"))
            }
        };
        let start_index = number(self.start_index, 1)?.clamp(1, i64::from(u32::MAX)) as u32;
        let count = number(self.count, i64::from(DEFAULT_PAGE))?.clamp(0, i64::from(MAX_PAGE)) as u32;
        Ok((start_index, count))
    }
}

/// `GET /Users`: a list response.
pub async fn list(
    users: &impl ScimUsers,
    scope: &TenantScope,
    query: ListQuery<'_>,
    base_url: &str,
) -> Result<Value, ScimError> {
    let parsed = match query.filter {
        Some(text) => {
            let parsed = filter::parse(text).map_err(|e| ScimError::invalid_filter(e.0))?;
            // What the directory cannot filter on is refused here, before any storage.
            where_clause(&parsed, USER_COLUMNS).map_err(|e| ScimError::invalid_filter(e.0))?;
            Some(parsed)
        }
        None => None,
    };
    let (start_index, count) = query.bounds()?;
    let page = users.page(scope, parsed.as_ref(), start_index, count).await?;
    let resources: Vec<Value> = page.users.iter().map(|user| render(user, base_url)).collect();
    Ok(json!({ "schemas": [LIST_SCHEMA], "totalResults": page.total, "startIndex": start_index,
               "itemsPerPage": resources.len(), "Resources": resources }))
}

pub mod memory;

#[cfg(test)]
mod tests;
