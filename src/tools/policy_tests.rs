//! The authorisation specification: requests, principals, the expected decision and the route
//! that made it, through the same admission and authorisation the worker runs.

use super::simulate::{simulate, PrincipalSpec};
use crate::config::Config;
use serde_json::json;

fn config() -> Config {
    Config::parse(
        &json!({
            "environment": "development",
            "origin": "http://127.0.0.1:1",
            "scopes": ["invoices:read", "invoices:write", "orders:read"],
            "roles": {
                "billing-admin": { "permissions": ["invoices:read", "invoices:write"], "groups": ["finance"] },
                "viewer": { "permissions": ["invoices:read"], "groups": ["staff"] }
            },
            "routes": [
                { "id": "tenant-invoices", "path": "/tenants/:tenant/invoices/*", "methods": ["GET"], "policy": "authenticated",
                  "tenant": "path:tenant", "scopes": ["invoices:read"] },
                { "id": "tenant-invoices-write", "path": "/tenants/:tenant/invoices/*", "methods": ["POST", "PUT", "DELETE"],
                  "policy": "authenticated", "tenant": "path:tenant", "permissions": ["invoices:write"] },
                { "id": "sub-tenant", "host": "*.app.test", "path": "/dashboard/*", "policy": "authenticated", "tenant": "subdomain" },
                { "id": "admin", "path": "/admin/*", "policy": "authenticated", "roles": ["billing-admin"],
                  "claims": [{ "claim": "amr", "contains": "mfa" }] },
                { "id": "verified", "path": "/profile/*", "policy": "authenticated", "claims": [{ "claim": "email_verified", "equals": true }] },
                { "id": "jwt-only", "path": "/internal/*", "policy": "authenticated", "authenticators": ["jwt:https://idp.test/"] },
                { "id": "keys-only", "path": "/machine/*", "policy": "authenticated", "authenticators": ["api_key"],
                  "scopes": ["orders:read", "invoices:read"], "scopes_match": "any" },
                { "id": "public-docs", "path": "/docs/*", "methods": ["GET"], "policy": "public" }
            ]
        })
        .to_string(),
    )
    .expect("the test configuration is valid")
}

fn principal(json: serde_json::Value) -> PrincipalSpec {
    serde_json::from_value(json).unwrap()
}

