//! A software authenticator for the tests: it makes registrations and assertions the way a
//! browser and an authenticator do, with real keys (ES256, EdDSA, RS256), and lets a test forge
//! any part of them.

use super::b64url;
use crate::authn::jwt::alg::Alg;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// A CBOR value to encode.
#[derive(Debug, Clone)]
pub enum CborValue {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<CborValue>),
    Map(Vec<(CborValue, CborValue)>),
}

fn head(major: u8, value: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// Encodes `value` (definite lengths, in the order given).
pub fn encode(value: &CborValue, out: &mut Vec<u8>) {
    match value {
        CborValue::Int(n) if *n >= 0 => head(0, *n as u64, out),
        CborValue::Int(n) => head(1, (-1 - *n) as u64, out),
        CborValue::Bytes(bytes) => {
            head(2, bytes.len() as u64, out);
            out.extend_from_slice(bytes);
        }
        CborValue::Text(text) => {
            head(3, text.len() as u64, out);
            out.extend_from_slice(text.as_bytes());
        }
        CborValue::Array(items) => {
            head(4, items.len() as u64, out);
            items.iter().for_each(|item| encode(item, out));
        }
        CborValue::Map(entries) => {
            head(5, entries.len() as u64, out);
            for (key, value) in entries {
                encode(key, out);
                encode(value, out);
            }
        }
    }
}

/// A map's encoding.
pub fn cbor_map(entries: &[(CborValue, CborValue)]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&CborValue::Map(entries.to_vec()), &mut out);
    out
}

enum Key {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_compact::KeyPair),
    Rs256(Box<rsa::RsaPrivateKey>),
}

/// The RP ID the tests use.
pub const RP_ID: &str = "app.example";
/// The origin the tests use.
pub const ORIGIN: &str = "https://app.example";

/// One credential on a software authenticator.
pub struct Authenticator {
    key: Key,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The RP ID it signs for.
    pub rp_id: String,
    /// The user handle it stores.
    pub user_handle: Vec<u8>,
}

fn rsa_key() -> rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut p256::elliptic_curve::rand_core::OsRng, 2048).expect("rsa keygen"))
        .clone()
}

