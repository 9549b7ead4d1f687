//! The `login` section: identity providers for browser login, the session policy and branding.
//!
//! Every provider is either OpenID Connect (found through discovery from its issuer) or a plain
//! OAuth 2.0 provider with a userinfo endpoint (GitHub is the model). Client secrets are never in
//! the configuration: each provider names the secret binding that holds its secret.

use super::provider::{
    check_url, email_domain, is_page_asset, parse_provider, Problems, Provider, ProviderKind, RawProvider,
};
use crate::deploy::Environment;
use crate::ratelimit::rules::{LimitKey, RawRule, Rule};
use crate::saml::config::{RawSpKey, SpKey, DEFAULT_SP_DECRYPTION_KEY_SECRET, DEFAULT_SP_KEY_SECRET};
use serde::Deserialize;
use serde_json::Value;

/// Session lifetimes and upkeep.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// A session unused for this long ends, in seconds. Default 28800 (8 hours), at most `absolute_lifetime_s`.
    pub idle_timeout_s: i64,
    /// A session ends this long after login, however active, in seconds. Default 86400 (24 hours), at most
    /// 90 days.
    pub absolute_lifetime_s: i64,
    /// How often use is written back to KV (for the idle timeout), per session and isolate, in seconds.
    /// Default 60, shorter than `idle_timeout_s`.
    pub touch_interval_s: i64,
    /// How long an isolate trusts a session it loaded (KV record and revocation state) before
    /// reading them again; the bound on how late a logout or revocation is seen elsewhere. In seconds:
    /// default 10, 0 to 300 (0 reads them on every request).
    pub cache_ttl_s: i64,
    /// Refresh the upstream access token this long before it expires, in seconds. Default 60, 0 to 3600.
    pub refresh_margin_s: i64,
    /// End the session when the upstream access token expires and cannot be refreshed (the
    /// provider revoked the grant or disabled the user). Off: the session lives its lifetimes. On by default.
    pub revalidate: bool,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout_s: 8 * 3600,
            absolute_lifetime_s: 24 * 3600,
            touch_interval_s: 60,
            cache_ttl_s: 10,
            refresh_margin_s: 60,
            revalidate: true,
        }
    }
}

/// How the login pages look.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Branding {
    /// The product name on the pages; default `Portcullis`, 1 to 64 characters.
    pub name: String,
    /// A logo: a same-origin path or a `data:image/` URL; default `/auth/static/portcullis.svg`.
    pub logo: String,
    /// The main colour (buttons), as `#rrggbb`; default `#1f3a5f`.
    pub primary_color: String,
    /// The accent colour (focus rings), as `#rrggbb`; default `#f2c14e`.
    pub accent_color: String,
    /// The page background, as `#rrggbb`; unset by default (the stylesheet's own).
    pub background_color: Option<String>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            name: "Portcullis".into(),
            logo: "/auth/static/portcullis.svg".into(),
            primary_color: "#1f3a5f".into(),
            accent_color: "#f2c14e".into(),
            background_color: None,
        }
    }
}

/// The secret that keys login tickets and CSRF tokens, by default.
pub const DEFAULT_LOGIN_SECRET: &str = "PORTCULLIS_LOGIN_SECRET";

/// The `login` section.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// The providers, in login-page order.
    pub providers: Vec<Provider>,
    /// The exact redirect URI registered at every provider (`https://app.example.com/auth/callback`).
    pub redirect_uri: String,
    /// Origins `return_to` may point at; the redirect URI's origin is always one.
    pub return_origins: Vec<String>,
    /// Where a provider sends the browser after RP-initiated logout.
    pub post_logout_redirect_uri: String,
    /// Session lifetimes.
    pub session: SessionPolicy,
    /// The look of the pages.
    pub branding: Branding,
    /// The secret binding that keys login tickets and CSRF tokens.
    pub secret_binding: String,
    /// Limits on `/auth/login` and `/auth/callback` (by default 30 a minute per client IP),
    /// against brute force and flooding the providers.
    pub rate_limits: Vec<Rule>,
    /// This SAML service provider's signing key, if it has one.
    pub saml_signing: Option<SpKey>,
    /// Its decryption key (for encrypted assertions), if it has one.
    pub saml_encryption: Option<SpKey>,
}

