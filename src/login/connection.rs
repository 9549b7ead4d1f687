//! A tenant's connections to its identity providers, stored in the directory rather than the
//! configuration: the same settings as a configured login provider, with the client secret
//! sealed with AES-256-GCM under the directory key (`PORTCULLIS_DIRECTORY_KEY`) and the
//! connection's id as associated data, so a sealed secret moved to another row does not open.
//! Each connection provisions into its tenant and has its own redirect URI,
//! `{redirect_uri}/<connection-id>`.

pub use super::provider::SEALED_SECRET;
use super::provider::{provider_from_settings, Provider, ProviderKind};
use super::provider_api::Endpoints;
use crate::deploy::Environment;
use crate::directory::connections::Connection;
use crate::directory::TenantScope;
use crate::secret::{SecretBytes, SecretString};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The fields a request may not set: the server's. (`authentication`: how far a tenant's own IdP
/// is believed is the deployment's call, and for now it is believed in nothing.)
const SERVER_FIELDS: &[&str] = &["id", "own_redirect_uri", "email_domains", "authentication"];

/// A connection as created from a request body: its settings (validated as a provider's) and
/// its client secret. `Err` lists every problem.
///
/// A tenant's IdP is not the deployment's: its URLs may not point at the deployment's own hosts
/// (`own_hosts`: the gateway's and its origins'), nor, in production, at IP addresses, local
/// names, other ports or URLs with credentials (server-side request forgery); and its emails are
/// kept only in the tenant's own verified domains (`directory.verified_domains_only` is forced).
pub fn settings_for(
    body: &Value,
    id: &str,
    scope: &TenantScope,
    environment: Environment,
    own_hosts: &[String],
) -> Result<(Value, SecretString, Provider), Vec<String>> {
    let Value::Object(input) = body else { return Err(vec!["body: a JSON object is required".into()]) };
    if body.to_string().len() > MAX_SETTINGS_BYTES {
        return Err(vec![format!("body: at most {MAX_SETTINGS_BYTES} bytes of settings")]);
    }
    let mut problems = Vec::new();
    // A SAML connection has no client secret: its IdP signs what it says. (Its empty secret is
    // still sealed, which binds its settings, certificates included, to the directory key.)
    let saml = input.get("type").and_then(Value::as_str) == Some("saml");
    let saml_url = |field: &str| input.get("saml").and_then(|saml| saml.get(field));
    let saml_urls =
        [("saml.sso_url".to_owned(), saml_url("sso_url")), ("saml.slo_url".to_owned(), saml_url("slo_url"))];
    let urls = URL_FIELDS.iter().map(|field| (field.to_string(), input.get(*field)));
    for (field, value) in urls.chain(saml_urls) {
        if let Some(Value::String(text)) = value {
            if let Err(why) = outside_url(text, environment, own_hosts) {
                problems.push(format!("{field}: {why}"));
            }
        }
    }
    // A tenant's SAML connection is known to its IdP by its own entity id, never one it picks:
    // this SP's one key signs for every connection, so a chosen id could have it sign requests
    // and logouts in another connection's (or a configured provider's) name.
    if saml && saml_url("sp_entity_id").is_some() {
        problems.push("saml.sp_entity_id: set by the server (the connection's metadata URL)".into());
    }
    // Custom attributes reach the origin under names of the deployment's choosing, which a
    // tenant's IdP must not fill (a tenant could name one the origin takes from the deployment's
    // own IdP).
    if saml && saml_url("attributes").is_some_and(|attributes| attributes.get("custom").is_some()) {
        problems.push("saml.attributes.custom: custom attributes are for configured providers only".into());
    }
    let mut settings: Map<String, Value> = Map::new();
    let mut secret = None;
    for (key, value) in input {
        match key.as_str() {
            "client_secret" if saml => problems.push("client_secret: a saml connection has none".into()),
            "client_secret" => match value {
                Value::String(text) if !text.is_empty() && text.len() <= 1024 => {
                    secret = Some(SecretString::new(text.clone()))
                }
                _ => problems.push("client_secret: the secret itself, 1 to 1024 characters".into()),
            },
            field if SERVER_FIELDS.contains(&field) => problems.push(format!("{field}: set by the server")),
            "directory" => match value {
                Value::Object(link) if !link.contains_key("tenant") => {
                    settings.insert(key.clone(), value.clone());
                }
                _ => problems.push("directory: provisioning options only; the tenant is the path's".into()),
            },
            _ => {
                settings.insert(key.clone(), value.clone());
            }
        }
    }
    if saml {
        secret = Some(SecretString::new(String::new()));
    } else if secret.is_none() && !problems.iter().any(|p| p.starts_with("client_secret")) {
        problems.push("client_secret: required".into());
    }
    settings.insert("id".into(), Value::String(id.into()));
    // (A SAML provider always has its own ACS.)
    if !saml {
        settings.insert("own_redirect_uri".into(), Value::Bool(true));
    }
    settings.insert("client_secret".into(), Value::String(SEALED_SECRET.into()));
    let link = settings.entry("directory").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(link) = link {
        link.insert("tenant".into(), Value::String(scope.id().into()));
        link.insert("verified_domains_only".into(), Value::Bool(true));
    }
    let settings = Value::Object(settings);
    let provider = match provider_from_settings(&settings, environment) {
        Ok(provider) => Some(provider),
        Err(found) => {
            problems.extend(found.into_iter().map(|(path, message)| format!("{path}: {message}")));
            None
        }
    };
    match (provider, secret) {
        (Some(provider), Some(secret)) if problems.is_empty() => Ok((settings, secret, provider)),
        _ => Err(problems),
    }
}

