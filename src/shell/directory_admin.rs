//! The directory's administration API, for deployment administrators (the bootstrap admin key or
//! a JWT with the admin scope): search a tenant's users with a SCIM filter, and block or unblock
//! a user. Blocking ends the user's live sessions at once, everywhere, through the ledger's
//! revocation path that logout uses.

use super::adapters::WorkerClock;
use super::directory::D1Directory;
use super::key_admin::administrator;
use super::respond;
use super::sessions;
use crate::config::Config;
use crate::directory::lifecycle::set_status;
use crate::directory::scim::{filter, sql};
use crate::directory::{DirectoryError, TenantScope};
use crate::edge::DirectoryAdmin;
use crate::error::Failure;
use crate::http::{pair_value, RequestHead};
use worker::{console_log, Context, Env, Response};

/// The most users one search returns.
const MAX_COUNT: u32 = 200;

/// Serves a directory administration request.
pub async fn serve(
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
    op: DirectoryAdmin,
    request_id: &str,
) -> Result<Response, Failure> {
    let actor = administrator(env, ctx, config, head).await?;
    let directory = D1Directory(env);
    let respond = |body: serde_json::Value| {
        respond::json(200, &body, &config.security_headers, request_id).map_err(|_| Failure::Unavailable)
    };
    match op {
        DirectoryAdmin::ListUsers { tenant } => {
            let query = head.query_pairs();
            let count = match pair_value(&query, "count") {
                None => 50,
                Some(text) => match text.parse::<u32>() {
                    Ok(count) if (1..=MAX_COUNT).contains(&count) => count,
                    _ => return Err(Failure::InvalidBody(vec![format!("count: between 1 and {MAX_COUNT}")])),
                },
            };
            let clause = match pair_value(&query, "filter") {
                None => None,
                Some(text) => {
                    let parsed = filter::parse(text).map_err(DirectoryError::from)?;
                    Some(sql::where_clause(&parsed, sql::USER_COLUMNS).map_err(DirectoryError::from)?)
                }
            };
            let users = directory
                .list_users(&TenantScope::of(&tenant), clause.as_ref(), count)
                .await
                .map_err(DirectoryError::Unavailable)?;
            respond(serde_json::json!({ "tenant": tenant, "users": users }))
        }
        DirectoryAdmin::SetStatus { tenant, user, status } => {
            let scope = TenantScope::of(&tenant);
            let change = set_status(&directory, &WorkerClock, &scope, &user, status).await?;
            for (connection, subject) in &change.identities_to_end {
                // The session revocation key is the provider's id, which a configured provider's
                // connection id is.
                sessions::revoke_subject(env, connection, subject).await.map_err(|()| Failure::Unavailable)?;
            }
            let status_name = serde_json::to_value(change.user.status).unwrap_or_default();
            console_log!(
                "{}",
                serde_json::json!({ "event": "directory_user_status", "tenant": tenant, "user_id": user,
                                    "status": status_name, "sessions_ended_for": change.identities_to_end.len(),
                                    "actor": actor, "request_id": request_id })
            );
            respond(serde_json::json!({ "tenant": tenant, "id": user, "status": status_name,
                                        "identities_signed_out": change.identities_to_end.len() }))
        }
    }
}