/// An ECDSA signature as DER, from raw `r || s`.
pub fn der_of(raw: &[u8]) -> Vec<u8> {
    let integer = |scalar: &[u8]| {
        let trimmed: Vec<u8> = scalar.iter().copied().skip_while(|b| *b == 0).collect();
        let mut value = if trimmed.first().is_some_and(|b| b & 0x80 != 0) { vec![0] } else { vec![] };
        value.extend_from_slice(&trimmed);
        let mut out = vec![0x02, value.len() as u8];
        out.extend_from_slice(&value);
        out
    };
    let body = [integer(&raw[..32]), integer(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

impl Authenticator {
    fn with(key: Key, id: u8) -> Self {
        Self { key, credential_id: vec![id; 16], rp_id: RP_ID.into(), user_handle: b"usr_ann".to_vec() }
    }

    /// An ES256 credential with a fixed key.
    pub fn es256() -> Self {
        Self::with(Key::Es256(p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("p256 key")), 1)
    }

    /// An Ed25519 credential with a fixed key.
    pub fn ed25519() -> Self {
        let seed = ed25519_compact::Seed::from_slice(&[0x22; 32]).expect("seed");
        Self::with(Key::EdDsa(ed25519_compact::KeyPair::from_seed(seed)), 2)
    }

    /// An RS256 credential (one 2048-bit key for the whole test run).
    pub fn rs256() -> Self {
        Self::with(Key::Rs256(Box::new(rsa_key())), 3)
    }

    /// A second ES256 credential (another key, another id).
    pub fn another_es256() -> Self {
        Self::with(Key::Es256(p256::ecdsa::SigningKey::from_slice(&[0x33; 32]).expect("p256 key")), 4)
    }

    /// The same credential, signing for another RP ID.
    pub fn for_rp(self, rp_id: &str) -> Self {
        Self { rp_id: rp_id.into(), ..self }
    }

    /// One of each algorithm.
    pub fn all() -> Vec<Self> {
        vec![Self::es256(), Self::ed25519(), Self::rs256()]
    }

    /// Its algorithm.
    pub fn alg(&self) -> Alg {
        match self.key {
            Key::Es256(_) => Alg::Es256,
            Key::EdDsa(_) => Alg::EdDsa,
            Key::Rs256(_) => Alg::Rs256,
        }
    }

    /// Its public key as a JWK.
    pub fn jwk(&self) -> Value {
        match &self.key {
            Key::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({ "kty": "EC", "crv": "P-256", "x": b64url(point.x().expect("x")), "y": b64url(point.y().expect("y")) })
            }
            Key::EdDsa(pair) => json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(pair.pk.as_ref()) }),
            Key::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                json!({ "kty": "RSA", "n": b64url(&key.n().to_bytes_be()), "e": b64url(&key.e().to_bytes_be()) })
            }
        }
    }

    /// Its public key as a COSE_Key.
    pub fn cose_key(&self) -> Vec<u8> {
        use CborValue::{Bytes, Int};
        match &self.key {
            Key::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                cbor_map(&[
                    (Int(1), Int(2)),
                    (Int(3), Int(-7)),
                    (Int(-1), Int(1)),
                    (Int(-2), Bytes(point.x().expect("x").to_vec())),
                    (Int(-3), Bytes(point.y().expect("y").to_vec())),
                ])
            }
            Key::EdDsa(pair) => {
                cbor_map(&[(Int(1), Int(1)), (Int(3), Int(-8)), (Int(-1), Int(6)), (Int(-2), Bytes(pair.pk.to_vec()))])
            }
            Key::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                cbor_map(&[
                    (Int(1), Int(3)),
                    (Int(3), Int(-257)),
                    (Int(-1), Bytes(key.n().to_bytes_be())),
                    (Int(-2), Bytes(key.e().to_bytes_be())),
                ])
            }
        }
    }

    fn rp_id_hash(&self) -> Vec<u8> {
        Sha256::digest(self.rp_id.as_bytes()).to_vec()
    }

    /// Registration authenticator data with these flags (AT is added), counter 0.
    pub fn registration_auth_data(&self, flags: u8) -> Vec<u8> {
        let mut data = self.rp_id_hash();
        data.push(flags | 0x40);
        data.extend_from_slice(&0u32.to_be_bytes());
        data.extend_from_slice(&[0u8; 16]);
        data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        data.extend_from_slice(&self.credential_id);
        data.extend_from_slice(&self.cose_key());
        data
    }

    /// Assertion authenticator data.
    pub fn assertion_auth_data(&self, flags: u8, sign_count: u32) -> Vec<u8> {
        let mut data = self.rp_id_hash();
        data.push(flags);
        data.extend_from_slice(&sign_count.to_be_bytes());
        data
    }

    /// Signs `message` as the authenticator would (DER for ES256).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(message);
                der_of(&signature.to_bytes())
            }
            Key::EdDsa(pair) => pair.sk.sign(message, None).to_vec(),
            Key::Rs256(key) => {
                use jwt_compact::{Algorithm, AlgorithmSignature};
                jwt_compact::alg::Rsa::rs256().sign(key, message).as_bytes().into_owned()
            }
        }
    }

    /// `clientDataJSON`.
    pub fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        format!(r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{origin}","crossOrigin":false}}"#).into_bytes()
    }

    /// A registration response with `none` attestation.
    pub fn register(&self, challenge: &str, origin: &str, flags: u8) -> Value {
        let client_data = Self::client_data("webauthn.create", challenge, origin);
        let object = cbor_map(&[
            (CborValue::Text("fmt".into()), CborValue::Text("none".into())),
            (CborValue::Text("attStmt".into()), CborValue::Map(vec![])),
            (CborValue::Text("authData".into()), CborValue::Bytes(self.registration_auth_data(flags))),
        ]);
        self.registration_json(&client_data, &object)
    }

    /// A registration response with `packed` self attestation, signed over `signed_auth_data`
    /// (the real authenticator data unless a test forges it).
    pub fn register_packed(&self, challenge: &str, origin: &str, flags: u8, alg: i64, forge_signature: bool) -> Value {
        let client_data = Self::client_data("webauthn.create", challenge, origin);
        let auth_data = self.registration_auth_data(flags);
        let mut message = auth_data.clone();
        message.extend_from_slice(&Sha256::digest(&client_data));
        if forge_signature {
            message.push(0);
        }
        let object = cbor_map(&[
            (CborValue::Text("fmt".into()), CborValue::Text("packed".into())),
            (
                CborValue::Text("attStmt".into()),
                CborValue::Map(vec![
                    (CborValue::Text("alg".into()), CborValue::Int(alg)),
                    (CborValue::Text("sig".into()), CborValue::Bytes(self.sign(&message))),
                ]),
            ),
            (CborValue::Text("authData".into()), CborValue::Bytes(auth_data)),
        ]);
        self.registration_json(&client_data, &object)
    }

    fn registration_json(&self, client_data: &[u8], object: &[u8]) -> Value {
        json!({
            "id": b64url(&self.credential_id),
            "rawId": b64url(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(object),
                "transports": ["internal", "hybrid", "carrier-pigeon"],
            },
            "clientExtensionResults": {},
        })
    }

    /// An assertion response over these parts.
    pub fn assert_with(&self, client_data: &[u8], auth_data: &[u8], signed: &[u8]) -> Value {
        json!({
            "id": b64url(&self.credential_id),
            "rawId": b64url(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(&self.sign(signed)),
                "userHandle": b64url(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }

    /// A well-formed assertion.
    pub fn assert(&self, challenge: &str, origin: &str, flags: u8, sign_count: u32) -> Value {
        let client_data = Self::client_data("webauthn.get", challenge, origin);
        let auth_data = self.assertion_auth_data(flags, sign_count);
        let mut message = auth_data.clone();
        message.extend_from_slice(&Sha256::digest(&client_data));
        self.assert_with(&client_data, &auth_data, &message)
    }
}
