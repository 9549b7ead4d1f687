//! Typed configuration, parsed once per isolate from the `PORTCULLIS_CONFIG` variable.
//!
//! Validation reports every problem at once, each with its path (`routes[2].cors.allow_origins[0]:
//! ...`), so an operator fixes a configuration in one pass. An invalid configuration never lets
//! traffic through: the worker answers every request with 503 `config_invalid`.
//!
//! Without `PORTCULLIS_CONFIG`, [`EMBEDDED_DEFAULT`] applies: a development configuration that
//! guards the local demo origin.

use crate::accounts::config::{LocalAccounts, RawLocalAccounts};
use crate::assertion::AssertionConfig;
use crate::authn::api_key::ApiKeyConfig;
use crate::authn::jwt::issuer::JwtConfig;
use crate::authn::select::Authenticator;
use crate::authz::{ClaimCondition, Needs, Requirements, RoleDefinition, Roles, TenantBinding};
use crate::deploy::Environment;
use crate::directory::config::DirectoryConfig;
use crate::gateway::cors::{CorsPolicy, RawCorsPolicy};
use crate::gateway::limits::Limits;
use crate::gateway::security_headers::SecurityHeaders;
use crate::gateway::upstream::Upstream;
use crate::gateway::websocket::{RawWebSocketPolicy, WebSocketPolicy};
use crate::http::headers::is_token;
use crate::identity::is_scope_token;
use crate::login::config::LoginConfig;
use crate::policy::routes::{FailureMode, ForwardAuthorization, RateLimits};
use crate::policy::routes::{HostPattern, PathPattern, Policy, Route, RouteTable};
use crate::ratelimit::rules::{RawRule, Rule};
use crate::ratelimit::RateLimitingConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// The configuration used when `PORTCULLIS_CONFIG` is not set: the local demo.
pub const EMBEDDED_DEFAULT: &str = r#"{
  "environment": "development",
  "origin": "http://127.0.0.1:8788",
  "api_keys": { "prefix": "pk_test" },
  "routes": [
    { "id": "home", "path": "/", "methods": ["GET"], "policy": "public" },
    { "id": "public", "path": "/public/*", "policy": "public" },
    { "id": "app", "path": "/*", "policy": "authenticated" }
  ]
}"#;

#[cfg(feature = "schema")]
pub mod schema;
mod versions;

pub use versions::{CONFIG_VERSION, VERSION_CHANGES};

const DEFAULT_TIMEOUT_MS: u32 = 15_000;
const MAX_TIMEOUT_MS: u32 = 120_000;

/// What happens to a request that no route matches.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// 404 `no_route` (the default).
    Deny,
    /// Forward to the default origin as a public route would.
    Public,
    /// Forward to the default origin once authenticated.
    Authenticated,
}

