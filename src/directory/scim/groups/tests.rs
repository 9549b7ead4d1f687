//! SCIM Groups against the in-memory directory: the PATCH dialects of Okta and Entra ID, and
//! members leaving a group that maps to a role.

use super::*;
use crate::directory::scim::users::{self, ScimUsers};
use crate::directory::store::MemoryDirectory;
use crate::directory::RoleMapping;
use crate::ports::memory::{block_on, ManualClock};
use crate::ports::SystemEntropy;

const NOW_MS: u64 = 1_800_000_000_000;
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn acme() -> TenantScope {
    TenantScope::of("acme")
}

struct World {
    directory: MemoryDirectory,
    clock: ManualClock,
    users: Vec<String>,
}

fn world() -> World {
    let directory = MemoryDirectory::default();
    let clock = ManualClock::at_ms(NOW_MS);
    let users = (0..3)
        .map(|i| {
            let body = json!({ "userName": format!("user{i}@acme.test") });
            block_on(users::create(&directory, &directory, &SystemEntropy, &clock, &acme(), &body)).unwrap().id
        })
        .collect();
    World { directory, clock, users }
}

/// A write as the shell makes it: planned, its sessions ended, committed.
#[derive(Debug)]
struct Done {
    group: Group,
    identities_to_end: Vec<(String, String)>,
}

impl World {
    fn commit(&self, pending: Result<PendingWrite, ScimError>) -> Result<Done, ScimError> {
        let pending = pending?;
        let identities_to_end = pending.identities_to_end.clone();
        let group = block_on(commit(&self.directory, &acme(), pending))?;
        Ok(Done { group, identities_to_end })
    }

    fn create(&self, body: Value) -> Result<Done, ScimError> {
        self.commit(block_on(create(&self.directory, &self.directory, &SystemEntropy, &self.clock, &acme(), &body)))
    }

    fn patch(&self, id: &str, operations: Value) -> Result<Done, ScimError> {
        let body = json!({ "schemas": [PATCH], "Operations": operations });
        self.commit(block_on(patch(&self.directory, &self.directory, &self.clock, &acme(), id, &body)))
    }

