//! The JWT verifier's specification: RFC 7515 examples, Wycheproof JWS vectors, and a table of
//! tampered and misconfigured tokens, each with the one reason it must fail.

use super::alg::Alg;
use super::error::JwtError;
use super::error::SignatureProblem;
use super::issuer::{ClaimNames, Issuer, JwtConfig, KeySource};
use super::keys::{KeySet, Selection, VerificationKey};
use super::rfc_keys::{EC_D, EC_X, EC_Y, ED_D, ED_X};
use super::signature;
use super::token::UntrustedJws;
use super::{precheck, KeyLookup};
use crate::deploy::Environment;
use crate::secret::SecretBytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::sync::OnceLock;

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://idp.example.com/";
const AUDIENCE: &str = "api://portcullis";
const HMAC_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

struct TestKeys {
    rsa: rsa::RsaPrivateKey,
    p384: p384::ecdsa::SigningKey,
}

fn test_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestKeys {
        rsa: rsa::RsaPrivateKey::new(&mut p384::elliptic_curve::rand_core::OsRng, 2048).expect("rsa keygen"),
        p384: p384::ecdsa::SigningKey::random(&mut p384::elliptic_curve::rand_core::OsRng),
    })
}

fn rsa_public_jwk(kid: &str) -> Value {
    let public = test_keys().rsa.to_public_key();
    json!({ "kty": "RSA", "kid": kid, "n": b64(public.n().to_bytes_be()), "e": b64(public.e().to_bytes_be()) })
}

fn p384_public_jwk(kid: &str) -> Value {
    let point = test_keys().p384.verifying_key().to_encoded_point(false);
    json!({ "kty": "EC", "crv": "P-384", "kid": kid, "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()) })
}

fn jwks() -> Value {
    json!({ "keys": [
        { "kty": "EC", "crv": "P-256", "kid": "ec", "x": EC_X, "y": EC_Y },
        { "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": ED_X },
        rsa_public_jwk("rsa"),
        p384_public_jwk("p384"),
    ]})
}

/// Signs `header.claims` with the key for `alg`.
fn sign_raw(alg: &str, header: &Value, claims: &str) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims));
    let message = input.as_bytes();
    let signature: Vec<u8> = match alg {
        "ES256" => {
            let key = p256::ecdsa::SigningKey::from_slice(&URL_SAFE_NO_PAD.decode(EC_D).unwrap()).unwrap();
            Es256.sign(&key, message).as_bytes().into_owned()
        }
        "ES384" => super::signature::Es384.sign(&test_keys().p384, message).as_bytes().into_owned(),
        "EdDSA" => {
            let seed = ed25519_compact::Seed::from_slice(&URL_SAFE_NO_PAD.decode(ED_D).unwrap()).unwrap();
            Ed25519.sign(&ed25519_compact::KeyPair::from_seed(seed).sk, message).as_bytes().into_owned()
        }
        "HS256" => Hs256.sign(&Hs256Key::new(HMAC_SECRET), message).as_bytes().into_owned(),
        rsa_alg if rsa_alg.starts_with("RS") || rsa_alg.starts_with("PS") => {
            Rsa::with_name(rsa_alg).sign(&test_keys().rsa, message).as_bytes().into_owned()
        }
        "none" => Vec::new(),
        other => panic!("no test key for {other}"),
    };
    format!("{input}.{}", b64(signature))
}

fn kid_for(alg: &str) -> &'static str {
    match alg {
        "ES256" => "ec",
        "ES384" => "p384",
        "EdDSA" => "ed",
        _ => "rsa",
    }
}

fn claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": NOW + 300, "iat": NOW - 10,
            "email": "u@example.com", "groups": ["admins"], "scope": "read write", "tenant": "acme" })
}

fn token(alg: &str, claims: &Value) -> String {
    sign_raw(alg, &json!({ "alg": alg, "kid": kid_for(alg), "typ": "JWT" }), &claims.to_string())
}

fn config_with(extra: Value) -> JwtConfig {
    let mut issuer = json!({
        "issuer": ISSUER, "audiences": [AUDIENCE, "other-audience"], "jwks": jwks(),
        "algorithms": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"],
    });
    for (key, value) in extra.as_object().unwrap() {
        issuer[key] = value.clone();
    }
    JwtConfig::from_value(&json!({ "issuers": [issuer] }), Environment::Production).expect("test config")
}