/// What a connection is made of besides its settings: where it is stored, the key that seals its
/// secret, a fresh nonce for the seal, and when it is made.
pub struct Sealing<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its tenant.
    pub scope: &'a TenantScope,
    /// The deployment's environment (production forbids local URLs).
    pub environment: Environment,
    /// The deployment's own hosts, which the connection may not name.
    pub own_hosts: &'a [String],
    /// The directory key.
    pub key: &'a SecretBytes,
    /// 12 random bytes, never used before under the key.
    pub nonce: [u8; 12],
    /// Now.
    pub now_ms: u64,
    /// Whether it signs users in at once (see [`Connection::active`]).
    pub active: bool,
}

/// A connection ready to store, made from a request body ([`settings_for`]) with its secret
/// sealed ([`seal`]), and the provider it is.
pub fn sealed_connection(body: &Value, sealing: Sealing<'_>) -> Result<(Connection, Provider), Vec<String>> {
    let (settings, secret, provider) =
        settings_for(body, sealing.id, sealing.scope, sealing.environment, sealing.own_hosts)?;
    let mut stored = Connection {
        id: sealing.id.to_owned(),
        tenant: sealing.scope.id().to_owned(),
        kind: settings["type"].as_str().unwrap_or("oidc").to_owned(),
        sealed_secret: Vec::new(),
        settings,
        created_at_ms: sealing.now_ms,
        active: sealing.active,
    };
    stored.sealed_secret = seal(sealing.key, &stored, &secret, sealing.nonce);
    Ok((stored, provider))
}

/// The most bytes of a connection's settings.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;

