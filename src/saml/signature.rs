//! Checking an enveloped XML-DSig signature with a connection's pinned certificates, in the
//! order that leaves nothing to chance: the signature over the canonical `SignedInfo` first
//! (RSA-SHA256 or ECDSA-SHA256, the algorithm tied to the key's type), then the digest of the
//! referenced element. What passes is a [`SignedElement`]: the very node whose bytes were
//! digested, which is the only way the reader gets at signed content.

use super::certificate::SigningCertificate;
use super::dsig::{DsigRefusal, SignatureAlgorithm, SignatureParts};
use crate::authn::jwt::alg::Alg;
use crate::authn::jwt::signature::precheck;
use crate::mfa::webauthn::signature::SignatureVerifier;
use crate::ports::Unavailable;
use roxmltree::Node;

/// Proof that an element's enveloped signature verified with one of the connection's
/// certificates and that its digest matched: read signed content only through [`Self::element`].
#[derive(Debug, Clone, Copy)]
pub struct SignedElement<'a, 'input> {
    element: Node<'a, 'input>,
    signature: Node<'a, 'input>,
}

impl<'a, 'input> SignedElement<'a, 'input> {
    /// The element the signature covers.
    pub fn element(&self) -> Node<'a, 'input> {
        self.element
    }

    /// The `Signature` element inside it (which the digest left out).
    pub fn signature(&self) -> Node<'a, 'input> {
        self.signature
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    /// The signature is refused (the reason is stable).
    Refused(DsigRefusal),
    /// The signature backend failed (fail closed).
    Unavailable(Unavailable),
}

/// The algorithm a signature method needs, or `None` when Portcullis cannot verify it.
/// RSA-SHA1 is read (so that it can be refused by name) but never verified: its digests may be
/// allowed by a connection, its signatures are not.
fn alg_of(method: SignatureAlgorithm) -> Option<Alg> {
    match method {
        SignatureAlgorithm::RsaSha256 => Some(Alg::Rs256),
        SignatureAlgorithm::EcdsaSha256 => Some(Alg::Es256),
        SignatureAlgorithm::RsaSha1 => None,
    }
}

/// Verifies a signature read by [`super::dsig::read`] with the connection's certificates: some
/// certificate of the method's key type must verify the canonical `SignedInfo`, and only then is
/// the referenced element digested.
pub async fn verify<'a, 'input>(
    parts: &SignatureParts<'a, 'input>,
    certificates: &[SigningCertificate],
    verifier: &impl SignatureVerifier,
) -> Result<SignedElement<'a, 'input>, VerifyFailure> {
    let alg = alg_of(parts.algorithm).ok_or(VerifyFailure::Refused(DsigRefusal::Algorithm))?;
    let signed_info = parts.signed_info_c14n().ok_or(VerifyFailure::Refused(DsigRefusal::Shape("SignedInfo")))?;
    let mut verified = false;
    for certificate in certificates {
        // A key of another type, or a value that cannot be this key's signature, is no match.
        if precheck(alg, &certificate.key, &parts.signature_value).is_err() {
            continue;
        }
        match verifier.verify(alg, &certificate.key, signed_info.as_bytes(), &parts.signature_value).await {
            Ok(true) => {
                verified = true;
                break;
            }
            Ok(false) => {}
            Err(unavailable) => return Err(VerifyFailure::Unavailable(unavailable)),
        }
    }
    if !verified {
        return Err(VerifyFailure::Refused(DsigRefusal::SignatureInvalid));
    }
    if !parts.digest_matches() {
        return Err(VerifyFailure::Refused(DsigRefusal::DigestMismatch));
    }
    Ok(SignedElement { element: parts.signed, signature: parts.signature })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
