//! Just-in-time provisioning against the in-memory directory.

use super::*;
use crate::directory::store::MemoryDirectory;
use crate::directory::RoleMapping;
use crate::ports::memory::{block_on, ManualClock};
use crate::ports::SystemEntropy;

const NOW_MS: u64 = 1_800_000_000_000;

fn acme() -> TenantScope {
    TenantScope::of("acme")
}

fn identity(connection: &str, subject: &str, email: Option<&str>, groups: &[&str]) -> FederatedIdentity {
    FederatedIdentity {
        connection: connection.into(),
        subject: subject.into(),
        email: email.map(str::to_owned),
        email_verified: true,
        name: Some(format!("{subject}'s name")),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        attributes: Map::new(),
    }
}

struct World {
    directory: MemoryDirectory,
    clock: ManualClock,
}

fn world() -> World {
    let directory = MemoryDirectory::default();
    let mappings = vec![
        RoleMapping { group: "eng".into(), role: "developer".into() },
        RoleMapping { group: "admins".into(), role: "admin".into() },
        RoleMapping { group: "ops".into(), role: "developer".into() },
    ];
    directory.set_role_mappings(&acme(), mappings);
    World { directory, clock: ManualClock::at_ms(NOW_MS) }
}

impl World {
    fn login(
        &self,
        scope: &TenantScope,
        policy: ProvisioningPolicy,
        who: &FederatedIdentity,
    ) -> Result<Provisioned, ProvisionError> {
        block_on(provision(&self.directory, &SystemEntropy, &self.clock, scope, policy, who))
    }
}

#[test]
fn a_first_login_creates_the_user_and_the_next_one_updates_it() {
    let w = world();
    let first = w
        .login(
            &acme(),
            ProvisioningPolicy::default(),
            &identity("okta", "00u1", Some("a@acme.test"), &["eng", "admins"]),
        )
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    assert!(first.user.id.starts_with("usr_") && first.user.id.len() == 26, "{}", first.user.id);
    assert_eq!(first.roles, ["admin", "developer"]);
    w.clock.advance_ms(1_000);
    let mut changed = identity("okta", "00u1", Some("a@acme.test"), &["eng"]);
    changed.name = Some("Alice Renamed".into());
    let second = w.login(&acme(), ProvisioningPolicy::default(), &changed).unwrap();
    assert_eq!((second.outcome, second.user.id.as_str()), (Outcome::Updated, first.user.id.as_str()));
    assert_eq!(second.user.name.as_deref(), Some("Alice Renamed"));
    assert_eq!(second.roles, ["developer"], "a group removed at the IdP removes its role");
    assert_eq!((second.user.created_at_ms, second.user.updated_at_ms), (NOW_MS, NOW_MS + 1_000));
    assert_eq!(w.directory.users(&acme()).len(), 1);
}

/// Each row: the user's state before, and what a login through a linked identity gets.
#[test]
fn blocked_and_deprovisioned_users_are_refused_and_left_as_they_are() {
    for status in [UserStatus::Blocked, UserStatus::Deprovisioned] {
        let w = world();
        let who = identity("okta", "00u1", Some("a@acme.test"), &["eng"]);
        let mut user = w.login(&acme(), ProvisioningPolicy::default(), &who).unwrap().user;
        block_on(w.directory.set_status(&acme(), &user.id, status, NOW_MS)).unwrap();
        user.status = status;
        let renamed = FederatedIdentity { name: Some("changed".into()), ..who };
        assert_eq!(
            w.login(&acme(), ProvisioningPolicy::default(), &renamed).err(),
            Some(ProvisionError::AccountDisabled)
        );
        assert_eq!(w.directory.users(&acme()), [user], "{status:?}: nothing changed");
    }
}

