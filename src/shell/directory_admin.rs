//! The directory's administration API. Deployment administrators (the bootstrap admin key, or a
//! JWT with the admin scope) manage every tenant; a tenant administrator (a JWT with the
//! tenant-admin scope) only the tenant of its `tenant` claim, and cannot create tenants.
//!
//! Tenants, their domains (claimed, then verified by a DNS TXT record looked up over
//! DNS-over-HTTPS), their group → role mappings and their users: search with a SCIM filter, block
//! and unblock. Blocking ends the user's live sessions at once, everywhere, through the ledger's
//! revocation path that logout uses.

use super::adapters::{FetchClient, WorkerClock};
use super::body::{parse_body, read_bounded, required_body};
use super::connections;
use super::directory::D1Directory;
use super::key_admin::{admin_caller, AdminCaller};
use super::respond;
use super::sessions;
use super::setup_links::D1SetupLinks;
use super::tenants::D1Tenants;
use crate::authn::api_key::admin::may_administer;
use crate::config::Config;
use crate::directory::administrator::{tenant_administrator, Administrator, NotYours};
use crate::directory::connections::{new_connection_id, Connection, MAX_CONNECTIONS};
use crate::directory::lifecycle::set_status;
use crate::directory::onboarding::{self, SetupLinkStore};
use crate::directory::scim::{filter, sql};
use crate::directory::store::Directory;
use crate::directory::tenancy::{self, existing_tenant};
use crate::directory::tenants::TenantStore;
use crate::directory::{DirectoryError, TenantScope};
use crate::edge::DirectoryAdmin;
use crate::error::Failure;
use crate::http::{pair_value, RequestHead};
use crate::login::config::LoginConfig;
use crate::login::connection;
use crate::login::provider::Provider;
use crate::ports::{Clock, Entropy, SystemEntropy};
use serde_json::{json, Value};
use worker::{console_log, Context, Env, Request, Response};

/// The most users one search returns.
const MAX_COUNT: u32 = 200;

/// The most identities one role-mapping change or connection removal signs out (each is a
/// Durable Object call).
const MAX_SIGN_OUTS: u32 = 500;

/// A tenant's connection from a request body, its secret sealed under the directory key.
pub(super) fn seal_connection(
    env: &Env,
    config: &Config,
    login: &crate::login::config::LoginConfig,
    body: &Value,
    id: &str,
    scope: &TenantScope,
    active: bool,
) -> Result<(Connection, Provider), Failure> {
    let key = connections::directory_key(env)?;
    let own_hosts = connections::own_hosts(config, login);
    let sealing = connection::Sealing {
        id,
        scope,
        environment: config.environment,
        own_hosts: &own_hosts,
        key: &key,
        nonce: SystemEntropy.bytes::<12>().map_err(|_| Failure::Unavailable)?,
        now_ms: WorkerClock.now_ms(),
        active,
    };
    connection::sealed_connection(body, sealing).map_err(Failure::InvalidBody)
}

/// A SAML connection that would sign (its requests, or Single Logout) or decrypt where this SP
/// has no such key.
fn refuse_without_sp_keys(login: &LoginConfig, provider: &Provider) -> Result<(), Failure> {
    let Some(settings) = crate::login::flow::saml::settings_of(provider) else { return Ok(()) };
    let mut problems = Vec::new();
    if login.saml_signing.is_none() {
        if settings.sign_requests {
            problems.push("saml.sign_requests: this deployment has no SAML SP key (login.saml_signing)".to_owned());
        }
        if settings.slo_url.is_some() {
            problems.push("saml.slo_url: this deployment has no SAML SP key (login.saml_signing)".to_owned());
        }
    }
    if crate::saml::config::pins_an_sp_key(settings, &[login.saml_signing.as_ref(), login.saml_encryption.as_ref()]) {
        problems.push("saml.certificates: this SP's own certificate, which cannot be the IdP's".to_owned());
    }
    if login.saml_encryption.is_none() && settings.require_encryption {
        problems.push(
            "saml.require_encryption: this deployment has no SAML decryption key (login.saml_encryption)".to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::InvalidBody(problems))
    }
}

impl From<NotYours> for Failure {
    fn from(_: NotYours) -> Self {
        Failure::Forbidden
    }
}

