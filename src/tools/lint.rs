//! The policy linter: findings about a valid configuration that is probably not what its author
//! meant. Unknown scopes and roles are configuration errors already (see `crate::config`).

use crate::authn::select::Authenticator;
use crate::authn::session::SESSION_CLAIMS;
use crate::config::Config;
use crate::policy::routes::{HostPattern, Policy, Route};
use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Probably a mistake.
    Warning,
    /// Worth knowing.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// The route it is about.
    pub route: String,
    /// What is wrong.
    pub message: String,
}

const WRITE_METHODS: &[&str] = &["POST", "PUT", "PATCH", "DELETE"];

fn outcome(route: &Route) -> String {
    format!("{} {:?}", route.policy.name(), route.requirements)
}

/// Lints a configuration. Routes are taken most specific first, as requests see them.
pub fn lint(config: &Config) -> Vec<Finding> {
    let routes = config.routes.routes();
    let mut findings = Vec::new();
    for (index, route) in routes.iter().enumerate() {
        let earlier = &routes[..index];
        // Unreachable: an earlier (more or equally specific) route takes every request it matches.
        if let Some(shadow) = earlier
            .iter()
            .find(|a| a.host == route.host && a.path.source() == route.path.source() && a.methods_cover(route))
        {
            findings.push(Finding {
                severity: Severity::Warning,
                route: route.id.clone(),
                message: format!("unreachable: every request it matches goes to {:?} first", shadow.id),
            });
            continue;
        }
        // Overlapping rules with different outcomes: legal (the most specific wins), worth a look.
        for other in earlier {
            let overlaps = other.host.may_overlap(&route.host)
                && other.path.may_overlap(&route.path)
                && other.methods_overlap(route);
            if overlaps && outcome(other) != outcome(route) {
                // A public rule winning over a protected one is how routes end up public by accident.
                let exposes = other.policy == Policy::Public && route.policy == Policy::Authenticated;
                findings.push(Finding {
                    severity: if exposes { Severity::Warning } else { Severity::Info },
                    route: route.id.clone(),
                    message: format!(
                        "overlaps {:?} ({}) with a different outcome ({}); where both match, {:?} wins",
                        other.id,
                        other.path.source(),
                        route.policy.name(),
                        other.id
                    ),
                });
            }
        }
        findings.extend(session_only_dead_ends(route));
        findings.extend(step_up_dead_ends(route));
        if route.policy == Policy::Public {
            let writes = match &route.methods {
                None => true,
                Some(methods) => methods.iter().any(|m| WRITE_METHODS.contains(&m.as_str())),
            };
            if route.id == "unmatched" {
                findings.push(Finding {
                    severity: Severity::Warning,
                    route: route.id.clone(),
                    message:
                        "unmatched requests are forwarded publicly: a new origin path is public until a rule covers it"
                            .into(),
                });
            } else if route.path.source() == "/*" && route.host == HostPattern::Any {
                findings.push(Finding {
                    severity: Severity::Warning,
                    route: route.id.clone(),
                    message: "public catch-all: every path not covered by a more specific rule is public".into(),
                });
            } else if writes {
                findings.push(Finding {
                    severity: Severity::Warning,
                    route: route.id.clone(),
                    message: "public route accepts write methods (POST, PUT, PATCH, DELETE); list its methods if that is not intended".into(),
                });
            }
        }
    }
    findings
}

/// On a route that takes only sessions: requirements no session can meet (scopes, which sessions
/// never carry, and claim conditions on claims a session does not have). Such a route refuses
/// everyone.
fn session_only_dead_ends(route: &Route) -> Vec<Finding> {
    let needs = &route.requirements;
    let session_only =
        !needs.authenticators.is_empty() && needs.authenticators.iter().all(|a| *a == Authenticator::Session);
    if !session_only {
        return Vec::new();
    }
    let mut findings = Vec::new();
    if !needs.scopes.names.is_empty() {
        findings.push(Finding {
            severity: Severity::Warning,
            route: route.id.clone(),
            message: "requires scopes, which a session never carries: it refuses every request".into(),
        });
    }
    for condition in &needs.claims {
        let name = condition.claim.split('.').next().unwrap_or_default();
        if !SESSION_CLAIMS.contains(&name) {
            findings.push(Finding {
                severity: Severity::Warning,
                route: route.id.clone(),
                message: format!(
                    "a condition on claim {:?}, which a session does not carry (it has {}): it refuses every request",
                    condition.claim,
                    SESSION_CLAIMS.join(", ")
                ),
            });
        }
    }
    findings
}

