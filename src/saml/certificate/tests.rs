//! Certificates made with `openssl req -x509` for these tests only (their private keys sign the
//! test responses of `saml::signature`; they are worth nothing anywhere else).

use super::*;
use crate::authn::jwt::alg::KeyFamily;
use proptest::prelude::*;

pub(crate) const RSA_PEM: &str = include_str!("idp-rsa.pem");
pub(crate) const EC_PEM: &str = include_str!("idp-ec.pem");
const P384_PEM: &str = include_str!("idp-p384.pem");
const RSA_1024_PEM: &str = include_str!("idp-rsa1024.pem");

/// The certificate as metadata carries it: base64 only, wrapped at 64 columns and indented.
fn as_in_metadata(pem: &str) -> String {
    pem.lines().filter(|line| !line.starts_with("-----")).map(|line| format!("\n        {line}")).collect()
}

fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

#[test]
fn an_rsa_and_a_p256_certificate_give_their_keys_and_the_fingerprints_openssl_prints() {
    let rsa = parse(RSA_PEM).expect("the RSA certificate");
    assert_eq!(rsa.key.family(), KeyFamily::Rsa);
    assert_eq!(
        rsa.fingerprint(),
        "76:5C:7D:B4:A1:66:C6:3B:85:52:C6:93:CF:03:BD:8E:01:D5:F1:BE:83:8F:DD:0B:B2:B0:2A:41:2B:AE:4F:B6"
    );
    let ec = parse(EC_PEM).expect("the P-256 certificate");
    assert_eq!(ec.key.family(), KeyFamily::P256);
    assert_eq!(
        ec.fingerprint(),
        "6B:FF:EA:6F:03:8B:27:D0:87:7B:81:86:69:17:59:57:4C:98:9B:BE:50:ED:08:F9:7E:27:32:62:20:2F:4E:99"
    );
    let from_metadata = parse(&as_in_metadata(RSA_PEM)).expect("base64 with white space, as in metadata");
    assert_eq!(from_metadata.fingerprint_sha256, rsa.fingerprint_sha256);
    assert_eq!(from_metadata.key.public_jwk, rsa.key.public_jwk);
}

#[test]
fn other_curves_short_rsa_keys_and_what_is_not_a_certificate_are_refused() {
    assert_eq!(parse(P384_PEM).unwrap_err(), CertificateError::UnsupportedKey);
    assert_eq!(parse(RSA_1024_PEM).unwrap_err(), CertificateError::WeakKey);
    assert_eq!(parse("not base64!").unwrap_err(), CertificateError::Encoding);
    assert_eq!(parse("aGVsbG8=").unwrap_err(), CertificateError::Der);
    assert_eq!(parse(&"A".repeat(MAX_CERTIFICATE_CHARS + 4)).unwrap_err(), CertificateError::Encoding);
    let der = der_of(RSA_PEM);
    assert_eq!(from_der(&der[..der.len() - 1]).unwrap_err(), CertificateError::Der, "truncated");
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(from_der(&trailing).unwrap_err(), CertificateError::Der, "trailing bytes");
    for error in
        [CertificateError::Encoding, CertificateError::Der, CertificateError::UnsupportedKey, CertificateError::WeakKey]
    {
        assert!(error.reason().starts_with("certificate_"));
    }
}

proptest! {
    #![proptest_config(crate::testing::generative(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = from_der(&bytes);
        let _ = parse(&String::from_utf8_lossy(&bytes));
    }

    /// A certificate with one byte changed reaches deep into the DER reader: never a panic.
    #[test]
    fn a_changed_byte_never_panics(index in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut changed = der_of(RSA_PEM);
        let at = index.index(changed.len());
        changed[at] ^= xor;
        let _ = from_der(&changed);
    }
}

#[test]
fn every_truncation_is_refused() {
    let der = der_of(EC_PEM);
    for len in 0..der.len() {
        assert!(from_der(&der[..len]).is_err(), "{len} bytes of {}", der.len());
    }
}
