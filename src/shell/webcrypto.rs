//! WebCrypto (the runtime's native crypto) for signature verification and assertion signing.
//!
//! Imported `CryptoKey`s are cached per isolate, keyed by algorithm and public JWK, so a key is
//! imported once, not per request. HMAC never comes here: it is verified in Rust.

use crate::authn::jwt::alg::Alg;
use crate::authn::jwt::keys::VerificationKey;
use crate::cache::{BoundedCache, NEVER_EXPIRES};
use js_sys::{Array, Object, Reflect, Uint8Array};
use serde_json::Value;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

const MAX_CACHED_KEYS: usize = 256;

thread_local! {
    /// Imported verification keys, until evicted.
    static IMPORTED: RefCell<BoundedCache<String, CryptoKey>> = RefCell::new(BoundedCache::new(MAX_CACHED_KEYS));
}

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
}

fn object(entries: &[(&str, JsValue)]) -> Result<Object, JsValue> {
    let object = Object::new();
    for (name, value) in entries {
        Reflect::set(&object, &JsValue::from_str(name), value)?;
    }
    Ok(object)
}

fn hash_name(alg: Alg) -> &'static str {
    match alg {
        Alg::Rs384 | Alg::Ps384 | Alg::Es384 | Alg::Hs384 => "SHA-384",
        Alg::Rs512 | Alg::Ps512 | Alg::Hs512 => "SHA-512",
        _ => "SHA-256",
    }
}

/// (import parameters, verify parameters) for an asymmetric algorithm.
fn parameters(alg: Alg) -> Result<(Object, Object), JsValue> {
    let s = JsValue::from_str;
    Ok(match alg {
        Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => (
            object(&[("name", s("RSASSA-PKCS1-v1_5")), ("hash", s(hash_name(alg)))])?,
            object(&[("name", s("RSASSA-PKCS1-v1_5"))])?,
        ),
        Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
            let salt = match alg {
                Alg::Ps256 => 32,
                Alg::Ps384 => 48,
                _ => 64,
            };
            (
                object(&[("name", s("RSA-PSS")), ("hash", s(hash_name(alg)))])?,
                object(&[("name", s("RSA-PSS")), ("saltLength", JsValue::from(salt))])?,
            )
        }
        Alg::Es256 | Alg::Es384 => {
            let curve = if alg == Alg::Es256 { "P-256" } else { "P-384" };
            (
                object(&[("name", s("ECDSA")), ("namedCurve", s(curve))])?,
                object(&[("name", s("ECDSA")), ("hash", s(hash_name(alg)))])?,
            )
        }
        Alg::EdDsa => (object(&[("name", s("Ed25519"))])?, object(&[("name", s("Ed25519"))])?),
        Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => return Err(JsValue::from_str("HMAC is verified in Rust")),
    })
}

fn json_to_js(value: &Value) -> Result<Object, JsValue> {
    Ok(js_sys::JSON::parse(&value.to_string())?.unchecked_into())
}

