//! Self-service onboarding: a **setup link** lets a tenant's IT administrator connect the
//! tenant's identity provider without an account at the deployment, as the WorkOS Admin Portal
//! does.
//!
//! - An administrator makes a link for one tenant. It holds a 256-bit token, works once, and
//!   expires ([`MIN_LINK_LIFETIME_S`] to [`MAX_LINK_LIFETIME_S`], a day by default). Only the
//!   token's SHA-256 is stored.
//! - Opening it (a `POST` from the onboarding page, never the `GET` of the link, which mail
//!   scanners follow) exchanges the token for a setup session ([`SESSION_LIFETIME_MS`]), whose
//!   cookie is also stored only as a hash. A second opening, or one after expiry, is refused.
//! - The session may do three things for its tenant only: save the one connection its link
//!   reserved (OIDC: issuer, client id and secret), test it with a real sign-in that provisions
//!   nobody and starts no session, and claim and verify the tenant's domains.

use super::connections::{new_connection_id, Connection, MAX_CONNECTIONS};
use super::scim::token::sha256_hex;
use super::store::Directory;
use super::tenancy::{existing_tenant, TenancyError};
use super::tenants::{Tenant, TenantStore};
use super::{DirectoryError, TenantScope};
use crate::ports::{Clock, Entropy, Unavailable};
use crate::secret::SecretString;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod memory;

/// What every link token starts with, so secret scanners can find leaked ones.
pub const LINK_TOKEN_PREFIX: &str = "setup_";
/// The shortest life a link may be given.
pub const MIN_LINK_LIFETIME_S: u64 = 60;
/// The longest life a link may be given.
pub const MAX_LINK_LIFETIME_S: u64 = 7 * 24 * 3600;
/// A link's life when the request names none.
pub const DEFAULT_LINK_LIFETIME_S: u64 = 24 * 3600;
/// How long a setup session lasts once its link is opened (it is not extended).
pub const SESSION_LIFETIME_MS: u64 = 4 * 3600 * 1000;
/// The most links of a tenant that are still waiting to be opened.
pub const MAX_OPEN_LINKS: usize = 5;

/// A setup link as stored and listed: never its token, nor the session's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupLink {
    /// `stl_` and 16 of a-z, 2-7.
    pub id: String,
    /// The tenant it sets up.
    pub tenant: String,
    /// The administrator who made it (for the audit trail).
    pub created_by: String,
    /// When it was made.
    pub created_at_ms: u64,
    /// It opens before this, once.
    pub expires_at_ms: u64,
    /// The connection the setup creates: reserved when the link is made, so the IdP's redirect
    /// URI can be shown before the connection exists.
    pub connection_id: String,
    /// When it was opened.
    pub opened_at_ms: Option<u64>,
    /// When its setup session ends (`None`: never opened, or ended).
    pub session_expires_at_ms: Option<u64>,
    /// What the last test sign-in showed.
    pub test_result: Option<TestResult>,
}

impl SetupLink {
    /// Whether the link could still be opened at `now_ms`.
    pub fn openable(&self, now_ms: u64) -> bool {
        self.opened_at_ms.is_none() && now_ms < self.expires_at_ms
    }

    /// Whether its setup session is live at `now_ms`.
    pub fn session_live(&self, now_ms: u64) -> bool {
        self.session_expires_at_ms.is_some_and(|end| now_ms < end)
    }

    /// Where the link stands at `now_ms`, as the administrators' list shows it: `waiting` to be
    /// opened, `expired` unopened, `in_use` (its session is live) or `used`.
    pub fn status(&self, now_ms: u64) -> &'static str {
        match (self.opened_at_ms, self.session_live(now_ms)) {
            (None, _) if self.openable(now_ms) => "waiting",
            (None, _) => "expired",
            (Some(_), true) => "in_use",
            (Some(_), false) => "used",
        }
    }
}

/// What an attempt to open a link found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// It was unused and unexpired: now it is used, and its session begins.
    Opened(Box<SetupLink>),
    /// It was opened before.
    AlreadyUsed,
    /// It expired unused.
    Expired,
    /// No link has this token.
    Unknown,
}

