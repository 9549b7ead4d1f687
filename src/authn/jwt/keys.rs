//! Verification keys: JWKS parsing (RFC 7517), filtering of keys unusable for signature
//! verification, and the choice of the key for a token.
//!
//! Keys are parsed into real key material as the set is loaded, so a malformed key (a point off
//! the curve, a short RSA modulus) is dropped there, with its reason, and never reaches a request.

use super::alg::{Alg, KeyFamily};
use crate::secret::SecretBytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

/// The smallest RSA modulus accepted (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// The smallest HMAC secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_HMAC_BYTES: usize = 32;
/// The largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Parsed public keys. On the host they are the pure-Rust key types that verify signatures (the
/// test suites and host tools use them); in the worker WebCrypto verifies, so a parsed key is only
/// the proof that its encoding passed the structural checks.
#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    /// An RSA public key.
    pub type Rsa = rsa::RsaPublicKey;
    /// A P-256 public key.
    pub type P256 = p256::ecdsa::VerifyingKey;
    /// A P-384 public key.
    pub type P384 = p384::ecdsa::VerifyingKey;
    /// An Ed25519 public key.
    pub type Ed25519 = ed25519_compact::PublicKey;

    pub(super) fn rsa(n: &[u8], e: &[u8]) -> Result<Rsa, String> {
        rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from_bytes_be(e))
            .map_err(|e| format!("invalid RSA key: {e}"))
    }

    pub(super) fn p256(point: &[u8]) -> Result<P256, String> {
        P256::from_sec1_bytes(point).map_err(|_| "EC point not on P-256".into())
    }

    pub(super) fn p384(point: &[u8]) -> Result<P384, String> {
        P384::from_sec1_bytes(point).map_err(|_| "EC point not on P-384".into())
    }

    pub(super) fn ed25519(x: &[u8]) -> Result<Ed25519, String> {
        Ed25519::from_slice(x).map_err(|_| "invalid Ed25519 key".into())
    }
}

/// Parsed public keys in the worker: WebCrypto verifies (and rejects a point off its curve when it
/// imports the key), so only the structural checks done here stand behind these.
#[cfg(target_arch = "wasm32")]
pub mod native {
    /// A key whose encoding passed the structural checks.
    #[derive(Debug, Clone, Copy)]
    pub struct Checked;
    /// An RSA public key.
    pub type Rsa = Checked;
    /// A P-256 public key.
    pub type P256 = Checked;
    /// A P-384 public key.
    pub type P384 = Checked;
    /// An Ed25519 public key.
    pub type Ed25519 = Checked;

    pub(super) fn rsa(_n: &[u8], e: &[u8]) -> Result<Rsa, String> {
        // The exponent must be odd and at least 3 (RFC 8017 §3.1).
        let odd = e.last().is_some_and(|b| b % 2 == 1);
        let big_enough = e.iter().rev().skip(1).any(|b| *b != 0) || e.last().is_some_and(|b| *b >= 3);
        if odd && big_enough {
            Ok(Checked)
        } else {
            Err("invalid RSA exponent".into())
        }
    }

    pub(super) fn p256(_point: &[u8]) -> Result<P256, String> {
        Ok(Checked)
    }

    pub(super) fn p384(_point: &[u8]) -> Result<P384, String> {
        Ok(Checked)
    }

    pub(super) fn ed25519(x: &[u8]) -> Result<Ed25519, String> {
        if x.len() == 32 {
            Ok(Checked)
        } else {
            Err("invalid Ed25519 key".into())
        }
    }
}

/// The public (or shared) key material.
#[derive(Clone)]
pub enum KeyMaterial {
    /// RSA public key, and its modulus length in bytes (the length of its signatures).
    Rsa(native::Rsa, usize),
    /// P-256 public key.
    P256(native::P256),
    /// P-384 public key.
    P384(native::P384),
    /// Ed25519 public key.
    Ed25519(native::Ed25519),
    /// HMAC shared secret.
    Hmac(SecretBytes),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyMaterial::Rsa(..) => "Rsa",
            KeyMaterial::P256(_) => "P256",
            KeyMaterial::P384(_) => "P384",
            KeyMaterial::Ed25519(_) => "Ed25519",
            KeyMaterial::Hmac(_) => "Hmac([redacted])",
        })
    }
}

/// The length in bits of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first - 1) * 8 + (8 - bytes[first].leading_zeros() as usize),
        None => 0,
    }
}

/// A key that can verify signatures.
#[derive(Debug, Clone)]
pub struct VerificationKey {
    /// The key id, if the key set gave one.
    pub kid: Option<String>,
    /// The one algorithm the key is for, if the key set said so.
    pub alg: Option<Alg>,
    /// The key material.
    pub material: KeyMaterial,
    /// The public JWK (no private members), for importing into WebCrypto. `Null` for HMAC keys.
    pub public_jwk: Value,
}

