//! SCIM Users against the in-memory directory: the lifecycle an IdP drives.

use super::*;
use crate::directory::provision::{provision, FederatedIdentity, ProvisioningPolicy};
use crate::directory::store::MemoryDirectory;
use crate::ports::memory::{block_on, ManualClock};
use crate::ports::SystemEntropy;

const NOW_MS: u64 = 1_800_000_000_000;

fn acme() -> TenantScope {
    TenantScope::of("acme")
}

fn create_user(directory: &MemoryDirectory, body: Value) -> Result<User, ScimError> {
    block_on(create(directory, directory, &SystemEntropy, &ManualClock::at_ms(NOW_MS), &acme(), &body))
}

fn ann(directory: &MemoryDirectory) -> User {
    create_user(
        directory,
        json!({ "schemas": [USER_SCHEMA], "userName": "ann@acme.test", "externalId": "00u1", "displayName": "Ann",
                "emails": [{ "value": "Ann@Acme.test", "primary": true }], "active": true }),
    )
    .unwrap()
}

#[test]
fn rfc3339_is_utc_with_milliseconds() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
    assert_eq!(rfc3339(1_796_239_609_001), "2026-12-02T19:26:49.001Z");
}

#[test]
fn a_created_user_is_rendered_with_its_columns_as_the_source() {
    let directory = MemoryDirectory::default();
    let user = ann(&directory);
    assert!(user_id_ok(&user.id));
    assert_eq!(user.email.as_deref(), Some("ann@acme.test"), "the primary email, lower-cased");
    let shown = render(&user, "https://gw.test/scim/v2/acme");
    assert_eq!(shown["userName"], "ann@acme.test");
    assert_eq!(shown["active"], true);
    let mut without = user.clone();
    without.profile.remove("active");
    assert_eq!(render(&without, "").get("active"), None, "an active the IdP removed stays removed");
    without.status = UserStatus::Blocked;
    assert_eq!(render(&without, "")["active"], false, "a blocked user always says so");
    assert_eq!(shown["meta"]["location"], format!("https://gw.test/scim/v2/acme/Users/{}", user.id));
    assert_eq!(shown["meta"]["created"], "2027-01-15T08:00:00.000Z");
    assert_eq!(block_on(get(&directory, &acme(), &user.id)).unwrap(), user);
    assert_eq!(block_on(get(&directory, &TenantScope::of("globex"), &user.id)).unwrap_err().status, 404);
}

#[test]
fn user_names_and_emails_are_unique_in_a_tenant() {
    let directory = MemoryDirectory::default();
    ann(&directory);
    let same_name = create_user(&directory, json!({ "userName": "ANN@acme.test" })).unwrap_err();
    assert_eq!((same_name.status, same_name.scim_type), (409, Some("uniqueness")));
    let same_email = create_user(&directory, json!({ "userName": "ann2", "emails": [{ "value": "ann@acme.test" }] }));
    assert_eq!(same_email.unwrap_err().scim_type, Some("uniqueness"));
    let elsewhere = block_on(create(
        &directory,
        &directory,
        &SystemEntropy,
        &ManualClock::at_ms(NOW_MS),
        &TenantScope::of("globex"),
        &json!({ "userName": "ann@acme.test" }),
    ));
    assert!(elsewhere.is_ok(), "another tenant may have its own ann");
}

#[test]
fn active_false_deprovisions_and_names_the_sessions_to_end_and_a_block_stays() {
    let directory = MemoryDirectory::default();
    let clock = ManualClock::at_ms(NOW_MS);
    let who = FederatedIdentity {
        connection: "okta".into(),
        subject: "00u1".into(),
        email: Some("ann@acme.test".into()),
        email_verified: true,
        name: None,
        groups: vec!["eng".into()],
        attributes: Map::new(),
    };
    let user = block_on(provision(&directory, &SystemEntropy, &clock, &acme(), ProvisioningPolicy::default(), &who))
        .unwrap()
        .user;
    let off = json!({ "schemas": [super::super::patch::PATCH_SCHEMA], "Operations": [{ "op": "replace", "value": { "active": false } }] });
    let change = block_on(patch(&directory, &directory, &directory, &clock, &acme(), &user.id, &off)).unwrap();
    assert_eq!(change.user.status, UserStatus::Deprovisioned);
    assert_eq!(change.identities_to_end, vec![("okta".to_owned(), "00u1".to_owned())]);
    assert_eq!(change.user.groups, vec!["eng".to_owned()], "SCIM Users never touch memberships");
    let again = block_on(patch(&directory, &directory, &directory, &clock, &acme(), &user.id, &off)).unwrap();
    assert_eq!(again.identities_to_end, change.identities_to_end, "a retry ends them again: idempotent");

    block_on(directory.set_status(&acme(), &user.id, UserStatus::Blocked, NOW_MS)).unwrap();
    let on = json!({ "userName": "ann@acme.test", "active": true });
    let still = block_on(replace(&directory, &directory, &directory, &clock, &acme(), &user.id, &on)).unwrap();
    assert_eq!(still.user.status, UserStatus::Blocked, "an administrator's block is not the IdP's to lift");
}