/// Runs the whole pipeline with the pure-Rust backend.
fn verify(config: &JwtConfig, token: &str) -> Result<crate::authn::principal::Principal, JwtError> {
    let pending = precheck(config, token, NOW)?;
    let keys = match &pending.issuer.key_source {
        KeySource::Inline(keys) => KeySet::clone(keys),
        KeySource::HmacSecret(_) => {
            KeySet::new(vec![VerificationKey::hmac(SecretBytes::new(HMAC_SECRET.to_vec())).unwrap()])
        }
        KeySource::JwksUrl(_) => unreachable!("tests use inline keys"),
    };
    let key = match pending.find_key(&keys) {
        KeyLookup::Found(key) => key.clone(),
        KeyLookup::RefreshAndRetry => return Err(JwtError::UnknownKid),
        KeyLookup::Refused(error) => return Err(error),
    };
    let proof = pending.verify_rust(&key)?;
    pending.into_principal(proof)
}

fn tamper_segment(token: &str, index: usize, edit: impl Fn(&mut Vec<u8>)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&parts[index]).unwrap();
    edit(&mut bytes);
    parts[index] = b64(bytes);
    parts.join(".")
}

fn with_claims(edit: impl Fn(&mut Value)) -> Value {
    let mut value = claims();
    edit(&mut value);
    value
}

#[test]
fn valid_tokens_of_every_asymmetric_algorithm_verify_and_map_the_identity() {
    let config = config_with(json!({}));
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"] {
        let principal = verify(&config, &token(alg, &claims())).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(principal.subject(), "user-1", "{alg}");
        assert_eq!(principal.issuer(), Some(ISSUER));
        let identity = principal.identity();
        assert_eq!(identity.email.as_deref(), Some("u@example.com"));
        assert_eq!(identity.groups, ["admins"]);
        assert_eq!(identity.scopes, ["read", "write"]);
        assert_eq!(identity.tenant.as_deref(), Some("acme"));
    }
}

#[test]
fn hmac_issuers_verify_hs256_only() {
    let config = JwtConfig::from_value(
        &json!({ "issuers": [{ "issuer": ISSUER, "audiences": [AUDIENCE], "hmac_secret": "JWT_SECRET", "algorithms": ["HS256"] }] }),
        Environment::Production,
    )
    .unwrap();
    let hs = sign_raw("HS256", &json!({ "alg": "HS256" }), &claims().to_string());
    assert!(verify(&config, &hs).is_ok());
    assert_eq!(verify(&config, &token("ES256", &claims())).unwrap_err(), JwtError::AlgorithmNotAllowed);
    let forged = sign_raw("HS256", &json!({ "alg": "HS256" }), &with_claims(|c| c["sub"] = json!("admin")).to_string());
    let tampered = format!("{}.{}", &forged[..forged.rfind('.').unwrap()], hs.rsplit('.').next().unwrap());
    assert_eq!(verify(&config, &tampered).unwrap_err(), JwtError::BadSignature);
}

/// Signs an HS256 token with an RSA or EC public key as the HMAC secret: the classic algorithm
/// confusion attack (RFC 8725 §2.1).
fn confused_token(public_key_bytes: &[u8]) -> String {
    let input = format!("{}.{}", b64(json!({ "alg": "HS256", "kid": "rsa" }).to_string()), b64(claims().to_string()));
    let signature = Hs256.sign(&Hs256Key::new(public_key_bytes), input.as_bytes());
    format!("{input}.{}", b64(signature.as_bytes()))
}

