//! This SAML service provider's keys, each from its secret (PKCS #8 PEM), imported into
//! WebCrypto once per isolate:
//! - the signing key (`login.saml_signing`), after a probe signature verified with the
//!   configured certificate (a key that is not the certificate's would have every IdP refuse this
//!   SP's requests: it fails closed here instead, and says why in the log);
//! - the decryption key (`login.saml_encryption`, RSA-OAEP), imported for SHA-1 and SHA-256.

use super::webcrypto;
use crate::authn::jwt::alg::Alg;
use crate::authn::jwt::keys::KeyMaterial;
use crate::ports::Unavailable;
use crate::saml::config::{pkcs8_der, SpKey};
use crate::saml::encryption::{KeyDecryptor, OaepHash};
use crate::saml::redirect_signature::{MessageSigner, ECDSA_SHA256, RSA_SHA256};
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::CryptoKey;
use worker::{console_error, Env};

/// The SP key, ready to sign.
pub struct SpSigner {
    alg: Alg,
    key: CryptoKey,
}

thread_local! {
    static SIGNER: RefCell<Option<(String, Rc<SpSigner>)>> = const { RefCell::new(None) };
}

const PROBE: &[u8] = b"portcullis: does the SAML SP key match its certificate?";

async fn load(env: &Env, signing: &SpKey) -> Result<SpSigner, String> {
    let alg = match signing.certificate.key.material {
        KeyMaterial::Rsa(..) => Alg::Rs256,
        KeyMaterial::P256(_) => Alg::Es256,
        _ => return Err("the certificate's key is neither RSA nor P-256".into()),
    };
    let secret = env.secret(&signing.private_key_secret).map_err(|_| "the secret is not set".to_owned())?;
    let der = pkcs8_der(&secret.to_string()).ok_or("the secret is not a PKCS #8 PEM private key")?;
    let key = webcrypto::import_pkcs8_signing_key(alg, &der)
        .await
        .map_err(|_| "WebCrypto would not import the key for the certificate's algorithm".to_owned())?;
    let probe = webcrypto::sign_as(alg, &key, PROBE).await.map_err(|_| "the key would not sign".to_owned())?;
    let matches = webcrypto::verify(alg, &signing.certificate.key, PROBE, &probe).await.unwrap_or(false);
    if !matches {
        return Err("the key is not the certificate's".into());
    }
    Ok(SpSigner { alg, key })
}

/// The SP signer, loaded on first use; `Err` (logged) when the key is missing or wrong.
pub async fn sp_signer(env: &Env, signing: &SpKey) -> Result<Rc<SpSigner>, Unavailable> {
    let fingerprint: String = signing.certificate.fingerprint_sha256.iter().map(|b| format!("{b:02x}")).collect();
    let cache_key = format!("{}|{fingerprint}", signing.private_key_secret);
    if let Some(signer) =
        SIGNER.with(|cell| cell.borrow().as_ref().filter(|(k, _)| *k == cache_key).map(|(_, s)| Rc::clone(s)))
    {
        return Ok(signer);
    }
    match load(env, signing).await {
        Ok(signer) => {
            let signer = Rc::new(signer);
            SIGNER.with(|cell| *cell.borrow_mut() = Some((cache_key, Rc::clone(&signer))));
            Ok(signer)
        }
        Err(reason) => {
            console_error!(
                "{}",
                serde_json::json!({ "event": "saml_sp_key_unavailable", "secret": signing.private_key_secret, "reason": reason })
            );
            Err(Unavailable("the SAML SP key is unavailable".into()))
        }
    }
}

impl MessageSigner for SpSigner {
    fn sig_alg(&self) -> &'static str {
        match self.alg {
            Alg::Es256 => ECDSA_SHA256,
            _ => RSA_SHA256,
        }
    }

    async fn sign(&self, octets: &[u8]) -> Result<Vec<u8>, Unavailable> {
        webcrypto::sign_as(self.alg, &self.key, octets)
            .await
            .map_err(|_| Unavailable("WebCrypto would not sign".into()))
    }
}

