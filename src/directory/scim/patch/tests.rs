//! PATCH as Okta and Entra ID send it, and what must be refused.

use super::*;
use serde_json::json;

fn ann() -> Map<String, Value> {
    canonical_user(&json!({
        "userName": "ann@acme.test", "displayName": "Ann", "active": true, "name": { "givenName": "Ann", "familyName": "Lee" },
        "emails": [{ "value": "ann@acme.test", "type": "work", "primary": true }],
    }))
    .unwrap()
}

fn patch(operations: Value) -> Result<Map<String, Value>, ScimError> {
    patch_user(&ann(), &json!({ "schemas": [PATCH_SCHEMA], "Operations": operations }))
}

#[test]
fn the_dialects_of_okta_and_entra_id() {
    let cases: Vec<(&str, Value, &str, Value)> = vec![
        ("Okta deactivates", json!([{ "op": "replace", "value": { "active": false } }]), "/active", json!(false)),
        (
            "Okta renames",
            json!([{ "op": "replace", "value": { "name": { "familyName": "Smith" }, "displayName": "Ann Smith" } }]),
            "/name",
            json!({ "givenName": "Ann", "familyName": "Smith" }),
        ),
        (
            "Entra deactivates",
            json!([{ "op": "Replace", "path": "active", "value": "False" }]),
            "/active",
            json!(false),
        ),
        (
            "Entra sets a sub-attribute",
            json!([{ "op": "Add", "path": "name.givenName", "value": "Annie" }]),
            "/name/givenName",
            json!("Annie"),
        ),
        (
            "Entra changes the work email",
            json!([{ "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ann.lee@acme.test" }]),
            "/emails",
            json!([{ "value": "ann.lee@acme.test", "type": "work", "primary": true }]),
        ),
        (
            "Entra adds a home email the user lacks",
            json!([{ "op": "Add", "path": "emails[type eq \"home\"].value", "value": "ann@home.test" }]),
            "/emails/1",
            json!({ "type": "home", "value": "ann@home.test" }),
        ),
        (
            "Entra sets an enterprise attribute by its URN",
            json!([{ "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Finance" }]),
            "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/department",
            json!("Finance"),
        ),
        (
            "Entra sets the external id",
            json!([{ "op": "Replace", "path": "externalId", "value": "e-1" }]),
            "/externalId",
            json!("e-1"),
        ),
        ("remove an attribute", json!([{ "op": "remove", "path": "displayName" }]), "/displayName", Value::Null),
        (
            "remove a value by filter",
            json!([{ "op": "remove", "path": "emails[value eq \"ANN@acme.test\"]" }]),
            "/emails",
            Value::Null,
        ),
        (
            "add appends to a multi-valued attribute",
            json!([{ "op": "add", "path": "phoneNumbers", "value": [{ "value": "+44 1", "type": "work" }] }]),
            "/phoneNumbers",
            json!([{ "value": "+44 1", "type": "work" }]),
        ),
    ];
    for (what, operations, pointer, expected) in cases {
        let patched = Value::Object(patch(operations).unwrap_or_else(|e| panic!("{what}: {e:?}")));
        assert_eq!(patched.pointer(pointer).cloned().unwrap_or(Value::Null), expected, "{what}");
    }
}

#[test]
fn what_a_patch_may_not_do() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("an unknown attribute", json!([{ "op": "add", "path": "shoeSize", "value": 42 }]), "invalidPath"),
        (
            "a read-only attribute",
            json!([{ "op": "add", "path": "groups", "value": [{ "value": "g" }] }]),
            "mutability",
        ),
        ("a wrong type", json!([{ "op": "replace", "path": "active", "value": "maybe" }]), "invalidValue"),
        ("an unknown op", json!([{ "op": "merge", "path": "active", "value": true }]), "invalidSyntax"),
        ("remove without a path", json!([{ "op": "remove" }]), "noTarget"),
        ("a broken filter", json!([{ "op": "replace", "path": "emails[type eq]", "value": "x" }]), "invalidFilter"),
        (
            "a filter on a single value",
            json!([{ "op": "replace", "path": "name[givenName eq \"a\"]", "value": "x" }]),
            "invalidPath",
        ),
        ("removing the user name", json!([{ "op": "remove", "path": "userName" }]), "invalidValue"),
        ("an unknown schema", json!([{ "op": "add", "path": "urn:evil:User:x", "value": "y" }]), "invalidPath"),
        ("no operations", json!([]), "invalidValue"),
    ];
    for (what, operations, scim_type) in cases {
        let error = patch(operations).unwrap_err();
        assert_eq!(error.scim_type, Some(scim_type), "{what}: {error:?}");
    }
    let no_schema = patch_user(&ann(), &json!({ "Operations": [{ "op": "add", "path": "title", "value": "x" }] }));
    assert_eq!(no_schema.unwrap_err().scim_type, Some("invalidSyntax"));
}

proptest::proptest! {
    #![proptest_config(crate::testing::generative(256))]
#[test]
    fn arbitrary_operations_never_panic(path in ".{0,80}", op in "(add|replace|remove|Add|x)", value in ".{0,40}") {
        let _ = patch(json!([{ "op": op, "path": path, "value": value }]));
        let _ = patch(json!([{ "op": op, "value": { path: value } }]));
    }
}
