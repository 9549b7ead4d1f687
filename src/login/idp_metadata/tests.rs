//! Metadata import: uploaded or fetched, signed when a certificate is given, and never more than
//! the body asked for.

use super::*;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::{block_on, TablePeer};
use crate::saml::certificate::tests::{EC_PEM, RSA_PEM};
use crate::saml::metadata::tests::idp_metadata;
use crate::saml::test_signing::{sign, signature_template, TestKey};
use serde_json::json;

const NOW_S: u64 = 1_800_000_000;

fn import(body: &Value, peer: &TablePeer, environment: Environment) -> Result<Value, ImportFailure> {
    let own = vec!["gw.example.com".to_owned()];
    let importing = Importing {
        environment,
        own_hosts: &own,
        http: peer,
        verifier: &RustSignatures,
        now_s: NOW_S,
        sp_signs: false,
    };
    block_on(with_idp_metadata(body, importing))
}

fn problems(result: Result<Value, ImportFailure>) -> Vec<String> {
    match result {
        Err(ImportFailure::Invalid(problems)) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn compact(pem: &str) -> String {
    pem.lines().filter(|line| !line.starts_with("-----")).collect()
}

#[test]
fn uploaded_metadata_fills_the_entity_the_redirect_sso_url_and_the_signing_certificates() {
    let body = json!({ "type": "saml", "saml": { "metadata_xml": idp_metadata("", ""), "trust_email": true } });
    let filled = import(&body, &TablePeer::default(), Environment::Production).unwrap();
    assert_eq!(
        filled["saml"],
        json!({ "idp_entity_id": "https://idp.example/saml", "sso_url": "https://idp.example/sso",
                "certificates": [compact(RSA_PEM)], "trust_email": true }),
        "the import fields are gone; the encryption key is not pinned"
    );
}

#[test]
fn where_this_sp_signs_the_idp_s_single_logout_and_signed_requests_are_taken_too() {
    let wanting =
        idp_metadata("", "").replace(r#"WantAuthnRequestsSigned="false""#, r#"WantAuthnRequestsSigned="true""#);
    let body = json!({ "type": "saml", "saml": { "metadata_xml": wanting } });
    let own = vec!["gw.example.com".to_owned()];
    let peer = TablePeer::default();
    let importing = |sp_signs| Importing {
        environment: Environment::Production,
        own_hosts: &own,
        http: &peer,
        verifier: &RustSignatures,
        now_s: NOW_S,
        sp_signs,
    };
    let signing = block_on(with_idp_metadata(&body, importing(true))).unwrap();
    assert_eq!(signing["saml"]["slo_url"], "https://idp.example/slo");
    assert_eq!(signing["saml"]["sign_requests"], true);
    let plain = block_on(with_idp_metadata(&body, importing(false))).unwrap();
    assert!(
        plain["saml"].get("slo_url").is_none() && plain["saml"].get("sign_requests").is_none(),
        "no SP key: neither"
    );
}

#[test]
fn what_the_body_states_wins_over_the_metadata() {
    let body = json!({ "type": "saml", "saml": { "metadata_xml": idp_metadata("", ""),
                       "sso_url": "https://idp.example/other", "certificates": [EC_PEM] } });
    let filled = import(&body, &TablePeer::default(), Environment::Production).unwrap();
    assert_eq!(filled["saml"]["sso_url"], "https://idp.example/other");
    assert_eq!(filled["saml"]["certificates"], json!([EC_PEM]));
    assert_eq!(filled["saml"]["idp_entity_id"], "https://idp.example/saml");
}

#[test]
fn a_body_without_metadata_or_of_another_type_is_left_as_it_is() {
    for body in [
        json!({ "type": "saml", "saml": { "idp_entity_id": "x" } }),
        json!({ "type": "oidc", "saml": { "metadata_xml": "<not read/>" } }),
        json!({ "type": "saml" }),
    ] {
        assert_eq!(import(&body, &TablePeer::default(), Environment::Production).unwrap(), body);
    }
}

#[test]
fn with_a_certificate_the_metadata_must_be_signed_by_it() {
    let template = idp_metadata(&signature_template("_m1", TestKey::Rsa, None), "");
    let signed = sign(&template, "_m1", TestKey::Rsa);
    let body =
        |xml: &str, pem: &str| json!({ "type": "saml", "saml": { "metadata_xml": xml, "metadata_certificate": pem } });
    let peer = TablePeer::default();
    assert!(import(&body(&signed, RSA_PEM), &peer, Environment::Production).is_ok());
    assert_eq!(
        problems(import(&body(&signed, EC_PEM), &peer, Environment::Production)),
        vec!["saml.metadata: refused (signature_invalid)".to_owned()]
    );
    let unsigned = idp_metadata("", "");
    assert_eq!(
        problems(import(&body(&unsigned, RSA_PEM), &peer, Environment::Production)),
        vec!["saml.metadata: refused (signature_shape)".to_owned()]
    );
    let swapped = signed.replace("https://idp.example/sso\"", "https://evil.example/sso\"");
    assert_eq!(
        problems(import(&body(&swapped, RSA_PEM), &peer, Environment::Production)),
        vec!["saml.metadata: refused (signature_digest)".to_owned()]
    );
    assert_eq!(
        problems(import(&body(&signed, "not a certificate"), &peer, Environment::Production)),
        vec!["saml.metadata_certificate: certificate encoding".to_owned()]
    );
}

#[test]
fn metadata_is_fetched_from_a_public_https_url_and_its_answer_must_be_metadata() {
    let peer = TablePeer::default();
    peer.answer_raw("https://idp.example/metadata", 200, idp_metadata("", "").as_bytes());
    peer.answer_raw("https://idp.example/gone", 404, b"not here");
    peer.answer_raw("https://idp.example/html", 200, b"<html><body>sign in</body></html>");
    let at = |url: &str| json!({ "type": "saml", "saml": { "metadata_url": url } });
    let filled = import(&at("https://idp.example/metadata"), &peer, Environment::Production).unwrap();
    assert_eq!(filled["saml"]["idp_entity_id"], "https://idp.example/saml");
    let sent = peer.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].headers.iter().any(|(name, value)| name == "accept" && value.contains("samlmetadata")));
    assert_eq!(
        problems(import(&at("https://idp.example/gone"), &peer, Environment::Production)),
        vec!["saml.metadata_url: that URL answered 404".to_owned()]
    );
    assert_eq!(
        problems(import(&at("https://idp.example/html"), &peer, Environment::Production)),
        vec!["saml.metadata: refused (metadata_shape)".to_owned()]
    );
    assert_eq!(
        problems(import(&at("https://idp.example/silent"), &peer, Environment::Production)),
        vec!["saml.metadata_url: no answer (or too large) from that URL".to_owned()]
    );
    for refused in [
        "http://idp.example/metadata",
        "https://10.0.0.1/metadata",
        "https://gw.example.com/auth",
        "https://localhost/m",
    ] {
        let found = problems(import(&at(refused), &peer, Environment::Production));
        assert!(found[0].starts_with("saml.metadata_url: "), "{refused}: {found:?}");
    }
    assert_eq!(peer.sent().len(), 4, "a refused URL is never fetched");
}

#[test]
fn import_fields_are_checked_before_anything_is_read() {
    let peer = TablePeer::default();
    let cases = [
        (
            json!({ "metadata_certificate": RSA_PEM }),
            "saml.metadata_certificate: only with metadata_xml or metadata_url",
        ),
        (
            json!({ "metadata_xml": "<x/>", "metadata_url": "https://idp.example/m" }),
            "saml.metadata_xml: or metadata_url, not both",
        ),
        (json!({ "metadata_xml": 7 }), "saml.metadata_xml: a non-empty string"),
        (json!({ "metadata_url": "" }), "saml.metadata_url: a non-empty string"),
        (json!({ "metadata_xml": "<!DOCTYPE x [<!ENTITY a 'b'>]><x/>" }), "saml.metadata: refused (xml_doctype)"),
    ];
    for (saml, expected) in cases {
        let body = json!({ "type": "saml", "saml": saml });
        assert_eq!(problems(import(&body, &peer, Environment::Production)), vec![expected.to_owned()], "{saml}");
    }
    assert!(peer.sent().is_empty());
}

#[test]
fn metadata_with_only_a_post_sso_endpoint_needs_an_sso_url_of_the_body() {
    let post_only = idp_metadata("", "").replace(
        r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>"#,
        "",
    );
    assert!(!post_only.contains("https://idp.example/sso\""), "the redirect endpoint is gone");
    let body = json!({ "type": "saml", "saml": { "metadata_xml": post_only } });
    assert_eq!(
        problems(import(&body, &TablePeer::default(), Environment::Production)),
        vec!["saml.metadata: the IdP has no HTTP-Redirect SSO endpoint".to_owned()]
    );
}

proptest::proptest! {
    #![proptest_config(crate::testing::generative(128))]
    #[test]
    fn arbitrary_metadata_never_panics(text in ".{0,300}") {
        let body = json!({ "type": "saml", "saml": { "metadata_xml": text } });
        let _ = import(&body, &TablePeer::default(), Environment::Development);
    }
}