/// The directory administrator the caller is, if it is one.
async fn administrator(
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
) -> Result<Administrator, Failure> {
    match admin_caller(env, ctx, config, head).await? {
        AdminCaller::Bootstrap => Ok(Administrator::Deployment { name: "bootstrap-admin".into() }),
        AdminCaller::Token(principal) if may_administer(&principal, config.api_keys.as_ref()) => {
            Ok(Administrator::Deployment { name: principal.subject().to_owned() })
        }
        AdminCaller::Token(principal) => {
            let directory = &config.directory;
            tenant_administrator(&principal, &directory.tenant_admin_scope, &directory.tenant_admin_issuers)
                .ok_or(Failure::Forbidden)
        }
    }
}

/// Ends every session of each identity, at once (the revocation path logout uses).
async fn sign_out<'a>(env: &Env, identities: impl IntoIterator<Item = &'a (String, String)>) -> Result<(), Failure> {
    for (connection, subject) in identities {
        sessions::revoke_subject(env, connection, subject).await.map_err(|()| Failure::Unavailable)?;
    }
    Ok(())
}

/// 404 unless the tenant has a connection with this id (another tenant's is not found either).
async fn existing_connection(tenants: &impl TenantStore, scope: &TenantScope, id: &str) -> Result<(), Failure> {
    match tenants.connection(id).await.map_err(DirectoryError::Unavailable)? {
        Some(connection) if connection.tenant == scope.id() => Ok(()),
        _ => Err(Failure::NotFound),
    }
}

/// One audit line for a change an administrator made.
fn audit(event: &str, admin: &Administrator, tenant: &str, detail: Value, request_id: &str) {
    console_log!(
        "{}",
        json!({ "event": event, "tenant": tenant, "actor": admin.name(), "detail": detail, "request_id": request_id })
    );
}