#[test]
fn refusal_table() {
    let config = config_with(json!({}));
    let typed = config_with(json!({ "typ": "at+jwt" }));
    let rs256_only = config_with(json!({ "algorithms": ["RS256"] }));
    let needs_email_verified = config_with(json!({ "required_claims": ["sub", "email_verified"] }));
    let twin_keys = config_with(json!({ "jwks": { "keys": [
        { "kty": "EC", "crv": "P-256", "kid": "a", "x": EC_X, "y": EC_Y },
        { "kty": "EC", "crv": "P-256", "kid": "b", "x": EC_X, "y": EC_Y } ] } }));
    let valid = token("ES256", &claims());
    let header = |h: Value| sign_raw("ES256", &h, &claims().to_string());
    let es = |c: Value| token("ES256", &c);
    let rsa_public = test_keys().rsa.to_public_key();
    let ec_point =
        [&[4u8][..], &URL_SAFE_NO_PAD.decode(EC_X).unwrap(), &URL_SAFE_NO_PAD.decode(EC_Y).unwrap()].concat();
    let order_n = hex_to_bytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let sig_with = |r: &[u8], s: &[u8]| {
        let input = valid.rsplit_once('.').unwrap().0;
        format!("{input}.{}", b64([r, s].concat()))
    };
    let one = {
        let mut v = vec![0u8; 32];
        v[31] = 1;
        v
    };

    let cases: Vec<(&str, &JwtConfig, String, JwtError)> = vec![
        (
            "tampered payload",
            &config,
            tamper_segment(&valid, 1, |b| {
                let i = b.iter().position(|c| *c == b'1').unwrap();
                b[i] = b'2';
            }),
            JwtError::BadSignature,
        ),
        (
            "tampered header (kid)",
            &config,
            tamper_segment(&valid, 0, |b| {
                let s = String::from_utf8(b.clone()).unwrap().replace("\"JWT\"", "\"jwt\"");
                *b = s.into_bytes();
            }),
            JwtError::BadSignature,
        ),
        ("tampered signature", &config, tamper_segment(&valid, 2, |b| b[10] ^= 1), JwtError::BadSignature),
        (
            "signature from another key",
            &config,
            format!(
                "{}.{}",
                valid.rsplit_once('.').unwrap().0,
                token("ES256", &with_claims(|c| c["sub"] = json!("x"))).rsplit('.').next().unwrap()
            ),
            JwtError::BadSignature,
        ),
        (
            "alg none",
            &config,
            sign_raw("none", &json!({ "alg": "none" }), &claims().to_string()),
            JwtError::AlgorithmNotAllowed,
        ),
        (
            "alg None",
            &config,
            sign_raw("none", &json!({ "alg": "None" }), &claims().to_string()),
            JwtError::AlgorithmNotAllowed,
        ),
        (
            "HS256 with the RSA public key as secret",
            &config,
            confused_token(&rsa_public.n().to_bytes_be()),
            JwtError::AlgorithmNotAllowed,
        ),
        ("HS256 with the EC public key as secret", &config, confused_token(&ec_point), JwtError::AlgorithmNotAllowed),
        ("alg not on the issuer's list", &rs256_only, valid.clone(), JwtError::AlgorithmNotAllowed),
        ("unknown alg", &config, header(json!({ "alg": "ES999", "kid": "ec" })), JwtError::AlgorithmNotAllowed),
        (
            "embedded jwk",
            &config,
            header(json!({ "alg": "ES256", "kid": "ec", "jwk": { "kty": "EC" } })),
            JwtError::ForbiddenHeader("jwk"),
        ),
        (
            "jku",
            &config,
            header(json!({ "alg": "ES256", "kid": "ec", "jku": "https://evil.example/jwks" })),
            JwtError::ForbiddenHeader("jku"),
        ),
        (
            "x5u",
            &config,
            header(json!({ "alg": "ES256", "kid": "ec", "x5u": "https://evil.example/cert" })),
            JwtError::ForbiddenHeader("x5u"),
        ),
        (
            "x5c",
            &config,
            header(json!({ "alg": "ES256", "kid": "ec", "x5c": ["MII"] })),
            JwtError::ForbiddenHeader("x5c"),
        ),
        (
            "crit",
            &config,
            header(json!({ "alg": "ES256", "kid": "ec", "crit": ["exp"], "exp": 1 })),
            JwtError::UnsupportedCritical,
        ),
        (
            "b64 false",
            &config,
            header(json!({ "alg": "ES256", "kid": "ec", "b64": false, "crit": ["b64"] })),
            JwtError::UnsupportedCritical,
        ),
        (
            "duplicate claim",
            &config,
            sign_raw(
                "ES256",
                &json!({ "alg": "ES256", "kid": "ec" }),
                &format!("{{\"iss\":\"https://evil.example/\",{}", &claims().to_string()[1..]),
            ),
            JwtError::Malformed,
        ),
        (
            "duplicate header member",
            &config,
            with_header_text(r#"{"alg":"none","alg":"ES256","kid":"ec"}"#, &valid),
            JwtError::Malformed,
        ),
        ("non-string kid", &config, header(json!({ "alg": "ES256", "kid": 7 })), JwtError::Malformed),
        ("typ mismatch", &typed, valid.clone(), JwtError::TypeMismatch),
        ("typ missing", &typed, header(json!({ "alg": "ES256", "kid": "ec" })), JwtError::TypeMismatch),
        ("expired", &config, es(with_claims(|c| c["exp"] = json!(NOW - 31))), JwtError::Expired),
        (
            "expired exactly at exp + leeway",
            &config,
            es(with_claims(|c| c["exp"] = json!(NOW - 30))),
            JwtError::Expired,
        ),
        ("not yet valid", &config, es(with_claims(|c| c["nbf"] = json!(NOW + 31))), JwtError::NotYetValid),
        ("issued in the future", &config, es(with_claims(|c| c["iat"] = json!(NOW + 31))), JwtError::IssuedInFuture),
        (
            "no exp",
            &config,
            es(with_claims(|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
            JwtError::MissingClaim("exp".into()),
        ),
        ("exp as a string", &config, es(with_claims(|c| c["exp"] = json!("1800000300"))), JwtError::Malformed),
        (
            "unknown issuer",
            &config,
            es(with_claims(|c| c["iss"] = json!("https://evil.example/"))),
            JwtError::UnknownIssuer,
        ),
        (
            "issuer differs by a slash",
            &config,
            es(with_claims(|c| c["iss"] = json!("https://idp.example.com"))),
            JwtError::UnknownIssuer,
        ),
        (
            "no issuer",
            &config,
            es(with_claims(|c| {
                c.as_object_mut().unwrap().remove("iss");
            })),
            JwtError::UnknownIssuer,
        ),
        (
            "wrong audience",
            &config,
            es(with_claims(|c| c["aud"] = json!("api://elsewhere"))),
            JwtError::AudienceMismatch,
        ),
        (
            "no audience",
            &config,
            es(with_claims(|c| {
                c.as_object_mut().unwrap().remove("aud");
            })),
            JwtError::AudienceMismatch,
        ),
        (
            "audience list with a non-string",
            &config,
            es(with_claims(|c| c["aud"] = json!([AUDIENCE, 7]))),
            JwtError::AudienceMismatch,
        ),
        (
            "no subject",
            &config,
            es(with_claims(|c| {
                c.as_object_mut().unwrap().remove("sub");
            })),
            JwtError::MissingClaim("sub".into()),
        ),
        ("empty subject", &config, es(with_claims(|c| c["sub"] = json!(""))), JwtError::MissingClaim("sub".into())),
        (
            "required claim missing",
            &needs_email_verified,
            valid.clone(),
            JwtError::MissingClaim("email_verified".into()),
        ),
        ("unknown kid", &config, header(json!({ "alg": "ES256", "kid": "rotated-away" })), JwtError::UnknownKid),
        (
            "kid of another key type",
            &config,
            header(json!({ "alg": "ES256", "kid": "rsa" })),
            JwtError::KeyTypeMismatch,
        ),
        ("no kid, several candidate keys", &twin_keys, header(json!({ "alg": "ES256" })), JwtError::AmbiguousKey),
        (
            "ECDSA r = 0",
            &config,
            sig_with(&[0; 32], &one),
            JwtError::MalformedSignature(SignatureProblem::ScalarOutOfRange),
        ),
        (
            "ECDSA s = 0",
            &config,
            sig_with(&one, &[0; 32]),
            JwtError::MalformedSignature(SignatureProblem::ScalarOutOfRange),
        ),
        (
            "ECDSA s = n",
            &config,
            sig_with(&one, &order_n),
            JwtError::MalformedSignature(SignatureProblem::ScalarOutOfRange),
        ),
        (
            "ECDSA r = n",
            &config,
            sig_with(&order_n, &one),
            JwtError::MalformedSignature(SignatureProblem::ScalarOutOfRange),
        ),
        (
            "ECDSA DER-encoded signature",
            &config,
            format!("{}.{}", valid.rsplit_once('.').unwrap().0, b64([0x30u8; 70])),
            JwtError::MalformedSignature(SignatureProblem::BadLength),
        ),
        (
            "RSA signature one byte short",
            &config,
            tamper_segment(&token("RS256", &claims()), 2, |b| {
                b.pop();
            }),
            JwtError::MalformedSignature(SignatureProblem::BadLength),
        ),
        ("two segments", &config, valid.rsplit_once('.').unwrap().0.to_owned(), JwtError::Malformed),
        ("four segments", &config, format!("{valid}.x"), JwtError::Malformed),
        ("padded base64", &config, valid.replacen('.', "=.", 1), JwtError::Malformed),
        ("garbage", &config, "not a token".to_owned(), JwtError::Malformed),
        ("empty", &config, String::new(), JwtError::Malformed),
        (
            "claims not an object",
            &config,
            sign_raw("ES256", &json!({ "alg": "ES256", "kid": "ec" }), "[1,2]"),
            JwtError::Malformed,
        ),
        ("oversized", &config, format!("{valid}{}", "A".repeat(16 * 1024)), JwtError::Malformed),
        (
            "nested JWT content type",
            &config,
            header(json!({ "alg": "ES256", "kid": "ec", "cty": "JWT" })),
            JwtError::Malformed,
        ),
    ];
    for (name, config, token, expected) in cases {
        let got = verify(config, &token).map(|p| p.subject().to_owned());
        assert_eq!(got, Err(expected), "{name}");
    }
}

/// Replaces the header of a signed token with raw header text, keeping its claims and signature.
fn with_header_text(header_text: &str, signed: &str) -> String {
    let (_, rest) = signed.split_once('.').unwrap();
    format!("{}.{rest}", b64(header_text))
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn leeway_accepts_small_clock_skew_only() {
    let config = config_with(json!({ "leeway_s": 30 }));
    let cases = [
        (with_claims(|c| c["exp"] = json!(NOW - 29)), true),
        (with_claims(|c| c["nbf"] = json!(NOW + 29)), true),
        (with_claims(|c| c["iat"] = json!(NOW + 29)), true),
        (with_claims(|c| c["exp"] = json!(NOW as f64 + 0.5)), true),
        (with_claims(|c| c["aud"] = json!(["x", "other-audience"])), true),
        (with_claims(|c| c["scope"] = Value::Null), true),
    ];
    for (claims, ok) in cases {
        assert_eq!(verify(&config, &token("ES256", &claims)).is_ok(), ok, "{claims}");
    }
}

#[test]
fn claim_names_map_nested_and_alternative_claims() {
    let config =
        config_with(json!({ "claims": { "subject": "oid", "groups": "realm_access.roles", "tenant": "tid" } }));
    let claims = with_claims(|c| {
        c["oid"] = json!("object-id");
        c["realm_access"] = json!({ "roles": ["viewer", "editor"] });
        c["tid"] = json!("t-1");
        c.as_object_mut().unwrap().remove("scope");
        c["scp"] = json!(["a", "b"]);
    });
    let principal = verify(&config, &token("ES256", &claims)).unwrap();
    assert_eq!(principal.subject(), "object-id");
    assert_eq!(principal.identity().groups, ["viewer", "editor"]);
    assert_eq!(principal.identity().scopes, ["a", "b"]);
    assert_eq!(principal.identity().tenant.as_deref(), Some("t-1"));
}

#[test]
fn rfc7515_appendix_a_examples_verify() {
    // A.1: HS256; A.3: ES256. The claims are from 2011, so check at that time.
    let hs_key = URL_SAFE_NO_PAD
        .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
        .unwrap();
    let examples = [
        (
            "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            Alg::Hs256,
            KeySource::Inline(KeySet::new(vec![VerificationKey::hmac(SecretBytes::new(hs_key)).unwrap()]).into()),
        ),
        (
            "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
            Alg::Es256,
            KeySource::Inline(KeySet::from_jwks(json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y }] }).to_string().as_bytes()).unwrap().0.into()),
        ),
    ];
    for (token, alg, key_source) in examples {
        let config = JwtConfig {
            issuers: vec![Issuer {
                issuer: "joe".into(),
                audiences: vec!["unused".into()],
                key_source,
                algorithms: vec![alg],
                leeway_s: 0,
                required_claims: vec![],
                typ: None,
                claims: ClaimNames::default(),
            }],
            ..JwtConfig::default()
        };
        // The examples carry no aud, so the audience check refuses them: the signature and
        // header path is what they test.
        assert_eq!(precheck(&config, token, 1_300_819_370).unwrap_err(), JwtError::AudienceMismatch);
        let jws = UntrustedJws::parse(token).unwrap();
        let KeySource::Inline(keys) = &config.issuers[0].key_source else { unreachable!() };
        let Selection::Key(key) = keys.select(jws.kid(), alg) else { panic!("no key") };
        signature::precheck(alg, key, jws.signature()).unwrap();
        assert!(signature::verify_rust(alg, key, jws.signing_input(), jws.signature()), "{alg}");
        let mut tampered = jws.signing_input().to_vec();
        tampered[40] ^= 1;
        assert!(!signature::verify_rust(alg, key, &tampered, jws.signature()), "{alg} tampered");
    }
}