/// A step-up requirement on a route that only takes API keys: a key never says how a user
/// authenticated (no `amr`), so the route refuses every request.
fn step_up_dead_ends(route: &Route) -> Vec<Finding> {
    let needs = &route.requirements;
    let keys_only =
        !needs.authenticators.is_empty() && needs.authenticators.iter().all(|a| *a == Authenticator::ApiKey);
    if needs.mfa.is_none() || !keys_only {
        return Vec::new();
    }
    vec![Finding {
        severity: Severity::Warning,
        route: route.id.clone(),
        message: "requires a second factor (mfa), which an API key never shows: it refuses every request".into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each recipe compiles, and the policy linter finds nothing to warn about in it (a route no
    /// principal can pass, a public catch-all, a shadowed route, a public route taking writes). A
    /// public landing page (`/`) over an authenticated `/*` is meant: its overlap warning is not
    /// counted.
    #[test]
    fn every_recipe_lints_clean() {
        let recipes = crate::testing::recipe_configs();
        assert!(recipes.len() >= 8, "{} recipes", recipes.len());
        for (name, document) in recipes {
            let config = Config::parse(&document.to_string()).unwrap_or_else(|problems| panic!("{name}: {problems:?}"));
            let warnings: Vec<String> = lint(&config)
                .into_iter()
                .filter(|finding| finding.severity == Severity::Warning && !finding.message.starts_with("overlaps"))
                .map(|finding| format!("{}: {}", finding.route, finding.message))
                .collect();
            assert!(warnings.is_empty(), "{name}: {warnings:#?}");
        }
    }

    #[test]
    fn session_only_routes_that_no_session_can_pass_are_flagged() {
        let config = Config::parse(
            r#"{ "environment": "development", "origin": "http://127.0.0.1:1",
                 "routes": [
                   { "id": "verified", "path": "/v/*", "policy": "authenticated", "authenticators": ["session"],
                     "claims": [{ "claim": "email_verified", "equals": true }] },
                   { "id": "scoped", "path": "/s/*", "policy": "authenticated", "authenticators": ["session"],
                     "scopes": ["read"] },
                   { "id": "fine", "path": "/f/*", "policy": "authenticated", "authenticators": ["session"],
                     "claims": [{ "claim": "email", "equals": "a@example.com" }] },
                   { "id": "either", "path": "/e/*", "policy": "authenticated", "authenticators": ["session", "jwt"],
                     "claims": [{ "claim": "email_verified", "equals": true }] } ] }"#,
        )
        .unwrap();
        let findings = lint(&config);
        let on = |route: &str| findings.iter().filter(|f| f.route == route).count();
        assert_eq!(on("verified"), 1, "{findings:#?}");
        assert!(findings.iter().any(|f| f.route == "verified" && f.message.contains("\"email_verified\"")));
        assert_eq!(on("scoped"), 1, "{findings:#?}");
        assert_eq!(on("fine"), 0, "a session has an email");
        assert_eq!(on("either"), 0, "a JWT may carry it");
    }

    #[test]
    fn a_step_up_on_a_keys_only_route_is_flagged() {
        let config = Config::parse(
            r#"{ "environment": "development", "origin": "http://127.0.0.1:1", "api_keys": { "prefix": "pk_test" },
                 "routes": [
                   { "id": "keys", "path": "/k/*", "policy": "authenticated", "authenticators": ["api_key"],
                     "mfa": { "required": true } },
                   { "id": "users", "path": "/u/*", "policy": "authenticated", "authenticators": ["session", "api_key"],
                     "mfa": { "required": true, "methods": ["otp"] } } ] }"#,
        )
        .unwrap();
        let findings = lint(&config);
        assert_eq!(findings.iter().filter(|f| f.route == "keys").count(), 1, "{findings:#?}");
        assert_eq!(findings.iter().filter(|f| f.route == "users").count(), 0, "{findings:#?}");
    }

    #[test]
    fn lint_findings() {
        let config = Config::parse(
            &json!({
                "environment": "development", "origin": "http://127.0.0.1:1",
                "routes": [
                    { "id": "api", "path": "/api/*", "policy": "authenticated" },
                    { "id": "api-again", "path": "/api/*", "methods": ["GET"], "policy": "public" },
                    { "id": "api-health", "path": "/api/health", "methods": ["GET"], "policy": "public" },
                    { "id": "upload", "path": "/upload", "policy": "public" },
                    { "id": "docs", "path": "/docs/*", "methods": ["GET"], "policy": "public" },
                    { "id": "everything", "path": "/*", "methods": ["GET"], "policy": "public" }
                ]
            })
            .to_string(),
        )
        .unwrap();
        let findings: Vec<(Severity, String, String)> = lint(&config)
            .into_iter()
            .map(|f| (f.severity, f.route, f.message.split(':').next().unwrap_or("").to_owned()))
            .collect();
        let has = |severity: Severity, route: &str, start: &str| {
            findings.iter().any(|(s, r, m)| *s == severity && r == route && m.starts_with(start))
        };
        assert!(has(Severity::Warning, "api", "overlaps \"api-health\""), "{findings:#?}");
        assert!(has(Severity::Warning, "upload", "public route accepts write methods"), "{findings:#?}");
        assert!(!findings.iter().any(|(_, r, _)| r == "docs"), "a read-only public route is fine: {findings:#?}");
        // api-again is less specific than `api` only by its methods: GET goes to api-again, so
        // it is reachable; but it overlaps api with another outcome.
        assert!(
            has(Severity::Warning, "api", "overlaps \"api-again\""),
            "a public rule wins over a protected one: {findings:#?}"
        );

        let duplicate = Config::parse(
            &json!({ "environment": "development", "origin": "http://127.0.0.1:1", "unmatched": "public",
                     "routes": [ { "id": "one", "path": "/x", "policy": "authenticated" }, { "id": "two", "path": "/x", "policy": "authenticated" } ] })
            .to_string(),
        )
        .unwrap();
        let findings = lint(&duplicate);
        assert!(findings.iter().any(|f| f.route == "two" && f.message.starts_with("unreachable")), "{findings:#?}");
        assert!(findings.iter().any(|f| f.route == "unmatched" && f.severity == Severity::Warning), "{findings:#?}");
    }
}
