//! The signed identity assertion: a short-lived JWT that Portcullis adds to every authenticated
//! request, so the origin can verify who is calling without trusting plain headers.
//!
//! It is signed with an ES256 or EdDSA key from the `PORTCULLIS_ASSERTION_KEYS` secret (a JWKS
//! with private keys; the first key signs, the others stay published for rotation). Its public
//! keys are served at `/.well-known/jwks.json`. Claims:
//!
//! | claim | value |
//! | --- | --- |
//! | `iss` | `assertion.issuer` (default `portcullis`) |
//! | `aud` | `assertion.audience`, or the route's origin (`scheme://host[:port]`) |
//! | `sub`, `auth_method`, `idp`, `email`, `groups`, `scope`, `tenant` | the principal |
//! | `iat`, `exp` | issue time, and at most 60 s later (`assertion.ttl_s`, default 30) |
//! | `jti` | 128 random bits: an origin that records them rejects replays |
//! | `htm`, `htu` | the request method and URL without query (as in DPoP, RFC 9449 §4.2) |
//! | `rid`, `route` | the request id and the route id |
//!
//! The header is `{"alg": "ES256" | "EdDSA", "typ": "portcullis+jwt", "kid": ...}`; origins
//! must check `typ` so no other JWT can pass as an assertion (RFC 8725 §3.11).

use crate::authn::principal::Principal;
use crate::ports::Unavailable;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// The request header that carries the assertion.
pub const ASSERTION_HEADER: &str = "x-portcullis-assertion";
/// The `typ` of every assertion.
pub const ASSERTION_TYP: &str = "portcullis+jwt";
/// The longest assertion lifetime.
pub const MAX_TTL_S: u64 = 60;

/// The `assertion` section of the configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionConfig {
    /// The `iss` of assertions; default `portcullis`, non-empty.
    pub issuer: String,
    /// The `aud` of assertions; by default the route's origin.
    pub audience: Option<String>,
    /// Lifetime in seconds, 1 to 60; default 30.
    pub ttl_s: u64,
}

impl Default for AssertionConfig {
    fn default() -> Self {
        Self { issuer: "portcullis".into(), audience: None, ttl_s: 30 }
    }
}

impl AssertionConfig {
    /// Every problem, as (field, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.ttl_s == 0 || self.ttl_s > MAX_TTL_S {
            problems.push(("ttl_s".into(), format!("must be between 1 and {MAX_TTL_S}")));
        }
        if self.issuer.is_empty() {
            problems.push(("issuer".into(), "must not be empty".into()));
        }
        if self.audience.as_deref().is_some_and(str::is_empty) {
            problems.push(("audience".into(), "must not be empty".into()));
        }
        problems
    }
}

/// An assertion signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlg {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }
}

/// A private signing key and its public half.
#[derive(Clone)]
pub struct SigningKey {
    /// The key id, published in the JWKS and set in every assertion header.
    pub kid: String,
    /// The algorithm.
    pub alg: SigningAlg,
    /// The private JWK (`kty`, `crv`, `x`, `y`, `d`), for importing into WebCrypto.
    pub private_jwk: Value,
    /// The public JWK, as published.
    pub public_jwk: Value,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_jwk", &"[redacted]")
            .finish()
    }
}

fn b64(field: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = field.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing {name}"))?;
    URL_SAFE_NO_PAD.decode(text).map_err(|_| format!("{name} is not base64url"))
}

fn parse_signing_key(jwk: &Map<String, Value>) -> Result<SigningKey, String> {
    let kid = jwk.get("kid").and_then(Value::as_str).filter(|k| !k.is_empty()).ok_or("a signing key needs a kid")?;
    let d = b64(jwk, "d")?;
    let text = |name: &str| jwk.get(name).cloned().unwrap_or(Value::Null);
    let (alg, public) = match (jwk.get("kty").and_then(Value::as_str), jwk.get("crv").and_then(Value::as_str)) {
        (Some("EC"), Some("P-256")) => {
            if d.len() != 32 || b64(jwk, "x")?.len() != 32 || b64(jwk, "y")?.len() != 32 {
                return Err("a P-256 key has 32-byte d, x and y".into());
            }
            check_key_pair::p256(&d, &b64(jwk, "x")?, &b64(jwk, "y")?)?;
            (SigningAlg::Es256, json!({ "kty": "EC", "crv": "P-256", "x": text("x"), "y": text("y") }))
        }
        (Some("OKP"), Some("Ed25519")) => {
            if d.len() != 32 || b64(jwk, "x")?.len() != 32 {
                return Err("an Ed25519 key has 32-byte d and x".into());
            }
            check_key_pair::ed25519(&d, &b64(jwk, "x")?)?;
            (SigningAlg::EdDsa, json!({ "kty": "OKP", "crv": "Ed25519", "x": text("x") }))
        }
        _ => return Err("signing keys are EC P-256 (ES256) or OKP Ed25519 (EdDSA)".into()),
    };
    let mut private_jwk = public.clone();
    private_jwk["d"] = text("d");
    Ok(SigningKey { kid: kid.to_owned(), alg, private_jwk, public_jwk: public })
}

