//! The discovery endpoints (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes` and (with
//! [`super::schema::schemas`]) `Schemas`; and the `attributes` / `excludedAttributes` projection
//! of §3.4.2.5 that every read honours.

use super::schema::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use super::users::MAX_PAGE;
use serde_json::{json, Map, Value};

/// `GET /ServiceProviderConfig`: what this service provider supports.
pub fn service_provider_config(base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_PAGE },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "Bearer token", "primary": true,
            "description": "A SCIM token of the tenant, issued by its administrator: Authorization: Bearer scim_...",
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base_url}/ServiceProviderConfig") },
    })
}

/// `GET /ResourceTypes`.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/Group") },
        }),
    ]
}

/// A list response of discovery resources.
pub fn listed(resources: Vec<Value>) -> Value {
    json!({ "schemas": [super::users::LIST_SCHEMA], "totalResults": resources.len(), "startIndex": 1,
            "itemsPerPage": resources.len(), "Resources": resources })
}

/// The most attribute names a projection takes (the schema has fewer).
const MAX_NAMES: usize = 64;

fn names(list: Option<&str>) -> Vec<String> {
    list.map(|list| {
        list.split(',').map(|name| name.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).take(MAX_NAMES).collect()
    })
    .unwrap_or_default()
}

/// The attribute's name relative to the core schema: `urn:...:User:name.givenName` → `name.givenname`.
fn relative(name: &str) -> String {
    let core = format!("{}:", USER_SCHEMA.to_ascii_lowercase());
    name.strip_prefix(&core).unwrap_or(name).to_owned()
}

/// A resource with only the `attributes` asked for, or without the `excludedAttributes`.
/// `id`, `schemas` and `meta` are always returned.
pub fn project(resource: Value, attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let Value::Object(mut document) = resource else { return resource };
    let always = ["id", "schemas", "meta"];
    let wanted: Vec<String> = names(attributes).iter().map(|n| relative(n)).collect();
    if !wanted.is_empty() {
        let mut kept = Map::new();
        for (key, value) in std::mem::take(&mut document) {
            let lower = key.to_ascii_lowercase();
            if always.contains(&key.as_str()) || wanted.contains(&lower) {
                kept.insert(key, value);
                continue;
            }
            let subs: Vec<&str> = wanted.iter().filter_map(|w| w.strip_prefix(&format!("{lower}."))).collect();
            if let (false, Value::Object(inner)) = (subs.is_empty(), &value) {
                let picked: Map<String, Value> = inner
                    .iter()
                    .filter(|(sub, _)| subs.iter().any(|s| sub.eq_ignore_ascii_case(s)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                kept.insert(key, Value::Object(picked));
            } else if let (false, Value::Array(items)) = (subs.is_empty(), &value) {
                let picked: Vec<Value> = items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|item| {
                        Value::Object(
                            item.iter()
                                .filter(|(sub, _)| subs.iter().any(|s| sub.eq_ignore_ascii_case(s)))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        )
                    })
                    .collect();
                kept.insert(key, Value::Array(picked));
            }
        }
        document = kept;
    }
    for name in names(excluded).iter().map(|n| relative(n)) {
        match name.split_once('.') {
            None => {
                let key =
                    document.keys().find(|k| k.eq_ignore_ascii_case(&name) && !always.contains(&k.as_str())).cloned();
                if let Some(key) = key {
                    document.remove(&key);
                }
            }
            Some((top, sub)) => {
                if let Some((_, Value::Object(inner))) = document.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(top))
                {
                    inner.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                }
            }
        }
    }
    Value::Object(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_what_is_asked_and_always_the_id() {
        let user = json!({ "schemas": [USER_SCHEMA], "id": "usr_1", "meta": {}, "userName": "ann",
                           "name": { "givenName": "Ann", "familyName": "Lee" }, "emails": [{ "value": "a@x", "type": "work" }] });
        let only = project(user.clone(), Some("userName, name.familyName,emails.value"), None);
        assert_eq!(
            only,
            json!({ "schemas": [USER_SCHEMA], "id": "usr_1", "meta": {}, "userName": "ann",
                                 "name": { "familyName": "Lee" }, "emails": [{ "value": "a@x" }] })
        );
        let without = project(user.clone(), None, Some("emails,name.givenName,id"));
        assert_eq!(
            without,
            json!({ "schemas": [USER_SCHEMA], "id": "usr_1", "meta": {}, "userName": "ann",
                                    "name": { "familyName": "Lee" } })
        );
        let qualified = project(user, Some("urn:ietf:params:scim:schemas:core:2.0:User:userName"), None);
        assert_eq!(qualified["userName"], "ann");
        assert!(qualified.get("name").is_none());
    }
}
