//! The SCIM 2.0 service provider of each tenant, at `/scim/v2/:tenant/`: discovery and Users,
//! for the tenant's IdP, which authenticates with one of the tenant's SCIM tokens. Every answer,
//! refusals included, is `application/scim+json`; deprovisioning a user ends their sessions at
//! once through the ledger's revocation path, as blocking does.

use super::adapters::WorkerClock;
use super::body::read_bounded;
use super::directory::D1Directory;
use super::directory_admin::origin_of;
use super::respond;
use super::sessions;
use super::tenants::D1Tenants;
use crate::config::Config;
use crate::directory::scim::discovery::{listed, project, resource_types, service_provider_config};
use crate::directory::scim::error::ScimError;
use crate::directory::scim::groups;
use crate::directory::scim::schema::schemas;
use crate::directory::scim::token::lookup_hash;
use crate::directory::scim::users::{self, render, Change, ListQuery};
use crate::directory::tenants::TenantStore;
use crate::directory::TenantScope;
use crate::edge::{ScimResource, SearchOf};
use crate::error::Failure;
use crate::gateway::refusals::GuardError;
use crate::http::headers;
use crate::http::{pair_value, RequestHead};
use crate::ports::SystemEntropy;
use serde_json::{json, Value};
use worker::{console_log, Env, Request, Response, Result};

const SCIM_JSON: &str = "application/scim+json; charset=utf-8";

/// The tenant the bearer token belongs to, when it is the tenant the path names.
async fn authenticated(
    env: &Env,
    head: &RequestHead,
    tenant: &str,
) -> std::result::Result<(TenantScope, String), ScimError> {
    let presented = head
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(ScimError::unauthorized)?;
    let hash = lookup_hash(presented).ok_or_else(ScimError::unauthorized)?;
    let (owner, token_id) = D1Tenants(env).scim_token_tenant(&hash).await?.ok_or_else(ScimError::unauthorized)?;
    // Another tenant's token is no token here: the same 401, so tokens reveal no tenants.
    if owner.id() != tenant {
        return Err(ScimError::unauthorized());
    }
    Ok((owner, token_id))
}

fn answer(status: u16, body: &Value, config: &Config, request_id: &str, location: Option<&str>) -> Result<Response> {
    let mut list = respond::edge_headers(&config.security_headers, request_id, SCIM_JSON);
    if let Some(location) = location {
        headers::set(&mut list, "location", location);
    }
    if status == 401 {
        headers::set(&mut list, "www-authenticate", "Bearer realm=\"scim\"");
    }
    let text = if status == 204 { String::new() } else { body.to_string() };
    respond::build_text(status, &list, &text)
}

fn parse_json(body: &[u8]) -> std::result::Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|_| ScimError::invalid_syntax("the body is not JSON"))
}

fn method_not_allowed() -> ScimError {
    ScimError::status(405, "this endpoint does not take this method")
}

/// Ends the sessions of a user the IdP deprovisioned or deleted.
async fn end_sessions(env: &Env, identities: &[(String, String)]) -> std::result::Result<(), ScimError> {
    for (connection, subject) in identities {
        sessions::revoke_subject(env, connection, subject).await.map_err(|()| ScimError::unavailable())?;
    }
    Ok(())
}

/// One audit line for a change the tenant's IdP made, naming the token it used.
fn audit(event: &str, tenant: &str, token: &str, subject_id: &str, detail: Value, request_id: &str) {
    console_log!(
        "{}",
        json!({ "event": event, "tenant": tenant, "id": subject_id, "actor": format!("scim:{token}"), "detail": detail,
                "request_id": request_id })
    );
}