/// The SP decryption key, ready to unwrap content keys.
pub struct SpDecryptor {
    sha1: CryptoKey,
    sha256: CryptoKey,
}

thread_local! {
    static DECRYPTOR: RefCell<Option<(String, Rc<SpDecryptor>)>> = const { RefCell::new(None) };
}

async fn load_decryptor(env: &Env, key: &SpKey) -> Result<SpDecryptor, String> {
    let secret = env.secret(&key.private_key_secret).map_err(|_| "the secret is not set".to_owned())?;
    let der = pkcs8_der(&secret.to_string()).ok_or("the secret is not a PKCS #8 PEM private key")?;
    let import = |hash: &'static str| {
        let der = der.clone();
        async move {
            webcrypto::import_pkcs8_oaep_key(hash, &der)
                .await
                .map_err(|_| "WebCrypto would not import the key for RSA-OAEP".to_owned())
        }
    };
    let decryptor = SpDecryptor { sha1: import("SHA-1").await?, sha256: import("SHA-256").await? };
    // A key that is not the published certificate's would refuse every IdP's assertion as if it
    // were forged: fail closed here instead, and say why in the log.
    let probe = webcrypto::rsa_oaep_encrypt_to(&key.certificate.key.public_jwk, PROBE)
        .await
        .map_err(|_| "WebCrypto would not encrypt to the certificate's key".to_owned())?;
    let opened = webcrypto::rsa_oaep_decrypt(&decryptor.sha1, &probe).await.ok();
    if opened.as_deref() != Some(PROBE) {
        return Err("the key is not the certificate's".into());
    }
    Ok(decryptor)
}

/// The SP decryptor, loaded on first use; `Err` (logged) when the key is missing or unusable.
pub async fn sp_decryptor(env: &Env, key: &SpKey) -> Result<Rc<SpDecryptor>, Unavailable> {
    let cache_key = key.private_key_secret.clone();
    if let Some(found) =
        DECRYPTOR.with(|cell| cell.borrow().as_ref().filter(|(k, _)| *k == cache_key).map(|(_, d)| Rc::clone(d)))
    {
        return Ok(found);
    }
    match load_decryptor(env, key).await {
        Ok(decryptor) => {
            let decryptor = Rc::new(decryptor);
            DECRYPTOR.with(|cell| *cell.borrow_mut() = Some((cache_key, Rc::clone(&decryptor))));
            Ok(decryptor)
        }
        Err(reason) => {
            console_error!(
                "{}",
                serde_json::json!({ "event": "saml_sp_decryption_key_unavailable", "secret": key.private_key_secret, "reason": reason })
            );
            Err(Unavailable("the SAML SP decryption key is unavailable".into()))
        }
    }
}

impl KeyDecryptor for SpDecryptor {
    async fn unwrap_key(&self, hash: OaepHash, wrapped: &[u8]) -> Result<Option<Vec<u8>>, Unavailable> {
        let key = match hash {
            OaepHash::Sha1 => &self.sha1,
            OaepHash::Sha256 => &self.sha256,
        };
        // A wrapped key that does not decrypt is refused like any other failure (one reason).
        Ok(webcrypto::rsa_oaep_decrypt(key, wrapped).await.ok())
    }
}

/// The SP decryptor, loaded when the first key is to be unwrapped (so that a response without
/// an encrypted assertion never needs it).
pub struct LazySpDecryptor<'a> {
    /// The runtime environment (its secrets).
    pub env: &'a Env,
    /// The configured key.
    pub key: &'a SpKey,
}

impl KeyDecryptor for LazySpDecryptor<'_> {
    async fn unwrap_key(&self, hash: OaepHash, wrapped: &[u8]) -> Result<Option<Vec<u8>>, Unavailable> {
        sp_decryptor(self.env, self.key).await?.unwrap_key(hash, wrapped).await
    }
}
