//! The policy checker as a user runs it: `portcullis policy check` and `policy lint`.

use std::process::Command;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("portcullis-policy-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis")).args(args).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn check_prints_the_decision_the_route_and_why() {
    let config = write(
        "config.json",
        r#"{ "environment": "development", "origin": "http://127.0.0.1:1",
             "routes": [ { "id": "invoices", "path": "/tenants/:tenant/invoices/*", "methods": ["GET"], "policy": "authenticated", "tenant": "path:tenant" } ] }"#,
    );
    let alice = write("alice.json", r#"{ "method": "jwt", "subject": "alice", "tenant": "acme" }"#);
    let config = config.to_str().unwrap();
    let alice = alice.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        ("GET https://app.test/tenants/acme/invoices", "ALLOW 200 (authenticated)\nroute:  invoices"),
        ("GET https://app.test/tenants/globex/invoices", "DENY 403 (tenant_mismatch)\nroute:  invoices"),
        ("DELETE https://app.test/tenants/acme/invoices", "DENY 405 (method_not_allowed)\nroute:  (none)"),
    ];
    for (request, expected) in cases {
        let (code, out) = run(&["policy", "check", config, request, alice]);
        assert_eq!(code, 0);
        assert!(out.starts_with(expected), "{request}: {out}");
    }
    let (_, anonymous) = run(&["policy", "check", config, "GET https://app.test/tenants/acme/invoices"]);
    assert!(anonymous.starts_with("DENY 401 (unauthenticated)"), "{anonymous}");
}

#[test]
fn lint_exits_non_zero_on_warnings() {
    let risky = write(
        "risky.json",
        r#"{ "environment": "development", "origin": "http://127.0.0.1:1",
             "routes": [ { "id": "api", "path": "/api/*", "policy": "authenticated" }, { "id": "open", "path": "/api/*", "methods": ["GET"], "policy": "public" } ] }"#,
    );
    let (code, out) = run(&["policy", "lint", risky.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("warning: route \"api\": overlaps \"open\""), "{out}");
    let clean = write(
        "clean.json",
        r#"{ "environment": "development", "origin": "http://127.0.0.1:1", "routes": [ { "id": "api", "path": "/api/*", "policy": "authenticated" } ] }"#,
    );
    assert_eq!(run(&["policy", "lint", clean.to_str().unwrap()]).0, 0);
}