    fn member_ids(&self, id: &str) -> Vec<String> {
        let group = block_on(get(&self.directory, &acme(), id, true)).unwrap();
        group.members.into_iter().map(|m| m.id).collect()
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
fn a_group_is_created_with_its_members_and_they_are_in_it() {
    let w = world();
    let made =
        w.create(json!({ "displayName": "Finance", "members": [{ "value": w.users[0] }, { "value": w.users[1] }] }));
    let group = made.unwrap().group;
    assert!(group_id_ok(&group.id));
    assert_eq!(sorted(w.member_ids(&group.id)), sorted(w.users[..2].to_vec()));
    let user = block_on(w.directory.user(&acme(), &w.users[0])).unwrap().unwrap();
    assert_eq!(user.groups, vec!["Finance".to_owned()], "a membership, as a login would keep it");
    let shown =
        render(&block_on(get(&w.directory, &acme(), &group.id, true)).unwrap(), "https://gw.test/scim/v2/acme", true);
    assert_eq!(shown["members"].as_array().unwrap().len(), 2);
    assert_eq!(shown["members"][0]["type"], "User");
    let dup = w.create(json!({ "displayName": "FINANCE" })).unwrap_err();
    assert_eq!(dup.scim_type, Some("uniqueness"));
    let stranger =
        w.create(json!({ "displayName": "Ops", "members": [{ "value": "usr_nobodyAAAAAAAAAAAAAAA" }] })).unwrap_err();
    assert_eq!(stranger.scim_type, Some("invalidValue"), "members are users of the tenant");
}

#[test]
fn the_dialects_of_okta_and_entra_id() {
    let w = world();
    let id = w.create(json!({ "displayName": "Eng" })).unwrap().group.id;
    let (a, b, c) = (&w.users[0], &w.users[1], &w.users[2]);
    let cases: Vec<(&str, Value, Vec<&String>)> = vec![
        (
            "Okta adds",
            json!([{ "op": "add", "path": "members", "value": [{ "value": a }, { "value": b }] }]),
            vec![a, b],
        ),
        ("Okta removes by filter", json!([{ "op": "remove", "path": format!("members[value eq \"{a}\"]") }]), vec![b]),
        ("Entra adds", json!([{ "op": "Add", "path": "members", "value": [{ "value": c }] }]), vec![b, c]),
        ("Entra removes by value", json!([{ "op": "Remove", "path": "members", "value": [{ "value": b }] }]), vec![c]),
        ("replace all", json!([{ "op": "replace", "path": "members", "value": [{ "value": a }] }]), vec![a]),
        ("remove all", json!([{ "op": "remove", "path": "members" }]), vec![]),
    ];
    for (what, operations, expected) in cases {
        w.patch(&id, operations).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(sorted(w.member_ids(&id)), sorted(expected.into_iter().cloned().collect()), "{what}");
    }
    let renamed =
        w.patch(&id, json!([{ "op": "replace", "value": { "id": id, "displayName": "Engineering" } }])).unwrap();
    assert_eq!(renamed.group.display_name, "Engineering");
    w.patch(&id, json!([{ "op": "Replace", "path": "displayName", "value": "Eng" }])).unwrap();
    assert_eq!(block_on(get(&w.directory, &acme(), &id, false)).unwrap().display_name, "Eng");
}

#[test]
fn a_patch_applies_all_of_its_operations_or_none() {
    let w = world();
    let id = w.create(json!({ "displayName": "Eng", "members": [{ "value": w.users[0] }] })).unwrap().group.id;
    let cases = [
        (
            json!([{ "op": "add", "path": "members", "value": [{ "value": w.users[1] }] }, { "op": "add", "path": "owner", "value": "x" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "add", "path": "members", "value": [{ "value": w.users[1] }] }, { "op": "remove", "path": "displayName" }]),
            "mutability",
        ),
        (json!([{ "op": "remove", "path": "members[display eq \"x\"]" }]), "invalidFilter"),
        (json!([{ "op": "replace", "path": "displayName", "value": "" }]), "invalidValue"),
        (json!([{ "op": "merge", "path": "members" }]), "invalidSyntax"),
        (
            json!([{ "op": "add", "path": "members", "value": [{ "value": "usr_nobodyAAAAAAAAAAAAAAA" }] }]),
            "invalidValue",
        ),
    ];
    for (operations, scim_type) in cases {
        assert_eq!(w.patch(&id, operations.clone()).unwrap_err().scim_type, Some(scim_type), "{operations}");
        assert_eq!(w.member_ids(&id), vec![w.users[0].clone()], "nothing applied: {operations}");
    }
}

#[test]
fn members_who_leave_a_group_that_maps_to_a_role_are_named_for_their_sessions_to_end() {
    let w = world();
    let scope = acme();
    // The first user signs in through the tenant's IdP: it has an identity whose sessions can end.
    let user = block_on(w.directory.user(&scope, &w.users[0])).unwrap().unwrap();
    block_on(w.directory.link(&scope, "okta", "00u1", &user, crate::directory::store::Memberships::Keep)).unwrap();
    let id = w.create(json!({ "displayName": "Finance", "members": [{ "value": w.users[0] }] })).unwrap().group.id;
    let unmapped = w.patch(&id, json!([{ "op": "remove", "path": "members" }])).unwrap();
    assert!(unmapped.identities_to_end.is_empty(), "no role hangs on the group");
    w.patch(&id, json!([{ "op": "add", "path": "members", "value": [{ "value": w.users[0] }] }])).unwrap();
    w.directory.set_role_mappings(&scope, vec![RoleMapping { group: "Finance".into(), role: "billing".into() }]);
    let left = w.patch(&id, json!([{ "op": "remove", "path": "members" }])).unwrap();
    assert_eq!(left.identities_to_end, vec![("okta".to_owned(), "00u1".to_owned())]);
    w.patch(&id, json!([{ "op": "add", "path": "members", "value": [{ "value": w.users[0] }] }])).unwrap();
    let (group, identities) = block_on(before_delete(&w.directory, &w.directory, &scope, &id)).unwrap();
    assert_eq!(identities, vec![("okta".to_owned(), "00u1".to_owned())]);
    block_on(delete(&w.directory, &scope, &group)).unwrap();
    assert!(block_on(w.directory.user(&scope, &w.users[0])).unwrap().unwrap().groups.is_empty());
    let _ = block_on(w.directory.page(&scope, None, 1, 1));
}

#[test]
fn lists_filter_on_display_name_and_leave_members_out_when_asked() {
    let w = world();
    for name in ["Eng", "Finance", "Ops"] {
        w.create(json!({ "displayName": name, "members": [{ "value": w.users[0] }] })).unwrap();
    }
    let query = |filter| users::ListQuery { filter, start_index: None, count: None };
    let all = block_on(list(&w.directory, &acme(), query(None), false, "")).unwrap();
    assert_eq!(all["totalResults"], 3);
    assert!(all["Resources"][0].get("members").is_none());
    let one = block_on(list(&w.directory, &acme(), query(Some("displayName eq \"finance\"")), true, "")).unwrap();
    assert_eq!(one["totalResults"], 1);
    assert_eq!(one["Resources"][0]["members"][0]["value"], json!(w.users[0]));
    let bad = block_on(list(&w.directory, &acme(), query(Some("members.value eq \"x\"")), true, ""));
    assert_eq!(bad.unwrap_err().scim_type, Some("invalidFilter"));
}