/// One problem in a configuration: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// A JSON path such as `routes[2].policy`, or `$` for the whole document.
    pub path: String,
    /// What is wrong, in lower case.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Development or production.
    pub environment: Environment,
    /// Proxied routes, most specific first; an `unmatched` fallback is the last route.
    pub routes: RouteTable,
    /// The path prefix of Portcullis's own endpoints, such as `/auth`.
    pub edge_prefix: String,
    /// Security headers for proxied responses.
    pub security_headers: SecurityHeaders,
    /// Request size limits.
    pub limits: Limits,
    /// Extra inbound header names (lower case) stripped like the identity namespace.
    pub strip_headers: Vec<String>,
    /// Bearer JWT verification: trusted issuers and key handling.
    pub jwt: JwtConfig,
    /// The signed identity assertion sent to the origin.
    pub assertion: AssertionConfig,
    /// API keys, when enabled.
    pub api_keys: Option<ApiKeyConfig>,
    /// How rate limits are enforced.
    pub rate_limiting: RateLimitingConfig,
    /// The role catalogue (RBAC).
    pub roles: Roles,
    /// Browser login and sessions, when enabled.
    pub login: Option<LoginConfig>,
    /// The user directory's administration and domain verification.
    pub directory: DirectoryConfig,
    /// Email-and-password accounts, when enabled (they need `login`).
    pub local_accounts: Option<LocalAccounts>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    /// A stable name, used in the audit log and headers. Unique; 1 to 64 visible ASCII characters.
    /// Default `routes[N]`.
    id: Option<String>,
    /// The host it serves: `app.example.com`, or `*.example.com` (exactly one more label). Default:
    /// every host.
    host: Option<String>,
    /// The path pattern: `/exact`, `/prefix/*` (also matches `/prefix`) or `/tenants/:tenant/*`.
    /// Literals are written decoded. Required.
    path: String,
    /// Upper-case methods it serves; `GET` also allows `HEAD`. Default: every method.
    methods: Option<Vec<String>>,
    /// `public` (forwarded without identity) or `authenticated`. Required.
    policy: String,
    /// This route's origin, `https://host[:port][/base]`. Default: the top-level `origin`.
    origin: Option<String>,
    /// How long to wait for the origin's response headers, in milliseconds (1 to 120000).
    /// Default: the top-level `origin_timeout_ms`.
    timeout_ms: Option<u32>,
    /// CORS for the route, answered at the edge. Absent: Portcullis does no CORS here.
    cors: Option<RawCorsPolicy>,
    /// Scopes an authenticated principal must hold (see `scopes_match`). Default: none.
    scopes: Option<Vec<String>>,
    /// `all` (the default) or `any` of `scopes`.
    scopes_match: Option<Match>,
    /// The credentials the route accepts: `jwt`, `jwt:<issuer>`, `api_key`, `session`. Default: any.
    authenticators: Option<Vec<String>>,
    /// Tenant isolation: `path:<param>` (a `:param` of the path) or `subdomain`, which must equal the
    /// principal's tenant. Default: none.
    tenant: Option<String>,
    /// Roles (from `roles`) the principal must hold (see `roles_match`). Default: none.
    roles: Option<Vec<String>>,
    /// `any` (the default) or `all` of `roles`.
    roles_match: Option<Match>,
    /// Permissions the principal's roles must grant, all of them. Default: none.
    permissions: Option<Vec<String>>,
    /// Claim conditions, all of which must hold, such as `{"claim": "amr", "contains": "mfa"}`.
    #[serde(default)]
    claims: Vec<ClaimCondition>,
    /// Step-up: a second factor this route needs, and how recent the authentication must be, such as
    /// `{"required": true, "methods": ["webauthn"], "max_age_s": 300}`. Checked against the principal's `amr` and
    /// `auth_time`; an API call that falls short gets 401 with RFC 9470's `insufficient_user_authentication`
    /// challenge. Default: none.
    mfa: Option<crate::mfa::step_up::Requirement>,
    /// Rate limits; a request passes only if every rule allows it. Default: none.
    #[serde(default)]
    rate_limits: Vec<RawRule>,
    /// When the rate limiter fails: `closed` (503, the default) or `open` (serve uncounted).
    rate_limit_failure: Option<FailureMode>,
    /// `strip` (the default) or `keep` the bearer JWT that authenticated the request, on its way to
    /// the origin, besides the assertion.
    forward_authorization: Option<ForwardAuthorization>,
    /// Lets the route take WebSocket upgrades, from these origins. Absent: upgrades are refused.
    websocket: Option<RawWebSocketPolicy>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Match {
    /// Every one listed.
    All,
    /// At least one listed.
    Any,
}

const TOP_LEVEL_FIELDS: &[&str] = &[
    "$schema",
    "version",
    "environment",
    "origin",
    "origin_timeout_ms",
    "unmatched",
    "edge_prefix",
    "routes",
    "security_headers",
    "limits",
    "strip_headers",
    "jwt",
    "assertion",
    "api_keys",
    "rate_limiting",
    "roles",
    "scopes",
    "login",
    "directory",
    "local_accounts",
];