/// The algorithms a Wycheproof key may verify, as an issuer configured for that key would list.
fn algorithms_for(jwk: &Value) -> Vec<Alg> {
    if let Some(alg) = jwk.get("alg").and_then(Value::as_str) {
        return Alg::parse(alg).into_iter().collect();
    }
    match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
        (Some("RSA"), _) => vec![Alg::Rs256, Alg::Rs384, Alg::Rs512, Alg::Ps256, Alg::Ps384, Alg::Ps512],
        (Some("EC"), Some("P-256")) => vec![Alg::Es256],
        (Some("EC"), Some("P-384")) => vec![Alg::Es384],
        (Some("OKP"), Some("Ed25519")) => vec![Alg::EdDsa],
        (Some("oct"), _) => vec![Alg::Hs256, Alg::Hs384, Alg::Hs512],
        _ => vec![],
    }
}

/// The JWS layer of the verifier as production runs it: parse, the allowed algorithm, the header
/// rules, key choice, prechecks, signature.
fn jws_accepted(compact: &str, keys: &KeySet, allowed: impl Fn(Alg) -> bool) -> bool {
    let Ok(parsed) = UntrustedJws::parse(compact) else { return false };
    let Some(alg) = parsed.alg_name().and_then(Alg::parse).filter(|a| allowed(*a)) else { return false };
    if parsed.check_header(None).is_err() {
        return false;
    }
    let Selection::Key(key) = keys.select(parsed.kid(), alg) else { return false };
    signature::precheck(alg, key, parsed.signature()).is_ok()
        && signature::verify_rust(alg, key, parsed.signing_input(), parsed.signature())
}

