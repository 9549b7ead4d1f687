//! The User schema table: what it keeps, refuses and publishes.

use super::*;
use proptest::prelude::*;

#[test]
fn a_user_is_canonicalised_and_read_only_or_server_attributes_are_dropped() {
    let document = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA], "id": "forged", "meta": { "created": "x" },
        "USERNAME": "Ann@Acme.test", "externalId": "00u1", "Name": { "GivenName": "Ann" },
        "emails": [{ "value": "ann@acme.test", "primary": "True", "type": "work" }],
        "active": "False", "groups": [{ "value": "g1" }],
        ENTERPRISE_SCHEMA: { "Department": "Finance" },
    });
    let user = canonical_user(&document).unwrap();
    assert_eq!(
        Value::Object(user.clone()),
        json!({ "userName": "Ann@Acme.test", "externalId": "00u1", "name": { "givenName": "Ann" },
                "emails": [{ "value": "ann@acme.test", "primary": true, "type": "work" }], "active": false,
                ENTERPRISE_SCHEMA: { "department": "Finance" } })
    );
    assert_eq!(primary_email(&user), Some("ann@acme.test".into()));
}

#[test]
fn unknown_attributes_wrong_types_and_missing_user_names_are_refused() {
    let cases = [
        json!({ "userName": "a", "shoeSize": 42 }),
        json!({ "userName": "a", "name": { "nick": "x" } }),
        json!({ "userName": "a", "active": "yes" }),
        json!({ "userName": "a", "emails": { "value": "x" } }),
        json!({ "userName": "a", "emails": [{ "value": 1 }] }),
        json!({ "userName": "a", "password": "hunter2" }),
        json!({ "userName": "a", "displayName": "bell\u{7}" }),
        json!({ "userName": "a", ENTERPRISE_SCHEMA: { "salary": 1 } }),
        json!({ "userName": "a", "externalId": 7 }),
        json!({ "userName": "  " }),
        json!({ "displayName": "no user name" }),
        json!(["not", "an", "object"]),
    ];
    for case in cases {
        let error = canonical_user(&case).unwrap_err();
        assert_eq!(error.status, 400, "{case}");
        assert!(matches!(error.scim_type, Some("invalidValue" | "invalidSyntax")), "{case}");
    }
    let many: Vec<Value> = (0..=MAX_VALUES).map(|i| json!({ "value": format!("{i}@x.test") })).collect();
    assert!(canonical_user(&json!({ "userName": "a", "emails": many })).is_err());
}

#[test]
fn the_published_schema_is_the_table() {
    let published = schemas("https://gw.test/scim/v2/acme");
    assert_eq!(published[0]["id"], USER_SCHEMA);
    let names: Vec<&str> =
        published[0]["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    let table: Vec<&str> = USER_ATTRIBUTES.iter().map(|a| a.name).collect();
    assert_eq!(names, table);
    assert_eq!(published[0]["attributes"][0]["uniqueness"], "server");
    assert_eq!(published[1]["meta"]["location"], format!("https://gw.test/scim/v2/acme/Schemas/{ENTERPRISE_SCHEMA}"));
}

proptest! {
    #![proptest_config(crate::testing::generative(256))]
#[test]
    fn arbitrary_json_never_panics(text in ".{0,300}") {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            let _ = canonical_user(&value);
        }
    }

    #[test]
    fn a_kept_user_is_kept_again_unchanged(given in "[A-Za-z]{1,20}", user in "[a-z]{1,20}", active: bool) {
        let kept = canonical_user(&json!({ "userName": user, "name": { "givenName": given }, "active": active })).unwrap();
        prop_assert_eq!(canonical_user(&Value::Object(kept.clone())).unwrap(), kept);
    }
}