impl VerificationKey {
    /// A key from one public JWK (a passkey's, say), checked as a key set's keys are.
    pub fn from_jwk(jwk: &Value) -> Result<Self, String> {
        let raw: RawJwk = serde_json::from_value(jwk.clone()).map_err(|error| error.to_string())?;
        parse_key(raw)
    }

    /// The key's family.
    pub fn family(&self) -> KeyFamily {
        match self.material {
            KeyMaterial::Rsa(..) => KeyFamily::Rsa,
            KeyMaterial::P256(_) => KeyFamily::P256,
            KeyMaterial::P384(_) => KeyFamily::P384,
            KeyMaterial::Ed25519(_) => KeyFamily::Ed25519,
            KeyMaterial::Hmac(_) => KeyFamily::Hmac,
        }
    }

    /// An HMAC key from a shared secret.
    pub fn hmac(secret: SecretBytes) -> Result<Self, String> {
        if secret.len() < MIN_HMAC_BYTES {
            return Err(format!("an HMAC secret needs at least {MIN_HMAC_BYTES} bytes"));
        }
        Ok(Self { kid: None, alg: None, material: KeyMaterial::Hmac(secret), public_jwk: Value::Null })
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn decode(field: &str, value: &Option<String>) -> Result<Vec<u8>, String> {
    let value = value.as_deref().ok_or_else(|| format!("missing {field}"))?;
    URL_SAFE_NO_PAD.decode(value).map_err(|_| format!("{field} is not base64url"))
}

fn parse_key(raw: RawJwk) -> Result<VerificationKey, String> {
    if raw.public_key_use.as_deref().is_some_and(|u| u != "sig") {
        return Err("use is not sig".into());
    }
    if raw.key_ops.as_ref().is_some_and(|ops| !ops.iter().any(|op| op == "verify")) {
        return Err("key_ops lacks verify".into());
    }
    let alg = match raw.alg.as_deref() {
        None => None,
        Some(name) => Some(Alg::parse(name).ok_or_else(|| format!("unsupported alg {name:?}"))?),
    };
    let (material, public_jwk) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => {
            let n = decode("n", &raw.n)?;
            let e = decode("e", &raw.e)?;
            let bits = bit_length(&n);
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA modulus under {MIN_RSA_BITS} bits"));
            }
            if is_roca_fingerprint(&n) {
                return Err("RSA modulus has the ROCA fingerprint (CVE-2017-15361)".into());
            }
            let public = native::rsa(&n, &e)?;
            (KeyMaterial::Rsa(public, bits.div_ceil(8)), json!({ "kty": "RSA", "n": raw.n, "e": raw.e }))
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let x = decode("x", &raw.x)?;
            let y = decode("y", &raw.y)?;
            let size = if curve == "P-256" { 32 } else { 48 };
            if x.len() != size || y.len() != size {
                return Err("EC coordinates have the wrong length".into());
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let material = if curve == "P-256" {
                KeyMaterial::P256(native::p256(&point)?)
            } else {
                KeyMaterial::P384(native::p384(&point)?)
            };
            (material, json!({ "kty": "EC", "crv": curve, "x": raw.x, "y": raw.y }))
        }
        ("OKP", Some("Ed25519")) => {
            let x = decode("x", &raw.x)?;
            let public = native::ed25519(&x)?;
            (KeyMaterial::Ed25519(public), json!({ "kty": "OKP", "crv": "Ed25519", "x": raw.x }))
        }
        ("oct", _) => return Err("symmetric keys are never taken from a key set".into()),
        (kty, crv) => return Err(format!("unsupported key type {kty:?} {crv:?}")),
    };
    let key = VerificationKey { kid: raw.kid, alg, material, public_jwk };
    if let Some(alg) = alg {
        if alg.key_family() != key.family() {
            return Err(format!("alg {alg} does not fit the key type"));
        }
    }
    Ok(key)
}

/// Whether an RSA modulus has the ROCA fingerprint (CVE-2017-15361, Nemec et al. 2017): keys
/// from the affected Infineon library have `n mod p` in the subgroup generated by 65537 for every
/// small prime `p`. A random modulus fails that for about ten of the primes below 168.
fn is_roca_fingerprint(modulus: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107,
        109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = modulus.iter().fold(0u32, |r, &b| (r * 256 + u32::from(b)) % p);
        let generator = 65_537 % p;
        let mut element = 1;
        loop {
            if element == residue {
                return true;
            }
            element = element * generator % p;
            if element == 1 {
                return false;
            }
        }
    })
}