/// Each row: the connection's policy, whether the new identity's email is verified, and what a
/// second connection asserting an existing user's email gets. An unverified email is never stored
/// nor looked up: that identity becomes a user of its own, without an email.
#[test]
fn a_new_identity_joins_an_existing_user_only_by_a_verified_email_on_a_linking_connection() {
    let cases: &[(bool, bool, Result<Outcome, ProvisionError>)] = &[
        (false, true, Err(ProvisionError::EmailInUse)),
        (false, false, Ok(Outcome::Created)),
        (true, false, Ok(Outcome::Created)),
        (true, true, Ok(Outcome::Linked)),
    ];
    for (link_by_email, verified, expected) in cases {
        let w = world();
        let original = w
            .login(&acme(), ProvisioningPolicy::default(), &identity("okta", "00u1", Some("a@acme.test"), &[]))
            .unwrap();
        let mut other = identity("google", "1099", Some("a@acme.test"), &["eng"]);
        other.email_verified = *verified;
        let result = w.login(
            &acme(),
            ProvisioningPolicy { link_by_email: *link_by_email, ..ProvisioningPolicy::default() },
            &other,
        );
        assert_eq!(result.as_ref().map(|p| p.outcome).map_err(Clone::clone), *expected, "{link_by_email} {verified}");
        match result {
            Ok(linked) if linked.outcome == Outcome::Linked => {
                assert_eq!(linked.user.id, original.user.id);
                let again = w.login(&acme(), ProvisioningPolicy::default(), &other).unwrap();
                assert_eq!((again.outcome, again.user.id), (Outcome::Updated, original.user.id.clone()));
                assert_eq!(w.directory.users(&acme()).len(), 1);
            }
            Ok(created) => {
                assert_eq!(created.user.email, None, "an unverified email is not stored");
                assert_eq!(w.directory.users(&acme()).len(), 2);
            }
            Err(_) => assert_eq!(w.directory.users(&acme()).len(), 1),
        }
    }
}

#[test]
fn tenants_never_share_users() {
    let w = world();
    let who = identity("okta", "00u1", Some("a@acme.test"), &["eng"]);
    let in_acme =
        w.login(&acme(), ProvisioningPolicy { link_by_email: true, ..ProvisioningPolicy::default() }, &who).unwrap();
    let globex = TenantScope::of("globex");
    let in_globex =
        w.login(&globex, ProvisioningPolicy { link_by_email: true, ..ProvisioningPolicy::default() }, &who).unwrap();
    assert_eq!(in_globex.outcome, Outcome::Created, "the same identity and email in another tenant is another user");
    assert_ne!(in_acme.user.id, in_globex.user.id);
    assert!(in_globex.roles.is_empty(), "acme's role mappings do not apply in globex");
    assert_eq!((w.directory.users(&acme()).len(), w.directory.users(&globex).len()), (1, 1));
}

#[test]
fn an_unavailable_directory_refuses_the_login_and_writes_nothing() {
    let w = world();
    w.directory.set_available(false);
    let result = w.login(&acme(), ProvisioningPolicy::default(), &identity("okta", "00u1", None, &[]));
    assert!(matches!(result, Err(ProvisionError::Unavailable(_))));
    w.directory.set_available(true);
    assert!(w.directory.users(&acme()).is_empty());
}

#[test]
fn a_login_without_an_email_still_provisions_and_keeps_the_known_email() {
    let w = world();
    let first =
        w.login(&acme(), ProvisioningPolicy::default(), &identity("okta", "00u1", Some("a@acme.test"), &[])).unwrap();
    let later = w.login(&acme(), ProvisioningPolicy::default(), &identity("okta", "00u1", None, &[])).unwrap();
    assert_eq!(later.user.id, first.user.id);
    assert_eq!(later.user.email.as_deref(), Some("a@acme.test"));
}

#[test]
fn an_update_never_takes_an_email_another_user_holds() {
    let w = world();
    let alice =
        w.login(&acme(), ProvisioningPolicy::default(), &identity("okta", "a", Some("a@acme.test"), &[])).unwrap();
    w.login(&acme(), ProvisioningPolicy::default(), &identity("okta", "b", Some("b@acme.test"), &[])).unwrap();
    let moved =
        w.login(&acme(), ProvisioningPolicy::default(), &identity("okta", "a", Some("b@acme.test"), &[])).unwrap();
    assert_eq!(moved.user.id, alice.user.id);
    assert_eq!(moved.user.email.as_deref(), Some("a@acme.test"), "kept, not taken from b");
}