/// The default login limit: 30 flows a minute per client IP, in bursts of up to 30.
fn default_rate_limits() -> Vec<RawRule> {
    vec![RawRule {
        id: "login".into(),
        key: LimitKey::Ip,
        limit: 30,
        period_s: 60,
        burst: None,
        tiers: Default::default(),
    }]
}

impl LoginConfig {
    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Home-realm discovery: the provider that claims this email's domain.
    pub fn provider_for_email(&self, email: &str) -> Option<&Provider> {
        let domain = email_domain(email)?;
        self.providers.iter().find(|p| p.email_domains.contains(&domain))
    }

    /// The first provider that provisions into `tenant`'s directory.
    pub fn provider_for_tenant(&self, tenant: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.directory.as_ref().is_some_and(|link| link.tenant == tenant))
    }

    /// The redirect URI registered for a provider.
    pub fn redirect_uri_for(&self, provider: &Provider) -> String {
        if provider.own_redirect_uri {
            self.own_redirect_uri(&provider.id)
        } else {
            self.redirect_uri.clone()
        }
    }

    /// The redirect URI of a provider (or stored connection) with its own: `{redirect_uri}/<id>`.
    pub fn own_redirect_uri(&self, id: &str) -> String {
        format!("{}/{}", self.redirect_uri, id)
    }

    /// The gateway's own origin: the redirect URI's.
    pub fn own_origin(&self) -> Option<String> {
        url::Url::parse(&self.redirect_uri).ok().map(|url| url.origin().ascii_serialization())
    }

    /// Where the login routes live: the redirect URI's path without its `/callback`.
    pub fn edge_prefix(&self) -> String {
        let path = url::Url::parse(&self.redirect_uri).map(|url| url.path().to_owned()).unwrap_or_default();
        path.strip_suffix("/callback").unwrap_or(&path).to_owned()
    }

    /// The origins to which `return_to` and logout redirects may go.
    pub fn app_origins(&self) -> Vec<String> {
        let mut origins = self.return_origins.clone();
        if let Some(own) = self.own_origin() {
            if !origins.contains(&own) {
                origins.push(own);
            }
        }
        origins
    }

    /// `branding.css`: the configured colours as custom properties for the pages' stylesheet.
    pub fn branding_css(&self) -> String {
        let b = &self.branding;
        let mut css = format!(":root {{ --brand: {}; --accent: {}; }}\n", b.primary_color, b.accent_color);
        if let Some(background) = &b.background_color {
            css.push_str(&format!(":root {{ --background: {background}; }}\n"));
        }
        css
    }
}

/// Browser login: the identity providers, the session policy and the login pages' look.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogin {
    /// The identity providers, in login-page order; at least one unless `local_accounts` is configured. Ids and
    /// `email_domains` are unique across them. Required.
    #[cfg_attr(feature = "schema", schemars(with = "Vec<crate::login::provider::RawProvider>"))]
    providers: Vec<Value>,
    /// The exact redirect URI registered at every provider, `https://<your host><edge_prefix>/callback`, with
    /// no query or fragment (http in development). Required.
    redirect_uri: String,
    /// More origins (`scheme://host[:port]`) that `return_to` may point at after login; the redirect URI's
    /// origin is always allowed. Empty by default.
    #[serde(default)]
    return_origins: Vec<String>,
    /// Where a provider sends the browser after RP-initiated logout. Default: the redirect URI's origin
    /// followed by `<edge_prefix>/logged-out`.
    post_logout_redirect_uri: Option<String>,
    /// Session lifetimes, caching and refresh.
    #[serde(default)]
    session: SessionPolicy,
    /// The login pages' name, logo and colours.
    #[serde(default)]
    branding: Branding,
    /// The NAME of the Worker secret (32+ characters) that keys login tickets and CSRF tokens, not the secret
    /// itself. Default `PORTCULLIS_LOGIN_SECRET`; without it, development uses a built-in one.
    secret: Option<String>,
    /// Rate-limit rules (as on routes) for `/auth/login`, `/auth/callback` and the setup page's costly calls.
    /// Default: 30 a minute per client IP; `[]` turns them off.
    rate_limits: Option<Vec<RawRule>>,
    /// This SAML service provider's signing key, for signed `AuthnRequest`s (`saml.sign_requests`) and Single
    /// Logout (`saml.slo_url`). None by default.
    saml_signing: Option<RawSpKey>,
    /// This SAML service provider's decryption key (RSA), for IdPs that encrypt assertions (`EncryptedAssertion`;
    /// `saml.require_encryption` refuses any other). None by default: an encrypted assertion is refused.
    saml_encryption: Option<RawSpKey>,
}