/// The result of choosing a key for a token.
#[derive(Debug)]
pub enum Selection<'k> {
    /// The key to verify with.
    Key(&'k VerificationKey),
    /// The token names a `kid` that the set does not have: the set may be stale.
    UnknownKid,
    /// The token names a `kid` whose key cannot verify the token's algorithm.
    KeyTypeMismatch,
    /// Several keys could verify the token: it has no `kid`, or the set repeats its `kid`.
    AmbiguousWithoutKid,
    /// No key in the set can verify the token's algorithm.
    NoKey,
}

/// A set of verification keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
    /// Kids listed more than once in the source document (usable or not): never chosen.
    repeated_kids: Vec<String>,
}

/// A key that was dropped from a set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    /// Its `kid`, if any.
    pub kid: Option<String>,
    /// Why it cannot be used.
    pub reason: String,
}

impl KeySet {
    /// A set of the given keys.
    pub fn new(keys: Vec<VerificationKey>) -> Self {
        Self::with_listed_kids(keys, &[])
    }

    /// A set of the given keys, where `listed_kids` are the kids of every entry of the source
    /// document, including entries dropped as unusable: a kid listed twice is ambiguous.
    pub fn with_listed_kids(keys: Vec<VerificationKey>, listed_kids: &[Option<String>]) -> Self {
        let mut repeated_kids: Vec<String> = Vec::new();
        for (index, kid) in listed_kids.iter().enumerate() {
            if let Some(kid) = kid {
                if listed_kids[..index].contains(&Some(kid.clone())) && !repeated_kids.contains(kid) {
                    repeated_kids.push(kid.clone());
                }
            }
        }
        Self { keys, repeated_kids }
    }

    /// Parses a JWKS document, keeping the keys usable for signature verification.
    pub fn from_jwks(document: &[u8]) -> Result<(Self, Vec<IgnoredKey>), String> {
        if document.len() > MAX_JWKS_BYTES {
            return Err(format!("the key set is over {MAX_JWKS_BYTES} bytes"));
        }
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<Value>,
        }
        let raw: RawSet = serde_json::from_slice(document).map_err(|e| format!("not a JWK set: {e}"))?;
        let mut keys = Vec::new();
        let mut ignored = Vec::new();
        let mut listed_kids = Vec::new();
        for value in raw.keys {
            let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
            listed_kids.push(kid.clone());
            match serde_json::from_value::<RawJwk>(value).map_err(|e| e.to_string()).and_then(parse_key) {
                Ok(key) => keys.push(key),
                Err(reason) => ignored.push(IgnoredKey { kid, reason }),
            }
        }
        Ok((Self::with_listed_kids(keys, &listed_kids), ignored))
    }

    /// The keys.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// Chooses the key for a token's `kid` and `alg`. The `alg` comes from the token but has
    /// already been checked against the issuer's allowed list; the key must fit it.
    pub fn select(&self, kid: Option<&str>, alg: Alg) -> Selection<'_> {
        let fits = |key: &&VerificationKey| key.family() == alg.key_family() && key.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) if self.repeated_kids.iter().any(|k| k == kid) => Selection::AmbiguousWithoutKid,
            Some(kid) => {
                let mut named = self.keys.iter().filter(|key| key.kid.as_deref() == Some(kid)).peekable();
                if named.peek().is_none() {
                    return Selection::UnknownKid;
                }
                let mut fitting = named.filter(fits);
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Selection::Key(key),
                    // Two usable keys under one kid: which one the IdP meant is a guess.
                    (Some(_), Some(_)) => Selection::AmbiguousWithoutKid,
                    (None, _) => Selection::KeyTypeMismatch,
                }
            }
            None => {
                let mut candidates = self.keys.iter().filter(fits);
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => Selection::Key(key),
                    (Some(_), Some(_)) => Selection::AmbiguousWithoutKid,
                    (None, _) => Selection::NoKey,
                }
            }
        }
    }
}

