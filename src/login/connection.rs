//! A tenant's connections to its identity providers, stored in the directory rather than the
//! configuration: the same settings as a configured login provider, with the client secret
//! sealed with AES-256-GCM under the directory key (`PORTCULLIS_DIRECTORY_KEY`) and the
//! connection's id as associated data, so a sealed secret moved to another row does not open.
//! Each connection provisions into its tenant and has its own redirect URI,
//! `{redirect_uri}/<connection-id>`.

use super::provider::{provider_from_settings, Provider};
use crate::deploy::Environment;
use crate::directory::connections::Connection;
use crate::directory::TenantScope;
use crate::secret::{SecretBytes, SecretString};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The binding name stored in a connection's settings in place of a secret's: the secret is the
/// sealed one of the row.
pub const SEALED_SECRET: &str = "SEALED_IN_DIRECTORY";

/// The fields a request may not set: the server's.
const SERVER_FIELDS: &[&str] = &["id", "own_redirect_uri", "email_domains"];

/// A connection as created from a request body: its settings (validated as a provider's) and
/// its client secret. `Err` lists every problem.
pub fn settings_for(
    body: &Value,
    id: &str,
    scope: &TenantScope,
    environment: Environment,
) -> Result<(Value, SecretString, Provider), Vec<String>> {
    let Value::Object(input) = body else { return Err(vec!["body: a JSON object is required".into()]) };
    let mut problems = Vec::new();
    let mut settings: Map<String, Value> = Map::new();
    let mut secret = None;
    for (key, value) in input {
        match key.as_str() {
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
    if secret.is_none() && !problems.iter().any(|p| p.starts_with("client_secret")) {
        problems.push("client_secret: required".into());
    }
    settings.insert("id".into(), Value::String(id.into()));
    settings.insert("own_redirect_uri".into(), Value::Bool(true));
    settings.insert("client_secret".into(), Value::String(SEALED_SECRET.into()));
    let link = settings.entry("directory").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(link) = link {
        link.insert("tenant".into(), Value::String(scope.id().into()));
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

/// Seals a connection's secret: `nonce || ciphertext`, the id as associated data.
pub fn seal(key: &SecretBytes, id: &str, secret: &SecretString, nonce: [u8; 12]) -> Vec<u8> {
    let sealed = cipher(key)
        .encrypt(&Nonce::from(nonce), Payload { msg: secret.expose().as_bytes(), aad: id.as_bytes() })
        .unwrap_or_default();
    [nonce.as_slice(), &sealed].concat()
}

/// Opens a connection's sealed secret; `None` when it was sealed for another id or key, or was
/// tampered with.
pub fn unseal(key: &SecretBytes, id: &str, sealed: &[u8]) -> Option<SecretString> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let plaintext = cipher(key).decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: id.as_bytes() }).ok()?;
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

    #[test]
    fn a_connection_is_a_provider_of_its_tenant_at_its_own_redirect_uri() {
        let id = new_connection_id([7; 16]);
        assert!(connection_id_ok(&id), "{id}");
        let (settings, secret, provider) =
            settings_for(&body(), &id, &TenantScope::of("acme"), Environment::Production).unwrap();
        assert_eq!(secret.expose(), "s3cr3t");
        assert_eq!(provider.id, id);
        assert!(provider.own_redirect_uri);
        assert_eq!(provider.directory.as_ref().map(|link| link.tenant.as_str()), Some("acme"));
        assert!(!settings.to_string().contains("s3cr3t"), "the settings never hold the secret");
        let stored = Connection {
            id: id.clone(),
            tenant: "acme".into(),
            kind: "oidc".into(),
            settings,
            sealed_secret: vec![],
            created_at_ms: 0,
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
    fn every_problem_of_a_body_is_reported_at_once() {
        let bad = json!({ "type": "oidc", "issuer": "http://acme.okta.test", "client_id": "c", "id": "mine", "email_domains": ["x.test"],
                          "directory": { "tenant": "globex" } });
        let problems =
            settings_for(&bad, "con_aaaaaaaaaaaaaaaa", &TenantScope::of("acme"), Environment::Production).unwrap_err();
        for expected in ["client_secret", "id:", "email_domains", "directory", "https"] {
            assert!(problems.iter().any(|p| p.contains(expected)), "{expected} in {problems:?}");
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_id_and_key() {
        let key = SecretBytes::new(b"directory-key-for-tests-0123456789abcdef".to_vec());
        let secret = SecretString::new("s3cr3t".into());
        let sealed = seal(&key, "con_a", &secret, [1; 12]);
        assert_eq!(unseal(&key, "con_a", &sealed).map(|s| s.expose().to_owned()), Some("s3cr3t".into()));
        assert_eq!(unseal(&key, "con_b", &sealed), None, "another row's id");
        let other = SecretBytes::new(b"another-directory-key-0123456789abcdef".to_vec());
        assert_eq!(unseal(&other, "con_a", &sealed), None, "another key");
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
    }

    proptest! {
        #[test]
        fn a_tampered_seal_never_opens(index in 0usize..40, flip in 1u8..=255) {
            let key = SecretBytes::new(b"directory-key-for-tests-0123456789abcdef".to_vec());
            let mut sealed = seal(&key, "con_a", &SecretString::new("a-secret".into()), [9; 12]);
            let index = index % sealed.len();
            sealed[index] ^= flip;
            prop_assert_eq!(unseal(&key, "con_a", &sealed), None);
        }

        #[test]
        fn arbitrary_bodies_never_panic(text in ".{0,200}") {
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                let _ = settings_for(&value, "con_aaaaaaaaaaaaaaaa", &TenantScope::of("acme"), Environment::Development);
            }
        }
    }
}