fn is_hex_colour(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl LoginConfig {
    /// Reads the `login` section; `edge_prefix` is where the login routes live.
    #[inline(never)]
    pub fn from_value(value: &Value, environment: Environment, edge_prefix: &str) -> Result<Self, Problems> {
        let raw: RawLogin = serde_path_to_error::deserialize(value)
            .map_err(|error| vec![(error.path().to_string(), error.into_inner().to_string())])?;
        let mut problems = Problems::new();
        let mut providers: Vec<Provider> = Vec::new();
        for (index, value) in raw.providers.iter().enumerate() {
            let path = format!("providers[{index}]");
            match serde_path_to_error::deserialize::<_, RawProvider>(value) {
                Ok(raw) => {
                    if let Some(provider) = parse_provider(&path, raw, environment, &mut problems) {
                        if providers.iter().any(|p| p.id == provider.id) {
                            problems.push((format!("{path}.id"), format!("duplicate provider id {:?}", provider.id)));
                        }
                        for domain in &provider.email_domains {
                            if providers.iter().any(|p| p.email_domains.contains(domain)) {
                                problems.push((
                                    format!("{path}.email_domains"),
                                    format!("{domain:?} already selects another provider"),
                                ));
                            }
                        }
                        providers.push(provider);
                    }
                }
                Err(error) => {
                    let inner = error.path().to_string();
                    let full = if inner == "." { path } else { format!("{path}.{inner}") };
                    problems.push((full, error.into_inner().to_string()));
                }
            }
        }
        check_url(&mut problems, "redirect_uri", &raw.redirect_uri, environment);
        let expected_path = format!("{edge_prefix}/callback");
        match url::Url::parse(&raw.redirect_uri) {
            Ok(url) if url.path() != expected_path || url.query().is_some() || url.fragment().is_some() => {
                problems.push(("redirect_uri".into(), format!("must be https://<your host>{expected_path}")));
            }
            _ => {}
        }
        for (index, origin) in raw.return_origins.iter().enumerate() {
            let ok = url::Url::parse(origin).is_ok_and(|u| u.origin().ascii_serialization() == *origin);
            if !ok {
                problems.push((
                    format!("return_origins[{index}]"),
                    format!("{origin:?} is not an origin (scheme://host[:port])"),
                ));
            }
        }
        let post_logout_redirect_uri = match raw.post_logout_redirect_uri {
            Some(uri) => {
                check_url(&mut problems, "post_logout_redirect_uri", &uri, environment);
                uri
            }
            None => url::Url::parse(&raw.redirect_uri)
                .map(|u| format!("{}{edge_prefix}/logged-out", u.origin().ascii_serialization()))
                .unwrap_or_default(),
        };
        let s = &raw.session;
        let positive = [
            ("idle_timeout_s", s.idle_timeout_s),
            ("absolute_lifetime_s", s.absolute_lifetime_s),
            ("touch_interval_s", s.touch_interval_s),
        ];
        for (field, value) in positive {
            if value <= 0 {
                problems.push((format!("session.{field}"), "must be positive".into()));
            }
        }
        if s.absolute_lifetime_s > 90 * 86_400 {
            problems.push(("session.absolute_lifetime_s".into(), "at most 90 days".into()));
        }
        if s.idle_timeout_s > s.absolute_lifetime_s {
            problems.push(("session.idle_timeout_s".into(), "at most absolute_lifetime_s".into()));
        }
        if s.touch_interval_s >= s.idle_timeout_s {
            problems.push(("session.touch_interval_s".into(), "must be shorter than idle_timeout_s".into()));
        }
        if !(0..=300).contains(&s.cache_ttl_s) {
            problems.push(("session.cache_ttl_s".into(), "between 0 and 300 seconds".into()));
        }
        if !(0..=3600).contains(&s.refresh_margin_s) {
            problems.push(("session.refresh_margin_s".into(), "between 0 and 3600 seconds".into()));
        }
        let b = &raw.branding;
        if b.name.is_empty() || b.name.len() > 64 {
            problems.push(("branding.name".into(), "1 to 64 characters".into()));
        }
        if !is_page_asset(&b.logo) {
            problems.push(("branding.logo".into(), "a same-origin path or a data:image/ URL".into()));
        }
        for (field, colour) in [
            ("primary_color", Some(&b.primary_color)),
            ("accent_color", Some(&b.accent_color)),
            ("background_color", b.background_color.as_ref()),
        ] {
            if colour.is_some_and(|c| !is_hex_colour(c)) {
                problems.push((format!("branding.{field}"), "a colour as #rrggbb".into()));
            }
        }
        let secret_binding = raw.secret.unwrap_or_else(|| DEFAULT_LOGIN_SECRET.into());
        let mut rate_limits = Vec::new();
        for (index, raw_rule) in raw.rate_limits.unwrap_or_else(default_rate_limits).into_iter().enumerate() {
            match Rule::compile(raw_rule) {
                Ok(rule) => rate_limits.push(rule),
                Err(list) => {
                    for (field, message) in list {
                        problems.push((format!("rate_limits[{index}].{field}"), message));
                    }
                }
            }
        }
        let saml_signing =
            raw.saml_signing.and_then(|raw| SpKey::compile(raw, "saml_signing", DEFAULT_SP_KEY_SECRET, &mut problems));
        let saml_encryption = raw
            .saml_encryption
            .and_then(|raw| SpKey::compile(raw, "saml_encryption", DEFAULT_SP_DECRYPTION_KEY_SECRET, &mut problems));
        for (index, provider) in providers.iter().enumerate() {
            if let ProviderKind::Saml(settings) = &provider.kind {
                if saml_signing.is_none() && (settings.sign_requests || settings.slo_url.is_some()) {
                    let field = if settings.sign_requests { "sign_requests" } else { "slo_url" };
                    problems.push((format!("providers[{index}].saml.{field}"), "needs login.saml_signing".into()));
                }
                if crate::saml::config::pins_an_sp_key(settings, &[saml_signing.as_ref(), saml_encryption.as_ref()]) {
                    let field = format!("providers[{index}].saml.certificates");
                    problems.push((field, "this SP's own certificate, which cannot be the IdP's".into()));
                }
                if saml_encryption.is_none() && settings.require_encryption {
                    let field = format!("providers[{index}].saml.require_encryption");
                    problems.push((field, "needs login.saml_encryption".into()));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            providers,
            redirect_uri: raw.redirect_uri,
            return_origins: raw.return_origins,
            post_logout_redirect_uri,
            session: raw.session,
            branding: raw.branding,
            secret_binding,
            rate_limits,
            saml_signing,
            saml_encryption,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::provider::ClientAuth;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "redirect_uri": "https://app.test/auth/callback",
            "providers": [
                { "id": "corp", "type": "oidc", "issuer": "https://idp.test", "client_id": "c1",
                  "client_secret": "CORP_SECRET", "email_domains": ["corp.test"],
                  "allowed_email_domains": ["corp.test"] },
                { "id": "github", "type": "oauth2", "display_name": "GitHub", "client_id": "c2",
                  "client_secret": "GITHUB_SECRET",
                  "authorization_endpoint": "https://github.test/login/oauth/authorize",
                  "token_endpoint": "https://github.test/login/oauth/access_token",
                  "userinfo_endpoint": "https://api.github.test/user",
                  "emails_endpoint": "https://api.github.test/user/emails",
                  "scopes": ["read:user", "user:email"] }
            ]
        })
    }

    fn parse(value: &Value) -> Result<LoginConfig, Problems> {
        LoginConfig::from_value(value, Environment::Production, "/auth")
    }

    #[test]
    fn a_valid_section_has_sensible_defaults() {
        let login = parse(&base()).unwrap();
        let corp = login.provider("corp").unwrap();
        assert_eq!(corp.scopes, ["openid", "email", "profile"]);
        assert_eq!(corp.claims.subject, "sub");
        assert_eq!(corp.client_auth, ClientAuth::ClientSecretBasic);
        let github = login.provider("github").unwrap();
        assert_eq!(github.claims.subject, "id");
        assert_eq!(github.claims.email_verified, None);
        assert_eq!(login.post_logout_redirect_uri, "https://app.test/auth/logged-out");
        assert_eq!(login.redirect_uri_for(corp), "https://app.test/auth/callback");
        assert_eq!(login.redirect_uri_for(github), "https://app.test/auth/callback/github", "oauth2: its own");
        assert_eq!(login.app_origins(), ["https://app.test"]);
        assert_eq!(login.rate_limits.len(), 1, "a per-IP login limit by default");
        assert_eq!(login.rate_limits[0].key, LimitKey::Ip);
        assert_eq!(login.provider_for_email("Bob@CORP.test").map(|p| p.id.as_str()), Some("corp"));
        assert_eq!(login.provider_for_email("bob@else.test"), None);
        assert!(corp.allows_email(Some("a@corp.test")));
        assert!(!corp.allows_email(Some("a@corp.test.evil")));
        assert!(!corp.allows_email(None));
        assert!(github.allows_email(None));
    }

    #[test]
    fn claim_overrides_merge_onto_the_defaults() {
        let mut value = base();
        value["providers"][0]["claims"] = json!({ "groups": "realm_access.roles" });
        let login = parse(&value).unwrap();
        let claims = &login.provider("corp").unwrap().claims;
        assert_eq!((claims.groups.as_str(), claims.subject.as_str()), ("realm_access.roles", "sub"));
    }

    #[test]
    fn a_directory_needs_a_provider_that_vouches_for_emails() {
        let cases: &[(usize, Value, bool)] =
            &[(0, json!(null), true), (0, json!({ "email_verified": null }), false), (1, json!(null), true)];
        for (index, claims, accepted) in cases {
            let mut value = base();
            value["providers"][*index]["directory"] = json!({ "tenant": "acme" });
            if !claims.is_null() {
                value["providers"][*index]["claims"] = claims.clone();
            }
            let result = parse(&value);
            assert_eq!(result.is_ok(), *accepted, "{index} {claims}: {:?}", result.err());
        }
        let mut github = base();
        github["providers"][1]["directory"] = json!({ "tenant": "acme" });
        github["providers"][1].as_object_mut().unwrap().remove("emails_endpoint");
        github["providers"][1]["claims"] = json!({ "email_verified": "verified" });
        assert!(parse(&github).is_ok(), "a mapped email_verified claim vouches");
        github["providers"][1].as_object_mut().unwrap().remove("claims");
        let problems = parse(&github).unwrap_err();
        assert!(problems.iter().any(|(path, _)| path == "providers[1].directory"), "{problems:?}");
    }

    #[test]
    fn problems_are_reported_with_paths() {
        let cases: &[(&str, Value, &str)] = &[
            ("/redirect_uri", json!("https://app.test/callback"), "redirect_uri"),
            ("/redirect_uri", json!("http://app.test/auth/callback"), "redirect_uri"),
            ("/providers/0/type", json!("ldap"), "providers[0].type"),
            ("/providers/0/issuer", json!("http://idp.test"), "providers[0].issuer"),
            ("/providers/0/scopes", json!(["email"]), "providers[0].scopes"),
            ("/providers/0/algorithms", json!(["HS256"]), "providers[0].algorithms[0]"),
            ("/providers/0/client_secret", json!("the secret itself!"), "providers[0].client_secret"),
            ("/providers/0/token_endpoint", json!("https://idp.test/t"), "providers[0].token_endpoint"),
            ("/providers/1/id", json!("corp"), "providers[1].id"),
            ("/providers/1/userinfo_endpoint", Value::Null, "providers[1]"),
            ("/providers/1/email_domains", json!(["corp.test"]), "providers[1].email_domains"),
            ("/providers/0/allowed_email_domains", json!(["Corp.test"]), "providers[0].allowed_email_domains[0]"),
            ("/providers/0/icon", json!("https://cdn.test/i.svg"), "providers[0].icon"),
            ("/providers/0/claims", json!({ "nickname": "x" }), "providers[0].claims"),
            ("/providers/0/directory", json!({ "tenant": "Acme" }), "providers[0].directory.tenant"),
            ("/providers/0/directory", json!({ "tenant": "acme", "extra": 1 }), "providers[0]"),
            (
                "/providers/0/authorization_params",
                json!({ "state": "fixed" }),
                "providers[0].authorization_params.state",
            ),
            ("/return_origins", json!(["https://app.test/path"]), "return_origins[0]"),
            ("/session", json!({ "idle_timeout_s": 0 }), "session.idle_timeout_s"),
            ("/session", json!({ "idle_timeout_s": 100000, "absolute_lifetime_s": 3600 }), "session.idle_timeout_s"),
            ("/branding", json!({ "primary_color": "red" }), "branding.primary_color"),
            ("/branding", json!({ "logo": "https://cdn.test/logo.png" }), "branding.logo"),
            ("/unknown", json!(1), "unknown"),
            ("/rate_limits", json!([{ "id": "x", "key": "ip", "limit": 0, "period_s": 60 }]), "rate_limits[0].limit"),
        ];
        for (pointer, replacement, expected_path) in cases {
            let mut value = base();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = if parent.is_empty() { &mut value } else { value.pointer_mut(parent).unwrap() };
            if replacement.is_null() {
                target.as_object_mut().unwrap().remove(key);
            } else {
                target[key] = replacement.clone();
            }
            let problems = parse(&value).expect_err(pointer);
            assert!(problems.iter().any(|(path, _)| path.starts_with(expected_path)), "{pointer}: {problems:?}");
        }
    }

    #[test]
    fn required_claims_are_exact() {
        let mut value = base();
        value["providers"][0]["required_claims"] = json!({ "hd": "corp.test" });
        value["providers"][0]["authorization_params"] = json!({ "hd": "corp.test", "prompt": "select_account" });
        let login = parse(&value).unwrap();
        let corp = login.provider("corp").unwrap();
        assert_eq!(corp.authorization_params["prompt"], "select_account");
        let cases = [
            (json!({ "hd": "corp.test" }), true),
            (json!({ "hd": "Corp.test" }), false),
            (json!({ "hd": ["corp.test"] }), false),
            (json!({}), false),
        ];
        for (claims, expected) in cases {
            assert_eq!(corp.meets_required_claims(claims.as_object().unwrap()), expected, "{claims}");
        }
        assert!(login.provider("github").unwrap().meets_required_claims(&serde_json::Map::new()));
    }

    #[test]
    fn an_oauth2_domain_rule_needs_verified_emails() {
        let mut value = base();
        value["providers"][1]["allowed_email_domains"] = json!(["corp.test"]);
        assert!(parse(&value).is_ok(), "the emails endpoint gives verified addresses");
        value["providers"][1].as_object_mut().unwrap().remove("emails_endpoint");
        let problems = parse(&value).unwrap_err();
        assert_eq!(problems[0].0, "providers[1].allowed_email_domains", "{problems:?}");
        value["providers"][1]["claims"] = json!({ "email_verified": "verified" });
        assert!(parse(&value).is_ok(), "or a mapped verification claim");
        let login = parse(&base()).unwrap();
        assert_eq!(login.provider("github").unwrap().identity_issuer(), "https://github.test");
        assert_eq!(login.provider("corp").unwrap().identity_issuer(), "https://idp.test");
    }

    #[test]
    fn development_allows_plain_http_providers() {
        let mut value = base();
        value["providers"][0]["issuer"] = json!("http://127.0.0.1:9000");
        value["redirect_uri"] = json!("http://127.0.0.1:8787/auth/callback");
        assert!(LoginConfig::from_value(&value, Environment::Development, "/auth").is_ok());
        assert!(parse(&value).is_err());
    }

    #[test]
    fn branding_css_only_holds_validated_colours() {
        let mut value = base();
        value["branding"] = json!({ "primary_color": "#112233", "background_color": "#ffffff" });
        let css = parse(&value).unwrap().branding_css();
        assert!(css.contains("--brand: #112233;") && css.contains("--background: #ffffff;"), "{css}");
    }
}