/// Collects problems while a configuration is checked.
#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem { path: path.into(), message: message.into() });
    }

    /// Records a section's (field, message) problems under `prefix`.
    fn add_under(&mut self, prefix: &str, list: impl IntoIterator<Item = (String, String)>) {
        for (field, message) in list {
            self.add(format!("{prefix}.{field}"), message);
        }
    }

    /// The value a section compiled to, or `None` with its problems recorded under `prefix`.
    fn compiled<T>(&mut self, prefix: &str, result: Result<T, Vec<(String, String)>>) -> Option<T> {
        result.map_err(|list| self.add_under(prefix, list)).ok()
    }

    /// Deserializes a part of the document, recording a failure under `path`. Never inlined: each
    /// section's deserializer stays a Wasm function of its own, compiled only when the document
    /// has that section.
    #[inline(never)]
    fn section<T: DeserializeOwned>(&mut self, value: &Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let inner = error.path().to_string();
                let full = if inner == "." { path.to_owned() } else { format!("{path}.{inner}") };
                self.add(full, error.into_inner().to_string());
                None
            }
        }
    }

    /// Deserializes an optional top-level field, falling back to a default.
    fn field<T: DeserializeOwned>(&mut self, document: &Map<String, Value>, key: &str, default: T) -> T {
        match document.get(key) {
            None => default,
            Some(value) => self.section(value, key).unwrap_or(default),
        }
    }
}

impl Config {
    /// Loads the configuration from the raw `PORTCULLIS_CONFIG` value, or the embedded default
    /// when there is none.
    pub fn load(raw: Option<&str>) -> Result<Self, Vec<ConfigProblem>> {
        match raw.map(str::trim) {
            None | Some("") => Self::parse(EMBEDDED_DEFAULT),
            Some(raw) => Self::parse(raw),
        }
    }

    /// Parses and validates a JSON configuration, reporting every problem found.
    pub fn parse(json: &str) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Problems::default();
        let document: Value = match serde_json::from_str(json) {
            Ok(document) => document,
            Err(error) => {
                problems.add("$", format!("not valid JSON: {error}"));
                return Err(problems.0);
            }
        };
        let Some(document) = document.as_object() else {
            problems.add("$", "the configuration must be a JSON object");
            return Err(problems.0);
        };
        for key in document.keys().filter(|k| !TOP_LEVEL_FIELDS.contains(&k.as_str())) {
            problems.add(key.clone(), format!("unknown field; expected one of {}", TOP_LEVEL_FIELDS.join(", ")));
        }