/// That a private key's public half is the one written beside it. On the host, computed; in the
/// worker, WebCrypto's import of the private JWK refuses a mismatched pair.
#[cfg(not(target_arch = "wasm32"))]
mod check_key_pair {
    pub(super) fn p256(d: &[u8], x: &[u8], y: &[u8]) -> Result<(), String> {
        let secret = p256::SecretKey::from_slice(d).map_err(|_| "d is not a P-256 private key")?;
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
        match (point.x(), point.y()) {
            (Some(px), Some(py)) if px[..] == *x && py[..] == *y => Ok(()),
            _ => Err("x and y do not belong to d".into()),
        }
    }

    pub(super) fn ed25519(d: &[u8], x: &[u8]) -> Result<(), String> {
        let seed = ed25519_compact::Seed::from_slice(d).map_err(|_| "d is not an Ed25519 seed")?;
        if ed25519_compact::KeyPair::from_seed(seed).pk.as_slice() == x {
            Ok(())
        } else {
            Err("x does not belong to d".into())
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod check_key_pair {
    pub(super) fn p256(_d: &[u8], _x: &[u8], _y: &[u8]) -> Result<(), String> {
        Ok(())
    }

    pub(super) fn ed25519(_d: &[u8], _x: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Parses the `PORTCULLIS_ASSERTION_KEYS` secret: a JWKS of private keys, the first signing.
pub fn parse_signing_keys(jwks: &str) -> Result<Vec<SigningKey>, String> {
    let document: Value = serde_json::from_str(jwks).map_err(|_| "not JSON".to_owned())?;
    let keys = document.get("keys").and_then(Value::as_array).ok_or("expected {\"keys\": [...]}")?;
    if keys.is_empty() {
        return Err("no keys".into());
    }
    let mut parsed: Vec<SigningKey> = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let object = key.as_object().ok_or_else(|| format!("keys[{index}]: not an object"))?;
        let key = parse_signing_key(object).map_err(|e| format!("keys[{index}]: {e}"))?;
        if parsed.iter().any(|other| other.kid == key.kid) {
            return Err(format!("keys[{index}]: duplicate kid {:?}", key.kid));
        }
        parsed.push(key);
    }
    Ok(parsed)
}

/// The public JWKS served at `/.well-known/jwks.json`.
pub fn public_jwks(keys: &[SigningKey]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|key| {
            let mut jwk = key.public_jwk.clone();
            jwk["kid"] = json!(key.kid);
            jwk["alg"] = json!(key.alg.name());
            jwk["use"] = json!("sig");
            jwk
        })
        .collect();
    json!({ "keys": keys })
}

/// What one assertion says.
#[derive(Debug)]
pub struct AssertionInput<'a> {
    /// Who.
    pub principal: &'a Principal,
    /// The request method.
    pub method: &'a str,
    /// The request URL as the client used it, without query.
    pub url: &'a str,
    /// The audience.
    pub audience: &'a str,
    /// The route id.
    pub route_id: &'a str,
    /// The request id.
    pub request_id: &'a str,
    /// Seconds since the epoch.
    pub now_s: i64,
    /// A fresh random id.
    pub jti: &'a str,
}

/// The assertion's claims.
pub fn claims(config: &AssertionConfig, input: &AssertionInput<'_>) -> Value {
    let principal = input.principal;
    let identity = principal.identity();
    let mut claims = json!({
        "iss": config.issuer,
        "aud": input.audience,
        "sub": principal.subject(),
        "iat": input.now_s,
        "exp": input.now_s + config.ttl_s as i64,
        "jti": input.jti,
        "htm": input.method,
        "htu": input.url,
        "auth_method": principal.method().name(),
        "groups": identity.groups,
        "roles": principal.roles(),
        "scope": identity.scopes.join(" "),
        "rid": input.request_id,
        "route": input.route_id,
    });
    let optional = [
        ("idp", principal.issuer()),
        ("email", identity.email.as_deref()),
        ("tenant", identity.tenant.as_deref()),
        ("key_id", principal.key_id()),
        ("uid", principal.user_id()),
        ("tier", principal.tier()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            claims[name] = json!(value);
        }
    }
    // How the user authenticated (RFC 8176) and when: a session's own record, or a verified
    // token's claims.
    let seen = principal.claims();
    if let Some(amr) = seen.get("amr").filter(|amr| amr.as_array().is_some_and(|a| a.iter().all(Value::is_string))) {
        claims["amr"] = amr.clone();
    }
    if let Some(acr) = seen.get("acr").filter(|acr| acr.is_string()) {
        claims["acr"] = acr.clone();
    }
    if let Some(auth_time) = seen.get("auth_time").filter(|t| t.is_i64()) {
        claims["auth_time"] = auth_time.clone();
    }
    if !principal.attributes().is_empty() {
        claims["attributes"] = json!(principal.attributes());
    }
    claims
}

/// `base64url(header).base64url(claims)` for a signing key.
pub fn signing_input(key: &SigningKey, claims: &Value) -> String {
    signing_input_for(key.alg.name(), &key.kid, claims)
}

/// `base64url(header).base64url(claims)` for an algorithm name and key id.
pub fn signing_input_for(alg: &str, kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": alg, "typ": ASSERTION_TYP, "kid": kid });
    format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// A signed identity assertion, as a compact JWS: made only by [`sign`], from a signer's
/// signature. `Debug` never prints it: it is a live credential for the origin until it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedAssertion(String);

impl fmt::Debug for SignedAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedAssertion([redacted])")
    }
}

impl SignedAssertion {
    /// The compact JWS, for the assertion header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SignedAssertion {
    /// Any text, for tests of what carries an assertion.
    #[cfg(test)]
    pub(crate) fn for_tests(text: &str) -> Self {
        Self(text.to_owned())
    }
}

/// The assertion signer port: the active signing key (Web Crypto in the worker, [`RustSigner`]
/// on the host).
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait AssertionSigner {
    /// The key's JWS algorithm name.
    fn alg(&self) -> &'static str;
    /// The key's id.
    fn kid(&self) -> &str;
    /// The signature over `signing_input`.
    async fn signature(&self, signing_input: &[u8]) -> Result<Vec<u8>, Unavailable>;
}

/// Signs the assertion of `input` with `signer`: the only way to a [`SignedAssertion`].
pub async fn sign(
    signer: &impl AssertionSigner,
    config: &AssertionConfig,
    input: &AssertionInput<'_>,
) -> Result<SignedAssertion, Unavailable> {
    let signing_input = signing_input_for(signer.alg(), signer.kid(), &claims(config, input));
    let signature = signer.signature(signing_input.as_bytes()).await?;
    Ok(SignedAssertion(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))))
}