/// The settings that are URLs the gateway fetches or sends browsers to.
const URL_FIELDS: &[&str] =
    &["issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "emails_endpoint"];

/// Whether `text` is a URL a tenant's connection may use: not one of the deployment's own hosts
/// (compared with the port, so local tests on 127.0.0.1 can tell the IdP from the gateway), and
/// in production an https URL on the default port, without credentials, naming a public host.
pub fn outside_url(text: &str, environment: Environment, own_hosts: &[String]) -> Result<(), &'static str> {
    let url = url::Url::parse(text).map_err(|_| "not a URL")?;
    // `host.example.` is `host.example`: the trailing dot of a fully qualified name is no other host.
    let host = url.host_str().ok_or("a URL with a host is required")?.trim_end_matches('.').to_ascii_lowercase();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    if own_hosts.iter().any(|own| {
        own.eq_ignore_ascii_case(&authority)
            || (environment == Environment::Production && own.eq_ignore_ascii_case(&host))
    }) {
        return Err("one of this deployment's own hosts");
    }
    if environment == Environment::Production {
        let local = host == "localhost"
            || host.ends_with(".localhost")
            || host.ends_with(".local")
            || host.ends_with(".internal")
            || !host.contains('.');
        let ip = matches!(url.host(), Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_)));
        if ip || local {
            return Err("a public host name is required, not an IP address or a local name");
        }
        if url.port().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err("no port and no credentials in the URL");
        }
    }
    Ok(())
}

/// Whether the endpoints a stored connection's discovery document names are URLs it may use, as
/// its own settings must be ([`outside_url`]): the issuer is checked when the connection is
/// saved, but the document it serves could name the deployment's own hosts or, in production,
/// internal addresses. Every problem, for the log.
pub fn endpoints_outside(
    endpoints: &Endpoints,
    environment: Environment,
    own_hosts: &[String],
) -> Result<(), Vec<String>> {
    let named = [
        ("authorization_endpoint", Some(&endpoints.authorization)),
        ("token_endpoint", Some(&endpoints.token)),
        ("userinfo_endpoint", endpoints.userinfo.as_ref()),
        ("end_session_endpoint", endpoints.end_session.as_ref()),
        ("revocation_endpoint", endpoints.revocation.as_ref()),
        ("jwks_uri", endpoints.jwks_uri.as_ref()),
    ];
    urls_outside(&named, environment, own_hosts)
}

/// [`endpoints_outside`] for the URLs of a stored connection's own settings, checked again before
/// each use as well as when it is saved: the deployment's own hosts may have grown since.
pub fn provider_outside(
    provider: &Provider,
    environment: Environment,
    own_hosts: &[String],
) -> Result<(), Vec<String>> {
    match &provider.kind {
        ProviderKind::Oidc { issuer, .. } => urls_outside(&[("issuer", Some(issuer))], environment, own_hosts),
        ProviderKind::OAuth2 { authorization_endpoint, token_endpoint, userinfo_endpoint, emails_endpoint } => {
            let named = [
                ("authorization_endpoint", Some(authorization_endpoint)),
                ("token_endpoint", Some(token_endpoint)),
                ("userinfo_endpoint", Some(userinfo_endpoint)),
                ("emails_endpoint", emails_endpoint.as_ref()),
            ];
            urls_outside(&named, environment, own_hosts)
        }
        ProviderKind::Saml(settings) => {
            let named = [("sso_url", Some(&settings.sso_url)), ("slo_url", settings.slo_url.as_ref())];
            urls_outside(&named, environment, own_hosts)
        }
    }
}

