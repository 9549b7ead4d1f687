//! Query-string signatures: made as the binding says, verified only over the bytes as sent, with
//! a pinned certificate of the algorithm's key type; every change to a signed parameter, a
//! missing or SHA-1 signature and another key are refused.

use super::*;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::block_on;
use crate::saml::certificate::{
    self,
    tests::{EC_PEM, RSA_PEM},
};
use crate::saml::test_signing::{signature_of, TestKey};
use proptest::prelude::*;

/// Signs with one of the test keys.
pub(crate) struct TestSigner(pub TestKey);

impl MessageSigner for TestSigner {
    fn sig_alg(&self) -> &'static str {
        match self.0 {
            TestKey::Rsa => RSA_SHA256,
            TestKey::Ec => ECDSA_SHA256,
        }
    }

    async fn sign(&self, octets: &[u8]) -> Result<Vec<u8>, Unavailable> {
        Ok(signature_of(self.0, octets))
    }
}

const MESSAGE: &str = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"/>"#;

fn signed(key: TestKey, relay: Option<&str>) -> String {
    block_on(signed_redirect_url(
        "https://idp.example/slo?tenant=a",
        MessageKind::Request,
        MESSAGE,
        relay,
        Some(&TestSigner(key)),
    ))
    .unwrap()
}

fn query(url: &str) -> &str {
    url.split_once('?').unwrap().1
}

fn check(raw_query: &str, pems: &[&str]) -> Result<RedirectMessage, &'static str> {
    let certificates: Vec<_> = pems.iter().map(|pem| certificate::parse(pem).unwrap()).collect();
    let message = read_redirect(raw_query).map_err(RedirectRefusal::reason)?;
    match block_on(verify(&message, &certificates, &RustSignatures)) {
        Ok(()) => Ok(message),
        Err(SignatureFailure::Refused(refusal)) => Err(refusal.reason()),
        Err(SignatureFailure::Unavailable(_)) => Err("unavailable"),
    }
}

#[test]
fn a_signed_redirect_verifies_with_its_key_only_and_carries_its_message() {
    for (key, pem, other) in [(TestKey::Rsa, RSA_PEM, EC_PEM), (TestKey::Ec, EC_PEM, RSA_PEM)] {
        let url = signed(key, Some("r/e f"));
        assert!(url.starts_with("https://idp.example/slo?tenant=a&SAMLRequest="), "{url}");
        let message = check(query(&url), &[pem]).expect("verifies");
        assert_eq!(message.xml, MESSAGE);
        assert_eq!(message.relay_state.as_deref(), Some("r/e f"));
        assert_eq!(message.kind, MessageKind::Request);
        assert_eq!(check(query(&url), &[other]), Err("signature_invalid"), "another key");
        assert!(check(query(&url), &[other, pem]).is_ok(), "any pinned certificate (a rotation)");
    }
    let without_relay = signed(TestKey::Rsa, None);
    assert_eq!(check(query(&without_relay), &[RSA_PEM]).unwrap().relay_state, None);
}

#[test]
fn the_signed_octets_are_the_values_as_sent_in_the_binding_s_order() {
    let url = signed(TestKey::Rsa, Some("abc"));
    let message = read_redirect(query(&url)).unwrap();
    let octets = &message.signature.as_ref().unwrap().octets;
    assert!(
        octets.starts_with("SAMLRequest=") && octets.contains("&RelayState=abc&SigAlg=http%3A%2F%2Fwww.w3.org"),
        "{octets}"
    );
    // The same parameters in another order are the same signed message.
    let pairs: Vec<&str> = query(&url).split('&').collect();
    let reordered = [pairs[4], pairs[3], pairs[1], pairs[0], pairs[2]].join("&");
    assert!(check(&reordered, &[RSA_PEM]).is_ok(), "{reordered}");
}

#[test]
fn a_changed_missing_or_weak_signature_is_refused() {
    let url = signed(TestKey::Rsa, Some("abc"));
    let raw = query(&url);
    assert_eq!(check(&raw.replace("RelayState=abc", "RelayState=abd"), &[RSA_PEM]), Err("signature_invalid"));
    let unsigned: String = raw
        .split('&')
        .filter(|p| !p.starts_with("Signature=") && !p.starts_with("SigAlg="))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(check(&unsigned, &[RSA_PEM]), Err("saml_redirect_unsigned"));
    let no_alg: String = raw.split('&').filter(|p| !p.starts_with("SigAlg=")).collect::<Vec<_>>().join("&");
    assert_eq!(check(&no_alg, &[RSA_PEM]), Err("saml_redirect_unsigned"));
    let sha1 = raw
        .replace("xmldsig-more%23rsa-sha256", "xmldsig%23rsa-sha1")
        .replace("2001%2F04%2Fxmldsig", "2000%2F09%2Fxmldsig");
    assert_eq!(check(&sha1, &[RSA_PEM]), Err("signature_sha1"));
    let other_alg = raw.replace("rsa-sha256", "rsa-sha512");
    assert_eq!(check(&other_alg, &[RSA_PEM]), Err("signature_algorithm"));
    // ECDSA named over an RSA signature: no certificate of that type verifies it.
    let crossed = raw.replace("rsa-sha256", "ecdsa-sha256");
    assert_eq!(check(&crossed, &[RSA_PEM]), Err("signature_invalid"));
    let twice = format!("{raw}&RelayState=xyz");
    assert_eq!(check(&twice, &[RSA_PEM]), Err("saml_redirect_parameters"));
    let bad_signature = format!("{}&Signature=%%%", raw.split("&Signature=").next().unwrap());
    assert_eq!(check(&bad_signature, &[RSA_PEM]), Err("signature_encoding"));
    assert_eq!(check("RelayState=x", &[RSA_PEM]), Err("saml_redirect_parameters"));
    assert_eq!(check(&format!("{raw}&SAMLResponse=x"), &[RSA_PEM]), Err("saml_redirect_parameters"));
}

#[test]
fn an_unsigned_redirect_is_built_without_a_signer() {
    let url = block_on(signed_redirect_url(
        "https://idp.example/sso",
        MessageKind::Request,
        MESSAGE,
        None,
        None::<&TestSigner>,
    ))
    .unwrap();
    assert!(!url.contains("Signature=") && !url.contains("SigAlg="));
    assert_eq!(read_redirect(query(&url)).unwrap().signature, None);
}

proptest! {
    #![proptest_config(crate::testing::generative(256))]
    #[test]
    fn arbitrary_query_strings_never_panic(text in ".{0,400}") {
        let _ = read_redirect(&text);
    }

    #[test]
    fn a_changed_byte_of_a_signed_query_is_never_accepted(index in 0usize..2000, byte in proptest::sample::select(b"AZaz09%+/=&-_.".to_vec())) {
        let url = signed(TestKey::Ec, Some("state"));
        let raw = query(&url);
        let index = index % raw.len();
        let mut bytes = raw.as_bytes().to_vec();
        prop_assume!(bytes[index] != byte);
        bytes[index] = byte;
        let changed = String::from_utf8(bytes).unwrap();
        if let Ok(message) = check(&changed, &[EC_PEM]) {
            // Accepted only if what it says is what was signed.
            let original = read_redirect(raw).unwrap();
            prop_assert_eq!(message.xml, original.xml);
            prop_assert_eq!(message.relay_state, original.relay_state);
        }
    }
}
