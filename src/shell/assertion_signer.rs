//! Signing identity assertions with the key from `PORTCULLIS_ASSERTION_KEYS`.
//!
//! In development without that secret, an ephemeral ES256 key is generated per isolate (and
//! logged as such); in production the secret is required, and its absence fails closed.

use super::webcrypto;
use crate::assertion::{self, AssertionSigner, SigningKey};
use crate::config::Config;
use crate::deploy::Environment;
use crate::ports::Unavailable;
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::CryptoKey;
use worker::{console_error, console_warn, Env};

/// The secret holding the assertion signing keys (a JWKS of private keys; the first signs).
pub const KEYS_SECRET: &str = crate::deploy::names::ASSERTION_KEYS_SECRET;

/// The active signing key and every published public key.
pub struct Signer {
    alg: &'static str,
    kid: String,
    key: CryptoKey,
    /// The public JWKS to publish.
    pub public_jwks: Value,
}

thread_local! {
    static SIGNER: RefCell<Option<Rc<Signer>>> = const { RefCell::new(None) };
}

async fn load(env: &Env, config: &Config) -> Result<Signer, String> {
    match env.secret(KEYS_SECRET) {
        Ok(secret) => {
            let keys: Vec<SigningKey> = assertion::parse_signing_keys(&secret.to_string())?;
            let active = &keys[0];
            let key = webcrypto::import_signing_key(active.alg.name(), &active.private_jwk)
                .await
                .map_err(|e| format!("cannot import the signing key: {e:?}"))?;
            Ok(Signer {
                alg: active.alg.name(),
                kid: active.kid.clone(),
                key,
                public_jwks: assertion::public_jwks(&keys),
            })
        }
        Err(_) if config.environment == Environment::Development => {
            let (key, public_jwk) = webcrypto::generate_es256().await.map_err(|e| format!("{e:?}"))?;
            let kid = format!("ephemeral-{}", crate::random::request_id().map_err(|e| e.to_string())?);
            console_warn!(
                "{}",
                serde_json::json!({ "event": "assertion_key_ephemeral", "kid": kid,
                "hint": "set the PORTCULLIS_ASSERTION_KEYS secret; this key lives only as long as the isolate" })
            );
            let mut published = public_jwk;
            published["kid"] = Value::from(kid.clone());
            published["alg"] = Value::from("ES256");
            published["use"] = Value::from("sig");
            Ok(Signer { alg: "ES256", kid, key, public_jwks: serde_json::json!({ "keys": [published] }) })
        }
        Err(_) => Err(format!("the {KEYS_SECRET} secret is required in production")),
    }
}

/// The isolate's signer, loaded on first use.
pub async fn signer(env: &Env, config: &Config) -> Result<Rc<Signer>, ()> {
    if let Some(signer) = SIGNER.with(|s| s.borrow().clone()) {
        return Ok(signer);
    }
    match load(env, config).await {
        Ok(signer) => {
            let signer = Rc::new(signer);
            SIGNER.with(|s| *s.borrow_mut() = Some(Rc::clone(&signer)));
            Ok(signer)
        }
        Err(reason) => {
            console_error!("{}", serde_json::json!({ "event": "assertion_key_unavailable", "reason": reason }));
            Err(())
        }
    }
}

impl AssertionSigner for Signer {
    fn alg(&self) -> &'static str {
        self.alg
    }

    fn kid(&self) -> &str {
        &self.kid
    }

    async fn signature(&self, signing_input: &[u8]) -> Result<Vec<u8>, Unavailable> {
        webcrypto::sign(self.alg, &self.key, signing_input).await.map_err(|e| Unavailable(format!("{e:?}")))
    }
}
