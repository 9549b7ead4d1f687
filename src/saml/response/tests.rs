//! Responses shaped like samlify's, Okta's and Entra ID's, signed with the test IdP's keys, then
//! every profile check broken one at a time, and the wrapping (XSW) and comment attacks.

use super::*;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::block_on;
use crate::saml::certificate::{self, tests::EC_PEM, tests::RSA_PEM};
use crate::saml::test_signing::{sign, signature_template, TestKey};
use crate::saml::time::format_instant;
use proptest::prelude::*;

const NOW_S: u64 = 1_800_000_000;
const IDP: &str = "https://idp.example/saml";
const SP: &str = "https://app.example/auth/saml";
const ACS: &str = "https://app.example/auth/callback/conn_abc";
const REQUEST_ID: &str = "_req0123456789abcdef";

/// One response's parts, each of which a test may bend.
#[derive(Clone)]
struct Knobs {
    destination: String,
    recipient: String,
    audience: String,
    assertion_issuer: String,
    response_issuer: String,
    response_in_response_to: Option<String>,
    confirmation_in_response_to: Option<String>,
    not_before_s: u64,
    not_on_or_after_s: u64,
    confirmation_until_s: u64,
    authn_instant_s: u64,
    status: String,
    name_id: String,
    sign_assertion: bool,
    sign_response: bool,
    key: TestKey,
    assertion_extra: String,
    response_extra: String,
    /// The certificate in the signatures' `KeyInfo`, if any (never read by Portcullis).
    key_info: Option<&'static str>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            destination: ACS.into(),
            recipient: ACS.into(),
            audience: SP.into(),
            assertion_issuer: IDP.into(),
            response_issuer: IDP.into(),
            response_in_response_to: Some(REQUEST_ID.into()),
            confirmation_in_response_to: Some(REQUEST_ID.into()),
            not_before_s: NOW_S - 60,
            not_on_or_after_s: NOW_S + 300,
            confirmation_until_s: NOW_S + 240,
            authn_instant_s: NOW_S - 5,
            status: STATUS_SUCCESS.into(),
            name_id: "ann@corp.example".into(),
            sign_assertion: true,
            sign_response: false,
            key: TestKey::Ec,
            assertion_extra: String::new(),
            response_extra: String::new(),
            key_info: Some("never read"),
        }
    }
}

fn irt(value: &Option<String>) -> String {
    value.as_ref().map(|v| format!(r#" InResponseTo="{v}""#)).unwrap_or_default()
}

fn assertion_xml(k: &Knobs, id: &str, signature: &str) -> String {
    format!(
        r#"<saml:Assertion xmlns:saml="{ASSERTION_NS}" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="{id}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}</saml:Issuer>{signature}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="{BEARER}"><saml:SubjectConfirmationData{cirt} NotOnOrAfter="{conf}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{authn}" SessionIndex="_session7"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"><saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">ann@corp.example</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups"><saml:AttributeValue>eng</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups"><saml:AttributeValue>admins</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>{extra}</saml:Assertion>"#,
        now = format_instant(NOW_S - 5),
        issuer = k.assertion_issuer,
        name_id = k.name_id,
        cirt = irt(&k.confirmation_in_response_to),
        conf = format_instant(k.confirmation_until_s),
        recipient = k.recipient,
        nb = format_instant(k.not_before_s),
        noa = format_instant(k.not_on_or_after_s),
        audience = k.audience,
        authn = format_instant(k.authn_instant_s),
        extra = k.assertion_extra,
    )
}

fn response_xml(k: &Knobs, assertion: &str, signature: &str) -> String {
    format!(
        r#"<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="_r1" Version="2.0" IssueInstant="{now}" Destination="{destination}"{rirt}><saml:Issuer>{issuer}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{extra}{assertion}</samlp:Response>"#,
        now = format_instant(NOW_S - 5),
        destination = k.destination,
        rirt = irt(&k.response_in_response_to),
        issuer = k.response_issuer,
        status = k.status,
        extra = k.response_extra,
    )
}

/// The response, signed as the knobs say (the assertion first: the response's digest covers it).
fn build(k: &Knobs) -> String {
    let assertion_signature =
        if k.sign_assertion { signature_template("_a1", k.key, k.key_info) } else { String::new() };
    let response_signature = if k.sign_response { signature_template("_r1", k.key, k.key_info) } else { String::new() };
    let mut text = response_xml(k, &assertion_xml(k, "_a1", &assertion_signature), &response_signature);
    if k.sign_assertion {
        text = sign(&text, "_a1", k.key);
    }
    if k.sign_response {
        text = sign(&text, "_r1", k.key);
    }
    text
}

fn certificates() -> Vec<SigningCertificate> {
    vec![certificate::parse(RSA_PEM).unwrap(), certificate::parse(EC_PEM).unwrap()]
}

/// What this ACS expects, with `certificates` pinned.
fn expected_with<'a>(
    certificates: &'a [SigningCertificate],
    in_response_to: Option<&'a str>,
    now_s: u64,
) -> Expected<'a> {
    Expected {
        idp_entity_id: IDP,
        certificates,
        sp_entity_id: SP,
        acs_url: ACS,
        in_response_to,
        now_s,
        skew_s: 60,
        allow_sha1: false,
    }
}

