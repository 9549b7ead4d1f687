//! An IdP's signing certificates, as a connection pins them. Only a certificate's public key is
//! used: SAML trusts the certificate itself, which IdPs (Okta, Entra ID, Google Workspace, ADFS)
//! publish self-signed, so there is no chain to build, and its validity dates are not a
//! revocation (rotation is: a connection lists the old and the new certificate, then drops the
//! old). A key is never taken from a message's `KeyInfo`.
//!
//! RSA keys of at least 2048 bits and EC P-256 keys are accepted, checked as key-set keys are
//! ([`VerificationKey::from_jwk`]: no small moduli, no ROCA, points on the curve).

use super::xml::without_xml_blanks;
use crate::authn::jwt::keys::VerificationKey;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Reader, SliceReader};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

/// The longest certificate accepted, in base64 characters (an RSA-4096 certificate with a few
/// extensions is under 3 KiB).
pub const MAX_CERTIFICATE_CHARS: usize = 16 * 1024;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A pinned signing certificate: its key, and its SHA-256 fingerprint (for operators: the
/// fingerprint an IdP's console shows).
#[derive(Debug, Clone)]
pub struct SigningCertificate {
    /// The public key, for the signature port.
    pub key: VerificationKey,
    /// SHA-256 of the certificate's DER.
    pub fingerprint_sha256: [u8; 32],
}

impl SigningCertificate {
    /// The fingerprint as IdP consoles print it: upper-case hex pairs joined by colons.
    pub fn fingerprint(&self) -> String {
        self.fingerprint_sha256.iter().map(|byte| format!("{byte:02X}")).collect::<Vec<_>>().join(":")
    }
}

/// Why a certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateError {
    /// Not base64 (or PEM), or longer than [`MAX_CERTIFICATE_CHARS`].
    Encoding,
    /// Not a DER X.509 certificate.
    Der,
    /// A key other than RSA or EC P-256.
    UnsupportedKey,
    /// An RSA or EC key that is refused (too short, ROCA, off the curve).
    WeakKey,
}

impl CertificateError {
    /// A stable reason code.
    pub fn reason(self) -> &'static str {
        match self {
            CertificateError::Encoding => "certificate_encoding",
            CertificateError::Der => "certificate_der",
            CertificateError::UnsupportedKey => "certificate_key_unsupported",
            CertificateError::WeakKey => "certificate_key_refused",
        }
    }
}

/// Reads a certificate as metadata carries it (`ds:X509Certificate`: base64, white space
/// anywhere) or as PEM.
pub fn parse(text: &str) -> Result<SigningCertificate, CertificateError> {
    if text.len() > MAX_CERTIFICATE_CHARS {
        return Err(CertificateError::Encoding);
    }
    let body = pem_body(text).unwrap_or(text);
    let der = STANDARD.decode(without_xml_blanks(body)).map_err(|_| CertificateError::Encoding)?;
    from_der(&der)
}

/// The base64 between a PEM certificate's armour lines, if the text is PEM.
fn pem_body(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = text[start..].find("-----END CERTIFICATE-----")? + start;
    Some(&text[start..end])
}

/// A certificate's DER as base64 on one line (as metadata's `X509Certificate` holds it), from
/// the PEM or base64 text [`parse`] reads.
pub fn der_base64(text: &str) -> String {
    without_xml_blanks(pem_body(text).unwrap_or(text))
}

/// Reads a DER certificate.
pub fn from_der(der: &[u8]) -> Result<SigningCertificate, CertificateError> {
    let certificate = Certificate::from_der(der).map_err(|_| CertificateError::Der)?;
    let spki = certificate.tbs_certificate().subject_public_key_info();
    let key_bits = spki.subject_public_key.as_bytes().ok_or(CertificateError::Der)?;
    let jwk = if spki.algorithm.oid == RSA_ENCRYPTION {
        let (modulus, exponent) = rsa_public_key(key_bits).ok_or(CertificateError::Der)?;
        serde_json::json!({ "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(modulus), "e": URL_SAFE_NO_PAD.encode(exponent) })
    } else if spki.algorithm.oid == EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(PRIME256V1) {
            return Err(CertificateError::UnsupportedKey);
        }
        // An uncompressed point: 0x04 || x || y.
        let point = key_bits.strip_prefix(&[0x04]).filter(|xy| xy.len() == 64).ok_or(CertificateError::WeakKey)?;
        serde_json::json!({ "kty": "EC", "crv": "P-256",
                            "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..]) })
    } else {
        return Err(CertificateError::UnsupportedKey);
    };
    let key = VerificationKey::from_jwk(&jwk).map_err(|_| CertificateError::WeakKey)?;
    Ok(SigningCertificate { key, fingerprint_sha256: Sha256::digest(der).into() })
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1), as
/// unsigned big-endian bytes without leading zeros.
fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut reader = SliceReader::new(der).ok()?;
    let (modulus, exponent) = reader
        .sequence(|inner| {
            let modulus = UintRef::decode(inner)?;
            let exponent = UintRef::decode(inner)?;
            Ok::<_, der::Error>((modulus, exponent))
        })
        .ok()?;
    reader.finish().ok()?;
    Some((modulus.as_bytes(), exponent.as_bytes()))
}

#[cfg(test)]
pub(crate) mod tests;
