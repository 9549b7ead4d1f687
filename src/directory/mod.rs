//! The user directory: tenants, users, the identities linked to them and the roles their groups
//! map to; just-in-time provisioning on federated login ([`provision`]). Stored in D1 in the
//! worker, in memory for the host tests, behind the [`store::Directory`] port, whose every
//! operation is scoped by a [`TenantScope`].

pub mod administrator;
pub mod config;
pub mod connections;
pub mod dns;
pub mod domains;
pub mod lifecycle;
pub mod onboarding;
pub mod provision;
pub mod scim;
pub mod store;
pub mod tenancy;
pub mod tenants;

use crate::ports::Unavailable;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A tenant: the customer whose users and connections these are. Every directory operation takes
/// one, so no query can forget which tenant it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantScope(String);

impl TenantScope {
    /// The scope of the tenant with `id` (resolved from a connection, a domain, a SCIM token or an
    /// administrator's grant, never from request data alone).
    pub fn of(id: &str) -> Self {
        Self(id.to_owned())
    }

    /// The tenant's id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// A user's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// Blocked by an administrator.
    Blocked,
    /// Deprovisioned (SCIM `active: false`, or deleted at the IdP).
    Deprovisioned,
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The directory id: stable for the user's life, whatever identities it links.
    pub id: String,
    /// SCIM's `userName`: unique in the tenant, case-insensitively (a provisioned user's first
    /// email).
    pub user_name: Option<String>,
    /// SCIM's `externalId`: the IdP's id for the user.
    pub external_id: Option<String>,
    /// The email, lower-cased, if known.
    pub email: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The lifecycle state.
    pub status: UserStatus,
    /// The groups the user is in (from the last login or SCIM).
    pub groups: Vec<String>,
    /// Custom attributes mapped from the IdP's claims.
    pub attributes: Map<String, Value>,
    /// The SCIM document as the IdP last wrote it (canonical, see [`scim::schema`]); empty for a
    /// user only ever provisioned at login.
    pub profile: Map<String, Value>,
    /// When the user was created.
    pub created_at_ms: u64,
    /// When the user last changed.
    pub updated_at_ms: u64,
}

/// Why a directory operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryError {
    /// No such user in the tenant.
    UserNotFound,
    /// No such tenant.
    TenantNotFound,
    /// A tenant with this id exists.
    TenantExists,
    /// Another tenant has verified the domain.
    DomainClaimed,
    /// The tenant has not claimed the domain.
    DomainNotFound,
    /// The domain's TXT record is not (yet) there.
    DomainNotVerified {
        /// The values found under the challenge name, so the admin can see a typo.
        found: Vec<String>,
    },
    /// The DNS resolver did not answer usefully: nothing is known either way.
    ResolverUnavailable(Unavailable),
    /// A SCIM filter the directory cannot run (RFC 7644 `invalidFilter`); the message is safe to
    /// show.
    InvalidFilter(String),
    /// No setup link has this token.
    SetupLinkUnknown,
    /// The setup link was opened before: it works once.
    SetupLinkUsed,
    /// The setup link expired unopened.
    SetupLinkExpired,
    /// The request needs a live setup session (opened from a setup link), and has none.
    SetupSessionRequired,
    /// The connection has signed users in: its issuer and client can no longer change, since a
    /// new IdP's subjects could be taken for the old one's users.
    ConnectionInUse,
    /// The directory did not answer: nothing was promised.
    Unavailable(Unavailable),
}

impl From<scim::filter::FilterError> for DirectoryError {
    fn from(error: scim::filter::FilterError) -> Self {
        DirectoryError::InvalidFilter(error.0)
    }
}

impl From<Unavailable> for DirectoryError {
    fn from(unavailable: Unavailable) -> Self {
        DirectoryError::Unavailable(unavailable)
    }
}

/// Whether a tenant id is well formed: 1 to 64 characters of a-z, 0-9, `-` and `_`.
pub fn tenant_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The identity connection that links a directory user to its local-account password
/// (`crate::accounts`): its subject is the user's own id.
pub const PASSWORD_CONNECTION: &str = "password";

/// A fresh user id: `usr_` and 128 random bits as base64url.
pub fn new_user_id(entropy: &impl crate::ports::Entropy) -> Result<String, crate::ports::Unavailable> {
    use base64::Engine;
    Ok(format!("usr_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(entropy.bytes::<16>()?)))
}

/// Whether a user id is one the directory makes: `usr_` and 22 base64url characters.
pub fn user_id_ok(id: &str) -> bool {
    id.len() == 26
        && id.starts_with("usr_")
        && id[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A group → role mapping of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleMapping {
    /// The group, as the IdP names it.
    pub group: String,
    /// The application role it grants.
    pub role: String,
}

/// The roles `groups` are granted under `mappings`, sorted and without repeats.
pub fn roles_for(groups: &[String], mappings: &[RoleMapping]) -> Vec<String> {
    let mut roles: Vec<String> =
        mappings.iter().filter(|m| groups.contains(&m.group)).map(|m| m.role.clone()).collect();
    roles.sort();
    roles.dedup();
    roles
}
