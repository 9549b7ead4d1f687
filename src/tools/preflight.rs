//! What a configuration needs from its deployment: the Worker bindings and secrets it will use,
//! each with the reason, and what about the configuration itself is unfit for production.
//! `npm run preflight` compares this with `wrangler.toml` and the secrets that are set.

use crate::authn::jwt::issuer::KeySource;
use crate::config::Config;
use crate::deploy::{names, Environment, MIN_KEY_SECRET_LEN};
use serde::Serialize;

/// One thing the deployment must provide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Need {
    /// `secret`, `kv`, `d1`, `durable_object`, `send_email` or `assets`.
    pub kind: &'static str,
    /// The binding's or secret's name.
    pub name: String,
    /// Whether the gateway fails closed without it (`false`: a feature is off without it).
    pub required: bool,
    /// What it is for.
    pub why: String,
    /// For a secret: the fewest characters the gateway accepts (shorter is as good as unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
}

/// The needs of a configuration, and what is wrong with it for production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preflight {
    /// Every binding and secret, each once, in a stable order.
    pub needs: Vec<Need>,
    /// Problems of the configuration itself for a production deployment.
    pub problems: Vec<String>,
}

fn need(kind: &'static str, name: &str, required: bool, why: &str) -> Need {
    Need { kind, name: name.to_owned(), required, why: why.to_owned(), min_length: None }
}

/// A secret the gateway ignores when it is shorter than [`MIN_KEY_SECRET_LEN`].
fn key_secret(name: &str, required: bool, why: &str) -> Need {
    Need { min_length: Some(MIN_KEY_SECRET_LEN), ..need("secret", name, required, why) }
}