        let version = problems.field(document, "version", CONFIG_VERSION);
        if let Err(message) = versions::check(version) {
            problems.add("version", message);
        }
        let _: Option<String> = problems.field(document, "$schema", None);
        let environment = problems.field(document, "environment", Environment::Production);
        let default_timeout = problems.field(document, "origin_timeout_ms", DEFAULT_TIMEOUT_MS);
        check_timeout(&mut problems, "origin_timeout_ms", default_timeout);
        let default_upstream = document
            .get("origin")
            .and_then(|v| problems.section::<String>(v, "origin"))
            .and_then(|origin| check_upstream(&mut problems, "origin", &origin, environment));
        let unmatched = problems.field(document, "unmatched", Unmatched::Deny);
        let edge_prefix: String = problems.field(document, "edge_prefix", "/auth".to_owned());
        let edge_prefix_ok = edge_prefix.strip_prefix('/').is_some_and(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !edge_prefix_ok {
            problems.add("edge_prefix", format!("{edge_prefix:?} must be one path segment such as \"/auth\""));
        }
        let security_headers: SecurityHeaders =
            problems.field(document, "security_headers", SecurityHeaders::default());
        problems.add_under("security_headers", security_headers.problems());
        let limits: Limits = problems.field(document, "limits", Limits::default());
        problems.add_under("limits", limits.problems());
        let strip_headers: Vec<String> = problems.field(document, "strip_headers", Vec::new());
        for (index, name) in strip_headers.iter().enumerate() {
            if !is_token(name) {
                problems.add(format!("strip_headers[{index}]"), format!("{name:?} is not a header name"));
            }
        }

        let jwt = match document.get("jwt") {
            None => JwtConfig::default(),
            Some(value) => JwtConfig::from_value(value, environment).unwrap_or_else(|list| {
                for (path, message) in list {
                    let full = if path == "." { "jwt".to_owned() } else { format!("jwt.{path}") };
                    problems.add(full, message);
                }
                JwtConfig::default()
            }),
        };
        let assertion: AssertionConfig = problems.field(document, "assertion", AssertionConfig::default());
        problems.add_under("assertion", assertion.problems());

        let api_keys: Option<ApiKeyConfig> = problems.field(document, "api_keys", None);
        problems.add_under("api_keys", api_keys.iter().flat_map(ApiKeyConfig::problems));

        let rate_limiting: RateLimitingConfig =
            problems.field(document, "rate_limiting", RateLimitingConfig::default());
        problems.add_under("rate_limiting", rate_limiting.problems());

        let roles: Roles = problems.field(document, "roles", Roles::new());
        for (name, role) in &roles {
            if !is_scope_token(name) {
                problems.add(format!("roles.{name}"), "a role name is a token without spaces or quotes");
            }
            let _: &RoleDefinition = role;
        }
        let login = document.get("login").and_then(|value| {
            LoginConfig::from_value(value, environment, &edge_prefix)
                .map_err(|list| {
                    for (path, message) in list {
                        let full = if path == "." { "login".to_owned() } else { format!("login.{path}") };
                        problems.add(full, message);
                    }
                })
                .ok()
        });
        let directory: DirectoryConfig = problems.field(document, "directory", DirectoryConfig::default());
        problems.add_under("directory", directory.problems(environment));
        for (index, issuer) in directory.tenant_admin_issuers.iter().enumerate() {
            if !jwt.issuers.iter().any(|trusted| &trusted.issuer == issuer) {
                problems.add(
                    format!("directory.tenant_admin_issuers[{index}]"),
                    format!("{issuer:?} is not an issuer of jwt.issuers"),
                );
            }
        }
        let local_accounts = document.get("local_accounts").and_then(|value| {
            let raw = match serde_path_to_error::deserialize::<_, RawLocalAccounts>(value) {
                Ok(raw) => raw,
                Err(error) => {
                    let inner = error.path().to_string();
                    let path =
                        if inner == "." { "local_accounts".to_owned() } else { format!("local_accounts.{inner}") };
                    problems.add(path, error.into_inner().to_string());
                    return None;
                }
            };
            LocalAccounts::compile(raw, environment).map_err(|list| problems.add_under("local_accounts", list)).ok()
        });
        if document.contains_key("local_accounts") && !document.contains_key("login") {
            problems.add("local_accounts", "local accounts sign in to sessions: configure login too");
        }
        if let Some(login) = &login {
            if login.provider(crate::accounts::PASSWORD_PROVIDER).is_some() {
                problems.add("login.providers", "the provider id \"password\" is local accounts' own");
            }
            if login.providers.is_empty() && !document.contains_key("local_accounts") {
                problems.add("login.providers", "configure at least one provider (or local_accounts)");
            }
            // Portcullis's own factors belong to directory users, and their pages to local accounts.
            for (index, provider) in login.providers.iter().enumerate() {
                let path = format!("login.providers[{index}].authentication.local_factors");
                if provider.authentication.local_factors && !document.contains_key("local_accounts") {
                    problems.add(&path, "the second-factor pages are local accounts': configure local_accounts");
                }
                if provider.authentication.local_factors && provider.directory.is_none() {
                    problems.add(&path, "factors belong to directory users: set the provider's directory");
                }
            }
        }
        let declared_scopes: Option<Vec<String>> = problems.field(document, "scopes", None);
        let catalogue = Catalogue { scopes: declared_scopes.as_deref(), roles: &roles };

        let defaults = RouteDefaults { upstream: default_upstream.as_ref(), timeout_ms: default_timeout, environment };
        let raw_routes: Vec<Value> = problems.field(document, "routes", Vec::new());
        let mut routes = Vec::with_capacity(raw_routes.len() + 1);
        for (index, raw) in raw_routes.iter().enumerate() {
            let path = format!("routes[{index}]");
            if let Some(raw) = problems.section::<RawRoute>(raw, &path) {
                if let Some(route) = compile_route(&mut problems, &path, raw, &defaults, &edge_prefix, &catalogue) {
                    routes.push(route);
                }
            }
        }
        let mut seen_ids = std::collections::HashSet::new();
        for (index, route) in routes.iter().enumerate() {
            if !seen_ids.insert(route.id.as_str()) {
                problems.add(format!("routes[{index}].id"), format!("duplicate route id {:?}", route.id));
            }
        }
        if let Some(policy) = match unmatched {
            Unmatched::Deny => None,
            Unmatched::Public => Some(Policy::Public),
            Unmatched::Authenticated => Some(Policy::Authenticated),
        } {
            match &default_upstream {
                Some(upstream) => routes.push(Route {
                    id: "unmatched".into(),
                    host: HostPattern::Any,
                    path: PathPattern::everything(),
                    methods: None,
                    policy,
                    upstream: upstream.clone(),
                    timeout_ms: default_timeout,
                    cors: None,
                    requirements: Requirements::default(),
                    rate_limits: RateLimits::default(),
                    forward_authorization: ForwardAuthorization::Strip,
                    websocket: None,
                }),
                None => problems.add("unmatched", "a fallback policy needs the top-level origin"),
            }
        }

        if !problems.0.is_empty() {
            return Err(problems.0);
        }
        Ok(Self {
            environment,
            routes: RouteTable::new(routes),
            edge_prefix,
            security_headers,
            limits,
            strip_headers: strip_headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
            jwt,
            assertion,
            api_keys,
            rate_limiting,
            roles,
            login,
            directory,
            local_accounts,
        })
    }
}