/// Serves a SCIM request; never fails with anything but a SCIM error.
pub async fn serve(
    mut req: Request,
    env: &Env,
    config: &Config,
    head: &RequestHead,
    tenant: String,
    resource: ScimResource,
    request_id: &str,
) -> Result<Response> {
    let body = match read_bounded(&mut req, config.limits.max_edge_body_bytes).await {
        Ok(body) => body,
        Err(Failure::Guard(GuardError::BodyTooLarge)) => {
            let refused = ScimError::status(413, "the body is too large");
            return answer(413, &refused.body(), config, request_id, None);
        }
        Err(_) => {
            let refused = ScimError::invalid_syntax("the body could not be read");
            return answer(400, &refused.body(), config, request_id, None);
        }
    };
    match handle(env, head, &tenant, resource, &body, request_id).await {
        Ok((status, body, location)) => answer(status, &body, config, request_id, location.as_deref()),
        Err(error) => {
            console_log!(
                "{}",
                json!({ "event": "scim_refused", "tenant": tenant, "status": error.status, "scim_type": error.scim_type,
                        "detail": error.detail, "request_id": request_id })
            );
            answer(error.status, &error.body(), config, request_id, None)
        }
    }
}

type Answer = (u16, Value, Option<String>);

async fn handle(
    env: &Env,
    head: &RequestHead,
    tenant: &str,
    resource: ScimResource,
    body: &[u8],
    request_id: &str,
) -> std::result::Result<Answer, ScimError> {
    if resource == ScimResource::Unknown {
        return Err(ScimError::not_found());
    }
    let (scope, token) = authenticated(env, head, tenant).await?;
    let base_url = format!("{}/scim/v2/{tenant}", origin_of(&head.url));
    let query = head.query_pairs();
    let shown =
        |value: Value| project(value, pair_value(&query, "attributes"), pair_value(&query, "excludedAttributes"));
    let method = head.method.as_str();
    let directory = D1Directory(env);
    let tenants = D1Tenants(env);
    let read_only = matches!(method, "GET" | "HEAD");
    match resource {
        ScimResource::Unknown => Err(ScimError::not_found()),
        ScimResource::ServiceProviderConfig if read_only => Ok((200, service_provider_config(&base_url), None)),
        ScimResource::ResourceTypes(None) if read_only => Ok((200, listed(resource_types(&base_url)), None)),
        ScimResource::ResourceTypes(Some(id)) if read_only => {
            let found = resource_types(&base_url).into_iter().find(|r| r["id"] == id.as_str());
            found.map(|r| (200, r, None)).ok_or_else(ScimError::not_found)
        }
        ScimResource::Schemas(None) if read_only => Ok((200, listed(schemas(&base_url)), None)),
        ScimResource::Schemas(Some(id)) if read_only => {
            let found = schemas(&base_url).into_iter().find(|s| s["id"] == id.as_str());
            found.map(|s| (200, s, None)).ok_or_else(ScimError::not_found)
        }
        ScimResource::Users if read_only => {
            let list = ListQuery {
                filter: pair_value(&query, "filter"),
                start_index: pair_value(&query, "startIndex"),
                count: pair_value(&query, "count"),
            };
            let mut page = users::list(&directory, &scope, list, &base_url).await?;
            if let Some(Value::Array(resources)) = page.get_mut("Resources") {
                for resource in resources.iter_mut() {
                    *resource = shown(std::mem::take(resource));
                }
            }
            Ok((200, page, None))
        }
        ScimResource::Search(of) if method == "POST" => {
            let search = parse_json(body)?;
            let text = |name: &str| -> std::result::Result<Option<String>, ScimError> {
                match search.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(text)) => Ok(Some(text.clone())),
                    Some(Value::Number(number)) => Ok(Some(number.to_string())),
                    Some(Value::Array(list)) => {
                        Ok(Some(list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")))
                    }
                    Some(_) => Err(ScimError::invalid_value(format!("{name}: not a search parameter's type"))),
                }
            };
            let (filter, start, count) = (text("filter")?, text("startIndex")?, text("count")?);
            let (attributes, excluded) = (text("attributes")?, text("excludedAttributes")?);
            let list = ListQuery { filter: filter.as_deref(), start_index: start.as_deref(), count: count.as_deref() };
            let with_members =
                !excluded.as_deref().unwrap_or("").split(',').any(|n| n.trim().eq_ignore_ascii_case("members"));
            let mut page = match of {
                SearchOf::Users => users::list(&directory, &scope, list, &base_url).await?,
                SearchOf::Groups => groups::list(&directory, &scope, list, with_members, &base_url).await?,
                SearchOf::All => search_all(&directory, &scope, list, with_members, &base_url).await?,
            };
            if let Some(Value::Array(resources)) = page.get_mut("Resources") {
                for resource in resources.iter_mut() {
                    *resource = project(std::mem::take(resource), attributes.as_deref(), excluded.as_deref());
                }
            }
            Ok((200, page, None))
        }
        ScimResource::Users if method == "POST" => {
            let body = parse_json(body)?;
            let user = users::create(&directory, &tenants, &SystemEntropy, &WorkerClock, &scope, &body).await?;
            audit("scim_user_created", tenant, &token, &user.id, json!({}), request_id);
            let location = format!("{base_url}/Users/{}", user.id);
            Ok((201, shown(render(&user, &base_url)), Some(location)))
        }
        ScimResource::User(id) if read_only => {
            let user = users::get(&directory, &scope, &id).await?;
            Ok((200, shown(render(&user, &base_url)), None))
        }
        ScimResource::User(id) if method == "PUT" || method == "PATCH" => {
            let document = parse_json(body)?;
            let change: Change = if method == "PUT" {
                users::replace(&directory, &directory, &tenants, &WorkerClock, &scope, &id, &document).await?
            } else {
                users::patch(&directory, &directory, &tenants, &WorkerClock, &scope, &id, &document).await?
            };
            end_sessions(env, &change.identities_to_end).await?;
            let detail = json!({ "method": method, "active": change.user.status == crate::directory::UserStatus::Active,
                                 "sessions_ended_for": change.identities_to_end.len() });
            audit("scim_user_updated", tenant, &token, &change.user.id, detail, request_id);
            Ok((200, shown(render(&change.user, &base_url)), None))
        }
        ScimResource::Groups if read_only => {
            let list = ListQuery {
                filter: pair_value(&query, "filter"),
                start_index: pair_value(&query, "startIndex"),
                count: pair_value(&query, "count"),
            };
            let excluded = pair_value(&query, "excludedAttributes").unwrap_or("");
            let with_members = !excluded.split(',').any(|name| name.trim().eq_ignore_ascii_case("members"));
            let mut page = groups::list(&directory, &scope, list, with_members, &base_url).await?;
            if let Some(Value::Array(resources)) = page.get_mut("Resources") {
                for resource in resources.iter_mut() {
                    *resource = shown(std::mem::take(resource));
                }
            }
            Ok((200, page, None))
        }
        ScimResource::Groups if method == "POST" => {
            let body = parse_json(body)?;
            let pending = groups::create(&directory, &directory, &SystemEntropy, &WorkerClock, &scope, &body).await?;
            let group = groups::commit(&directory, &scope, pending).await?;
            audit(
                "scim_group_created",
                tenant,
                &token,
                &group.id,
                json!({ "members": group.members.len() }),
                request_id,
            );
            let location = format!("{base_url}/Groups/{}", group.id);
            Ok((201, shown(groups::render(&group, &base_url, true)), Some(location)))
        }
        ScimResource::Group(id) if read_only => {
            let excluded = pair_value(&query, "excludedAttributes").unwrap_or("");
            let with_members = !excluded.split(',').any(|name| name.trim().eq_ignore_ascii_case("members"));
            let group = groups::get(&directory, &scope, &id, with_members).await?;
            Ok((200, shown(groups::render(&group, &base_url, with_members)), None))
        }
        ScimResource::Group(id) if method == "PUT" || method == "PATCH" => {
            let document = parse_json(body)?;
            let pending = if method == "PUT" {
                groups::replace(&directory, &directory, &WorkerClock, &scope, &id, &document).await?
            } else {
                groups::patch(&directory, &directory, &WorkerClock, &scope, &id, &document).await?
            };
            // Sessions end before the write: a write whose revocations failed would leave a
            // retry nothing to do, and members their roles.
            let ended = pending.identities_to_end.len();
            end_sessions(env, &pending.identities_to_end).await?;
            let group = groups::commit(&directory, &scope, pending).await?;
            let detail = json!({ "method": method, "members": group.members.len(), "sessions_ended_for": ended });
            audit("scim_group_updated", tenant, &token, &group.id, detail, request_id);
            Ok((200, shown(groups::render(&group, &base_url, true)), None))
        }
        ScimResource::Group(id) if method == "DELETE" => {
            let (group, identities) = groups::before_delete(&directory, &directory, &scope, &id).await?;
            end_sessions(env, &identities).await?;
            groups::delete(&directory, &scope, &group).await?;
            audit(
                "scim_group_deleted",
                tenant,
                &token,
                &id,
                json!({ "sessions_ended_for": identities.len() }),
                request_id,
            );
            Ok((204, Value::Null, None))
        }
        ScimResource::User(id) if method == "DELETE" => {
            // Sessions end before the user and its identities go: afterwards nothing could end them.
            let (user, identities) = users::before_delete(&directory, &scope, &id).await?;
            end_sessions(env, &identities).await?;
            users::delete(&directory, &scope, &user).await?;
            audit(
                "scim_user_deleted",
                tenant,
                &token,
                &id,
                json!({ "sessions_ended_for": identities.len() }),
                request_id,
            );
            Ok((204, Value::Null, None))
        }
        _ => Err(method_not_allowed()),
    }
}

