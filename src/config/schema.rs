//! The JSON Schema of `PORTCULLIS_CONFIG`, derived from the very types the parser deserializes
//! (schemars reads their serde attributes and doc comments), so it cannot drift from them.
//! `portcullis schema` prints it; the repository ships it as `config.schema.json`, and a test
//! fails when that file and this derivation disagree.
//!
//! What a schema cannot say (an origin that must use https in production, a route naming a role
//! that exists, a secret that must be set) stays with the parser: `npm run check-config` reports
//! those. The schema is the stricter of the two on one point only: it refuses `null` for an
//! optional field, which the parser reads as absent.

use super::{RawRoute, Unmatched};
use crate::accounts::config::RawLocalAccounts;
use crate::assertion::AssertionConfig;
use crate::authn::api_key::ApiKeyConfig;
use crate::authn::jwt::issuer::RawJwtConfig;
use crate::authz::Roles;
use crate::deploy::Environment;
use crate::directory::config::DirectoryConfig;
use crate::gateway::limits::Limits;
use crate::gateway::security_headers::SecurityHeaders;
use crate::login::config::RawLogin;
use crate::ratelimit::RateLimitingConfig;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;

/// Portcullis's configuration, the JSON value of the `PORTCULLIS_CONFIG` variable. Every field is
/// optional; without the variable the embedded development defaults apply. See README.md,
/// "Configuration".
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a description for schemars only: the parser reads the sections one by one
struct ConfigDocument {
    /// The schema this document follows, for editors (ignored by the gateway).
    #[serde(rename = "$schema")]
    schema: Option<String>,
    /// The version of the configuration format it was written for. An older one is refused with
    /// the changes since; without it, the gateway's own version is assumed. Pin it in production.
    #[schemars(range(min = 1))]
    version: Option<u32>,
    /// `production` (the default) refuses plain-HTTP origins and every `insecure_*` switch.
    environment: Option<Environment>,
    /// The default origin, `https://host[:port]`, for routes that name none.
    origin: Option<String>,
    /// The default origin timeout in milliseconds (1 to 120000; default 15000).
    #[schemars(range(min = 1, max = 120_000))]
    origin_timeout_ms: Option<u32>,
    /// What happens to a request no route matches: `deny` (404 `no_route`, the default),
    /// `public` or `authenticated` (forwarded to the default origin).
    unmatched: Option<Unmatched>,
    /// The path prefix of Portcullis's own endpoints (default `/auth`): one segment.
    #[schemars(regex(pattern = r"^/[A-Za-z0-9_-]+$"))]
    edge_prefix: Option<String>,
    /// The proxied routes. The most specific match wins; a request that matches none is denied
    /// unless `unmatched` says otherwise.
    routes: Option<Vec<RawRoute>>,
    /// Security headers added to proxied responses.
    security_headers: Option<SecurityHeaders>,
    /// Request size limits, checked before anything else.
    limits: Option<Limits>,
    /// Extra inbound header names stripped like the identity namespace (`X-Auth-*`), so that a
    /// client can never send them to the origin.
    strip_headers: Option<Vec<String>>,
    /// Bearer JWT verification: the trusted issuers and JWKS caching.
    jwt: Option<RawJwtConfig>,
    /// The signed identity assertion sent to the origin.
    assertion: Option<AssertionConfig>,
    /// API keys: their prefix, caching and management API. Absent: API keys are off.
    api_keys: Option<ApiKeyConfig>,
    /// How rate limits are enforced (the Durable Object binding, timeouts, leases).
    rate_limiting: Option<RateLimitingConfig>,
    /// The role catalogue (RBAC), by role name.
    roles: Option<Roles>,
    /// The scope catalogue: when given, every scope a route requires must be one of these.
    scopes: Option<Vec<String>>,
    /// Browser login and sessions. Absent: browser login is off.
    login: Option<RawLogin>,
    /// The user directory's administration and domain verification.
    directory: Option<DirectoryConfig>,
    /// Email-and-password accounts for some tenants (sign-up, verification, sign-in, reset). Needs `login`.
    /// Absent: local accounts are off.
    local_accounts: Option<RawLocalAccounts>,
}

/// The schema, as JSON (draft 2020-12).
pub fn json_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<ConfigDocument>().to_value();
    without_null(&mut schema);
    if let Some(root) = schema.as_object_mut() {
        root.insert("title".into(), "Portcullis configuration".into());
    }
    schema
}

/// An optional field may be absent; `null` is not one of its values. Drops the `null` that
/// schemars adds to every `Option` (`"type": ["string", "null"]`, or an `anyOf` member
/// `{"type": "null"}`). A field that does take `null` says so with `{"const": null}`.
fn without_null(schema: &mut serde_json::Value) {
    use serde_json::Value;
    let Value::Object(map) = schema else {
        if let Value::Array(items) = schema {
            items.iter_mut().for_each(without_null);
        }
        return;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(members)) = map.get_mut("anyOf") {
        members.retain(|member| member.get("type").and_then(Value::as_str) != Some("null"));
        if members.len() == 1 {
            if let Some(Value::Object(only)) = members.pop() {
                map.remove("anyOf");
                for (key, value) in only {
                    map.entry(key).or_insert(value);
                }
            }
        }
    }
    map.values_mut().for_each(without_null);
}

/// The schema as the repository ships it (`config.schema.json`): pretty JSON, a final newline.
pub fn json_schema_text() -> String {
    let pretty = serde_json::to_string_pretty(&json_schema()).unwrap_or_else(|_| unreachable!("a Value prints"));
    format!("{pretty}\n")
}

#[cfg(test)]
mod tests;