struct RouteDefaults<'a> {
    upstream: Option<&'a Upstream>,
    timeout_ms: u32,
    environment: Environment,
}

fn check_timeout(problems: &mut Problems, path: &str, timeout_ms: u32) {
    if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
        problems.add(path, format!("must be between 1 and {MAX_TIMEOUT_MS}"));
    }
}

fn check_upstream(problems: &mut Problems, path: &str, origin: &str, environment: Environment) -> Option<Upstream> {
    match Upstream::parse(origin) {
        Ok(upstream) if environment == Environment::Production && !upstream.is_https() => {
            problems.add(path, format!("{origin:?} must use https in production"));
            None
        }
        Ok(upstream) => Some(upstream),
        Err(message) => {
            problems.add(path, message);
            None
        }
    }
}

#[inline(never)]
fn compile_route(
    problems: &mut Problems,
    path: &str,
    raw: RawRoute,
    defaults: &RouteDefaults<'_>,
    edge_prefix: &str,
    catalogue: &Catalogue<'_>,
) -> Option<Route> {
    let before = problems.0.len();
    let id = raw.id.clone().unwrap_or_else(|| path.to_owned());
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        problems.add(format!("{path}.id"), "an id is 1 to 64 visible ASCII characters");
    }
    let host = match raw.host.as_deref().map(HostPattern::parse) {
        None => Some(HostPattern::Any),
        Some(Ok(host)) => Some(host),
        Some(Err(message)) => {
            problems.add(format!("{path}.host"), message);
            None
        }
    };
    let pattern = PathPattern::parse(&raw.path).map_err(|message| problems.add(format!("{path}.path"), message)).ok();
    let requirements = compile_requirements(problems, path, &raw, catalogue, pattern.as_ref());
    if raw.path == edge_prefix || raw.path.starts_with(&format!("{edge_prefix}/")) {
        problems.add(
            format!("{path}.path"),
            format!("{:?} is inside the edge prefix {edge_prefix:?}, so it never matches", raw.path),
        );
    }
    let methods = raw.methods.map(|methods| {
        for (index, method) in methods.iter().enumerate() {
            if !is_token(method) {
                problems.add(format!("{path}.methods[{index}]"), format!("{method:?} is not a method name"));
            }
        }
        methods.iter().map(|m| m.to_ascii_uppercase()).collect::<Vec<_>>()
    });
    if methods.as_ref().is_some_and(Vec::is_empty) {
        problems.add(format!("{path}.methods"), "list at least one method, or leave methods out for all");
    }
    let policy = Policy::parse(&raw.policy).map_err(|message| problems.add(format!("{path}.policy"), message)).ok();
    let upstream = match (&raw.origin, defaults.upstream) {
        (Some(origin), _) => check_upstream(problems, &format!("{path}.origin"), origin, defaults.environment),
        (None, Some(upstream)) => Some(upstream.clone()),
        (None, None) => {
            problems.add(format!("{path}.origin"), "no origin: set one here or at the top level");
            None
        }
    };
    let timeout_ms = raw.timeout_ms.unwrap_or(defaults.timeout_ms);
    check_timeout(problems, &format!("{path}.timeout_ms"), timeout_ms);
    let cors = raw.cors.and_then(|raw| problems.compiled(&format!("{path}.cors"), CorsPolicy::from_raw(raw)));
    if !requirements.is_empty() && policy == Some(Policy::Public) {
        problems.add(format!("{path}.policy"), "a public route cannot have authorisation requirements");
    }
    let mut rules = Vec::new();
    for (index, raw_rule) in raw.rate_limits.into_iter().enumerate() {
        match Rule::compile(raw_rule) {
            Ok(rule) => {
                if rules.iter().any(|other: &Rule| other.id.as_str() == rule.id.as_str()) {
                    problems.add(format!("{path}.rate_limits[{index}].id"), "duplicate rate limit id");
                }
                rules.push(rule);
            }
            Err(list) => problems.add_under(&format!("{path}.rate_limits[{index}]"), list),
        }
    }
    let rate_limits = RateLimits { rules, failure: raw.rate_limit_failure.unwrap_or(FailureMode::Closed) };
    let websocket =
        raw.websocket.and_then(|raw| problems.compiled(&format!("{path}.websocket"), WebSocketPolicy::compile(raw)));
    if problems.0.len() != before {
        return None;
    }
    Some(Route {
        id,
        host: host?,
        path: pattern?,
        methods,
        policy: policy?,
        upstream: upstream?,
        timeout_ms,
        cors,
        requirements,
        rate_limits,
        forward_authorization: raw.forward_authorization.unwrap_or_default(),
        websocket,
    })
}

