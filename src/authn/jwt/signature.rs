//! JWS algorithms (RFC 7518 §3), signature prechecks, and the pure-Rust verifier built on
//! jwt-compact's algorithms.
//!
//! Two backends verify signatures: this pure-Rust one (used on the host and selectable in the
//! worker) and WebCrypto in the worker shell. Both go through [`precheck`] first, so malformed
//! signatures (wrong length; ECDSA `r` or `s` equal to zero or not below the group order, RFC 7518
//! §3.4) are refused identically before any backend sees them.

use super::alg::Alg;
use super::error::SignatureProblem;
use super::keys::{KeyMaterial, VerificationKey};
use jwt_compact::alg::{Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{Algorithm, AlgorithmSignature};

/// Checks what can be checked without verifying: key family, signature length and, for ECDSA,
/// the range of `r` and `s` (they must lie in `[1, n-1]`).
pub fn precheck(alg: Alg, key: &VerificationKey, signature: &[u8]) -> Result<(), SignatureProblem> {
    if key.family() != alg.key_family() {
        return Err(SignatureProblem::KeyMismatch);
    }
    if let Some(len) = alg.fixed_signature_len() {
        if signature.len() != len {
            return Err(SignatureProblem::BadLength);
        }
    }
    match (&key.material, alg) {
        (KeyMaterial::Rsa(_, modulus_len), _) if signature.len() != *modulus_len => {
            return Err(SignatureProblem::BadLength);
        }
        (KeyMaterial::P256(_), _) if !scalars_in_range(signature, &P256_ORDER) => {
            return Err(SignatureProblem::ScalarOutOfRange);
        }
        (KeyMaterial::P384(_), _) if !scalars_in_range(signature, &P384_ORDER) => {
            return Err(SignatureProblem::ScalarOutOfRange);
        }
        // The MAC is as long as the hash; the key must be at least as long.
        (KeyMaterial::Hmac(secret), _) if alg.fixed_signature_len().is_some_and(|hash_len| secret.len() < hash_len) => {
            return Err(SignatureProblem::WeakKey);
        }
        _ => {}
    }
    Ok(())
}

/// The order n of the P-256 group (SEC 2 §2.4.2), big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// The order n of the P-384 group (SEC 2 §2.5.1), big-endian.
const P384_ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0,
    0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// Whether an `r || s` signature (length already checked) has both scalars in `[1, n-1]`.
fn scalars_in_range(signature: &[u8], order: &[u8]) -> bool {
    let in_range = |scalar: &[u8]| scalar.iter().any(|b| *b != 0) && scalar < order;
    signature.len() == 2 * order.len() && in_range(&signature[..order.len()]) && in_range(&signature[order.len()..])
}

fn verify_with<A: Algorithm>(alg: &A, key: &A::VerifyingKey, signing_input: &[u8], signature: &[u8]) -> bool {
    match A::Signature::try_from_slice(signature) {
        Ok(signature) => alg.verify_signature(&signature, key, signing_input),
        Err(_) => false,
    }
}

/// Verifies an HMAC (in every build: HMAC is cheap in Rust, and its key never leaves the worker's
/// memory). The comparison is constant-time. Call [`precheck`] first.
pub fn verify_hmac(alg: Alg, key: &VerificationKey, signing_input: &[u8], signature: &[u8]) -> bool {
    let KeyMaterial::Hmac(secret) = &key.material else { return false };
    match alg {
        Alg::Hs256 => verify_with(&Hs256, &Hs256Key::new(secret.expose()), signing_input, signature),
        Alg::Hs384 => verify_with(&Hs384, &Hs384Key::new(secret.expose()), signing_input, signature),
        Alg::Hs512 => verify_with(&Hs512, &Hs512Key::new(secret.expose()), signing_input, signature),
        _ => false,
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{verify_rust, Es384, Es384Signature};

/// The pure-Rust asymmetric algorithms, on the host only (see Cargo.toml).
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::{verify_hmac, verify_with, Alg, KeyMaterial, VerificationKey};
    use jwt_compact::alg::{Ed25519, Es256, Rsa};
    use jwt_compact::{Algorithm, AlgorithmSignature};
    use std::borrow::Cow;

    fn rsa(alg: Alg) -> Option<Rsa> {
        Some(match alg {
            Alg::Rs256 => Rsa::rs256(),
            Alg::Rs384 => Rsa::rs384(),
            Alg::Rs512 => Rsa::rs512(),
            Alg::Ps256 => Rsa::ps256(),
            Alg::Ps384 => Rsa::ps384(),
            Alg::Ps512 => Rsa::ps512(),
            _ => return None,
        })
    }

    /// ES384 for jwt-compact, which has no P-384 algorithm of its own.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct Es384;

    /// An ES384 signature (`r || s`, 96 bytes).
    #[derive(Debug, Clone)]
    pub struct Es384Signature(p384::ecdsa::Signature);

    impl AlgorithmSignature for Es384Signature {
        const LENGTH: Option<std::num::NonZeroUsize> = std::num::NonZeroUsize::new(96);

        fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
            p384::ecdsa::Signature::from_slice(slice).map(Self).map_err(|e| anyhow::anyhow!(e))
        }

        fn as_bytes(&self) -> Cow<'_, [u8]> {
            Cow::Owned(self.0.to_bytes().to_vec())
        }
    }

    impl Algorithm for Es384 {
        type SigningKey = p384::ecdsa::SigningKey;
        type VerifyingKey = p384::ecdsa::VerifyingKey;
        type Signature = Es384Signature;

        fn name(&self) -> Cow<'static, str> {
            Cow::Borrowed("ES384")
        }

        fn sign(&self, signing_key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
            use p384::ecdsa::signature::Signer;
            Es384Signature(signing_key.sign(message))
        }

        fn verify_signature(
            &self,
            signature: &Self::Signature,
            verifying_key: &Self::VerifyingKey,
            message: &[u8],
        ) -> bool {
            use p384::ecdsa::signature::Verifier;
            verifying_key.verify(message, &signature.0).is_ok()
        }
    }

    /// Verifies a signature in pure Rust with jwt-compact's algorithms. Call [`super::precheck`] first.
    pub fn verify_rust(alg: Alg, key: &VerificationKey, signing_input: &[u8], signature: &[u8]) -> bool {
        match (&key.material, alg) {
            (KeyMaterial::Rsa(public, _), _) => match rsa(alg) {
                Some(rsa_alg) => verify_with(&rsa_alg, public, signing_input, signature),
                None => false,
            },
            (KeyMaterial::P256(public), Alg::Es256) => verify_with(&Es256, public, signing_input, signature),
            (KeyMaterial::P384(public), Alg::Es384) => verify_with(&Es384, public, signing_input, signature),
            (KeyMaterial::Ed25519(public), Alg::EdDsa) => verify_with(&Ed25519, public, signing_input, signature),
            (KeyMaterial::Hmac(_), _) => verify_hmac(alg, key, signing_input, signature),
            _ => false,
        }
    }
}

/// Proof that a token's signature verified. Only the signature backends construct one.
#[derive(Debug)]
pub struct VerifiedSignature(());

impl VerifiedSignature {
    /// Called by a backend after a successful verification, and nowhere else.
    pub(crate) fn new() -> Self {
        Self(())
    }
}