/// The storage of setup links.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait SetupLinkStore {
    /// Stores a new link with its token's hash.
    async fn add_link(&self, link: &SetupLink, token_hash: &str) -> Result<(), Unavailable>;
    /// The tenant's links, newest first.
    async fn links(&self, scope: &TenantScope) -> Result<Vec<SetupLink>, Unavailable>;
    /// Deletes one of the tenant's links (ending its session); `false` when it had none.
    async fn remove_link(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable>;
    /// In one step, so two openings cannot both succeed: the link with `token_hash`, if it is
    /// unused and unexpired at `now_ms`, becomes used, with a session whose cookie has
    /// `session_hash`, ending at `session_expires_at_ms`.
    async fn open_link(
        &self,
        token_hash: &str,
        now_ms: u64,
        session_hash: &str,
        session_expires_at_ms: u64,
    ) -> Result<Opening, Unavailable>;
    /// The link with this token's hash.
    async fn link_of_token(&self, token_hash: &str) -> Result<Option<SetupLink>, Unavailable>;
    /// The link whose live session has this cookie hash.
    async fn link_of_session(&self, session_hash: &str, now_ms: u64) -> Result<Option<SetupLink>, Unavailable>;
    /// The link with this id, whatever its tenant (a test sign-in's callback knows only the id).
    async fn link(&self, id: &str) -> Result<Option<SetupLink>, Unavailable>;
    /// Records what a test sign-in showed.
    async fn record_test(&self, id: &str, result: Option<&TestResult>) -> Result<(), Unavailable>;
    /// Ends the link's session.
    async fn end_session(&self, id: &str) -> Result<(), Unavailable>;
}

/// `POST .../setup-links`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSetupLink {
    /// How long the link stays openable, in seconds.
    pub expires_in_s: Option<u64>,
}

/// A link just made: the only time its token exists outside the URL given to the IT admin.
#[derive(Debug)]
pub struct IssuedLink {
    /// The link.
    pub link: SetupLink,
    /// Its token, for the URL's fragment.
    pub token: SecretString,
}

