//! Signatures made with the test IdP's keys ([`crate::saml::test_signing`]), verified through
//! the host's pure-Rust signature port, then every way of getting a signature to pass for
//! something it does not cover.

use super::*;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::block_on;
use crate::saml::certificate::{self, tests::EC_PEM, tests::RSA_PEM};
use crate::saml::dsig::{self, DSIG_NS};
use crate::saml::test_signing::{sign, signature_template, TestKey};
use crate::saml::xml::parse;
use proptest::prelude::*;

const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// A response whose assertion is signed with `key` (its `KeyInfo` carries the other key's
/// certificate, which must not matter).
fn signed_response(key: TestKey) -> String {
    let decoy = if key == TestKey::Rsa { EC_PEM } else { RSA_PEM };
    let decoy: String = decoy.lines().filter(|l| !l.starts_with("-----")).collect();
    let template = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0"><saml:Assertion xmlns:saml="{ASSERTION_NS}" ID="_a1" Version="2.0"><saml:Issuer>https://idp.example</saml:Issuer>{}<saml:Subject><saml:NameID>ann@corp.example</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"#,
        signature_template("_a1", key, Some(&decoy))
    );
    sign(&template, "_a1", key)
}

fn certificates(pems: &[&str]) -> Vec<SigningCertificate> {
    pems.iter().map(|pem| certificate::parse(pem).unwrap()).collect()
}

/// Verifies the first signature of `text` with `pems`: the signed element's ID, or the refusal.
fn outcome_with(text: &str, pems: &[&str], verifier: &impl SignatureVerifier) -> Result<String, VerifyFailure> {
    let document = parse(text).map_err(|_| VerifyFailure::Refused(DsigRefusal::Shape("xml")))?;
    let signature = document
        .descendants()
        .find(|n| n.has_tag_name((DSIG_NS, "Signature")))
        .ok_or(VerifyFailure::Refused(DsigRefusal::Shape("no Signature")))?;
    let parts = dsig::read(&document, signature, false).map_err(VerifyFailure::Refused)?;
    let signed = block_on(verify(&parts, &certificates(pems), verifier))?;
    Ok(signed.element().attribute("ID").unwrap_or_default().to_owned())
}

fn outcome(text: &str, pems: &[&str]) -> Result<String, VerifyFailure> {
    outcome_with(text, pems, &RustSignatures)
}

fn refused(reason: DsigRefusal) -> Result<String, VerifyFailure> {
    Err(VerifyFailure::Refused(reason))
}

#[test]
fn rsa_and_ecdsa_signatures_verify_with_the_pinned_certificate_of_their_type() {
    assert_eq!(outcome(&signed_response(TestKey::Rsa), &[RSA_PEM]), Ok("_a1".into()));
    assert_eq!(outcome(&signed_response(TestKey::Ec), &[EC_PEM]), Ok("_a1".into()));
    // During a rotation the connection lists both: either verifies.
    assert_eq!(outcome(&signed_response(TestKey::Rsa), &[EC_PEM, RSA_PEM]), Ok("_a1".into()));
    assert_eq!(outcome(&signed_response(TestKey::Ec), &[RSA_PEM, EC_PEM]), Ok("_a1".into()));
}

#[test]
fn a_key_the_connection_does_not_pin_is_refused_whatever_key_info_says() {
    // Signed by the RSA key, whose certificate the response's KeyInfo does not even carry; the
    // connection pins only the EC certificate (the one in KeyInfo for an EC-signed response).
    assert_eq!(outcome(&signed_response(TestKey::Rsa), &[EC_PEM]), refused(DsigRefusal::SignatureInvalid));
    assert_eq!(outcome(&signed_response(TestKey::Ec), &[RSA_PEM]), refused(DsigRefusal::SignatureInvalid));
    assert_eq!(outcome(&signed_response(TestKey::Rsa), &[]), refused(DsigRefusal::SignatureInvalid));
}

#[test]
fn content_changed_after_signing_fails_its_digest_and_a_recomputed_digest_fails_the_signature() {
    let good = signed_response(TestKey::Rsa);
    let edited = good.replace("ann@corp.example", "admin@corp.example");
    assert_eq!(outcome(&edited, &[RSA_PEM]), refused(DsigRefusal::DigestMismatch));

    // The attacker recomputes the digest for the edited content: SignedInfo changed, so the
    // signature no longer verifies.
    let document = parse(&edited).unwrap();
    let assertion = document.descendants().find(|n| n.has_tag_name((ASSERTION_NS, "Assertion"))).unwrap();
    let signature = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "Signature"))).unwrap();
    let canonical = crate::saml::c14n::exclusive(assertion, &[], Some(signature.id())).unwrap();
    use base64::Engine;
    use sha2::Digest;
    let forged_digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(canonical.as_bytes()));
    let old_digest = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "DigestValue"))).unwrap().text().unwrap();
    let forged = edited.replace(old_digest, &forged_digest);
    assert_ne!(forged, edited);
    assert_eq!(outcome(&forged, &[RSA_PEM]), refused(DsigRefusal::SignatureInvalid));
}

