//! What a passkey signs, and how its signature is checked. The message is `authenticatorData ||
//! SHA-256(clientDataJSON)`. ES256 signatures come DER-encoded from authenticators (an ASN.1
//! `SEQUENCE { INTEGER r, INTEGER s }`), while WebCrypto and the JWS backends take raw `r || s`:
//! [`es256_der_to_raw`] converts, strictly (minimal DER only).

use super::cose::CoseKey;
use super::PasskeyError;
use crate::authn::jwt::alg::Alg;
use crate::authn::jwt::keys::VerificationKey;
use crate::ports::Unavailable;
use sha2::{Digest, Sha256};

/// Verifies signatures with a public key (WebCrypto in the worker, pure Rust on the host). Both
/// run [`crate::authn::jwt::signature::precheck`] first.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait SignatureVerifier {
    /// Whether `signature` (raw, as JWS encodes it) is `key`'s over `message`.
    async fn verify(
        &self,
        alg: Alg,
        key: &VerificationKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Unavailable>;
}

/// The bytes an assertion (or a `packed` self attestation) signs.
pub fn signed_message(authenticator_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
    let mut message = authenticator_data.to_vec();
    message.extend_from_slice(&Sha256::digest(client_data_json));
    message
}

/// Checks a WebAuthn signature (DER for ES256, raw otherwise) with a credential's key.
pub async fn verify(
    verifier: &impl SignatureVerifier,
    key: &CoseKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Failure> {
    let raw = match key.alg {
        Alg::Es256 => es256_der_to_raw(signature).ok_or(Failure::Refused(PasskeyError::SignatureInvalid))?,
        _ => signature.to_vec(),
    };
    let verification_key = key.verification_key().map_err(Failure::Refused)?;
    if crate::authn::jwt::signature::precheck(key.alg, &verification_key, &raw).is_err() {
        return Err(Failure::Refused(PasskeyError::SignatureInvalid));
    }
    match verifier.verify(key.alg, &verification_key, message, &raw).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::Refused(PasskeyError::SignatureInvalid)),
        Err(unavailable) => Err(Failure::Unavailable(unavailable)),
    }
}

/// A verification that did not pass: refused, or the backend was not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The response is refused.
    Refused(PasskeyError),
    /// A dependency failed (fail closed).
    Unavailable(Unavailable),
}

impl From<PasskeyError> for Failure {
    fn from(error: PasskeyError) -> Self {
        Failure::Refused(error)
    }
}

/// An ECDSA P-256 signature in DER as `r || s` (64 bytes), if it is minimal DER with both
/// integers positive and at most 32 bytes long.
pub fn es256_der_to_raw(der: &[u8]) -> Option<Vec<u8>> {
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || len >= 0x80 || usize::from(len) != body.len() {
        return None;
    }
    let (r, body) = der_integer(body)?;
    let (s, body) = der_integer(body)?;
    if !body.is_empty() {
        return None;
    }
    let mut raw = vec![0u8; 64];
    raw[32 - r.len()..32].copy_from_slice(r);
    raw[64 - s.len()..].copy_from_slice(s);
    Some(raw)
}

/// One DER INTEGER's magnitude (without the sign byte), and what follows it.
fn der_integer(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (value, after) = rest.split_at(len);
    // Negative numbers are not signatures; a leading zero is only there for a high bit.
    if value[0] & 0x80 != 0 || (value.len() > 1 && value[0] == 0 && value[1] & 0x80 == 0) {
        return None;
    }
    let magnitude = if value[0] == 0 { &value[1..] } else { value };
    if magnitude.len() > 32 {
        return None;
    }
    Some((magnitude, after))
}

#[cfg(not(target_arch = "wasm32"))]
pub use host::RustSignatures;

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use super::{Alg, SignatureVerifier, Unavailable, VerificationKey};

    /// The pure-Rust backend (host tests and tools).
    #[derive(Debug, Default, Clone, Copy)]
    pub struct RustSignatures;

    impl SignatureVerifier for RustSignatures {
        async fn verify(
            &self,
            alg: Alg,
            key: &VerificationKey,
            message: &[u8],
            signature: &[u8],
        ) -> Result<bool, Unavailable> {
            Ok(crate::authn::jwt::signature::verify_rust(alg, key, message, signature))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minimal_der_converts_and_anything_else_is_refused() {
        let mut der = vec![0x30, 0x45, 0x02, 0x21, 0x00];
        der.extend_from_slice(&[0x80; 32]);
        der.extend_from_slice(&[0x02, 0x20]);
        der.extend_from_slice(&[0x11; 32]);
        let raw = es256_der_to_raw(&der).unwrap();
        assert_eq!(&raw[..32], &[0x80; 32]);
        assert_eq!(&raw[32..], &[0x11; 32]);
        // Short integers are left-padded.
        let short = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07];
        let raw = es256_der_to_raw(&short).unwrap();
        assert_eq!((raw[31], raw[63], raw[..31].iter().all(|b| *b == 0)), (5, 7, true));
        let refused: [&[u8]; 6] = [
            &[0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x07],       // negative r
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x07], // non-minimal r
            &[0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0x00], // trailing byte
            &[0x31, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07],       // not a SEQUENCE
            &[0x30, 0x03, 0x02, 0x01, 0x05],                         // no s
            &[],
        ];
        for der in refused {
            assert_eq!(es256_der_to_raw(der), None, "{der:02x?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            if let Some(raw) = es256_der_to_raw(&bytes) {
                prop_assert_eq!(raw.len(), 64);
            }
        }
    }
}