/// Signs with the pure-Rust algorithms (on the host; the worker signs with Web Crypto).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug)]
pub struct RustSigner(pub SigningKey);

#[cfg(not(target_arch = "wasm32"))]
impl AssertionSigner for RustSigner {
    fn alg(&self) -> &'static str {
        self.0.alg.name()
    }

    fn kid(&self) -> &str {
        &self.0.kid
    }

    async fn signature(&self, signing_input: &[u8]) -> Result<Vec<u8>, Unavailable> {
        let text = std::str::from_utf8(signing_input).map_err(|_| Unavailable("a signing input is ASCII".into()))?;
        sign_rust(&self.0, text).map_err(Unavailable)
    }
}

/// Signs in pure Rust (jwt-compact's ES256, ed25519-compact's Ed25519); on the host only, the
/// worker signs with WebCrypto.
#[cfg(not(target_arch = "wasm32"))]
pub fn sign_rust(key: &SigningKey, signing_input: &str) -> Result<Vec<u8>, String> {
    let d = URL_SAFE_NO_PAD
        .decode(key.private_jwk.get("d").and_then(Value::as_str).unwrap_or_default())
        .map_err(|_| "bad d")?;
    match key.alg {
        SigningAlg::Es256 => {
            use jwt_compact::{Algorithm, AlgorithmSignature};
            let secret = p256::ecdsa::SigningKey::from_slice(&d).map_err(|_| "bad P-256 key")?;
            Ok(jwt_compact::alg::Es256.sign(&secret, signing_input.as_bytes()).as_bytes().into_owned())
        }
        SigningAlg::EdDsa => {
            let seed = ed25519_compact::Seed::from_slice(&d).map_err(|_| "bad Ed25519 seed")?;
            Ok(ed25519_compact::KeyPair::from_seed(seed).sk.sign(signing_input.as_bytes(), None).to_vec())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 7515 Appendix A.3's P-256 key pair.
    pub const RFC7515_EC_PRIVATE: &str = r#"{"kty":"EC","kid":"a3","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
    /// RFC 8037 Appendix A.1's Ed25519 key pair.
    pub const RFC8037_OKP_PRIVATE: &str = r#"{"kty":"OKP","kid":"e1","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    #[cfg(not(target_arch = "wasm32"))]
    fn principal() -> Principal {
        use crate::authn::principal::AuthMethod;
        use crate::identity::MappedIdentity;
        crate::authn::principal::imagined(
            MappedIdentity {
                subject: "user-1".into(),
                email: Some("u@example.com".into()),
                groups: vec!["admins".into()],
                scopes: vec!["read".into(), "write".into()],
                tenant: Some("acme".into()),
            },
            AuthMethod::Jwt,
            Some("https://idp.example.com/".into()),
            Default::default(),
            None,
        )
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))] // signs and verifies with the host-only Rust algorithms
    fn assertions_sign_and_verify_with_both_algorithms() {
        for private in [RFC7515_EC_PRIVATE, RFC8037_OKP_PRIVATE] {
            let keys = parse_signing_keys(&format!("{{\"keys\":[{private}]}}")).unwrap();
            let key = &keys[0];
            let principal = principal();
            let input = AssertionInput {
                principal: &principal,
                method: "GET",
                url: "https://app.example.com/api/x",
                audience: "https://origin.example.com",
                route_id: "api",
                request_id: "r1",
                now_s: 1_700_000_000,
                jti: "j1",
            };
            let signer = RustSigner(key.clone());
            let signed = crate::ports::memory::block_on(sign(&signer, &AssertionConfig::default(), &input));
            let token = signed.expect("signed").as_str().to_owned();

            // Verify with the same verifier that checks inbound tokens.
            let jwks = public_jwks(&keys);
            let (set, ignored) = crate::authn::jwt::keys::KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
            assert!(ignored.is_empty());
            let config = crate::authn::jwt::issuer::JwtConfig::from_value(
                &json!({ "issuers": [{ "issuer": "https://portcullis.invalid", "audiences": ["https://origin.example.com"],
                         "jwks": jwks, "algorithms": [key.alg.name()], "typ": ASSERTION_TYP }] }),
                crate::deploy::Environment::Development,
            );
            // The assertion's iss is "portcullis", not a URL: check the pieces directly.
            assert!(config.is_ok());
            let untrusted = crate::authn::jwt::token::UntrustedJwt::parse(&token).unwrap();
            untrusted.check_header(Some(ASSERTION_TYP)).unwrap();
            let alg = crate::authn::jwt::alg::Alg::parse(key.alg.name()).unwrap();
            let crate::authn::jwt::keys::Selection::Key(verifying) = set.select(untrusted.kid(), alg) else {
                panic!("no key");
            };
            assert!(crate::authn::jwt::signature::verify_rust(
                alg,
                verifying,
                untrusted.signing_input(),
                untrusted.signature()
            ));
            let seen = untrusted.claims();
            assert_eq!(seen["sub"], "user-1");
            assert_eq!(seen["exp"], 1_700_000_030);
            assert_eq!(seen["htm"], "GET");
            assert_eq!(seen["htu"], "https://app.example.com/api/x");
            assert_eq!(seen["scope"], "read write");
            assert_eq!(seen["tenant"], "acme");
            assert_eq!(seen["idp"], "https://idp.example.com/");
        }
    }

    #[test]
    fn signing_keys_are_checked() {
        let mismatched = RFC7515_EC_PRIVATE
            .replace("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
        let cases = [
            ("{}".to_owned(), "expected"),
            ("{\"keys\":[]}".to_owned(), "no keys"),
            (format!("{{\"keys\":[{mismatched}]}}"), "do not belong"),
            (format!("{{\"keys\":[{RFC7515_EC_PRIVATE},{RFC7515_EC_PRIVATE}]}}"), "duplicate kid"),
            ("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"d\":\"AA\"}]}".to_owned(), "signing keys are"),
            ("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"AA\"}]}".to_owned(), "needs a kid"),
        ];
        for (jwks, expected) in cases {
            let error = parse_signing_keys(&jwks).unwrap_err();
            assert!(error.contains(expected), "{jwks}: {error}");
        }
        let keys = parse_signing_keys(&format!("{{\"keys\":[{RFC7515_EC_PRIVATE},{RFC8037_OKP_PRIVATE}]}}")).unwrap();
        let public = public_jwks(&keys).to_string();
        assert!(!public.contains("\"d\""), "no private member is published: {public}");
        assert!(format!("{:?}", keys[0]).contains("[redacted]"));
    }

    #[test]
    fn ttl_is_bounded() {
        assert!(AssertionConfig { ttl_s: 61, ..Default::default() }.problems().len() == 1);
        assert!(AssertionConfig { ttl_s: 0, ..Default::default() }.problems().len() == 1);
        assert!(AssertionConfig::default().problems().is_empty());
    }
}