/// Whether the verifier accepts one Wycheproof JWS vector with its group's key.
fn wycheproof_accepts(jws: &Value, jwk: &Value) -> bool {
    let Some(compact) = jws.as_str() else {
        return false; // JSON serialization is not accepted
    };
    let keys = if jwk["kty"] == "oct" {
        let secret = URL_SAFE_NO_PAD.decode(jwk["k"].as_str().unwrap_or_default()).unwrap_or_default();
        match VerificationKey::hmac(SecretBytes::new(secret)) {
            Ok(key) => KeySet::new(vec![VerificationKey { kid: jwk["kid"].as_str().map(str::to_owned), ..key }]),
            Err(_) => return false,
        }
    } else {
        match KeySet::from_jwks(json!({ "keys": [jwk] }).to_string().as_bytes()) {
            Ok((keys, _)) => keys,
            Err(_) => return false,
        }
    };
    let allowed = algorithms_for(jwk);
    jws_accepted(compact, &keys, |alg| allowed.contains(&alg))
}

#[test]
fn wycheproof_json_web_signature_vectors() {
    use wycheproof_ng_kdf_jose::json_web::{TestName, TestSet};
    let set = TestSet::load(TestName::JsonWebSignature).expect("the vectors ship with the crate");
    let (mut checked, mut unsupported) = (0, 0);
    for group in &set.test_groups {
        let Some(jwk) = group.public_key.clone().or_else(|| group.private_key.clone()) else { continue };
        let jwk = if jwk["kty"] == "oct" { jwk } else { public_only(&jwk) };
        for test in &group.tests {
            let Some(jws) = &test.jws else { continue };
            // In this crate's copy, tcIds 367 and 370 ("invalidBase64Padding...") lost the padding
            // that made them invalid: as shipped they are canonical, correctly MACed tokens.
            // The padding case itself is in `refusal_table` ("padded base64").
            if [367, 370].contains(&test.tc_id) {
                continue;
            }
            // ES512 (P-521) is the one JWS algorithm here that Portcullis does not support.
            let supported = jwk["crv"] != "P-521";
            // Stricter than Wycheproof by policy: a key whose JWK names an `alg` verifies only that
            // algorithm (RFC 7517 §4.4). RFC 7520's Figure 20 signs PS384 with a key marked PS256.
            let token_alg =
                jws.as_str().and_then(|t| UntrustedJws::parse(t).ok()).and_then(|p| p.alg_name().map(str::to_owned));
            let key_alg_conflict =
                jwk.get("alg").and_then(Value::as_str).is_some_and(|a| Some(a) != token_alg.as_deref());
            let expected_valid = test.result == wycheproof_ng_core::TestResult::Valid && !key_alg_conflict;
            if expected_valid && !supported {
                unsupported += 1;
                continue;
            }
            checked += 1;
            assert_eq!(
                wycheproof_accepts(jws, &jwk),
                expected_valid,
                "tcId {} ({}): {:?}",
                test.tc_id,
                test.comment,
                test.flags
            );
        }
    }
    assert!(checked >= 380, "only {checked} vectors checked ({unsupported} unsupported)");
}