#[test]
fn the_method_is_tied_to_the_key_type_and_sha1_signatures_are_never_verified() {
    // An RSA signature relabelled ECDSA (or the reverse) checks against the wrong key type.
    let rsa = signed_response(TestKey::Rsa);
    let relabelled = rsa.replace("xmldsig-more#rsa-sha256", "xmldsig-more#ecdsa-sha256");
    assert_eq!(outcome(&relabelled, &[RSA_PEM, EC_PEM]), refused(DsigRefusal::SignatureInvalid));
    let ec = signed_response(TestKey::Ec);
    let relabelled = ec.replace("xmldsig-more#ecdsa-sha256", "xmldsig-more#rsa-sha256");
    assert_eq!(outcome(&relabelled, &[RSA_PEM, EC_PEM]), refused(DsigRefusal::SignatureInvalid));
    // RSA-SHA1 is refused by read() unless allowed, and even then never verified here.
    let sha1 =
        rsa.replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#rsa-sha1");
    assert_eq!(outcome(&sha1, &[RSA_PEM]), refused(DsigRefusal::Sha1NotAllowed));
    let document = parse(&sha1).unwrap();
    let signature = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "Signature"))).unwrap();
    let parts = dsig::read(&document, signature, true).expect("read when SHA-1 is allowed");
    assert_eq!(
        block_on(verify(&parts, &certificates(&[RSA_PEM]), &RustSignatures)).unwrap_err(),
        VerifyFailure::Refused(DsigRefusal::Algorithm)
    );
}

#[test]
fn a_signature_value_of_another_length_or_out_of_range_is_refused_before_the_backend() {
    let good = signed_response(TestKey::Ec);
    let document = parse(&good).unwrap();
    let value = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "SignatureValue"))).unwrap().text().unwrap();
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    for replacement in [engine.encode([0u8; 64]), engine.encode([0xFFu8; 64]), engine.encode([1u8; 63]), String::new()]
    {
        let changed = good.replace(value, &replacement);
        assert!(matches!(outcome(&changed, &[EC_PEM]), Err(VerifyFailure::Refused(_))), "{replacement:?}");
    }
}

/// A backend that is down.
struct DownBackend;

impl SignatureVerifier for DownBackend {
    async fn verify(
        &self,
        _: Alg,
        _: &crate::authn::jwt::keys::VerificationKey,
        _: &[u8],
        _: &[u8],
    ) -> Result<bool, Unavailable> {
        Err(Unavailable("the signature backend is down".into()))
    }
}

#[test]
fn a_backend_that_fails_fails_closed() {
    assert_eq!(
        outcome_with(&signed_response(TestKey::Rsa), &[RSA_PEM], &DownBackend),
        Err(VerifyFailure::Unavailable(Unavailable("the signature backend is down".into())))
    );
}

proptest! {
    #![proptest_config(crate::testing::generative(96))]

    /// One byte of a signed response changed: refused, or it still verifies and then the signed
    /// bytes (the canonical assertion and SignedInfo) are exactly the original's.
    #[test]
    fn a_changed_byte_verifies_only_when_the_signed_bytes_are_unchanged(index in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let good = signed_response(TestKey::Ec);
        let mut bytes = good.clone().into_bytes();
        let at = index.index(bytes.len());
        bytes[at] ^= xor;
        let Ok(changed) = String::from_utf8(bytes) else { return Ok(()) };
        if outcome(&changed, &[EC_PEM]).is_ok() {
            prop_assert_eq!(signed_bytes(&changed), signed_bytes(&good));
        }
    }
}

/// The canonical signed element and SignedInfo of a document's first signature.
fn signed_bytes(text: &str) -> (String, String) {
    let document = parse(text).unwrap();
    let signature = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "Signature"))).unwrap();
    let parts = dsig::read(&document, signature, false).unwrap();
    (parts.signed_c14n().unwrap(), parts.signed_info_c14n().unwrap())
}