/// Serves a directory administration request.
pub async fn serve(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
    op: DirectoryAdmin,
    request_id: &str,
) -> Result<Response, Failure> {
    // Read the (bounded) body before answering anything, so a refusal never cuts off an upload.
    let body = read_bounded(&mut req, config.limits.max_edge_body_bytes).await?;
    let admin = administrator(env, ctx, config, head).await?;
    let (directory, tenants) = (D1Directory(env), D1Tenants(env));
    let respond = |status: u16, body: Value| {
        respond::json(status, &body, &config.security_headers, request_id).map_err(|_| Failure::Unavailable)
    };
    match op {
        DirectoryAdmin::CreateTenant => {
            admin.manages_the_deployment()?;
            let tenant = tenancy::create_tenant(&tenants, &WorkerClock, required_body(&body)?).await?;
            audit("directory_tenant_created", &admin, &tenant.id, json!({ "name": tenant.name }), request_id);
            respond(201, json!(tenant))
        }
        DirectoryAdmin::GetTenant { tenant } => {
            let scope = admin.scope(&tenant)?;
            let found = existing_tenant(&tenants, &scope).await?;
            let domains = tenants.domains(&scope).await.map_err(DirectoryError::Unavailable)?;
            let mappings = directory.role_mappings(&scope).await.map_err(DirectoryError::Unavailable)?;
            let domains: Vec<Value> = domains.iter().map(domain_view).collect();
            respond(
                200,
                json!({ "id": found.id, "name": found.name, "created_at_ms": found.created_at_ms,
                                 "domains": domains, "role_mappings": mappings }),
            )
        }
        DirectoryAdmin::ClaimDomain { tenant } => {
            let scope = admin.scope(&tenant)?;
            let claim = tenancy::claim_domain(&tenants, &SystemEntropy, &scope, required_body(&body)?).await?;
            audit("directory_domain_claimed", &admin, &tenant, json!({ "domain": claim.domain }), request_id);
            respond(201, domain_view(&claim))
        }
        DirectoryAdmin::VerifyDomain { tenant, domain } => {
            let scope = admin.scope(&tenant)?;
            let resolver = &config.directory.dns_resolver;
            let verified =
                tenancy::verify_domain(&tenants, &FetchClient, &WorkerClock, resolver, &scope, &domain).await;
            let outcome = if verified.is_ok() { "verified" } else { "not_verified" };
            audit(
                "directory_domain_verification",
                &admin,
                &tenant,
                json!({ "domain": domain, "outcome": outcome }),
                request_id,
            );
            respond(200, domain_view(&verified?))
        }
        DirectoryAdmin::ReleaseDomain { tenant, domain } => {
            let scope = admin.scope(&tenant)?;
            if !tenants.release_domain(&scope, &domain).await.map_err(DirectoryError::Unavailable)? {
                return Err(DirectoryError::DomainNotFound.into());
            }
            audit("directory_domain_released", &admin, &tenant, json!({ "domain": domain }), request_id);
            respond(200, json!({ "domain": domain, "released": true }))
        }
        DirectoryAdmin::SetRoleMappings { tenant } => {
            let scope = admin.scope(&tenant)?;
            let request = required_body(&body)?;
            let change = tenancy::plan_role_mappings(&tenants, &directory, &config.roles, &scope, request).await?;
            // A session carries the roles of its login: those who lose one sign in again. They are
            // signed out before the write, so that a retry after a failure signs them out too.
            let losing = directory
                .identities_in_groups(&scope, &change.groups_losing_roles, MAX_SIGN_OUTS + 1)
                .await
                .map_err(DirectoryError::Unavailable)?;
            let ended = losing.iter().take(MAX_SIGN_OUTS as usize);
            sign_out(env, ended.clone()).await?;
            tenancy::apply_role_mappings(&tenants, &scope, &change).await?;
            let signed_out = ended.count();
            let more = losing.len() > MAX_SIGN_OUTS as usize;
            let detail = json!({ "count": change.mappings.len(), "identities_signed_out": signed_out, "more": more });
            audit("directory_role_mappings_set", &admin, &tenant, detail, request_id);
            respond(
                200,
                json!({ "tenant": tenant, "role_mappings": change.mappings,
                                 "identities_signed_out": signed_out, "more_sessions_keep_old_roles": more }),
            )
        }
        DirectoryAdmin::ScimTokens { tenant, issue: true } => {
            let scope = admin.scope(&tenant)?;
            let issued = tenancy::issue_scim_token(&tenants, &SystemEntropy, &WorkerClock, &scope).await?;
            audit("directory_scim_token_issued", &admin, &tenant, json!({ "id": issued.id }), request_id);
            let base_url = format!("{}/scim/v2/{tenant}", origin_of(&head.url));
            respond(201, json!({ "id": issued.id, "token": issued.token.expose(), "scim_base_url": base_url }))
        }
        DirectoryAdmin::ScimTokens { tenant, issue: false } => {
            let scope = admin.scope(&tenant)?;
            existing_tenant(&tenants, &scope).await?;
            let tokens = tenants.scim_tokens(&scope).await.map_err(DirectoryError::Unavailable)?;
            respond(200, json!({ "tenant": tenant, "scim_tokens": tokens }))
        }
        DirectoryAdmin::RevokeScimToken { tenant, id } => {
            let scope = admin.scope(&tenant)?;
            if !tenants.remove_scim_token(&scope, &id).await.map_err(DirectoryError::Unavailable)? {
                return Err(Failure::NotFound);
            }
            audit("directory_scim_token_revoked", &admin, &tenant, json!({ "id": id }), request_id);
            respond(200, json!({ "id": id, "revoked": true }))
        }
        DirectoryAdmin::Connections { tenant, create: true } => {
            let scope = admin.scope(&tenant)?;
            let login = config.login.as_ref().ok_or(Failure::NotFound)?;
            existing_tenant(&tenants, &scope).await?;
            let id = new_connection_id(SystemEntropy.bytes::<16>().map_err(|_| Failure::Unavailable)?);
            let body: serde_json::Value = required_body(&body)?;
            if tenants.connections(&scope).await.map_err(DirectoryError::Unavailable)?.len() >= MAX_CONNECTIONS {
                return Err(Failure::InvalidBody(vec![format!(
                    "a tenant has at most {MAX_CONNECTIONS} connections: remove one first"
                )]));
            }
            // A SAML connection may name its IdP's metadata instead of (some of) its settings.
            let body = connections::with_idp_metadata(config, login, &body).await?;
            let (stored, provider) = seal_connection(env, config, login, &body, &id, &scope, true)?;
            refuse_without_sp_keys(login, &provider)?;
            tenants.save_connection(&scope, &stored).await.map_err(DirectoryError::Unavailable)?;
            audit("directory_connection_created", &admin, &tenant, json!({ "id": id }), request_id);
            respond(201, connection_view(&stored, Some((login, &provider))))
        }
        DirectoryAdmin::Connections { tenant, create: false } => {
            let scope = admin.scope(&tenant)?;
            existing_tenant(&tenants, &scope).await?;
            let login = config.login.as_ref();
            let listed: Vec<Value> = tenants
                .connections(&scope)
                .await
                .map_err(DirectoryError::Unavailable)?
                .iter()
                .map(|stored| {
                    let provider = connection::provider_of(stored, config.environment);
                    connection_view(stored, login.zip(provider.as_ref()))
                })
                .collect();
            respond(200, json!({ "tenant": tenant, "connections": listed }))
        }
        DirectoryAdmin::ActivateConnection { tenant, id } => {
            let scope = admin.scope(&tenant)?;
            let now = WorkerClock.now_ms();
            if !tenants.activate_connection(&scope, &id, now).await.map_err(DirectoryError::Unavailable)? {
                return Err(Failure::NotFound);
            }
            audit("directory_connection_activated", &admin, &tenant, json!({ "id": id }), request_id);
            respond(200, json!({ "id": id, "active": true }))
        }
        DirectoryAdmin::RemoveConnection { tenant, id } => {
            let scope = admin.scope(&tenant)?;
            // Its identities are signed out first, then it is removed, then anyone who signed in
            // through it meanwhile is signed out too. A failure before the removal leaves it in
            // place, so the retry signs out the same people; only the last step is not retried.
            existing_connection(&tenants, &scope, &id).await?;
            let identities = directory
                .identities_of_connection(&scope, &id, MAX_SIGN_OUTS + 1)
                .await
                .map_err(DirectoryError::Unavailable)?;
            let ended = identities.iter().take(MAX_SIGN_OUTS as usize);
            sign_out(env, ended.clone()).await?;
            if !tenants.remove_connection(&scope, &id).await.map_err(DirectoryError::Unavailable)? {
                return Err(Failure::NotFound);
            }
            let late = directory
                .identities_of_connection(&scope, &id, MAX_SIGN_OUTS + 1)
                .await
                .map_err(DirectoryError::Unavailable)?;
            sign_out(env, late.iter().filter(|identity| !identities.contains(identity)).take(MAX_SIGN_OUTS as usize))
                .await?;
            let (signed_out, more) = (ended.count(), identities.len() > MAX_SIGN_OUTS as usize);
            let detail = json!({ "id": id, "identities_signed_out": signed_out, "more": more });
            audit("directory_connection_removed", &admin, &tenant, detail, request_id);
            respond(
                200,
                json!({ "id": id, "removed": true, "identities_signed_out": signed_out,
                                 "more_sessions_keep_running": more }),
            )
        }
        DirectoryAdmin::SetupLinks { tenant, issue: true } => {
            let scope = admin.scope(&tenant)?;
            let login = config.login.as_ref().ok_or(Failure::NotFound)?;
            let request = parse_body(&body)?.unwrap_or_default();
            let links = D1SetupLinks(env);
            let issued =
                onboarding::issue_link(&links, &tenants, &SystemEntropy, &WorkerClock, &scope, admin.name(), request)
                    .await?;
            let link = &issued.link;
            let detail =
                json!({ "id": link.id, "expires_at_ms": link.expires_at_ms, "connection_id": link.connection_id });
            audit("directory_setup_link_created", &admin, &tenant, detail, request_id);
            // On the gateway's public origin, where the callback (and so the setup cookie) is;
            // the token in the fragment, which browsers never send to a server.
            let url = format!(
                "{}{}/setup#token={}",
                origin_of(&login.redirect_uri),
                config.edge_prefix,
                issued.token.expose()
            );
            respond(
                201,
                json!({ "id": link.id, "url": url, "expires_at_ms": link.expires_at_ms,
                        "connection_id": link.connection_id,
                        "redirect_uri": login.own_redirect_uri(&link.connection_id) }),
            )
        }
        DirectoryAdmin::SetupLinks { tenant, issue: false } => {
            let scope = admin.scope(&tenant)?;
            existing_tenant(&tenants, &scope).await?;
            let now = WorkerClock.now_ms();
            let listed: Vec<Value> = D1SetupLinks(env)
                .links(&scope)
                .await
                .map_err(DirectoryError::Unavailable)?
                .iter()
                .map(|link| {
                    let mut view = json!(link);
                    view["status"] = json!(link.status(now));
                    view
                })
                .collect();
            respond(200, json!({ "tenant": tenant, "setup_links": listed }))
        }
        DirectoryAdmin::RemoveSetupLink { tenant, id } => {
            let scope = admin.scope(&tenant)?;
            if !D1SetupLinks(env).remove_link(&scope, &id).await.map_err(DirectoryError::Unavailable)? {
                return Err(Failure::NotFound);
            }
            audit("directory_setup_link_removed", &admin, &tenant, json!({ "id": id }), request_id);
            respond(200, json!({ "id": id, "removed": true }))
        }
        DirectoryAdmin::ListUsers { tenant } => {
            let scope = admin.scope(&tenant)?;
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
            let users =
                directory.list_users(&scope, clause.as_ref(), count).await.map_err(DirectoryError::Unavailable)?;
            respond(200, json!({ "tenant": tenant, "users": users }))
        }
        DirectoryAdmin::UserSessions { tenant, user, end } => {
            let scope = admin.scope(&tenant)?;
            let identities = user_identities(&directory, &scope, &user).await?;
            if end {
                sign_out(env, &identities).await?;
                let detail = json!({ "user_id": user, "identities_signed_out": identities.len() });
                audit("directory_user_sessions_ended", &admin, &tenant, detail, request_id);
                return respond(
                    200,
                    json!({ "tenant": tenant, "id": user, "identities_signed_out": identities.len() }),
                );
            }
            let mut listed = Vec::new();
            for (connection, subject) in &identities {
                let found = sessions::list_of(env, connection, subject).await.map_err(|()| Failure::Unavailable)?;
                listed.extend(found.into_iter().map(|summary| {
                    let mut view = json!(summary);
                    view["connection"] = json!(connection);
                    view
                }));
            }
            respond(200, json!({ "tenant": tenant, "id": user, "sessions": listed }))
        }
        DirectoryAdmin::EndUserSession { tenant, user, session } => {
            let scope = admin.scope(&tenant)?;
            let mut ended = false;
            for (connection, subject) in user_identities(&directory, &scope, &user).await? {
                ended |= sessions::end_listed(env, &connection, &subject, &session)
                    .await
                    .map_err(|()| Failure::Unavailable)?;
            }
            if !ended {
                return Err(Failure::NotFound);
            }
            audit(
                "directory_user_session_ended",
                &admin,
                &tenant,
                json!({ "user_id": user, "session": session }),
                request_id,
            );
            respond(200, json!({ "tenant": tenant, "id": user, "session": session, "ended": true }))
        }
        DirectoryAdmin::SetStatus { tenant, user, status } => {
            let scope = admin.scope(&tenant)?;
            let change = set_status(&directory, &WorkerClock, &scope, &user, status).await?;
            // The session revocation key is the provider's id, which a configured provider's
            // connection id is.
            sign_out(env, &change.identities_to_end).await?;
            let status_name = serde_json::to_value(change.user.status).unwrap_or_default();
            let detail = json!({ "user_id": user, "status": status_name,
                                 "sessions_ended_for": change.identities_to_end.len() });
            audit("directory_user_status", &admin, &tenant, detail, request_id);
            respond(
                200,
                json!({ "tenant": tenant, "id": user, "status": status_name,
                                 "identities_signed_out": change.identities_to_end.len() }),
            )
        }
    }
}