/// The needs of `config`; `version_pinned` says whether the document names its `version`.
pub fn preflight(config: &Config, version_pinned: bool) -> Preflight {
    let mut needs = vec![
        need("assets", names::ASSETS, true, "Portcullis's own pages and error pages (www/)"),
        need(
            "secret",
            names::ASSERTION_KEYS_SECRET,
            true,
            "signs the identity assertion (npm run keys); without it, production answers 503",
        ),
    ];
    let login = config.login.as_ref();
    if config.api_keys.is_some() || login.is_some() {
        let why = if login.is_some() { "sessions and login tickets" } else { "API key records" };
        needs.push(need("kv", names::KV, true, why));
        needs.push(need(
            "durable_object",
            names::REVOCATIONS,
            true,
            "revocations, and single-use login states and codes (strongly consistent)",
        ));
    }
    let rate_limited =
        login.is_some() || config.routes.routes().iter().any(|route| !route.rate_limits.rules.is_empty());
    if rate_limited {
        needs.push(need("durable_object", &config.rate_limiting.binding, true, "rate limits"));
    }
    if config.api_keys.is_some() {
        needs.push(key_secret(names::API_KEY_PEPPER_SECRET, true, "peppers the stored hashes of API keys"));
    }
    needs.push(key_secret(
        names::ADMIN_KEY_SECRET,
        false,
        "the bootstrap administrator of the key and directory APIs (administrators may use JWTs instead)",
    ));
    // Tenant administrators (JWTs of `directory.tenant_admin_issuers`) manage tenants, their
    // connections and SCIM in D1, and add connections whose secrets the directory key seals.
    let tenant_admins = !config.directory.tenant_admin_issuers.is_empty();
    if let Some(login) = login {
        needs.push(key_secret(&login.secret_binding, true, "encrypts login tickets and binds CSRF tokens"));
        // A SAML provider has no client secret: its IdP's certificates are in the configuration.
        for provider in login.providers.iter().filter(|p| !p.client_secret_binding.is_empty()) {
            let why = format!("the client secret of provider {:?}", provider.id);
            needs.push(need("secret", &provider.client_secret_binding, true, &why));
        }
    }
    // With login, the sign-in page's email form asks D1 which tenant's connection an email's
    // domain belongs to (home-realm discovery), so a login without D1 fails closed.
    let why = "the user directory: home-realm discovery at sign-in, tenants, just-in-time provisioning, SCIM";
    needs.push(need("d1", names::DIRECTORY_DB, login.is_some() || tenant_admins, why));
    if login.is_some() || tenant_admins {
        needs.push(key_secret(
            names::DIRECTORY_KEY_SECRET,
            tenant_admins,
            "seals the client secrets of tenants' own connections (without it, none can be added or used)",
        ));
    }
    if let Some(accounts) = &config.local_accounts {
        if let Some(pepper) = &accounts.pepper_secret {
            needs.push(key_secret(pepper, true, "peppers local accounts' password hashes (never change it)"));
        }
        let sender = &accounts.mail.sender;
        if let Some(binding) = &sender.binding {
            needs.push(need("send_email", binding, true, "sends verification, reset and notice emails"));
        }
        if let Some(token) = &sender.token_secret {
            needs.push(need("secret", token, true, "the bearer token of the HTTP mail API"));
        }
    }
    for issuer in &config.jwt.issuers {
        if let KeySource::HmacSecret(name) = &issuer.key_source {
            needs.push(need("secret", name, true, &format!("the HMAC key of JWT issuer {:?}", issuer.issuer)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    needs.retain(|need| seen.insert((need.kind, need.name.clone())));

    let mut problems = Vec::new();
    if config.environment != Environment::Production {
        problems.push(
            "environment is \"development\": it allows plain-HTTP origins, insecure_* switches, development \
             secrets and an ephemeral assertion key; set \"environment\": \"production\""
                .to_owned(),
        );
    }
    if !version_pinned {
        problems.push(format!(
            "no \"version\": pin the configuration format (\"version\": {}) so that an upgrade that changes \
             its meaning is refused rather than applied silently",
            crate::config::CONFIG_VERSION
        ));
    }
    Preflight { needs, problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(preflight: &Preflight, kind: &str) -> Vec<String> {
        preflight.needs.iter().filter(|n| n.kind == kind).map(|n| n.name.clone()).collect()
    }

    #[test]
    fn local_accounts_need_their_pepper_and_their_mail_sender() {
        let text = crate::testing::repository_file("tests/config-corpus/valid/local-accounts.json");
        let config = Config::parse(&text).expect("valid");
        let checked = preflight(&config, true);
        assert!(names_of(&checked, "secret").contains(&"PASSWORD_PEPPER".to_owned()));
        assert_eq!(names_of(&checked, "send_email"), vec!["EMAIL"]);
        assert!(names_of(&checked, "d1").contains(&"PORTCULLIS_DB".to_owned()));
    }

    #[test]
    fn a_bare_gateway_needs_its_assertion_key_and_pages() {
        let config = Config::parse(r#"{ "origin": "https://o.example.com" }"#).expect("valid");
        let checked = preflight(&config, true);
        assert_eq!(names_of(&checked, "secret"), vec!["PORTCULLIS_ASSERTION_KEYS", "PORTCULLIS_ADMIN_KEY"]);
        assert!(names_of(&checked, "kv").is_empty() && names_of(&checked, "durable_object").is_empty());
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    }

    #[test]
    fn login_api_keys_issuers_and_limits_name_every_secret_and_binding() {
        let config = Config::parse(
            r#"{ "version": 2, "origin": "https://o.example.com", "api_keys": { "prefix": "pk_live" },
                 "rate_limiting": { "binding": "LIMITS" },
                 "jwt": { "issuers": [{ "issuer": "https://i.example.com", "audiences": ["a"],
                          "hmac_secret": "INTERNAL_JWT_KEY", "algorithms": ["HS256"] }] },
                 "login": { "redirect_uri": "https://app.example.com/auth/callback",
                   "providers": [{ "id": "corp", "type": "oidc", "issuer": "https://login.example.com",
                     "client_id": "c", "client_secret": "CORP_SECRET", "directory": { "tenant": "acme" } }] } }"#,
        )
        .expect("valid");
        let checked = preflight(&config, false);
        let secrets = names_of(&checked, "secret");
        for name in [
            "PORTCULLIS_ASSERTION_KEYS",
            "PORTCULLIS_API_KEY_PEPPER",
            "PORTCULLIS_LOGIN_SECRET",
            "CORP_SECRET",
            "PORTCULLIS_DIRECTORY_KEY",
            "INTERNAL_JWT_KEY",
        ] {
            assert!(secrets.contains(&name.to_owned()), "{name} in {secrets:?}");
        }
        assert_eq!(names_of(&checked, "durable_object"), vec!["API_KEY_REVOCATIONS", "LIMITS"]);
        assert_eq!(names_of(&checked, "kv"), vec!["PORTCULLIS_KV"]);
        let d1 = checked.needs.iter().find(|n| n.kind == "d1").expect("the directory");
        assert!(d1.required, "sign-in asks the directory which tenant an email belongs to");
        let pepper = checked.needs.iter().find(|n| n.name == "PORTCULLIS_API_KEY_PEPPER").expect("the pepper");
        assert_eq!(pepper.min_length, Some(32));
        assert_eq!(checked.problems.len(), 1, "{:?}", checked.problems);
        assert!(checked.problems[0].contains("\"version\": 2"));
    }

    #[test]
    fn tenant_administrators_need_the_directory_and_its_key() {
        let config = Config::parse(
            r#"{ "version": 2, "origin": "https://o.example.com",
                 "jwt": { "issuers": [{ "issuer": "https://auth.example.com", "audiences": ["a"],
                          "jwks_url": "https://auth.example.com/jwks", "algorithms": ["ES256"] }] },
                 "directory": { "tenant_admin_issuers": ["https://auth.example.com"] } }"#,
        )
        .expect("valid");
        let checked = preflight(&config, true);
        let required = |name: &str| checked.needs.iter().find(|n| n.name == name).is_some_and(|n| n.required);
        assert!(required("PORTCULLIS_DB") && required("PORTCULLIS_DIRECTORY_KEY"), "{:?}", checked.needs);
        let bare = Config::parse(r#"{ "origin": "https://o.example.com" }"#).expect("valid");
        let d1 = preflight(&bare, true).needs.into_iter().find(|n| n.kind == "d1").expect("listed");
        assert!(!d1.required, "without login or tenant administrators, only the admin key's directory API uses it");
    }

    #[test]
    fn development_is_a_problem_for_production() {
        let config = Config::parse(r#"{ "version": 2, "environment": "development" }"#).expect("valid");
        let checked = preflight(&config, true);
        assert!(
            checked.problems.iter().any(|p| p.contains("environment is \"development\"")),
            "{:?}",
            checked.problems
        );
    }
}
