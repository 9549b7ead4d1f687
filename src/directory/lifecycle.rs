//! A user's lifecycle: blocking and unblocking. Blocking is only half done until the user's live
//! sessions end: [`set_status`] returns the identities whose sessions the caller must revoke (the
//! ledger's revocation path, which logout uses), and a caller that cannot revoke them answers
//! with an error, so the administrator retries; setting a status is idempotent.

use super::store::Directory;
use super::{DirectoryError, TenantScope, User, UserStatus};
use crate::ports::Clock;

/// A status change: the user as now stored, and its linked (connection, subject) identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The user.
    pub user: User,
    /// Whose sessions end, when the user may no longer sign in.
    pub identities_to_end: Vec<(String, String)>,
}

/// Sets a user's status.
pub async fn set_status(
    directory: &impl Directory,
    clock: &impl Clock,
    scope: &TenantScope,
    user_id: &str,
    status: UserStatus,
) -> Result<StatusChange, DirectoryError> {
    let mut user = directory.user(scope, user_id).await?.ok_or(DirectoryError::UserNotFound)?;
    // Unblocking lifts an administrator's block only: a user the IdP deprovisioned stays so.
    let status = match (user.status, status) {
        (UserStatus::Deprovisioned, UserStatus::Active) => UserStatus::Deprovisioned,
        (_, wanted) => wanted,
    };
    if user.status != status {
        let now = clock.now_ms();
        directory.set_status(scope, user_id, status, now).await?;
        user.status = status;
        user.updated_at_ms = now;
    }
    let identities_to_end = match status {
        UserStatus::Active => Vec::new(),
        UserStatus::Blocked | UserStatus::Deprovisioned => directory.identities(scope, user_id).await?,
    };
    Ok(StatusChange { user, identities_to_end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::provision::{provision, FederatedIdentity, ProvisioningPolicy};
    use crate::directory::store::MemoryDirectory;
    use crate::ports::memory::{block_on, ManualClock};
    use crate::ports::SystemEntropy;

    fn login(directory: &MemoryDirectory, clock: &ManualClock, scope: &TenantScope, connection: &str) -> User {
        let who = FederatedIdentity {
            connection: connection.into(),
            subject: "alice".into(),
            email: Some("alice@acme.test".into()),
            email_verified: true,
            name: None,
            groups: Vec::new(),
            attributes: Default::default(),
        };
        let policy = ProvisioningPolicy { link_by_email: true, ..ProvisioningPolicy::default() };
        block_on(provision(directory, &SystemEntropy, clock, scope, policy, &who)).unwrap().user
    }

    #[test]
    fn blocking_ends_every_linked_identitys_sessions_and_unblocking_none() {
        let (directory, clock, scope) =
            (MemoryDirectory::default(), ManualClock::at_ms(1_000), TenantScope::of("acme"));
        let user = login(&directory, &clock, &scope, "okta");
        login(&directory, &clock, &scope, "google");
        clock.advance_ms(5);
        let blocked = block_on(set_status(&directory, &clock, &scope, &user.id, UserStatus::Blocked)).unwrap();
        assert_eq!((blocked.user.status, blocked.user.updated_at_ms), (UserStatus::Blocked, 1_005));
        let mut ended = blocked.identities_to_end;
        ended.sort();
        assert_eq!(ended, [("google".to_owned(), "alice".to_owned()), ("okta".to_owned(), "alice".to_owned())]);
        let again = block_on(set_status(&directory, &clock, &scope, &user.id, UserStatus::Blocked)).unwrap();
        assert_eq!(again.identities_to_end.len(), 2, "a retry ends the sessions again");
        let unblocked = block_on(set_status(&directory, &clock, &scope, &user.id, UserStatus::Active)).unwrap();
        assert!(unblocked.identities_to_end.is_empty());
    }

    #[test]
    fn another_tenants_user_is_not_found() {
        let (directory, clock) = (MemoryDirectory::default(), ManualClock::at_ms(1_000));
        let user = login(&directory, &clock, &TenantScope::of("acme"), "okta");
        let elsewhere =
            block_on(set_status(&directory, &clock, &TenantScope::of("globex"), &user.id, UserStatus::Blocked));
        assert_eq!(elsewhere, Err(DirectoryError::UserNotFound));
        assert_eq!(directory.users(&TenantScope::of("acme"))[0].status, UserStatus::Active);
    }
}