async fn import(format: &str, key_data: &Object, algorithm: &Object, usage: &str) -> Result<CryptoKey, JsValue> {
    let usages = Array::of1(&JsValue::from_str(usage));
    let promise = subtle()?.import_key_with_object(format, key_data, algorithm, false, &usages)?;
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

async fn verification_key(alg: Alg, key: &VerificationKey) -> Result<CryptoKey, JsValue> {
    let cache_key = format!("{}|{}", alg.name(), key.public_jwk);
    if let Some(found) = IMPORTED.with(|cache| cache.borrow_mut().get(&cache_key, 0).cloned()) {
        return Ok(found);
    }
    let (import_params, _) = parameters(alg)?;
    let imported = import("jwk", &json_to_js(&key.public_jwk)?, &import_params, "verify").await?;
    IMPORTED.with(|cache| cache.borrow_mut().insert(cache_key, imported.clone(), NEVER_EXPIRES, 0));
    Ok(imported)
}

/// Verifies an asymmetric signature with WebCrypto. `Err` means WebCrypto itself failed (a key
/// it would not import, for instance), which callers treat as a refusal.
pub async fn verify(alg: Alg, key: &VerificationKey, signing_input: &[u8], signature: &[u8]) -> Result<bool, JsValue> {
    let crypto_key = verification_key(alg, key).await?;
    let (_, verify_params) = parameters(alg)?;
    let promise = subtle()?.verify_with_object_and_u8_array_and_u8_array(
        &verify_params,
        &crypto_key,
        signature,
        signing_input,
    )?;
    Ok(JsFuture::from(promise).await?.as_bool().unwrap_or(false))
}

/// Imports a private JWK (ES256 or EdDSA) for signing.
pub async fn import_signing_key(alg_name: &str, private_jwk: &Value) -> Result<CryptoKey, JsValue> {
    let algorithm = match alg_name {
        "ES256" => object(&[("name", JsValue::from_str("ECDSA")), ("namedCurve", JsValue::from_str("P-256"))])?,
        _ => object(&[("name", JsValue::from_str("Ed25519"))])?,
    };
    import("jwk", &json_to_js(private_jwk)?, &algorithm, "sign").await
}

/// Signs with a key from [`import_signing_key`] (or [`generate_es256`]).
pub async fn sign(alg_name: &str, key: &CryptoKey, data: &[u8]) -> Result<Vec<u8>, JsValue> {
    let params = match alg_name {
        "ES256" => object(&[("name", JsValue::from_str("ECDSA")), ("hash", JsValue::from_str("SHA-256"))])?,
        _ => object(&[("name", JsValue::from_str("Ed25519"))])?,
    };
    let promise = subtle()?.sign_with_object_and_u8_array(&params, key, data)?;
    let buffer = JsFuture::from(promise).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Imports a PKCS #8 private key (DER) for signing with `alg` (RS256 or ES256).
pub async fn import_pkcs8_signing_key(alg: Alg, der: &[u8]) -> Result<CryptoKey, JsValue> {
    let (import_params, _) = parameters(alg)?;
    let usages = Array::of1(&JsValue::from_str("sign"));
    let data = Uint8Array::from(der);
    let promise = subtle()?.import_key_with_object("pkcs8", &data, &import_params, false, &usages)?;
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

/// Signs `data` with a key from [`import_pkcs8_signing_key`] (raw `r || s` for ECDSA).
pub async fn sign_as(alg: Alg, key: &CryptoKey, data: &[u8]) -> Result<Vec<u8>, JsValue> {
    let (_, params) = parameters(alg)?;
    let promise = subtle()?.sign_with_object_and_u8_array(&params, key, data)?;
    let buffer = JsFuture::from(promise).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Imports a PKCS #8 RSA private key (DER) for RSA-OAEP decryption with `hash` (`SHA-1` or
/// `SHA-256`).
pub async fn import_pkcs8_oaep_key(hash: &str, der: &[u8]) -> Result<CryptoKey, JsValue> {
    let algorithm = object(&[("name", JsValue::from_str("RSA-OAEP")), ("hash", JsValue::from_str(hash))])?;
    let usages = Array::of1(&JsValue::from_str("decrypt"));
    let data = Uint8Array::from(der);
    let promise = subtle()?.import_key_with_object("pkcs8", &data, &algorithm, false, &usages)?;
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

/// RSA-OAEP (SHA-1) encryption to a public JWK (`{ kty, n, e }`), to probe that a private key is
/// the certificate's.
pub async fn rsa_oaep_encrypt_to(public_jwk: &Value, data: &[u8]) -> Result<Vec<u8>, JsValue> {
    let algorithm = object(&[("name", JsValue::from_str("RSA-OAEP")), ("hash", JsValue::from_str("SHA-1"))])?;
    let key: CryptoKey = import("jwk", &json_to_js(public_jwk)?, &algorithm, "encrypt").await?;
    let params = object(&[("name", JsValue::from_str("RSA-OAEP"))])?;
    let promise = subtle()?.encrypt_with_object_and_u8_array(&params, &key, data)?;
    let buffer = JsFuture::from(promise).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// RSA-OAEP decryption with a key from [`import_pkcs8_oaep_key`]; `Err` when it does not decrypt.
pub async fn rsa_oaep_decrypt(key: &CryptoKey, data: &[u8]) -> Result<Vec<u8>, JsValue> {
    let params = object(&[("name", JsValue::from_str("RSA-OAEP"))])?;
    let promise = subtle()?.decrypt_with_object_and_u8_array(&params, key, data)?;
    let buffer = JsFuture::from(promise).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Generates an ES256 key pair: (private key for signing, public JWK).
pub async fn generate_es256() -> Result<(CryptoKey, Value), JsValue> {
    let algorithm = object(&[("name", JsValue::from_str("ECDSA")), ("namedCurve", JsValue::from_str("P-256"))])?;
    let usages = Array::of2(&JsValue::from_str("sign"), &JsValue::from_str("verify"));
    let pair = JsFuture::from(subtle()?.generate_key_with_object(&algorithm, true, &usages)?).await?;
    let private: CryptoKey = Reflect::get(&pair, &JsValue::from_str("privateKey"))?.unchecked_into();
    let public: CryptoKey = Reflect::get(&pair, &JsValue::from_str("publicKey"))?.unchecked_into();
    let jwk = JsFuture::from(subtle()?.export_key("jwk", &public)?).await?;
    let text = js_sys::JSON::stringify(&jwk)?.as_string().unwrap_or_default();
    let jwk: Value = serde_json::from_str(&text).map_err(|_| JsValue::from_str("bad exported JWK"))?;
    Ok((private, serde_json::json!({ "kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"] })))
}

/// Passkey signatures through WebCrypto. A key WebCrypto will not import, or a verification it
/// throws on, is a signature that did not verify.
pub struct WebCryptoSignatures;

impl crate::mfa::webauthn::signature::SignatureVerifier for WebCryptoSignatures {
    async fn verify(
        &self,
        alg: Alg,
        key: &VerificationKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, crate::ports::Unavailable> {
        Ok(verify(alg, key, message, signature).await.unwrap_or(false))
    }
}

/// Whether WebCrypto imports a public key (a new passkey's, before it is stored).
pub async fn importable(alg: Alg, key: &VerificationKey) -> bool {
    verification_key(alg, key).await.is_ok()
}