/// `POST /.search`: Users, then Groups, as one list. A filter that names what one type lacks
/// selects none of that type; one that neither has is an `invalidFilter`.
async fn search_all(
    directory: &D1Directory<'_>,
    scope: &TenantScope,
    list: ListQuery<'_>,
    with_members: bool,
    base_url: &str,
) -> std::result::Result<Value, ScimError> {
    let (start, count) = list.bounds()?;
    let (start, count) = (i64::from(start), i64::from(count));
    let part = |start: i64, count: i64| (start.to_string(), count.to_string());
    let (user_start, user_count) = part(start, count);
    let users_query = ListQuery { filter: list.filter, start_index: Some(&user_start), count: Some(&user_count) };
    let users_page = users::list(directory, scope, users_query, base_url).await;
    let (user_total, mut resources) = match &users_page {
        Ok(page) => {
            (page["totalResults"].as_i64().unwrap_or(0), page["Resources"].as_array().cloned().unwrap_or_default())
        }
        Err(error) if error.scim_type == Some("invalidFilter") => (0, Vec::new()),
        Err(error) => return Err(error.clone()),
    };
    let remaining = count - resources.len() as i64;
    let (group_start, group_count) = part((start - user_total).max(1), remaining.max(0));
    let groups_query = ListQuery { filter: list.filter, start_index: Some(&group_start), count: Some(&group_count) };
    let groups_page = groups::list(directory, scope, groups_query, with_members, base_url).await;
    let group_total = match (&groups_page, &users_page) {
        (Ok(page), _) => {
            resources.extend(page["Resources"].as_array().cloned().unwrap_or_default());
            page["totalResults"].as_i64().unwrap_or(0)
        }
        (Err(error), Ok(_)) if error.scim_type == Some("invalidFilter") => 0,
        (Err(error), _) => return Err(error.clone()),
    };
    Ok(json!({ "schemas": [users::LIST_SCHEMA], "totalResults": user_total + group_total, "startIndex": start,
               "itemsPerPage": resources.len(), "Resources": resources }))
}