/// How long a fetched key set may be used, from its `Cache-Control` header: `max-age` (or
/// `s-maxage`) seconds, zero for `no-store`/`no-cache`, `None` when the header says nothing.
pub fn cache_lifetime_s(cache_control: Option<&str>) -> Option<u64> {
    let header = cache_control?;
    let mut max_age = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Some(0);
        }
        if let Some(value) = directive.strip_prefix("s-maxage=").or_else(|| directive.strip_prefix("max-age=")) {
            if let Ok(seconds) = value.trim_matches('"').parse::<u64>() {
                max_age = Some(max_age.map_or(seconds, |m: u64| m.min(seconds)));
            }
        }
    }
    max_age
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 7515 Appendix A.3's P-256 key (public part).
    pub const RFC7515_EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn set(keys: &[&str]) -> (KeySet, Vec<IgnoredKey>) {
        KeySet::from_jwks(format!("{{\"keys\":[{}]}}", keys.join(",")).as_bytes()).unwrap()
    }

    fn ec(kid: &str, extra: &str) -> String {
        let base = RFC7515_EC_JWK.trim_end_matches('}');
        format!("{base},\"kid\":\"{kid}\"{extra}}}")
    }

    #[test]
    fn unusable_keys_are_ignored_with_a_reason() {
        let (keys, ignored) = set(&[
            &ec("good", ""),
            &ec("enc", ",\"use\":\"enc\""),
            &ec("ops", ",\"key_ops\":[\"encrypt\"]"),
            &ec("alg", ",\"alg\":\"RS256\""),
            &ec("none", ",\"alg\":\"none\""),
            r#"{"kty":"oct","kid":"sym","k":"c2VjcmV0"}"#,
            r#"{"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"}"#,
            r#"{"kty":"EC","kid":"off-curve","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"AAAAzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
            r#"{"kty":"EC","kid":"curve","crv":"secp256k1","x":"AA","y":"AA"}"#,
            r#"{"kty":"OKP","kid":"x448","crv":"X25519","x":"AA"}"#,
            r#"{"kid":"no-kty"}"#,
        ]);
        assert_eq!(keys.keys().len(), 1);
        let ignored: Vec<&str> = ignored.iter().filter_map(|k| k.kid.as_deref()).collect();
        assert_eq!(ignored, ["enc", "ops", "alg", "none", "sym", "short", "off-curve", "curve", "x448", "no-kty"]);
    }

    #[test]
    fn key_selection_table() {
        let (keys, _) = set(&[&ec("a", ""), &ec("b", ",\"alg\":\"ES256\"")]);
        let (single, _) = set(&[&ec("only", "")]);
        let chosen = |selection: Selection<'_>| match selection {
            Selection::Key(key) => format!("key:{}", key.kid.as_deref().unwrap_or("-")),
            other => format!("{other:?}"),
        };
        let cases: &[(&KeySet, Option<&str>, Alg, &str)] = &[
            (&keys, Some("a"), Alg::Es256, "key:a"),
            (&keys, Some("b"), Alg::Es256, "key:b"),
            (&keys, Some("zzz"), Alg::Es256, "UnknownKid"),
            (&keys, Some("a"), Alg::Rs256, "KeyTypeMismatch"),
            (&keys, Some("a"), Alg::Es384, "KeyTypeMismatch"),
            (&keys, None, Alg::Es256, "AmbiguousWithoutKid"),
            (&keys, None, Alg::EdDsa, "NoKey"),
            (&single, None, Alg::Es256, "key:only"),
            (&single, None, Alg::Hs256, "NoKey"),
        ];
        for (set, kid, alg, expected) in cases {
            assert_eq!(chosen(set.select(*kid, *alg)), *expected, "{kid:?} {alg}");
        }
    }

    #[test]
    fn malformed_key_sets_are_refused() {
        for document in ["", "{}", "[]", "{\"keys\":{}}", "{\"keys\":[1]}x"] {
            assert!(KeySet::from_jwks(document.as_bytes()).is_err(), "{document:?}");
        }
        let huge = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "a".repeat(MAX_JWKS_BYTES));
        assert!(KeySet::from_jwks(huge.as_bytes()).is_err());
    }

    #[test]
    fn hmac_secrets_must_be_long_enough() {
        assert!(VerificationKey::hmac(SecretBytes::new(vec![1; 31])).is_err());
        assert!(VerificationKey::hmac(SecretBytes::new(vec![1; 32])).is_ok());
    }

    #[test]
    fn cache_control_lifetimes() {
        let cases: &[(Option<&str>, Option<u64>)] = &[
            (None, None),
            (Some("public, max-age=300"), Some(300)),
            (Some("max-age=300, s-maxage=60"), Some(60)),
            (Some("no-store"), Some(0)),
            (Some("max-age=600, no-cache"), Some(0)),
            (Some("public"), None),
            (Some("max-age=abc"), None),
        ];
        for (header, expected) in cases {
            assert_eq!(cache_lifetime_s(*header), *expected, "{header:?}");
        }
    }
}

#[cfg(test)]
mod generative {
    use super::*;
    use crate::testing::any_json;
    use proptest::prelude::*;

    const FIELDS: &[&str] =
        &["keys", "kty", "crv", "x", "y", "n", "e", "d", "k", "kid", "alg", "use", "key_ops", "x5c"];

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn arbitrary_bytes_are_no_key_set(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let _ = KeySet::from_jwks(&bytes);
            }

            #[test]
            fn arbitrary_key_documents_never_panic(keys in proptest::collection::vec(any_json(FIELDS), 0..4)) {
                let document = serde_json::json!({ "keys": keys }).to_string();
                let _ = KeySet::from_jwks(document.as_bytes());
            }
        }
}