/// The (connection, subject) identities of one of the tenant's users; 404 when the tenant has no
/// such user.
async fn user_identities(
    directory: &D1Directory<'_>,
    scope: &TenantScope,
    user: &str,
) -> Result<Vec<(String, String)>, Failure> {
    if directory.user(scope, user).await.map_err(DirectoryError::Unavailable)?.is_none() {
        return Err(DirectoryError::UserNotFound.into());
    }
    Ok(directory.identities(scope, user).await.map_err(DirectoryError::Unavailable)?)
}

/// A connection as the API shows it: its settings (which never hold the secret), where its IdP
/// sends users back, and for a SAML connection what its IdP is to be told about this SP.
pub(super) fn connection_view(stored: &Connection, provider: Option<(&LoginConfig, &Provider)>) -> Value {
    let mut settings = stored.settings.clone();
    if let Value::Object(fields) = &mut settings {
        fields.remove("client_secret");
    }
    let redirect_uri = provider.map(|(login, provider)| login.redirect_uri_for(provider));
    let mut view = json!({ "id": stored.id, "tenant": stored.tenant, "type": stored.kind, "settings": settings,
            "redirect_uri": redirect_uri, "created_at_ms": stored.created_at_ms, "active": stored.active });
    if let Some(sp) = provider.and_then(|(login, provider)| super::saml_login::sp_view(login, provider)) {
        view["saml_sp"] = sp;
    }
    view
}

/// `scheme://host[:port]` of a request URL.
pub(super) fn origin_of(url: &str) -> String {
    url::Url::parse(url).map(|url| url.origin().ascii_serialization()).unwrap_or_default()
}

/// A domain claim as the API shows it: the record to publish, and whether it was found.
pub(super) fn domain_view(claim: &crate::directory::domains::DomainClaim) -> Value {
    json!({ "domain": claim.domain, "verified": claim.verified_at_ms.is_some(),
            "verified_at_ms": claim.verified_at_ms, "challenge": claim.challenge() })
}