#[test]
fn delete_names_the_sessions_to_end_first_and_refuses_a_blocked_user() {
    let directory = MemoryDirectory::default();
    let user = ann(&directory);
    let (found, identities) = block_on(before_delete(&directory, &acme(), &user.id)).unwrap();
    assert_eq!(identities, vec![], "no identity linked yet");
    block_on(delete(&directory, &acme(), &found)).unwrap();
    assert_eq!(block_on(get(&directory, &acme(), &user.id)).unwrap_err().status, 404);
    assert_eq!(block_on(before_delete(&directory, &acme(), &user.id)).unwrap_err().status, 404);
    let blocked = ann(&directory);
    block_on(directory.set_status(&acme(), &blocked.id, UserStatus::Blocked, NOW_MS)).unwrap();
    assert_eq!(block_on(before_delete(&directory, &acme(), &blocked.id)).unwrap_err().status, 409, "the block stays");
}

#[test]
fn only_an_explicit_active_true_brings_a_deprovisioned_user_back() {
    let directory = MemoryDirectory::default();
    let clock = ManualClock::at_ms(NOW_MS);
    let user = ann(&directory);
    let put =
        |body: Value| block_on(replace(&directory, &directory, &directory, &clock, &acme(), &user.id, &body)).unwrap();
    assert_eq!(put(json!({ "userName": "ann@acme.test", "active": false })).user.status, UserStatus::Deprovisioned);
    let silent = put(json!({ "userName": "ann@acme.test" }));
    assert_eq!(silent.user.status, UserStatus::Deprovisioned, "a document without active leaves it so");
    assert_eq!(put(json!({ "userName": "ann@acme.test", "active": true })).user.status, UserStatus::Active);
}

#[test]
fn an_email_in_another_tenants_verified_domain_is_refused() {
    use crate::directory::tenants::{Tenant, TenantStore};
    let directory = MemoryDirectory::default();
    let globex = TenantScope::of("globex");
    block_on(directory.create_tenant(&Tenant { id: "globex".into(), name: "g".into(), created_at_ms: 0 })).unwrap();
    block_on(directory.claim_domain(&globex, "globex.test", "t")).unwrap();
    assert!(block_on(directory.mark_verified(&globex, "globex.test", 1)).unwrap());
    let refused = create_user(&directory, json!({ "userName": "spy", "emails": [{ "value": "ceo@globex.test" }] }));
    assert_eq!(refused.unwrap_err().scim_type, Some("invalidValue"));
    let own = block_on(create(
        &directory,
        &directory,
        &SystemEntropy,
        &ManualClock::at_ms(NOW_MS),
        &globex,
        &json!({ "userName": "ceo", "emails": [{ "value": "ceo@globex.test" }] }),
    ));
    assert!(own.is_ok(), "globex's own IdP may");
}

#[test]
fn lists_are_filtered_and_paged() {
    let directory = MemoryDirectory::default();
    for i in 0..5 {
        create_user(&directory, json!({ "userName": format!("user{i}@acme.test"), "active": i % 2 == 0 })).unwrap();
    }
    let page = |filter: Option<&str>, start: Option<&str>, count: Option<&str>| {
        block_on(list(&directory, &acme(), ListQuery { filter, start_index: start, count }, "https://gw.test"))
    };
    let all = page(None, None, None).unwrap();
    assert_eq!((all["totalResults"].as_u64(), all["itemsPerPage"].as_u64()), (Some(5), Some(5)));
    let active = page(Some("active eq true"), Some("2"), Some("1")).unwrap();
    assert_eq!((active["totalResults"].as_u64(), active["startIndex"].as_u64()), (Some(3), Some(2)));
    assert_eq!(active["Resources"].as_array().unwrap().len(), 1);
    let none = page(None, Some("0"), Some("-4")).unwrap();
    assert_eq!((none["startIndex"].as_u64(), none["itemsPerPage"].as_u64()), (Some(1), Some(0)));
    assert_eq!(page(Some("title eq \"x\""), None, None).unwrap_err().scim_type, Some("invalidFilter"));
    assert_eq!(page(Some("userName eq"), None, None).unwrap_err().scim_type, Some("invalidFilter"));
    assert_eq!(page(None, Some("one"), None).unwrap_err().scim_type, Some("invalidValue"));
}

#[test]
fn an_unavailable_directory_is_a_503() {
    let directory = MemoryDirectory::default();
    directory.set_available(false);
    assert_eq!(create_user(&directory, json!({ "userName": "x" })).unwrap_err().status, 503);
}