fn public_only(jwk: &Value) -> Value {
    let mut public = jwk.clone();
    if let Some(object) = public.as_object_mut() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            object.remove(private);
        }
    }
    public
}

/// Builds the key set a Wycheproof JWK-test group describes: the public JWKS for asymmetric keys,
/// or the HMAC keys of a private JWKS. A set mixing symmetric and asymmetric keys is refused,
/// as Portcullis's configuration never builds one (an issuer has a key set or an HMAC secret).
fn wycheproof_key_set(group_public: Option<&Value>, group_private: Option<&Value>) -> Option<KeySet> {
    if let Some(public) = group_public {
        return KeySet::from_jwks(public.to_string().as_bytes()).ok().map(|(keys, _)| keys);
    }
    let keys = group_private?.get("keys")?.as_array()?;
    if keys.iter().any(|k| k["kty"] != "oct") {
        return None;
    }
    let usable = keys.iter().filter_map(|k| {
        let fits = k["use"].as_str().is_none_or(|u| u == "sig")
            && k["alg"].as_str().is_none_or(|a| Alg::parse(a).is_some_and(Alg::is_symmetric));
        let secret = URL_SAFE_NO_PAD.decode(k["k"].as_str()?).ok()?;
        let key = VerificationKey::hmac(SecretBytes::new(secret)).ok().filter(|_| fits)?;
        Some(VerificationKey {
            kid: k["kid"].as_str().map(str::to_owned),
            alg: k["alg"].as_str().and_then(Alg::parse),
            ..key
        })
    });
    let listed: Vec<Option<String>> = keys.iter().map(|k| k["kid"].as_str().map(str::to_owned)).collect();
    Some(KeySet::with_listed_kids(usable.collect(), &listed))
}