#[test]
fn the_authorisation_table() {
    let config = config();
    let alice = principal(
        json!({ "method": "jwt", "subject": "alice", "issuer": "https://idp.test/", "tenant": "acme",
        "groups": ["finance"], "scopes": ["invoices:read"], "claims": { "amr": ["pwd", "mfa"], "email_verified": true } }),
    );
    let alice_no_mfa =
        principal(json!({ "method": "jwt", "subject": "alice", "issuer": "https://idp.test/", "tenant": "acme",
        "groups": ["finance"], "claims": { "amr": ["pwd"] } }));
    let no_tenant = principal(json!({ "method": "jwt", "subject": "nomad", "scopes": ["invoices:read"] }));
    let bob = principal(json!({ "method": "jwt", "subject": "bob", "issuer": "https://idp.test/", "tenant": "globex",
        "groups": ["staff"], "scopes": ["invoices:read"], "claims": { "email_verified": false } }));
    let carol =
        principal(json!({ "method": "jwt", "subject": "carol", "issuer": "https://idp.test/", "tenant": "acme" }));
    let stringly = principal(json!({ "method": "jwt", "subject": "s", "claims": { "email_verified": "true" } }));
    let dave =
        principal(json!({ "method": "jwt", "subject": "dave", "issuer": "https://other.test/", "tenant": "acme" }));
    let key = principal(
        json!({ "method": "api_key", "subject": "svc", "key_id": "k1", "tenant": "acme", "scopes": ["orders:read"] }),
    );
    let bare_key = principal(json!({ "method": "api_key", "subject": "svc", "key_id": "k2", "tenant": "acme" }));
    let anon = PrincipalSpec::default();
    let override_header = vec![("X-HTTP-Method-Override".to_owned(), "DELETE".to_owned())];
    let none: Vec<(String, String)> = Vec::new();

    let h = "https://app.test";
    #[rustfmt::skip]
    let cases: Vec<(&str, String, &PrincipalSpec, &Vec<(String, String)>, &str, Option<&str>)> = vec![
        // method, URL, principal, headers, expected code, deciding route
        ("GET", format!("{h}/tenants/acme/invoices/1"), &alice, &none, "authenticated", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/acme/invoices"), &alice, &none, "authenticated", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/globex/invoices/1"), &alice, &none, "tenant_mismatch", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/acme/invoices/1"), &bob, &none, "tenant_mismatch", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/globex/invoices/1"), &bob, &none, "authenticated", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/ACME/invoices/1"), &alice, &none, "tenant_mismatch", Some("tenant-invoices")),
        ("GET", format!("{h}/Tenants/acme/invoices/1"), &alice, &none, "no_route", None),
        ("GET", format!("{h}/tenants/%61cme/invoices/1"), &alice, &none, "authenticated", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/%61cme/invoices/1"), &bob, &none, "tenant_mismatch", Some("tenant-invoices")),
        ("GET", format!("{h}//tenants/acme/invoices/1"), &alice, &none, "ambiguous_path", None),
        ("GET", format!("{h}/tenants//invoices/1"), &alice, &none, "ambiguous_path", None),
        ("GET", format!("{h}/tenants/acme/../globex/invoices/1"), &alice, &none, "tenant_mismatch", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/acme/%2e%2e/globex/invoices/1"), &alice, &none, "tenant_mismatch", Some("tenant-invoices")),
        ("GET", format!("{h}/tenants/acme%2Fx/invoices/1"), &alice, &none, "ambiguous_path", None),
        ("GET", format!("{h}/tenants/acme;x=1/invoices/1"), &alice, &none, "ambiguous_path", None),
        ("GET", format!("{h}/tenants/acme"), &alice, &none, "no_route", None),
        ("GET", format!("{h}/tenants/acme/invoices/1"), &no_tenant, &none, "tenant_mismatch", Some("tenant-invoices")),
        ("POST", format!("{h}/tenants/acme/invoices/1"), &alice, &none, "authenticated", Some("tenant-invoices-write")),
        ("POST", format!("{h}/tenants/globex/invoices/1"), &bob, &none, "missing_permission", Some("tenant-invoices-write")),
        ("DELETE", format!("{h}/tenants/acme/invoices/1"), &key, &none, "missing_permission", Some("tenant-invoices-write")),
        ("GET", format!("{h}/tenants/acme/invoices/1"), &key, &none, "insufficient_scope", Some("tenant-invoices")),
        ("PATCH", format!("{h}/tenants/acme/invoices/1"), &alice, &none, "method_not_allowed", None),
        ("GET", format!("{h}/tenants/acme/invoices/1"), &alice, &override_header, "method_override_refused", None),
        ("POST", format!("{h}/docs/a"), &anon, &override_header, "method_override_refused", None),
        ("GET", "https://acme.app.test/dashboard/x".into(), &alice, &none, "authenticated", Some("sub-tenant")),
        ("GET", "https://ACME.app.test/dashboard/x".into(), &alice, &none, "authenticated", Some("sub-tenant")),
        ("GET", "https://globex.app.test/dashboard/x".into(), &alice, &none, "tenant_mismatch", Some("sub-tenant")),
        ("GET", "https://app.test/dashboard/x".into(), &alice, &none, "no_route", None),
        ("GET", "https://acme.evil.test/dashboard/x".into(), &alice, &none, "no_route", None),
        ("GET", "https://x.acme.app.test/dashboard/x".into(), &alice, &none, "no_route", None),
        ("GET", format!("{h}/admin/users"), &alice, &none, "authenticated", Some("admin")),
        ("GET", format!("{h}/admin/users"), &bob, &none, "missing_role", Some("admin")),
        ("GET", format!("{h}/admin/users"), &alice_no_mfa, &none, "claim_condition_failed", Some("admin")),
        ("GET", format!("{h}/profile/me"), &alice, &none, "authenticated", Some("verified")),
        ("GET", format!("{h}/profile/me"), &bob, &none, "claim_condition_failed", Some("verified")),
        ("GET", format!("{h}/profile/me"), &carol, &none, "claim_condition_failed", Some("verified")),
        ("GET", format!("{h}/profile/me"), &stringly, &none, "claim_condition_failed", Some("verified")),
        ("GET", format!("{h}/internal/x"), &alice, &none, "authenticated", Some("jwt-only")),
        ("GET", format!("{h}/internal/x"), &dave, &none, "authenticator_not_allowed", Some("jwt-only")),
        ("GET", format!("{h}/internal/x"), &key, &none, "authenticator_not_allowed", Some("jwt-only")),
        ("GET", format!("{h}/machine/x"), &key, &none, "authenticated", Some("keys-only")),
        ("GET", format!("{h}/machine/x"), &alice, &none, "authenticator_not_allowed", Some("keys-only")),
        ("GET", format!("{h}/machine/x"), &bare_key, &none, "insufficient_scope", Some("keys-only")),
        ("GET", format!("{h}/docs/a"), &anon, &none, "public", Some("public-docs")),
        ("HEAD", format!("{h}/docs/a"), &anon, &none, "public", Some("public-docs")),
        ("POST", format!("{h}/docs/a"), &anon, &none, "method_not_allowed", None),
        ("GET", format!("{h}/tenants/acme/invoices/1"), &anon, &none, "unauthenticated", Some("tenant-invoices")),
        ("GET", format!("{h}/nowhere"), &alice, &none, "no_route", None),
        ("GET", format!("{h}/auth/health"), &anon, &none, "edge", None),
    ];
    assert!(cases.len() >= 40);
    for (method, url, principal, headers, code, route) in &cases {
        let verdict = simulate(&config, method, url, headers, principal).unwrap();
        assert_eq!(
            (verdict.code.as_str(), verdict.route.as_deref()),
            (*code, *route),
            "{method} {url} as {:?}: {}",
            principal.subject,
            verdict.reason
        );
    }
}

#[test]
fn the_grant_carries_effective_roles() {
    let config = config();
    let alice =
        principal(json!({ "method": "jwt", "subject": "alice", "issuer": "https://idp.test/", "tenant": "acme",
        "groups": ["finance", "staff", "billing-admin"], "claims": { "amr": ["mfa"] } }));
    let verdict = simulate(&config, "GET", "https://app.test/admin/x", &[], &alice).unwrap();
    assert_eq!(verdict.roles, ["billing-admin", "viewer"]);
}

#[test]
fn requirements_are_validated_against_the_catalogue() {
    let problems = Config::parse(
        &json!({
            "environment": "development", "origin": "http://127.0.0.1:1",
            "scopes": ["invoices:read"],
            "roles": { "viewer": { "permissions": ["invoices:read"] } },
            "routes": [
                { "path": "/a/*", "policy": "authenticated", "scopes": ["admn"] },
                { "path": "/b/*", "policy": "authenticated", "roles": ["admin"] },
                { "path": "/c/*", "policy": "authenticated", "permissions": ["invoices:delete"] },
                { "path": "/d/*", "policy": "authenticated", "tenant": "path:tenant" },
                { "path": "/e/*", "policy": "public", "scopes": ["invoices:read"] },
                { "path": "/f/*", "policy": "authenticated", "authenticators": ["password"] },
                { "path": "/g/*", "policy": "authenticated", "claims": [{ "claim": "x" }] },
                { "path": "/h/*", "policy": "authenticated", "tenant": "header" }
            ]
        })
        .to_string(),
    )
    .unwrap_err();
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let expected = [
        "routes[0].scopes[0]: unknown scope \"admn\"",
        "routes[1].roles[0]: unknown role \"admin\"",
        "routes[2].permissions[0]: no role grants \"invoices:delete\"",
        "routes[3].tenant: the path pattern has no :tenant segment",
        "routes[4].policy: a public route cannot have authorisation requirements",
        "routes[5].authenticators[0]: unknown authenticator \"password\"",
        "routes[6].claims[0]: set exactly one of equals and contains",
        "routes[7].tenant: \"header\": expected path:<param> or subdomain",
    ];
    for (problem, prefix) in problems.iter().zip(expected) {
        assert!(problem.starts_with(prefix), "{problem:?} should start with {prefix:?}");
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

#[test]
fn a_tenants_directory_user_holds_only_the_roles_a_tenant_may_assign() {
    let config = Config::parse(
        &json!({
            "environment": "development",
            "origin": "http://127.0.0.1:1",
            "roles": {
                "admin": { "groups": ["admins"] },
                "billing-admin": { "groups": ["finance"], "tenant_assignable": true }
            },
            "routes": [
                { "id": "admin", "path": "/admin/*", "policy": "authenticated", "roles": ["admin"] },
                { "id": "billing", "path": "/billing/*", "policy": "authenticated", "roles": ["billing-admin"] }
            ]
        })
        .to_string(),
    )
    .unwrap();
    // A tenant's IdP says its user is in "admins" and "finance"; its mapping grants "admin" too
    // (a row written before the role stopped being assignable).
    let tenant_user = principal(json!({ "method": "session", "subject": "ann", "tenant": "acme",
        "groups": ["admins", "finance"], "user_id": "usr_AAAAAAAAAAAAAAAAAAAAAA", "directory_roles": ["admin"] }));
    let staff = principal(json!({ "method": "session", "subject": "ops", "groups": ["admins"] }));
    let cases = [(&tenant_user, "/admin/x", 403), (&tenant_user, "/billing/x", 200), (&staff, "/admin/x", 200)];
    for (who, path, status) in cases {
        let verdict = simulate(&config, "GET", &format!("https://gw.test{path}"), &[], who).unwrap();
        assert_eq!(verdict.status, status, "{} {path}: {verdict:?}", who.subject);
    }
}