#[test]
fn a_login_racing_a_block_does_not_undo_it() {
    let w = world();
    let who = identity("okta", "00u1", Some("a@acme.test"), &["eng"]);
    let user = w.login(&acme(), ProvisioningPolicy::default(), &who).unwrap().user;
    // The login read the user while active; the administrator blocks before it writes.
    block_on(w.directory.set_status(&acme(), &user.id, UserStatus::Blocked, NOW_MS)).unwrap();
    block_on(w.directory.save_user(&acme(), &user, crate::directory::store::Memberships::Replace)).unwrap();
    assert_eq!(w.directory.users(&acme())[0].status, UserStatus::Blocked);
}

#[test]
fn groups_are_deduplicated_and_bounded() {
    let w = world();
    let many: Vec<String> =
        (0..MAX_GROUPS + 50).map(|i| format!("g{i:04}")).chain(["eng".to_owned(), "eng".to_owned()]).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let user = w.login(&acme(), ProvisioningPolicy::default(), &identity("okta", "x", None, &refs)).unwrap().user;
    assert_eq!(user.groups.len(), MAX_GROUPS);
    assert_eq!(user.groups.iter().filter(|g| *g == "eng").count(), 1);
}

#[test]
fn a_tenant_that_keeps_groups_with_scim_keeps_them_across_logins() {
    let w = world();
    let who = identity("okta", "00u1", Some("ann@acme.test"), &["eng"]);
    let first = w.login(&acme(), ProvisioningPolicy::default(), &who).unwrap();
    assert_eq!(first.user.groups, vec!["eng".to_owned()]);
    let scim = ProvisioningPolicy { groups_from_scim: true, ..ProvisioningPolicy::default() };
    let without = identity("okta", "00u1", Some("ann@acme.test"), &[]);
    let second = w.login(&acme(), scim, &without).unwrap();
    assert_eq!(second.user.groups, vec!["eng".to_owned()], "the login's groups do not replace SCIM's");
    assert_eq!(second.roles, vec!["developer".to_owned()], "and the roles follow the kept groups");
    assert_eq!(w.directory.users(&acme())[0].groups, vec!["eng".to_owned()]);
}

#[test]
fn a_user_scim_manages_links_by_email_only_before_its_first_sign_in() {
    use crate::directory::scim::users::ScimUsers;
    let w = world();
    let link = ProvisioningPolicy { link_by_email: true, ..ProvisioningPolicy::default() };
    // SCIM created ann; her first SSO login links to her.
    let mut ann = w
        .login(&acme(), ProvisioningPolicy::default(), &identity("okta", "00u1", Some("ann@acme.test"), &[]))
        .unwrap()
        .user;
    ann.profile.insert("userName".into(), "ann@acme.test".into());
    block_on(w.directory.replace_user(&acme(), &ann)).unwrap();
    // With the SCIM token, someone points her email at their own address and signs in elsewhere.
    ann.email = Some("mallory@acme.test".into());
    block_on(w.directory.replace_user(&acme(), &ann)).unwrap();
    let takeover = w.login(&acme(), link, &identity("social", "m-1", Some("mallory@acme.test"), &[]));
    assert_eq!(takeover, Err(ProvisionError::EmailInUse), "a signed-in SCIM user is not linked by an email SCIM wrote");
}

#[test]
fn a_local_account_is_never_linked_by_an_idps_email() {
    let w = world();
    let link = ProvisioningPolicy { link_by_email: true, ..ProvisioningPolicy::default() };
    // Ann has a local account: her user links the password identity (its subject is her id).
    let ann = w
        .login(&acme(), ProvisioningPolicy::default(), &identity("seed", "ann", Some("ann@acme.test"), &[]))
        .unwrap()
        .user;
    block_on(w.directory.link(&acme(), crate::directory::PASSWORD_CONNECTION, &ann.id, &ann, Memberships::Keep))
        .unwrap();
    // An IdP of the tenant that asserts her email, with linking by email on, does not get her account.
    let takeover = w.login(&acme(), link, &identity("social", "m-1", Some("ann@acme.test"), &[]));
    assert_eq!(takeover, Err(ProvisionError::EmailInUse));
}