/// Every named URL that is not [`outside_url`], with why.
fn urls_outside(
    named: &[(&str, Option<&String>)],
    environment: Environment,
    own_hosts: &[String],
) -> Result<(), Vec<String>> {
    let problems: Vec<String> = named
        .iter()
        .filter_map(|(name, url)| Some((name, (*url)?)))
        .filter_map(|(name, url)| outside_url(url, environment, own_hosts).err().map(|why| format!("{name}: {why}")))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The issuer a stored connection's users are known by. An OIDC connection's is its issuer,
/// whose keys sign its ID tokens. An OAuth 2.0 or SAML connection vouches only through
/// endpoints or certificates its tenant chose, so its issuer is its own,
/// `urn:portcullis:connection:<id>`: it can never pass for a configured provider (a tenant
/// naming GitHub's authorisation endpoint is not GitHub).
pub fn connection_issuer(provider: &Provider) -> String {
    match &provider.kind {
        ProviderKind::Oidc { issuer, .. } => issuer.clone(),
        // A tenant's IdP names its own entity id: it must not pass for a configured provider's.
        ProviderKind::OAuth2 { .. } | ProviderKind::Saml(_) => format!("urn:portcullis:connection:{}", provider.id),
    }
}

/// The provider a stored connection is (`None` if its settings no longer make one, say after an
/// upgrade tightened a rule: the connection then signs nobody in).
pub fn provider_of(connection: &Connection, environment: Environment) -> Option<Provider> {
    let provider = provider_from_settings(&connection.settings, environment).ok()?;
    let tenant_matches = provider.directory.as_ref().is_some_and(|link| link.tenant == connection.tenant);
    (tenant_matches && provider.id == connection.id).then_some(provider)
}

fn cipher(key: &SecretBytes) -> Aes256Gcm {
    let derived: [u8; 32] =
        Sha256::new().chain_update(b"portcullis directory secrets v1\0").chain_update(key.expose()).finalize().into();
    Aes256Gcm::new(&derived.into())
}

/// The version byte of a sealed secret.
const SEALED_V1: u8 = 1;

/// What a sealed secret is bound to: the connection's id, tenant and settings, so neither the
/// secret moved to another row nor the row's settings changed (a token endpoint pointed
/// elsewhere to collect the secret) opens it.
fn associated_data(connection: &Connection) -> Vec<u8> {
    let settings: [u8; 32] = Sha256::digest(connection.settings.to_string().as_bytes()).into();
    [&[SEALED_V1], connection.id.as_bytes(), b"\0", connection.tenant.as_bytes(), b"\0", &settings].concat()
}

/// Seals a connection's secret: `version || nonce || ciphertext`.
pub fn seal(key: &SecretBytes, connection: &Connection, secret: &SecretString, nonce: [u8; 12]) -> Vec<u8> {
    let aad = associated_data(connection);
    let sealed = cipher(key)
        .encrypt(&Nonce::from(nonce), Payload { msg: secret.expose().as_bytes(), aad: &aad })
        .unwrap_or_default();
    [&[SEALED_V1], nonce.as_slice(), &sealed].concat()
}

/// Opens a connection's sealed secret; `None` when it was sealed for another row, key or
/// settings, or was tampered with.
pub fn unseal(key: &SecretBytes, connection: &Connection) -> Option<SecretString> {
    let sealed = &connection.sealed_secret;
    let (&version, rest) = sealed.split_first()?;
    if version != SEALED_V1 || rest.len() < 12 + 16 {
        return None;
    }
    let (nonce, ciphertext) = rest.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let aad = associated_data(connection);
    let plaintext = cipher(key).decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: &aad }).ok()?;
    String::from_utf8(plaintext).ok().map(SecretString::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::connections::{connection_id_ok, new_connection_id};
    use proptest::prelude::*;
    use serde_json::json;

    fn body() -> Value {
        json!({ "type": "oidc", "display_name": "Acme Okta", "issuer": "https://acme.okta.test",
                "client_id": "0oa1", "client_secret": "s3cr3t", "directory": { "link_by_email": false } })
    }

    const OWN: &[&str] = &["gw.example.com", "app.example.com"];

    fn own() -> Vec<String> {
        OWN.iter().map(|s| s.to_string()).collect()
    }

    fn stored(settings: Value) -> Connection {
        Connection {
            id: "con_a".into(),
            tenant: "acme".into(),
            kind: "oidc".into(),
            settings,
            sealed_secret: vec![],
            created_at_ms: 0,
            active: true,
        }
    }

    #[test]
    fn a_connection_is_a_provider_of_its_tenant_at_its_own_redirect_uri() {
        let id = new_connection_id([7; 16]);
        assert!(connection_id_ok(&id), "{id}");
        let (settings, secret, provider) =
            settings_for(&body(), &id, &TenantScope::of("acme"), Environment::Production, &own()).unwrap();
        assert_eq!(secret.expose(), "s3cr3t");
        assert_eq!(provider.id, id);
        assert!(provider.own_redirect_uri);
        let link = provider.directory.as_ref().unwrap();
        assert_eq!(link.tenant, "acme");
        assert!(link.verified_domains_only, "a tenant's IdP speaks for the tenant's verified domains only");
        assert!(!settings.to_string().contains("s3cr3t"), "the settings never hold the secret");
        let stored = Connection {
            id: id.clone(),
            tenant: "acme".into(),
            kind: "oidc".into(),
            settings,
            sealed_secret: vec![],
            created_at_ms: 0,
            active: true,
        };
        assert_eq!(provider_of(&stored, Environment::Production), Some(provider));
        let moved = Connection { tenant: "globex".into(), ..stored };
        assert_eq!(
            provider_of(&moved, Environment::Production),
            None,
            "settings moved to another tenant sign nobody in"
        );
    }

    #[test]
    fn a_discovery_document_may_not_send_the_gateway_to_its_own_hosts_or_inside() {
        let endpoints = |token: &str, jwks: &str| Endpoints {
            authorization: "https://acme.okta.test/authorize".into(),
            token: token.into(),
            userinfo: None,
            end_session: None,
            revocation: Some("https://acme.okta.test/revoke".into()),
            jwks_uri: Some(jwks.into()),
            issuer: Some("https://acme.okta.test".into()),
            iss_parameter_supported: true,
        };
        let fine = endpoints("https://acme.okta.test/token", "https://acme.okta.test/keys");
        assert_eq!(endpoints_outside(&fine, Environment::Production, &own()), Ok(()));
        let own_host = endpoints("https://gw.example.com/auth/session", "https://acme.okta.test/keys");
        let problems = endpoints_outside(&own_host, Environment::Production, &own()).unwrap_err();
        assert_eq!(problems, vec!["token_endpoint: one of this deployment's own hosts".to_owned()]);
        let inside = endpoints("https://10.0.0.1/token", "http://metadata.internal/keys");
        let problems = endpoints_outside(&inside, Environment::Production, &own()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].starts_with("jwks_uri: "), "{problems:?}");
    }

    #[test]
    fn a_stored_connection_s_own_urls_are_checked_again_at_use() {
        let (_, _, provider) =
            settings_for(&body(), "con_aaaaaaaaaaaaaaaa", &TenantScope::of("acme"), Environment::Production, &own())
                .unwrap();
        assert_eq!(provider_outside(&provider, Environment::Production, &own()), Ok(()));
        // The deployment later serves its own app from the host the connection names.
        let grown = [own(), vec!["acme.okta.test".to_owned()]].concat();
        assert_eq!(
            provider_outside(&provider, Environment::Production, &grown),
            Err(vec!["issuer: one of this deployment's own hosts".to_owned()])
        );
    }

    #[test]
    fn every_problem_of_a_body_is_reported_at_once() {
        let bad = json!({ "type": "oidc", "issuer": "http://acme.okta.test", "client_id": "c", "id": "mine", "email_domains": ["x.test"],
                          "directory": { "tenant": "globex" } });
        let problems =
            settings_for(&bad, "con_aaaaaaaaaaaaaaaa", &TenantScope::of("acme"), Environment::Production, &own())
                .unwrap_err();
        for expected in ["client_secret", "id:", "email_domains", "directory", "https"] {
            assert!(problems.iter().any(|p| p.contains(expected)), "{expected} in {problems:?}");
        }
    }

    #[test]
    fn a_connection_cannot_point_at_the_deployment_or_at_internal_hosts() {
        let scope = TenantScope::of("acme");
        for url in [
            "https://app.example.com/api/admin",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://localhost/",
            "https://metadata.google.internal/",
            "https://router/",
            "https://idp.test:8443/",
            "https://user:pw@idp.test/",
        ] {
            let mut with = body();
            with["issuer"] = json!(url);
            let problems =
                settings_for(&with, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Production, &own()).unwrap_err();
            assert!(problems.iter().any(|p| p.starts_with("issuer: ")), "{url}: {problems:?}");
        }
        let mut local = body();
        local["issuer"] = json!("http://127.0.0.1:9999");
        let dev_own = vec!["127.0.0.1:8787".to_owned()];
        assert!(settings_for(&local, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Development, &dev_own).is_ok());
        local["issuer"] = json!("http://127.0.0.1:8787/auth");
        assert!(
            settings_for(&local, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Development, &dev_own).is_err(),
            "the gateway itself"
        );
        let mut big = body();
        big["display_name"] = json!("x".repeat(MAX_SETTINGS_BYTES));
        assert!(settings_for(&big, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Production, &own()).is_err());
    }

    #[test]
    fn a_configured_provider_cannot_take_a_connection_id() {
        let configured = json!({ "id": "con_aaaaaaaaaaaaaaaa", "type": "oidc", "issuer": "https://idp.test",
                                 "client_id": "c", "client_secret": "A_BINDING" });
        let problems = provider_from_settings(&configured, Environment::Production).unwrap_err();
        assert!(problems.iter().any(|(path, _)| path == "id"), "{problems:?}");
    }

    #[test]
    fn an_oauth2_connection_has_an_issuer_of_its_own() {
        let oauth2 = json!({ "type": "oauth2", "authorization_endpoint": "https://github.com/login/oauth/authorize",
            "token_endpoint": "https://evil.test/t", "userinfo_endpoint": "https://evil.test/u", "emails_endpoint": "https://evil.test/e",
            "client_id": "x", "client_secret": "y" });
        let (_, _, provider) =
            settings_for(&oauth2, "con_aaaaaaaaaaaaaaaa", &TenantScope::of("acme"), Environment::Production, &own())
                .unwrap();
        assert_eq!(
            connection_issuer(&provider),
            "urn:portcullis:connection:con_aaaaaaaaaaaaaaaa",
            "never https://github.com"
        );
        let (_, _, oidc) =
            settings_for(&body(), "con_aaaaaaaaaaaaaaaa", &TenantScope::of("acme"), Environment::Production, &own())
                .unwrap();
        assert_eq!(connection_issuer(&oidc), "https://acme.okta.test", "an OIDC issuer signs its ID tokens");
    }

    fn saml_body() -> Value {
        json!({ "type": "saml", "display_name": "Acme SAML", "directory": { "link_by_email": true },
                "saml": { "idp_entity_id": "https://acme.okta.test/saml", "sso_url": "https://acme.okta.test/sso",
                          "certificates": [crate::saml::certificate::tests::RSA_PEM], "trust_email": true } })
    }

    #[test]
    fn a_saml_connection_has_no_client_secret_and_its_sso_url_is_checked() {
        let scope = TenantScope::of("acme");
        let (settings, secret, provider) =
            settings_for(&saml_body(), "con_aaaaaaaaaaaaaaaa", &scope, Environment::Production, &own()).unwrap();
        assert_eq!(secret.expose(), "", "nothing to seal but the settings' binding");
        assert_eq!(settings["client_secret"], SEALED_SECRET, "it is a stored connection's");
        assert!(settings.get("own_redirect_uri").is_none(), "{settings}");
        assert!(provider.own_redirect_uri, "a SAML provider always has its own ACS");
        assert!(provider.directory.as_ref().unwrap().verified_domains_only);
        assert_eq!(connection_issuer(&provider), "urn:portcullis:connection:con_aaaaaaaaaaaaaaaa");
        let stored = Connection { id: "con_aaaaaaaaaaaaaaaa".into(), kind: "saml".into(), ..stored(settings) };
        assert_eq!(provider_of(&stored, Environment::Production), Some(provider));

        let mut with_secret = saml_body();
        with_secret["client_secret"] = json!("s3cr3t");
        let problems =
            settings_for(&with_secret, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Production, &own()).unwrap_err();
        assert_eq!(problems, vec!["client_secret: a saml connection has none".to_owned()]);
        for field in ["sso_url", "slo_url"] {
            for url in ["https://gw.example.com/auth/sso", "https://gw.example.com./auth/sso", "https://10.0.0.1/sso"] {
                let mut inside = saml_body();
                inside["saml"][field] = json!(url);
                let problems =
                    settings_for(&inside, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Production, &own()).unwrap_err();
                assert!(problems.iter().any(|p| p.starts_with(&format!("saml.{field}: "))), "{url}: {problems:?}");
            }
        }
        // The SP's one key signs for every connection: a tenant never names the entity id.
        let mut chosen = saml_body();
        chosen["saml"]["sp_entity_id"] = json!("https://gw.example.com/auth/saml/con_bbbbbbbbbbbbbbbb/metadata");
        let problems =
            settings_for(&chosen, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Production, &own()).unwrap_err();
        assert_eq!(problems, vec!["saml.sp_entity_id: set by the server (the connection's metadata URL)".to_owned()]);
        let mut custom = saml_body();
        custom["saml"]["attributes"] = json!({ "preset": "okta", "custom": { "clearance": "clearance" } });
        let problems =
            settings_for(&custom, "con_aaaaaaaaaaaaaaaa", &scope, Environment::Production, &own()).unwrap_err();
        assert_eq!(
            problems,
            vec!["saml.attributes.custom: custom attributes are for configured providers only".to_owned()]
        );
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_row_key_and_settings() {
        let key = SecretBytes::new(b"directory-key-for-tests-0123456789abcdef".to_vec());
        let secret = SecretString::new("s3cr3t".into());
        let mut connection = stored(json!({ "token_endpoint": "https://idp.test/token" }));
        connection.sealed_secret = seal(&key, &connection, &secret, [1; 12]);
        assert_eq!(unseal(&key, &connection).map(|s| s.expose().to_owned()), Some("s3cr3t".into()));
        let other_id = Connection { id: "con_b".into(), ..connection.clone() };
        assert_eq!(unseal(&key, &other_id), None, "another row's id");
        let other_tenant = Connection { tenant: "globex".into(), ..connection.clone() };
        assert_eq!(unseal(&key, &other_tenant), None, "another tenant");
        let redirected =
            Connection { settings: json!({ "token_endpoint": "https://evil.test/token" }), ..connection.clone() };
        assert_eq!(unseal(&key, &redirected), None, "settings changed to collect the secret");
        let other = SecretBytes::new(b"another-directory-key-0123456789abcdef".to_vec());
        assert_eq!(unseal(&other, &connection), None, "another key");
        assert!(!connection.sealed_secret.windows(6).any(|w| w == b"s3cr3t"));
    }

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn a_tampered_seal_never_opens(index in 0usize..41, flip in 1u8..=255) {
                let key = SecretBytes::new(b"directory-key-for-tests-0123456789abcdef".to_vec());
                let mut connection = stored(json!({}));
                connection.sealed_secret = seal(&key, &connection, &SecretString::new("a-secret".into()), [9; 12]);
                let index = index % connection.sealed_secret.len();
                connection.sealed_secret[index] ^= flip;
                prop_assert_eq!(unseal(&key, &connection), None);
            }

            #[test]
            fn arbitrary_bodies_never_panic(text in ".{0,200}") {
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    let _ = settings_for(&value, "con_aaaaaaaaaaaaaaaa", &TenantScope::of("acme"), Environment::Development, &[]);
                }
            }
        }
}