/// What routes may refer to: the declared scopes (if any) and the roles.
struct Catalogue<'a> {
    scopes: Option<&'a [String]>,
    roles: &'a Roles,
}

fn compile_requirements(
    problems: &mut Problems,
    path: &str,
    raw: &RawRoute,
    catalogue: &Catalogue<'_>,
    pattern: Option<&PathPattern>,
) -> Requirements {
    let scopes = raw.scopes.clone().unwrap_or_default();
    for (index, scope) in scopes.iter().enumerate() {
        if !is_scope_token(scope) {
            problems.add(format!("{path}.scopes[{index}]"), format!("{scope:?} is not a scope token"));
        } else if catalogue.scopes.is_some_and(|known| !known.contains(scope)) {
            problems.add(format!("{path}.scopes[{index}]"), format!("unknown scope {scope:?}"));
        }
    }
    let roles = raw.roles.clone().unwrap_or_default();
    for (index, role) in roles.iter().enumerate() {
        if !catalogue.roles.contains_key(role) {
            problems.add(format!("{path}.roles[{index}]"), format!("unknown role {role:?}"));
        }
    }
    let permissions = raw.permissions.clone().unwrap_or_default();
    for (index, permission) in permissions.iter().enumerate() {
        if !catalogue.roles.values().any(|role| role.permissions.contains(permission)) {
            problems.add(format!("{path}.permissions[{index}]"), format!("no role grants {permission:?}"));
        }
    }
    let mut authenticators = Vec::new();
    for (index, text) in raw.authenticators.iter().flatten().enumerate() {
        match Authenticator::parse(text) {
            Ok(authenticator) => authenticators.push(authenticator),
            Err(message) => problems.add(format!("{path}.authenticators[{index}]"), message),
        }
    }
    let tenant = raw.tenant.as_deref().and_then(|text| match TenantBinding::parse(text) {
        Ok(TenantBinding::PathParam(name)) if pattern.is_some_and(|p| !p.param_names().any(|n| n == name)) => {
            problems.add(format!("{path}.tenant"), format!("the path pattern has no :{name} segment"));
            None
        }
        Ok(binding) => Some(binding),
        Err(message) => {
            problems.add(format!("{path}.tenant"), message);
            None
        }
    });
    for (index, condition) in raw.claims.iter().enumerate() {
        for message in condition.problems() {
            problems.add(format!("{path}.claims[{index}]"), message);
        }
    }
    if let Some(mfa) = &raw.mfa {
        problems.add_under(&format!("{path}.mfa"), crate::mfa::step_up::problems(mfa));
    }
    Requirements {
        authenticators,
        tenant,
        scopes: Needs { names: scopes, any: raw.scopes_match == Some(Match::Any) },
        roles: Needs { names: roles, any: raw.roles_match != Some(Match::All) },
        permissions,
        claims: raw.claims.clone(),
        mfa: raw.mfa.clone().filter(|mfa| mfa.required),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_configuration_is_refused_naming_the_change_and_a_pinned_current_one_loads() {
        let problems = Config::parse(r#"{ "version": 1, "environment": "development" }"#).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "version");
        assert!(problems[0].message.contains("forward_authorization"), "{problems:?}");
        let current = format!(r#"{{ "version": {CONFIG_VERSION}, "environment": "development" }}"#);
        assert!(Config::parse(&current).is_ok());
        assert!(Config::parse(r#"{ "version": "2" }"#).is_err(), "a version is a number");
    }

    fn problems_of(json: &str) -> Vec<String> {
        Config::parse(json).err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_embedded_default_is_valid() {
        let config = Config::load(None).unwrap();
        assert_eq!(config.environment, Environment::Development);
        assert_eq!(config.routes.routes().len(), 3);
        assert_eq!(config.edge_prefix, "/auth");
        assert!(Config::load(Some("  ")).is_ok());
    }

    #[test]
    fn a_full_configuration_parses() {
        let config = Config::parse(
            r#"{
              "environment": "production",
              "origin": "https://origin.example.com",
              "origin_timeout_ms": 5000,
              "unmatched": "authenticated",
              "edge_prefix": "/_gateway",
              "strip_headers": ["X-User-Id"],
              "security_headers": { "frame_options": "SAMEORIGIN", "hsts": null },
              "limits": { "max_url_bytes": 4096 },
              "routes": [
                { "id": "docs", "host": "*.example.com", "path": "/docs/*", "methods": ["get"], "policy": "public",
                  "cors": { "allow_origins": ["https://app.example.com"], "allow_credentials": true } },
                { "id": "api", "path": "/api/*", "policy": "authenticated", "origin": "https://api.internal.example", "timeout_ms": 2000 }
              ]
            }"#,
        )
        .unwrap();
        let ids: Vec<&str> = config.routes.routes().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["docs", "api", "unmatched"]);
        assert_eq!(config.routes.routes()[0].methods.as_deref(), Some(&["GET".to_owned()][..]));
        assert_eq!(config.routes.routes()[1].timeout_ms, 2000);
        assert_eq!(config.strip_headers, ["x-user-id"]);
        assert_eq!(config.security_headers.hsts, None);
        assert_eq!(config.limits.max_url_bytes, 4096);
        assert_eq!(config.limits.max_header_count, 100);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let problems = problems_of(
            r#"{
              "environment": "production",
              "origin": "http://origin.example.com",
              "colour": "blue",
              "limits": { "max_url_bytes": 1 },
              "routes": [
                { "id": "a", "path": "/a/*", "policy": "public" },
                { "id": "b", "path": "no-slash", "policy": "admn" },
                { "id": "a", "path": "/c", "policy": "public", "origin": "https://ok.example", "cors": { "allow_origins": ["*"], "allow_credentials": true } },
                { "path": "/d", "policy": "public", "origin": "https://ok.example", "methds": ["GET"] },
                { "path": "/auth/x", "policy": "public", "origin": "https://ok.example" }
              ]
            }"#,
        );
        let expected_prefixes = [
            "colour: unknown field",
            "origin: \"http://origin.example.com\" must use https in production",
            "limits.max_url_bytes: must be between",
            "routes[0].origin: no origin",
            "routes[1].path: invalid path pattern",
            "routes[1].policy: unknown policy \"admn\"",
            "routes[1].origin: no origin",
            "routes[2].cors.allow_origins: \"*\" cannot be combined",
            "routes[3].methds: unknown field `methds`",
            "routes[4].path: \"/auth/x\" is inside the edge prefix",
        ];
        assert_eq!(problems.len(), expected_prefixes.len(), "{problems:#?}");
        for (problem, prefix) in problems.iter().zip(expected_prefixes) {
            assert!(problem.starts_with(prefix), "{problem:?} should start with {prefix:?}");
        }
    }

    #[test]
    fn portcullis_factors_for_a_provider_need_local_accounts_and_its_directory() {
        let with = |directory: &str, local_accounts: &str| {
            problems_of(&format!(
                r#"{{ "environment": "development", "origin": "http://127.0.0.1:1", {local_accounts}
                     "login": {{ "redirect_uri": "http://localhost:8787/auth/callback",
                       "providers": [{{ "id": "corp", "type": "oidc", "issuer": "https://idp.example", "client_id": "c",
                         "client_secret": "S", {directory} "authentication": {{ "local_factors": true, "require_mfa": true }} }}] }} }}"#
            ))
        };
        let accounts = r#""local_accounts": { "tenants": [{ "id": "acme" }], "mail": { "from": "login@acme.test", "sender": { "kind": "http", "url": "http://mail.test/send" } } },"#;
        assert_eq!(with(r#""directory": { "tenant": "acme" },"#, accounts), Vec::<String>::new());
        let path = "login.providers[0].authentication.local_factors";
        assert_eq!(
            with("", accounts),
            [format!("{path}: factors belong to directory users: set the provider's directory")]
        );
        assert_eq!(
            with(r#""directory": { "tenant": "acme" },"#, ""),
            [format!("{path}: the second-factor pages are local accounts': configure local_accounts")]
        );
    }

    #[test]
    fn duplicate_ids_are_reported() {
        let problems = problems_of(
            r#"{ "environment": "development", "origin": "http://127.0.0.1:1",
                 "routes": [ { "id": "x", "path": "/a", "policy": "public" }, { "id": "x", "path": "/b", "policy": "public" } ] }"#,
        );
        assert_eq!(problems, ["routes[1].id: duplicate route id \"x\""]);
    }

    #[test]
    fn malformed_documents_are_reported_not_panicked_on() {
        let cases = [
            ("", "$: not valid JSON"),
            ("{", "$: not valid JSON"),
            ("[]", "$: the configuration must be a JSON object"),
            ("{\"routes\": {}}", "routes: invalid type"),
            ("{\"routes\": [7]}", "routes[0]: invalid type"),
            ("{\"environment\": \"staging\"}", "environment: unknown variant"),
            ("{\"limits\": {\"max_url_bytes\": -1}}", "limits.max_url_bytes: invalid value"),
            ("{\"unmatched\": \"public\"}", "unmatched: a fallback policy needs the top-level origin"),
        ];
        for (json, prefix) in cases {
            let problems = problems_of(json);
            assert!(problems.first().is_some_and(|p| p.starts_with(prefix)), "{json:?}: {problems:?}");
        }
    }
}

#[cfg(test)]
mod generative {
    use super::*;
    use crate::testing::any_json;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::generative(128))]

        /// Any document is a configuration or a list of problems, never a panic.
        #[test]
        fn arbitrary_documents_are_parsed_or_refused(text in "\\PC{0,200}", value in any_json(TOP_LEVEL_FIELDS)) {
            let _ = Config::parse(&text);
            if let Err(problems) = Config::parse(&value.to_string()) {
                prop_assert!(!problems.is_empty());
            }
        }
    }
}