#[test]
fn wycheproof_json_web_key_vectors() {
    use wycheproof_ng_kdf_jose::json_web::{TestName, TestSet};
    let set = TestSet::load(TestName::JsonWebKey).expect("the vectors ship with the crate");
    let mut checked = 0;
    for group in &set.test_groups {
        let keys = wycheproof_key_set(group.public_key.as_ref(), group.private_key.as_ref());
        for test in &group.tests {
            let Some(compact) = test.jws.as_ref().and_then(Value::as_str) else { continue };
            let accepted = keys.as_ref().is_some_and(|keys| jws_accepted(compact, keys, |_| true));
            let expected = test.result == wycheproof_ng_core::TestResult::Valid;
            assert_eq!(accepted, expected, "tcId {} ({}): {:?}", test.tc_id, test.comment, test.flags);
            checked += 1;
        }
    }
    assert_eq!(checked, 26);
}

#[test]
fn roca_moduli_are_refused_and_ordinary_ones_are_not() {
    let ordinary = rsa_public_jwk("ordinary");
    let (keys, ignored) = KeySet::from_jwks(json!({ "keys": [ordinary] }).to_string().as_bytes()).unwrap();
    assert_eq!((keys.keys().len(), ignored.len()), (1, 0));
}

/// Generative tests: arbitrary input never panics the verifier, and no change to a signed token is
/// accepted.
mod generative {
    use super::*;
    use crate::testing::any_json;
    use proptest::prelude::*;