fn check_with(text: &str, in_response_to: Option<&str>, now_s: u64) -> Result<VerifiedAssertion, ResponseFailure> {
    let certificates = certificates();
    block_on(verify(text, &expected_with(&certificates, in_response_to, now_s), &RustSignatures))
}

fn check(text: &str) -> Result<VerifiedAssertion, ResponseFailure> {
    check_with(text, Some(REQUEST_ID), NOW_S)
}

fn refusal(text: &str) -> &'static str {
    match check(text) {
        Ok(_) => "accepted",
        Err(ResponseFailure::Refused(refusal)) => refusal.reason(),
        Err(ResponseFailure::Unavailable(_)) => "unavailable",
    }
}

fn knobs(edit: impl FnOnce(&mut Knobs)) -> String {
    let mut k = Knobs::default();
    edit(&mut k);
    build(&k)
}

#[test]
fn a_good_response_gives_the_subject_its_session_facts_and_its_attributes() {
    let verified = check(&build(&Knobs::default())).expect("accepted");
    assert_eq!(verified.assertion_id, "_a1");
    assert_eq!(verified.issuer, IDP);
    assert_eq!(verified.name_id, "ann@corp.example");
    assert_eq!(verified.name_id_format.as_deref(), Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
    assert_eq!(verified.session_index.as_deref(), Some("_session7"));
    assert_eq!(verified.authn_instant_s, NOW_S - 5);
    assert_eq!(
        verified.authn_context_class.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    );
    assert_eq!(verified.in_response_to.as_deref(), Some(REQUEST_ID));
    // The earlier of the conditions' and the confirmation's ends, plus the skew.
    assert_eq!(verified.replay_until_s, NOW_S + 240 + 60);
    assert_eq!(
        verified.attributes,
        vec![
            Attribute {
                name: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress".into(),
                values: vec!["ann@corp.example".into()]
            },
            Attribute { name: "groups".into(), values: vec!["eng".into(), "admins".into()] },
        ]
    );
}

#[test]
fn either_signature_suffices_both_must_verify_and_none_is_refused() {
    assert!(check(&knobs(|k| k.key = TestKey::Rsa)).is_ok(), "RSA-SHA256");
    assert!(check(&knobs(|k| (k.sign_assertion, k.sign_response) = (false, true))).is_ok(), "the response signed");
    assert!(check(&knobs(|k| k.sign_response = true)).is_ok(), "both signed");
    assert_eq!(refusal(&knobs(|k| k.sign_assertion = false)), "saml_unsigned");
    // Both signed, the response's signature then broken: a bad signature is never ignored.
    let both = knobs(|k| k.sign_response = true);
    let document = parse(&both).unwrap();
    let response_value = document
        .root_element()
        .children()
        .find(|n| is(*n, DSIG_NS, "Signature"))
        .and_then(|s| s.children().find(|n| is(*n, DSIG_NS, "SignatureValue")))
        .and_then(|v| v.text())
        .unwrap()
        .to_owned();
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut value = engine.decode(&response_value).unwrap();
    value[10] ^= 1;
    let broken = both.replace(&response_value, &engine.encode(value));
    assert_eq!(refusal(&broken), "signature_invalid");
}

#[test]
fn every_profile_check_refuses_with_its_own_reason() {
    let other = "https://evil.example/saml".to_owned();
    let cases: Vec<(&str, String)> = vec![
        ("saml_destination", knobs(|k| k.destination = other.clone())),
        ("saml_subject_confirmation", knobs(|k| k.recipient = other.clone())),
        ("saml_audience", knobs(|k| k.audience = other.clone())),
        ("saml_issuer", knobs(|k| k.assertion_issuer = other.clone())),
        ("saml_issuer", knobs(|k| k.response_issuer = other.clone())),
        ("saml_in_response_to", knobs(|k| k.response_in_response_to = Some("_another_browsers_request".into()))),
        ("saml_in_response_to", knobs(|k| k.confirmation_in_response_to = Some("_another_browsers_request".into()))),
        ("saml_in_response_to", knobs(|k| k.response_in_response_to = None)),
        ("saml_in_response_to", knobs(|k| (k.response_in_response_to, k.confirmation_in_response_to) = (None, None))),
        ("saml_expired", knobs(|k| k.not_on_or_after_s = NOW_S - 61)),
        ("saml_expired", knobs(|k| k.confirmation_until_s = NOW_S - 61)),
        ("saml_not_yet_valid", knobs(|k| k.not_before_s = NOW_S + 61)),
        ("saml_not_yet_valid", knobs(|k| k.authn_instant_s = NOW_S + 61)),
        ("saml_status", knobs(|k| k.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into())),
        ("saml_shape", knobs(|k| k.assertion_extra = "<saml:Advice/>".into())),
        ("saml_shape", knobs(|k| k.assertion_extra = "<saml:AuthzDecisionStatement/>".into())),
        ("saml_shape", knobs(|k| k.response_extra = "<saml:Unknown/>".into())),
    ];
    for (reason, text) in cases {
        assert_eq!(refusal(&text), reason, "{text}");
    }
    // A NameID is read exactly, and white space around it is refused rather than trimmed into
    // another user's name.
    assert_eq!(refusal(&knobs(|k| k.name_id = " admin@corp.example".into())), "saml_shape");
    assert_eq!(refusal(&knobs(|k| k.name_id = "admin@corp.example&#xD;".into())), "saml_shape");
    // A namespaced attribute of the same local name is not the attribute.
    let decoy = knobs(|k| k.recipient = format!(r#"{ACS}" xmlns:p="urn:p" p:Recipient="https://evil.example"#));
    assert!(check(&decoy).is_ok(), "p:Recipient is not Recipient");
    let decoy_first = knobs(|k| k.recipient = format!(r#"https://evil.example" xmlns:p="urn:p" p:Recipient="{ACS}"#));
    assert_eq!(refusal(&decoy_first), "saml_subject_confirmation");
    // An issue instant in the future, past the skew.
    assert_eq!(
        check_with(&build(&Knobs::default()), Some(REQUEST_ID), NOW_S - 100).unwrap_err(),
        ResponseFailure::Refused(ResponseRefusal::NotYetValid)
    );
    // Within the skew either way is accepted.
    assert!(check(&knobs(|k| k.not_on_or_after_s = NOW_S - 59)).is_ok());
    assert!(check(&knobs(|k| k.not_before_s = NOW_S + 59)).is_ok());
}

#[test]
fn the_replay_record_lasts_as_long_as_the_latest_confirmation_that_holds() {
    // Two bearer confirmations, the second good for longer, and no earlier Conditions end.
    let second = format!(
        r#"</saml:SubjectConfirmation><saml:SubjectConfirmation Method="{BEARER}"><saml:SubjectConfirmationData InResponseTo="{REQUEST_ID}" NotOnOrAfter="{}" Recipient="{ACS}"/></saml:SubjectConfirmation>"#,
        format_instant(NOW_S + 600)
    );
    let mut k = Knobs { not_on_or_after_s: NOW_S + 3_600, ..Knobs::default() };
    k.recipient = ACS.into();
    let template = build(&Knobs { sign_assertion: false, ..k.clone() });
    let template = template.replacen("</saml:SubjectConfirmation>", &second, 1);
    let template =
        template.replace("<saml:Subject>", &format!("{}<saml:Subject>", signature_template("_a1", k.key, None)));
    let signed = sign(&template, "_a1", k.key);
    let verified = check(&signed).expect("accepted");
    assert_eq!(verified.replay_until_s, NOW_S + 600 + 60);
    // At NOW + 5 minutes only the second holds: accepted, so the record had to outlive the first.
    assert!(check_with(&signed, Some(REQUEST_ID), NOW_S + 300).is_ok());
}

#[test]
fn a_digest_method_with_content_and_a_swollen_signed_info_are_refused_before_any_key() {
    let good = build(&Knobs::default());
    let stuffed = good.replacen(
        r#"xmlenc#sha256"/>"#,
        &format!(r#"xmlenc#sha256"><ds:X>{}</ds:X></ds:DigestMethod>"#, "<ds:a/>".repeat(100)),
        1,
    );
    assert_ne!(stuffed, good);
    assert_eq!(refusal(&stuffed), "signature_shape");
    let swollen =
        good.replacen(r#"xmlenc#sha256"/>"#, &format!(r#"xmlenc#sha256">{}</ds:DigestMethod>"#, " ".repeat(10)), 1);
    assert_eq!(refusal(&swollen), "signature_invalid", "white space inside is read, and is not what was signed");
}

#[test]
fn an_unsolicited_response_passes_only_when_none_was_asked_for_and_carries_no_request_id() {
    let unsolicited = knobs(|k| (k.response_in_response_to, k.confirmation_in_response_to) = (None, None));
    assert!(check_with(&unsolicited, None, NOW_S).is_ok());
    // A response to some browser's request is not an unsolicited one.
    assert_eq!(
        check_with(&build(&Knobs::default()), None, NOW_S).unwrap_err(),
        ResponseFailure::Refused(ResponseRefusal::InResponseTo)
    );
}

#[test]
fn a_comment_in_the_name_id_is_refused_though_the_signature_still_holds() {
    // The IdP signed `admin@corp.example.evil.test`; a comment that c14n drops would make a reader
    // of the first text node see `admin@corp.example` (CVE-2017-11427 and its family).
    let signed = knobs(|k| k.name_id = "admin@corp.example.evil.test".into());
    let injected = signed.replace("admin@corp.example.evil.test", "admin@corp.example<!---->.evil.test");
    assert_eq!(refusal(&injected), "xml_comment_in_text");
}

#[test]
fn wrapping_attacks_find_no_second_assertion_and_no_stray_signature() {
    let good = build(&Knobs::default());
    let document = parse(&good).unwrap();
    let assertion = document.descendants().find(|n| is(*n, ASSERTION_NS, "Assertion")).unwrap();
    let signed_assertion = &good[assertion.range()];
    let evil = assertion_xml(&Knobs { name_id: "admin@corp.example".into(), ..Knobs::default() }, "_evil", "");
    let wrap = |inner: &str| good.replace(signed_assertion, inner);
    let cases: Vec<(&str, String)> = vec![
        // XSW3/XSW4 shapes: the evil assertion beside, or around, the signed one.
        ("saml_assertion_count", wrap(&format!("{evil}{signed_assertion}"))),
        ("saml_assertion_count", wrap(&format!("{signed_assertion}{evil}"))),
        (
            "saml_assertion_count",
            wrap(&evil.replace("</saml:Assertion>", &format!("{signed_assertion}</saml:Assertion>"))),
        ),
        // The signed assertion hidden in Extensions (XSW7), the evil one in its place.
        ("saml_assertion_count", wrap(&format!("<samlp:Extensions>{signed_assertion}</samlp:Extensions>{evil}"))),
        // The evil assertion alone, the signature moved into it from the signed one (XSW8 shape).
        (
            "signature_reference",
            wrap(&evil.replace("<saml:Subject>", &format!("{}<saml:Subject>", signature_of(signed_assertion)))),
        ),
        // The evil assertion alone, unsigned.
        ("saml_unsigned", wrap(&evil)),
        // An encrypted assertion, which this connection cannot open, beside the signed one.
        ("saml_assertion_count", wrap(&format!("{signed_assertion}<saml:EncryptedAssertion/>"))),
        // A second signature somewhere else.
        (
            "saml_shape",
            good.replace(
                "<samlp:Status>",
                &format!("<samlp:Extensions>{}</samlp:Extensions><samlp:Status>", signature_of(signed_assertion)),
            ),
        ),
    ];
    for (reason, text) in cases {
        assert_eq!(refusal(&text), reason, "{text}");
    }
}

/// The eight XML signature wrapping attacks (XSW1–XSW8, as SAML Raider names them), each built
/// from a validly signed response: the signature stays valid over the original, and the
/// attacker's content sits where a reader that verified one node and read another would look.
#[test]
fn the_eight_signature_wrapping_attacks_are_refused() {
    let evil_knobs = Knobs { name_id: "admin@corp.example".into(), ..Knobs::default() };
    // XSW1, XSW2: the response is signed.
    let signed = build(&Knobs { sign_assertion: false, sign_response: true, ..Knobs::default() });
    let document = parse(&signed).unwrap();
    let root = document.root_element();
    let signature = root.children().find(|n| is(*n, DSIG_NS, "Signature")).unwrap();
    let original = &signed[root.range()];
    let signature_text = &signed[signature.range()];
    let evil_response = |id: &str, inside_signature: &str, before_signature: &str| {
        response_xml(
            &evil_knobs,
            &assertion_xml(&evil_knobs, "_evil_a", ""),
            &format!(
                "{before_signature}{}",
                signature_text.replace("</ds:Signature>", &format!("{inside_signature}</ds:Signature>"))
            ),
        )
        .replacen(r#"ID="_r1""#, &format!(r#"ID="{id}""#), 1)
    };
    // The original response hidden inside the evil one's signature (XSW1) or before it (XSW2),
    // with the evil root keeping the signed ID or taking another.
    let xsw1 = evil_response("_evil_r", original, "");
    let xsw1_same_id = evil_response("_r1", original, "");
    let xsw2 = evil_response("_evil_r", "", original);

    // XSW3–XSW8: the assertion is signed.
    let good = build(&Knobs::default());
    let document = parse(&good).unwrap();
    let assertion = document.descendants().find(|n| is(*n, ASSERTION_NS, "Assertion")).unwrap();
    let signed_assertion = &good[assertion.range()];
    let assertion_signature = signature_of(signed_assertion);
    let unsigned_original = signed_assertion.replace(&assertion_signature, "");
    let evil = |id: &str, signature: &str| assertion_xml(&evil_knobs, id, signature);
    let wrap = |inner: &str| good.replace(signed_assertion, inner);
    let with_object = |inner: &str| {
        assertion_signature.replace("</ds:Signature>", &format!("<ds:Object>{inner}</ds:Object></ds:Signature>"))
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("XSW1", xsw1, "saml_assertion_count"),
        ("XSW1, the signed ID kept", xsw1_same_id, "xml_duplicate_id"),
        ("XSW2", xsw2, "saml_assertion_count"),
        ("XSW3", wrap(&format!("{}{signed_assertion}", evil("_evil", ""))), "saml_assertion_count"),
        (
            "XSW4",
            wrap(&evil("_evil", "").replace("</saml:Assertion>", &format!("{signed_assertion}</saml:Assertion>"))),
            "saml_assertion_count",
        ),
        ("XSW5", wrap(&format!("{}{unsigned_original}", evil("_a1", &assertion_signature))), "xml_duplicate_id"),
        (
            "XSW5, another ID",
            wrap(&format!("{}{unsigned_original}", evil("_evil", &assertion_signature))),
            "saml_assertion_count",
        ),
        (
            "XSW6",
            wrap(&evil(
                "_evil",
                &assertion_signature.replace("</ds:Signature>", &format!("{signed_assertion}</ds:Signature>")),
            )),
            "saml_assertion_count",
        ),
        (
            "XSW7",
            wrap(&format!("<samlp:Extensions>{}</samlp:Extensions>{signed_assertion}", evil("_evil", ""))),
            "saml_assertion_count",
        ),
        ("XSW8", wrap(&evil("_evil", &with_object(&unsigned_original))), "saml_assertion_count"),
        ("XSW8, an empty Object", wrap(&evil("_evil", &with_object(""))), "signature_shape"),
    ];
    for (name, text, reason) in cases {
        assert_eq!(refusal(&text), reason, "{name}: {text}");
    }
}

/// The `ds:Signature` element of a signed assertion's text.
fn signature_of(assertion: &str) -> String {
    let start = assertion.find("<ds:Signature").unwrap();
    let end = assertion.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    assertion[start..end].to_owned()
}

#[test]
fn a_doctype_an_entity_and_an_oversized_response_are_refused_before_anything_is_read() {
    let good = build(&Knobs::default());
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>{good}"#
    );
    assert_eq!(refusal(&laughs), "xml_doctype");
    let oversized = good.replace(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{}</samlp:Extensions><samlp:Status>", " ".repeat(300 * 1024)),
    );
    assert_eq!(refusal(&oversized), "xml_too_large");
    assert_eq!(refusal("not xml at all"), "xml_malformed");
    assert_eq!(refusal(&format!("<samlp:LogoutRequest xmlns:samlp=\"{PROTOCOL_NS}\"/>")), "saml_shape");
}

proptest! {
    #![proptest_config(crate::testing::generative(64))]

    /// One byte of a signed response changed: refused, unless the signed assertion's canonical
    /// bytes are unchanged; and what is read is then the original's.
    #[test]
    fn a_changed_byte_is_accepted_only_when_the_signed_bytes_are_unchanged(index in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let good = build(&Knobs::default());
        let original = check(&good).unwrap();
        let mut bytes = good.clone().into_bytes();
        let at = index.index(bytes.len());
        bytes[at] ^= xor;
        let Ok(changed) = String::from_utf8(bytes) else { return Ok(()) };
        if let Ok(verified) = check(&changed) {
            prop_assert_eq!(verified, original);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = check(&text);
    }
}

/// Differential tests against xmlsec1 (Debian's, installed by `scripts/bootstrap.sh --with-saml`):
/// what it signs, Portcullis accepts; what Portcullis's test IdP signs, it verifies; and a change
/// to signed content is refused by both.
mod against_xmlsec1 {
    use super::*;
    use std::process::Command;

    const CERTIFICATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/saml/certificate/");

    fn xmlsec1(args: &[&str]) -> std::process::Output {
        Command::new("xmlsec1").args(args).output().unwrap_or_else(|error| {
            panic!("xmlsec1 is needed for these tests ({error}): run scripts/bootstrap.sh --with-saml")
        })
    }

    /// A file of its own (tests run in parallel) in the temporary directory.
    fn temporary(name: &str, text: &str) -> std::path::PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("portcullis-xmlsec-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn key_args(key: TestKey) -> (&'static str, &'static str) {
        match key {
            TestKey::Rsa => ("idp-rsa.key.der", "idp-rsa.pem"),
            TestKey::Ec => ("idp-ec.key.der", "idp-ec.pem"),
        }
    }

    /// xmlsec1 fills the knobs' templates: the assertion's first, then the response's.
    fn signed_by_xmlsec1(k: &Knobs, name: &str) -> String {
        let mut text = unsigned_template(k).replace("DIGEST_VALUE", "").replace("SIGNATURE_VALUE", "");
        if k.sign_assertion {
            text = signed_once(&text, k.key, name, "//*[local-name()='Assertion']/*[local-name()='Signature']");
        }
        if k.sign_response {
            text = signed_once(&text, k.key, name, "/*/*[local-name()='Signature']");
        }
        text
    }

    fn signed_once(text: &str, key: TestKey, name: &str, xpath: &str) -> String {
        let template = temporary(&format!("{name}.xml"), text);
        let output = template.with_extension("signed.xml");
        let private = format!("{CERTIFICATES}{}", key_args(key).0);
        let result = xmlsec1(&[
            "--sign",
            "--privkey-der",
            &private,
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--node-xpath",
            xpath,
            "--output",
            output.to_str().unwrap(),
            template.to_str().unwrap(),
        ]);
        assert!(result.status.success(), "xmlsec1 --sign: {}", String::from_utf8_lossy(&result.stderr));
        let signed = std::fs::read_to_string(&output).unwrap();
        let _ = std::fs::remove_file(&template);
        let _ = std::fs::remove_file(&output);
        signed
    }

    /// Whether xmlsec1 verifies every signature of `text` with `key`'s certificate.
    fn xmlsec1_verifies(text: &str, key: TestKey, name: &str) -> bool {
        let file = temporary(&format!("{name}.verify.xml"), text);
        let certificate = format!("{CERTIFICATES}{}", key_args(key).1);
        let result = xmlsec1(&[
            "--verify",
            "--pubkey-cert-pem",
            &certificate,
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--enabled-reference-uris",
            "same-doc",
            file.to_str().unwrap(),
        ]);
        let _ = std::fs::remove_file(&file);
        result.status.success()
    }

    /// Unsigned templates that stress canonicalisation: namespaces declared where they are not
    /// used, a default namespace, attributes in namespaces, escapes, CRs and tabs.
    fn templates(key: TestKey) -> Vec<(&'static str, Knobs)> {
        let plain = Knobs { key, key_info: None, ..Knobs::default() };
        let noisy = Knobs {
            key,
            name_id: "ann&amp;bob &lt;x&gt; \"q\"\t&#13;x".into(),
            assertion_extra: r#"<saml:AttributeStatement xmlns:unused="urn:unused" xmlns:x="urn:x"><saml:Attribute Name="a&amp;b" x:flag="1&#9;&#10;2" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xmlns="urn:default" xsi:type="xs:string" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">v &gt; 1</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"#.into(),
            key_info: None,
            ..Knobs::default()
        };
        let both = Knobs { key, sign_response: true, key_info: None, ..Knobs::default() };
        let response_only =
            Knobs { key, sign_assertion: false, sign_response: true, key_info: None, ..Knobs::default() };
        vec![("plain", plain), ("noisy", noisy), ("both", both), ("response", response_only)]
    }

    fn unsigned_template(k: &Knobs) -> String {
        let assertion_signature =
            if k.sign_assertion { signature_template("_a1", k.key, k.key_info) } else { String::new() };
        let response_signature =
            if k.sign_response { signature_template("_r1", k.key, k.key_info) } else { String::new() };
        response_xml(k, &assertion_xml(k, "_a1", &assertion_signature), &response_signature)
    }

    #[test]
    fn what_xmlsec1_signs_portcullis_accepts_and_a_change_both_refuse() {
        for key in [TestKey::Rsa, TestKey::Ec] {
            for (name, k) in templates(key) {
                let signed = signed_by_xmlsec1(&k, name);
                assert!(xmlsec1_verifies(&signed, key, name), "xmlsec1 verifies its own {name}");
                let verified =
                    check(&signed).unwrap_or_else(|e| panic!("{name} {key:?} signed by xmlsec1: {e:?}\n{signed}"));
                assert_eq!(verified.assertion_id, "_a1");
                let tampered = signed.replace("_session7", "_session8");
                assert!(!xmlsec1_verifies(&tampered, key, name), "xmlsec1 refuses a change ({name})");
                assert!(check(&tampered).is_err(), "Portcullis refuses a change ({name})");
            }
        }
    }

    #[test]
    fn what_portcullis_test_idp_signs_xmlsec1_verifies() {
        for key in [TestKey::Rsa, TestKey::Ec] {
            for (name, k) in templates(key) {
                let signed = build(&Knobs { key_info: None, ..k });
                assert!(check(&signed).is_ok(), "{name} {key:?}");
                assert!(
                    xmlsec1_verifies(&signed, key, name),
                    "xmlsec1 verifies Portcullis's {name} {key:?}:\n{signed}"
                );
            }
        }
    }
}

/// Encrypted assertions: opened only with the SP key, read only if the IdP signed the assertion
/// itself or the response over its ciphertext, and required where the connection says so.
mod encrypted {
    use super::*;
    use crate::saml::encryption::tests::{encrypt, TestDecryptor, DEFAULT};

    /// The knobs' response with its assertion encrypted (signed first, if the knobs say so);
    /// the response signed over the ciphertext if they say so.
    fn encrypted(k: &Knobs) -> String {
        let signature = if k.sign_assertion { signature_template("_a1", k.key, None) } else { String::new() };
        let mut assertion = assertion_xml(k, "_a1", &signature);
        if k.sign_assertion {
            assertion = sign(&assertion, "_a1", k.key);
        }
        let response_signature = if k.sign_response { signature_template("_r1", k.key, None) } else { String::new() };
        let mut text = response_xml(k, &encrypt(&assertion, DEFAULT, 1), &response_signature);
        if k.sign_response {
            text = sign(&text, "_r1", k.key);
        }
        text
    }

    fn reason(text: &str, with_key: bool, required: bool) -> &'static str {
        let certificates = certificates();
        let expected = expected_with(&certificates, Some(REQUEST_ID), NOW_S);
        let decryption = Decryption { decryptor: with_key.then_some(&TestDecryptor), required, cbc_when_signed: true };
        match block_on(verify_with(text, &expected, &RustSignatures, decryption)) {
            Ok(verified) => {
                assert_eq!(verified.name_id, "ann@corp.example");
                "accepted"
            }
            Err(ResponseFailure::Refused(refusal)) => refusal.reason(),
            Err(ResponseFailure::Unavailable(_)) => "unavailable",
        }
    }

    #[test]
    fn an_encrypted_assertion_signed_by_the_idp_opens_with_the_sp_key() {
        let text = encrypted(&Knobs::default());
        assert!(!text.contains("ann@corp.example"), "the subject is secret on the wire");
        assert_eq!(reason(&text, true, false), "accepted");
        assert_eq!(reason(&text, true, true), "accepted");
        assert_eq!(reason(&text, false, false), "saml_assertion_count", "no key: never read");
    }

    #[test]
    fn a_response_signed_over_the_ciphertext_vouches_for_what_it_decrypts_to() {
        let response_only = encrypted(&Knobs { sign_assertion: false, sign_response: true, ..Knobs::default() });
        assert_eq!(reason(&response_only, true, false), "accepted");
        let both = encrypted(&Knobs { sign_response: true, ..Knobs::default() });
        assert_eq!(reason(&both, true, false), "accepted");
        // Anyone can encrypt to the SP's public key: an unsigned assertion so is refused.
        let neither = encrypted(&Knobs { sign_assertion: false, ..Knobs::default() });
        assert_eq!(reason(&neither, true, false), "saml_unsigned");
        // The signed response's ciphertext swapped for the attacker's own: the digest fails.
        let forged_assertion =
            assertion_xml(&Knobs { name_id: "ceo@corp.example".into(), ..Knobs::default() }, "_a1", "");
        let forged = encrypt(&forged_assertion, DEFAULT, 2);
        let start = response_only.find("<saml:EncryptedAssertion").unwrap();
        let end = response_only.find("</saml:EncryptedAssertion>").unwrap() + "</saml:EncryptedAssertion>".len();
        let swapped = format!("{}{forged}{}", &response_only[..start], &response_only[end..]);
        assert_eq!(reason(&swapped, true, false), "signature_digest");
    }

    #[test]
    fn aes_cbc_only_under_a_response_signature_and_the_plaintext_must_stand_alone() {
        use crate::saml::encryption::tests::Encrypting;
        let cbc = Encrypting { content: "http://www.w3.org/2001/04/xmlenc#aes256-cbc", ..DEFAULT };
        let k = Knobs::default();
        let mut assertion = assertion_xml(&k, "_a1", &signature_template("_a1", k.key, None));
        assertion = sign(&assertion, "_a1", k.key);
        let unsigned_response = response_xml(&k, &encrypt(&assertion, cbc, 4), "");
        assert_eq!(reason(&unsigned_response, true, false), "saml_encryption_algorithm", "a forged CBC probe");
        let signed_response = sign(
            &response_xml(&k, &encrypt(&assertion, cbc, 4), &signature_template("_r1", k.key, None)),
            "_r1",
            k.key,
        );
        assert_eq!(reason(&signed_response, true, false), "accepted");
        // Under a tenant's IdP's signature (which its tenant controls), still no CBC.
        let certificates = certificates();
        let expected = expected_with(&certificates, Some(REQUEST_ID), NOW_S);
        let tenants = Decryption { decryptor: Some(&TestDecryptor), required: false, cbc_when_signed: false };
        let refused = block_on(verify_with(&signed_response, &expected, &RustSignatures, tenants));
        assert_eq!(
            refused.map(|_| ()),
            Err(ResponseFailure::Refused(ResponseRefusal::Decryption(DecryptRefusal::Algorithm)))
        );
        // A plaintext that leans on a prefix the response declares: nothing signs that scope.
        let inherited = assertion.replacen(&format!(r#" xmlns:saml="{ASSERTION_NS}""#), "", 1);
        assert_ne!(inherited, assertion);
        let leaning = response_xml(&k, &encrypt(&inherited, DEFAULT, 5), "");
        assert_eq!(reason(&leaning, true, false), "saml_decryption");
        let not_an_assertion =
            response_xml(&k, &encrypt(&format!("<saml:Subject xmlns:saml=\"{ASSERTION_NS}\"/>"), DEFAULT, 6), "");
        assert_eq!(reason(&not_an_assertion, true, false), "saml_assertion_count");
    }

    #[test]
    fn the_profile_checks_hold_inside_the_ciphertext_too() {
        let wrong_audience = encrypted(&Knobs { audience: "https://other.example".into(), ..Knobs::default() });
        assert_eq!(reason(&wrong_audience, true, false), "saml_audience");
        let expired =
            encrypted(&Knobs { not_on_or_after_s: NOW_S - 120, confirmation_until_s: NOW_S - 120, ..Knobs::default() });
        assert!(["saml_expired", "saml_subject_confirmation"].contains(&reason(&expired, true, false)));
    }

    #[test]
    fn one_assertion_encrypted_or_plain_and_plain_is_refused_where_encryption_is_required() {
        let plain = build(&Knobs::default());
        assert_eq!(reason(&plain, true, false), "accepted");
        assert_eq!(reason(&plain, true, true), "saml_assertion_not_encrypted");
        assert_eq!(reason(&plain, false, true), "saml_assertion_not_encrypted");
        let text = encrypted(&Knobs::default());
        let start = text.find("<saml:EncryptedAssertion").unwrap();
        let end = text.find("</saml:EncryptedAssertion>").unwrap() + "</saml:EncryptedAssertion>".len();
        let twice = format!("{}{}{}", &text[..end], &text[start..end], &text[end..]);
        assert_eq!(reason(&twice, true, false), "saml_assertion_count");
        let plain_assertion =
            &plain[plain.find("<saml:Assertion").unwrap()..plain.find("</saml:Assertion>").unwrap() + 17];
        let beside_plain = format!("{}{plain_assertion}{}", &text[..end], &text[end..]);
        assert_eq!(reason(&beside_plain, true, false), "saml_assertion_count");
        // A ciphertext that decrypts to two assertions (its signed one and a forged one).
        let k = Knobs::default();
        let mut one = assertion_xml(&k, "_a1", &signature_template("_a1", k.key, None));
        one = sign(&one, "_a1", k.key);
        let two = format!("{one}{}", assertion_xml(&k, "_a2", ""));
        let smuggled = response_xml(&k, &encrypt(&two, DEFAULT, 3), "");
        assert_eq!(reason(&smuggled, true, false), "saml_decryption", "a plaintext is one Assertion and nothing else");
    }
}