/// Makes a setup link for the tenant.
pub async fn issue_link(
    links: &impl SetupLinkStore,
    tenants: &impl TenantStore,
    entropy: &impl Entropy,
    clock: &impl Clock,
    scope: &TenantScope,
    created_by: &str,
    request: NewSetupLink,
) -> Result<IssuedLink, TenancyError> {
    let lifetime_s = request.expires_in_s.unwrap_or(DEFAULT_LINK_LIFETIME_S);
    if !(MIN_LINK_LIFETIME_S..=MAX_LINK_LIFETIME_S).contains(&lifetime_s) {
        return Err(TenancyError::Invalid(vec![format!(
            "expires_in_s: between {MIN_LINK_LIFETIME_S} and {MAX_LINK_LIFETIME_S} seconds"
        )]));
    }
    existing_tenant(tenants, scope).await?;
    let now = clock.now_ms();
    let waiting = links.links(scope).await?.iter().filter(|link| link.openable(now)).count();
    if waiting >= MAX_OPEN_LINKS {
        return Err(TenancyError::Invalid(vec![format!(
            "a tenant has at most {MAX_OPEN_LINKS} unopened setup links: remove one first"
        )]));
    }
    let id = new_connection_id(entropy.bytes::<16>()?).replacen("con_", "stl_", 1);
    let token = format!("{LINK_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(entropy.bytes::<32>()?));
    let link = SetupLink {
        id,
        tenant: scope.id().to_owned(),
        created_by: created_by.to_owned(),
        created_at_ms: now,
        expires_at_ms: now + lifetime_s * 1000,
        connection_id: new_connection_id(entropy.bytes::<16>()?),
        opened_at_ms: None,
        session_expires_at_ms: None,
        test_result: None,
    };
    links.add_link(&link, &sha256_hex(&token)).await?;
    Ok(IssuedLink { link, token: SecretString::new(token) })
}

/// A setup session just begun: the cookie's value, set once.
#[derive(Debug)]
pub struct SetupSession {
    /// The link it was opened from.
    pub link: SetupLink,
    /// The cookie's value.
    pub cookie: SecretString,
}

/// Opens a link: once, before it expires.
pub async fn open_link(
    links: &impl SetupLinkStore,
    entropy: &impl Entropy,
    clock: &impl Clock,
    presented: &str,
) -> Result<SetupSession, TenancyError> {
    let Some(token_hash) = link_token_hash(presented) else { return Err(DirectoryError::SetupLinkUnknown.into()) };
    let cookie = URL_SAFE_NO_PAD.encode(entropy.bytes::<32>()?);
    let now = clock.now_ms();
    match links.open_link(&token_hash, now, &sha256_hex(&cookie), now + SESSION_LIFETIME_MS).await? {
        Opening::Opened(link) => Ok(SetupSession { link: *link, cookie: SecretString::new(cookie) }),
        Opening::AlreadyUsed => Err(DirectoryError::SetupLinkUsed.into()),
        Opening::Expired => Err(DirectoryError::SetupLinkExpired.into()),
        Opening::Unknown => Err(DirectoryError::SetupLinkUnknown.into()),
    }
}

/// Which tenant a link would set up, without spending it: the page shows it before the
/// administrator begins, so a link for another tenant than the one they mean to set up is seen
/// for what it is.
pub async fn peek_link(
    links: &impl SetupLinkStore,
    tenants: &impl TenantStore,
    clock: &impl Clock,
    presented: &str,
) -> Result<(SetupLink, Tenant), TenancyError> {
    let Some(token_hash) = link_token_hash(presented) else { return Err(DirectoryError::SetupLinkUnknown.into()) };
    let link = links.link_of_token(&token_hash).await?.ok_or(DirectoryError::SetupLinkUnknown)?;
    if link.opened_at_ms.is_some() {
        return Err(DirectoryError::SetupLinkUsed.into());
    }
    if !link.openable(clock.now_ms()) {
        return Err(DirectoryError::SetupLinkExpired.into());
    }
    let tenant = existing_tenant(tenants, &TenantScope::of(&link.tenant)).await?;
    Ok((link, tenant))
}

/// The link whose session the browser's cookie names, if that session is live.
pub async fn session_link(
    links: &impl SetupLinkStore,
    clock: &impl Clock,
    cookie: Option<&str>,
) -> Result<SetupLink, TenancyError> {
    let hash = cookie.filter(|value| token_shaped(value)).map(sha256_hex);
    let Some(hash) = hash else { return Err(DirectoryError::SetupSessionRequired.into()) };
    links.link_of_session(&hash, clock.now_ms()).await?.ok_or(DirectoryError::SetupSessionRequired.into())
}

/// The stored hash of a presented link token, or `None` when it cannot be one (nothing is looked
/// up then).
pub fn link_token_hash(presented: &str) -> Option<String> {
    let body = presented.strip_prefix(LINK_TOKEN_PREFIX)?;
    token_shaped(body).then(|| sha256_hex(presented))
}

/// 43 base64url characters: 32 random bytes.
fn token_shaped(text: &str) -> bool {
    text.len() == 43 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `id` is a setup link id this module makes.
pub fn setup_link_id_ok(id: &str) -> bool {
    id.len() == 20 && id.starts_with("stl_") && id[4..].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The fields the onboarding page may set on its connection: an OIDC connection's issuer and
/// client. Everything else (provisioning options, claim mappings, endpoints) is the
/// administrators' to decide through the admin API.
pub const CONNECTION_FIELDS: &[&str] = &["issuer", "client_id", "client_secret", "display_name"];

/// The connection settings a setup request asks for, as the admin API would take them: every
/// problem at once.
pub fn connection_request(body: &Value) -> Result<Value, Vec<String>> {
    let Value::Object(fields) = body else { return Err(vec!["body: a JSON object is required".into()]) };
    let mut problems: Vec<String> = fields
        .keys()
        .filter(|key| !CONNECTION_FIELDS.contains(&key.as_str()))
        .map(|key| format!("{key}: not a field of a setup connection (allowed: {})", CONNECTION_FIELDS.join(", ")))
        .collect();
    for required in ["issuer", "client_id", "client_secret"] {
        if fields.get(required).and_then(Value::as_str).is_none_or(|text| text.trim().is_empty()) {
            problems.push(format!("{required}: required, as text"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut settings = fields.clone();
    settings.insert("type".into(), Value::String("oidc".into()));
    settings.entry("display_name").or_insert_with(|| Value::String("Single sign-on".into()));
    settings.insert("scopes".into(), serde_json::json!(["openid", "email", "profile"]));
    for field in ["issuer", "client_id"] {
        if let Some(Value::String(text)) = settings.get_mut(field) {
            *text = text.trim().to_owned();
        }
    }
    Ok(Value::Object(settings))
}

/// What saving a setup's connection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The connection did not exist: now it does.
    Created,
    /// It existed, and nobody had signed in with it yet: its settings and secret are replaced.
    Replaced,
}

/// Saves the connection a link reserved (`connection`, already validated and sealed): created
/// the first time; replaced while nobody has signed in with it, since a test sign-in provisions
/// nobody. Once a user's identity is linked to it, a change of issuer would hand that user's
/// account to another IdP: the administrators' API decides that, not a setup link.
pub async fn save_connection(
    tenants: &impl TenantStore,
    directory: &impl Directory,
    link: &SetupLink,
    connection: &Connection,
) -> Result<Saved, TenancyError> {
    if connection.id != link.connection_id || connection.tenant != link.tenant {
        return Err(TenancyError::Invalid(vec!["connection: only the one this setup link reserved".into()]));
    }
    if connection.active {
        return Err(TenancyError::Invalid(vec!["connection: a setup saves it inactive, until it finishes".into()]));
    }
    let scope = TenantScope::of(&link.tenant);
    // Identities linked to this id, even those a removed connection left behind: a connection
    // made again under their id would sign in as their users.
    if !directory.identities_of_connection(&scope, &connection.id, 1).await?.is_empty() {
        return Err(DirectoryError::ConnectionInUse.into());
    }
    let saved = match tenants.connection(&connection.id).await? {
        Some(existing) if existing.tenant != link.tenant || existing.active => {
            return Err(DirectoryError::ConnectionInUse.into())
        }
        Some(_) => Saved::Replaced,
        None => {
            if tenants.connections(&scope).await?.len() >= MAX_CONNECTIONS {
                return Err(TenancyError::Invalid(vec![format!(
                    "the tenant has {MAX_CONNECTIONS} connections, the most it may: ask the administrators to remove one"
                )]));
            }
            Saved::Created
        }
    };
    if !tenants.save_connection(&scope, connection).await? {
        return Err(DirectoryError::ConnectionInUse.into());
    }
    Ok(saved)
}

/// What finishing a setup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The connection now signs users in.
    Activated,
    /// No connection was saved: the session just ends.
    NothingSaved,
}

/// Finishes a setup: the link's connection, if saved, becomes active, which needs a successful
/// test sign-in of the connection as last saved ([`connection_revision`]). The caller then ends the
/// session.
pub async fn finish(
    tenants: &impl TenantStore,
    clock: &impl Clock,
    link: &SetupLink,
) -> Result<Finished, TenancyError> {
    let scope = TenantScope::of(&link.tenant);
    let saved = tenants.connection(&link.connection_id).await?.filter(|connection| connection.tenant == link.tenant);
    let Some(connection) = saved else { return Ok(Finished::NothingSaved) };
    if !connection.active {
        let revision = connection_revision(&connection);
        let tested =
            link.test_result.as_ref().is_some_and(|result| result.identity.is_some() && result.revision == revision);
        if !tested {
            return Err(TenancyError::Invalid(vec![
                "connection: a test sign-in must work with the connection as last saved before the setup finishes"
                    .into(),
            ]));
        }
        if !tenants.activate_connection(&scope, &connection.id, clock.now_ms()).await? {
            return Ok(Finished::NothingSaved);
        }
    }
    Ok(Finished::Activated)
}

/// The revision of a stored connection: any save makes a new one (its secret is sealed with a
/// fresh nonce each time), so a test sign-in is tied to the settings it tested.
pub fn connection_revision(connection: &Connection) -> String {
    sha256_hex(&format!("{}\n{}", connection.settings, URL_SAFE_NO_PAD.encode(&connection.sealed_secret)))
}

/// What a test sign-in showed, as the onboarding page displays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// When the test ended.
    pub at_ms: u64,
    /// The revision of the connection it tested ([`connection_revision`]).
    pub revision: String,
    /// Who the IdP said signed in, when the sign-in worked.
    pub identity: Option<TestIdentity>,
    /// Why it failed, when it did: the stable code and its public message.
    pub error: Option<TestFailure>,
}

/// Who a test sign-in showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestIdentity {
    /// The IdP's subject.
    pub subject: String,
    /// The verified email the IdP gave, if any.
    pub email: Option<String>,
    /// Whether the email's domain is verified by this tenant: otherwise the email is not kept
    /// at sign-in, and home-realm discovery does not route it here.
    pub email_domain_verified: bool,
    /// The name.
    pub name: Option<String>,
    /// The groups (the first [`MAX_TEST_GROUPS`]).
    pub groups: Vec<String>,
}

/// Why a test sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    /// The stable error code.
    pub code: String,
    /// Its public message.
    pub message: String,
}

/// The most groups a test result shows.
pub const MAX_TEST_GROUPS: usize = 50;

impl TestIdentity {
    /// The identity a test showed, with the tenant's verified domains (`verified_owner` of the
    /// email's domain is this tenant).
    pub fn new(
        subject: &str,
        email: Option<&str>,
        domain_is_tenants: bool,
        name: Option<&str>,
        groups: &[String],
    ) -> Self {
        TestIdentity {
            subject: subject.to_owned(),
            email: email.map(str::to_owned),
            email_domain_verified: email.is_some() && domain_is_tenants,
            name: name.map(str::to_owned),
            groups: groups.iter().take(MAX_TEST_GROUPS).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests;