    const ALGORITHMS: [&str; 5] = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];

    /// The header and claim names the verifier reads.
    const FIELDS: &[&str] = &["alg", "kid", "typ", "crit", "b64", "iss", "aud", "exp", "nbf", "iat", "sub", "scope"];

    /// One signed token per algorithm, made once (RSA signing is slow).
    fn signed(alg: &str) -> &'static str {
        static TOKENS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
        let tokens = TOKENS.get_or_init(|| ALGORITHMS.iter().map(|alg| (*alg, token(alg, &claims()))).collect());
        &tokens.iter().find(|(name, _)| *name == alg).expect("a listed algorithm").1
    }

    fn config() -> &'static JwtConfig {
        static CONFIG: OnceLock<JwtConfig> = OnceLock::new();
        CONFIG.get_or_init(|| config_with(json!({})))
    }

    proptest! {
        #![proptest_config(crate::testing::generative(512))]

        #[test]
        fn arbitrary_text_never_verifies(text in "\\PC{0,200}") {
            prop_assert!(verify(config(), &text).is_err());
        }

        #[test]
        fn arbitrary_segments_never_verify(
            header in proptest::collection::vec(any::<u8>(), 0..120),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            signature in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let compact = format!("{}.{}.{}", b64(header), b64(payload), b64(signature));
            prop_assert!(verify(config(), &compact).is_err());
        }

        #[test]
        fn arbitrary_json_headers_and_claims_never_verify_unsigned(header in any_json(FIELDS), claims in any_json(FIELDS)) {
            let compact = format!("{}.{}.{}", b64(header.to_string()), b64(claims.to_string()), b64([0u8; 64]));
            prop_assert!(verify(config(), &compact).is_err());
        }

        /// Any one byte of a signed token replaced by any other is refused, wherever it is.
        #[test]
        fn no_changed_byte_of_a_signed_token_is_accepted(
            alg in proptest::sample::select(ALGORITHMS.to_vec()),
            position in any::<proptest::sample::Index>(),
            replacement in any::<u8>(),
        ) {
            let token = signed(alg);
            prop_assert!(verify(config(), token).is_ok(), "the unchanged token verifies");
            let mut bytes = token.as_bytes().to_vec();
            let index = position.index(bytes.len());
            prop_assume!(bytes[index] != replacement);
            bytes[index] = replacement;
            let changed = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(verify(config(), &changed).is_err(), "{alg}: byte {index} → {replacement:#04x} was accepted");
        }

        /// Cutting, doubling or reordering parts of a signed token is refused.
        #[test]
        fn no_truncation_or_splice_of_a_signed_token_is_accepted(
            alg in proptest::sample::select(ALGORITHMS.to_vec()),
            other in proptest::sample::select(ALGORITHMS.to_vec()),
            cut in any::<proptest::sample::Index>(),
        ) {
            let token = signed(alg);
            let at = cut.index(token.len());
            prop_assert!(verify(config(), &token[..at]).is_err());
            let parts: Vec<&str> = token.split('.').collect();
            let theirs: Vec<&str> = signed(other).split('.').collect();
            if alg != other {
                let spliced = format!("{}.{}.{}", parts[0], parts[1], theirs[2]);
                prop_assert!(verify(config(), &spliced).is_err());
                let swapped_header = format!("{}.{}.{}", theirs[0], parts[1], parts[2]);
                prop_assert!(verify(config(), &swapped_header).is_err());
            }
            let four_parts = format!("{token}.{}", parts[2]);
            prop_assert!(verify(config(), &four_parts).is_err());
        }
    }
}
