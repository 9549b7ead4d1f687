//! Just-in-time provisioning: on every federated login, the verified identity creates its user,
//! or updates the user it is linked to, and the user's groups decide its roles afresh.
//!
//! Linking a new identity to an existing user by email is off unless the connection says so, and
//! then needs a verified email: otherwise whoever controls an IdP that asserts someone's address
//! (a tenant's own misconfigured connection, a social provider that does not verify) would take
//! over that person's account.

use super::store::{Directory, Memberships};
use super::{roles_for, TenantScope, User, UserStatus};
use crate::ports::{Clock, Entropy, Unavailable};
use serde_json::{Map, Value};

/// What a federated login says about the user, once its identity was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    /// The connection that verified it.
    pub connection: String,
    /// The subject at that connection.
    pub subject: String,
    /// The email, lower-cased, if the connection gave one.
    pub email: Option<String>,
    /// Whether the connection vouches for the email.
    pub email_verified: bool,
    /// The display name.
    pub name: Option<String>,
    /// The groups the IdP says the user is in.
    pub groups: Vec<String>,
    /// Custom attributes mapped from the IdP's claims.
    pub attributes: Map<String, Value>,
}

/// A connection's provisioning rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProvisioningPolicy {
    /// Link a new identity to the tenant's user with the same verified email.
    pub link_by_email: bool,
    /// Keep the user's memberships as SCIM Groups set them, rather than the login's groups.
    pub groups_from_scim: bool,
}

/// What provisioning did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new user.
    Created,
    /// A new identity, linked to an existing user by its verified email.
    Linked,
    /// A known identity; its user updated.
    Updated,
}

/// The provisioned user and the roles its groups grant now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The user, as stored.
    pub user: User,
    /// The roles its groups map to.
    pub roles: Vec<String>,
    /// What happened.
    pub outcome: Outcome,
}

/// Why provisioning refused the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionError {
    /// The user is blocked or deprovisioned.
    AccountDisabled,
    /// Another user of the tenant has this email, and this identity may not be linked to it.
    EmailInUse,
    /// The directory did not answer: the login fails closed.
    Unavailable(Unavailable),
}

impl From<Unavailable> for ProvisionError {
    fn from(unavailable: Unavailable) -> Self {
        ProvisionError::Unavailable(unavailable)
    }
}

/// The most groups kept for a user: beyond, the login would cost the directory too many writes.
pub const MAX_GROUPS: usize = 256;

fn updated(
    mut user: User,
    identity: &FederatedIdentity,
    email: Option<&String>,
    policy: ProvisioningPolicy,
    now_ms: u64,
) -> User {
    if let Some(email) = email {
        user.email = Some(email.clone());
    }
    if identity.name.is_some() {
        user.name = identity.name.clone();
    }
    // The IdP is the source of the groups: one it no longer lists is gone, and so are its roles
    // (unless SCIM Groups are their source).
    if !policy.groups_from_scim {
        let mut groups = identity.groups.clone();
        groups.sort();
        groups.dedup();
        groups.truncate(MAX_GROUPS);
        user.groups = groups;
    }
    user.attributes = identity.attributes.clone();
    user.updated_at_ms = now_ms;
    user
}

fn ensure_active(user: &User) -> Result<(), ProvisionError> {
    match user.status {
        UserStatus::Active => Ok(()),
        UserStatus::Blocked | UserStatus::Deprovisioned => Err(ProvisionError::AccountDisabled),
    }
}

/// Provisions `identity` in `scope`'s directory.
///
/// Only a verified email is stored, looked up or linked by. An identity whose email another user
/// holds is refused, unless the connection links by email; an update never takes an email another
/// user holds (the user keeps the one it had). Provisioning never writes a user's status, so a
/// login racing an administrator's block cannot undo it.
pub async fn provision(
    directory: &impl Directory,
    entropy: &impl Entropy,
    clock: &impl Clock,
    scope: &TenantScope,
    policy: ProvisioningPolicy,
    identity: &FederatedIdentity,
) -> Result<Provisioned, ProvisionError> {
    let now = clock.now_ms();
    let memberships = if policy.groups_from_scim { Memberships::Keep } else { Memberships::Replace };
    let mappings = directory.role_mappings(scope).await?;
    let finish = |user: User, outcome| {
        let roles = roles_for(&user.groups, &mappings);
        Provisioned { user, roles, outcome }
    };
    let email = identity.email.as_ref().filter(|_| identity.email_verified);
    let holder = match email {
        Some(email) => directory.user_by_email(scope, email).await?,
        None => None,
    };
    if let Some(user) = directory.linked_user(scope, &identity.connection, &identity.subject).await? {
        ensure_active(&user)?;
        let email = email.filter(|_| holder.as_ref().is_none_or(|h| h.id == user.id));
        let user = updated(user, identity, email, policy, now);
        if !directory.save_user(scope, &user, memberships).await? {
            // Blocked or deprovisioned since it was read: no session for it.
            return Err(ProvisionError::AccountDisabled);
        }
        return Ok(finish(user, Outcome::Updated));
    }
    if let Some(existing) = holder {
        if !policy.link_by_email {
            return Err(ProvisionError::EmailInUse);
        }
        // An email SCIM wrote is the IdP's word, not a login's proof: a user SCIM manages links
        // by email only before its first sign-in (otherwise whoever holds the SCIM token could
        // point a signed-in user's email at an address they control, and sign in as that user).
        // A user with a local-account password is its owner's, proven by the password: an IdP that
        // asserts the same email (which `link_by_email` trusts) does not get to sign in as it.
        let identities = directory.identities(scope, &existing.id).await?;
        if identities.iter().any(|(connection, _)| connection == super::PASSWORD_CONNECTION) {
            return Err(ProvisionError::EmailInUse);
        }
        if !existing.profile.is_empty() && !identities.is_empty() {
            return Err(ProvisionError::EmailInUse);
        }
        ensure_active(&existing)?;
        let user = updated(existing, identity, email, policy, now);
        if !directory.link(scope, &identity.connection, &identity.subject, &user, memberships).await? {
            return Err(ProvisionError::AccountDisabled);
        }
        return Ok(finish(user, Outcome::Linked));
    }
    let fresh = User {
        id: super::new_user_id(entropy)?,
        user_name: email.cloned(),
        external_id: None,
        profile: Map::new(),
        email: None,
        name: None,
        status: UserStatus::Active,
        groups: Vec::new(),
        attributes: Map::new(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    let user = updated(fresh, identity, email, policy, now);
    directory.create_linked(scope, &user, &identity.connection, &identity.subject).await?;
    Ok(finish(user, Outcome::Created))
}

#[cfg(test)]
mod tests;
