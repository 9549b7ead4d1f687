//! Logout messages: what this SP sends reads back as the IdP would read it, and an IdP's message
//! is taken only from this IdP, to this SLO URL, while it is fresh.

use super::*;
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;
const IDP: &str = "https://idp.example/saml";
const SLO: &str = "https://gw.example/auth/saml/acme/slo";

fn expected() -> Expected<'static> {
    Expected { idp_entity_id: IDP, slo_url: SLO, now_s: NOW, skew_s: 60 }
}

fn idp_request(issued: u64, extra: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="_lr1" Version="2.0" IssueInstant="{}" Destination="{SLO}"><saml:Issuer>{IDP}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">ann@acme.test</saml:NameID><samlp:SessionIndex>_s1</samlp:SessionIndex>{extra}</samlp:LogoutRequest>"#,
        format_instant(issued)
    )
}

fn subject() -> SamlSubject {
    SamlSubject {
        name_id: "ann@acme.test".into(),
        format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
        name_qualifier: Some("https://idp.example/<q>".into()),
        sp_name_qualifier: None,
        session_index: Some("_s1".into()),
    }
}

#[test]
fn the_sp_s_logout_request_names_the_subject_as_the_assertion_did() {
    let subject = subject();
    let request = LogoutRequest {
        id: "_r1",
        sp_entity_id: "https://gw.example/sp",
        destination: "https://idp.example/slo",
        subject: &subject,
        issued_at_s: NOW,
    };
    let xml = request.to_xml();
    let document = parse(&xml).expect("well-formed");
    let root = document.root_element();
    assert!(is(root, PROTOCOL_NS, "LogoutRequest"));
    assert_eq!(attribute(root, "Destination"), Some("https://idp.example/slo"));
    assert_eq!(attribute(root, "NotOnOrAfter").and_then(parse_instant), Some(NOW + MESSAGE_LIFETIME_S));
    let name = root.children().find(|n| is(*n, ASSERTION_NS, "NameID")).unwrap();
    assert_eq!(single_text(name), Some("ann@acme.test"));
    assert_eq!(attribute(name, "NameQualifier"), Some("https://idp.example/<q>"), "escaped and read back");
    assert_eq!(attribute(name, "SPNameQualifier"), None);
    let index = root.children().find(|n| is(*n, PROTOCOL_NS, "SessionIndex")).unwrap();
    assert_eq!(single_text(index), Some("_s1"));
}

#[test]
fn the_sp_s_logout_response_answers_the_request_with_its_status() {
    for (status, code) in [
        (LogoutStatus::Success, STATUS_SUCCESS),
        (LogoutStatus::Failed, "urn:oasis:names:tc:SAML:2.0:status:Responder"),
    ] {
        let response = LogoutResponse {
            id: "_p1",
            in_response_to: "_lr1",
            sp_entity_id: "sp",
            destination: "https://idp.example/slo",
            status,
            issued_at_s: NOW,
        };
        let xml = response.to_xml();
        assert!(xml.contains(r#"InResponseTo="_lr1""#) && xml.contains(&format!(r#"Value="{code}""#)), "{xml}");
        // It reads back as an IdP's response would (to the IdP's own checks).
        let as_idp = Expected { idp_entity_id: "sp", slo_url: "https://idp.example/slo", now_s: NOW, skew_s: 0 };
        let read = read_response(&xml, &as_idp).unwrap();
        assert_eq!(read.in_response_to.as_deref(), Some("_lr1"));
        assert_eq!(read.success, status == LogoutStatus::Success);
    }
}

#[test]
fn an_idp_request_names_whom_to_sign_out() {
    let read =
        read_request(&idp_request(NOW - 10, "<samlp:SessionIndex>_s2</samlp:SessionIndex>"), &expected()).unwrap();
    assert_eq!(read.id, "_lr1");
    assert_eq!(read.name_id, "ann@acme.test");
    assert_eq!(read.session_indexes, vec!["_s1".to_owned(), "_s2".to_owned()]);
    assert_eq!(read.replay_until_s, NOW - 10 + MESSAGE_LIFETIME_S + 60);
}

#[test]
fn an_idp_request_from_elsewhere_to_elsewhere_or_of_another_time_is_refused() {
    let reason = |xml: &str| read_request(xml, &expected()).map(|_| ()).map_err(LogoutRefusal::reason);
    let fresh = idp_request(NOW, "");
    assert_eq!(reason(&fresh.replace(IDP, "https://evil.example/saml")), Err("saml_issuer"));
    assert_eq!(reason(&fresh.replace(SLO, "https://gw.example/auth/saml/other/slo")), Err("saml_destination"));
    assert_eq!(
        reason(&fresh.replace(&format!(r#" Destination="{SLO}""#), "")),
        Err("saml_destination"),
        "no Destination"
    );
    assert_eq!(reason(&idp_request(NOW - MESSAGE_LIFETIME_S - 61, "")), Err("saml_logout_stale"), "too old");
    assert_eq!(reason(&idp_request(NOW + 61, "")), Err("saml_logout_stale"), "from the future");
    assert!(reason(&idp_request(NOW + 59, "")).is_ok(), "within the skew");
    let past =
        fresh.replace(r#"Version="2.0""#, &format!(r#"Version="2.0" NotOnOrAfter="{}""#, format_instant(NOW - 61)));
    assert_eq!(reason(&past), Err("saml_logout_stale"), "NotOnOrAfter passed");
    let two_names = idp_request(NOW, "<saml:NameID>eve@acme.test</saml:NameID>");
    assert_eq!(reason(&two_names), Err("saml_logout_shape"));
    let encrypted = idp_request(NOW, "<saml:EncryptedID/>");
    assert_eq!(reason(&encrypted), Err("saml_encrypted_id"));
    let commented = fresh.replace("ann@acme.test", "ann@acme.test<!---->.evil");
    assert_eq!(reason(&commented), Err("xml_comment_in_text"));
    let two_issuers = fresh.replace("</saml:Issuer>", &format!("</saml:Issuer><saml:Issuer>{IDP}</saml:Issuer>"));
    assert_eq!(reason(&two_issuers), Err("saml_issuer"));
    assert_eq!(reason(&fresh.replace(r#"Version="2.0""#, r#"Version="1.1""#)), Err("saml_logout_shape"));
    assert_eq!(reason(&fresh.replace(r#"ID="_lr1""#, "")), Err("saml_logout_shape"));
    assert_eq!(reason(&format!("<!DOCTYPE x>{fresh}")), Err("xml_doctype"));
    let response_instead = LogoutResponse {
        id: "_p",
        in_response_to: "_r",
        sp_entity_id: IDP,
        destination: SLO,
        status: LogoutStatus::Success,
        issued_at_s: NOW,
    }
    .to_xml();
    assert_eq!(reason(&response_instead), Err("saml_logout_shape"));
}

#[test]
fn an_idp_response_says_whether_it_succeeded() {
    let response = |code: &str| {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="_p" Version="2.0" IssueInstant="{}" Destination="{SLO}" InResponseTo="_r9"><saml:Issuer>{IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{code}"/></samlp:Status></samlp:LogoutResponse>"#,
            format_instant(NOW)
        )
    };
    let ok = read_response(&response(STATUS_SUCCESS), &expected()).unwrap();
    assert_eq!(ok, IdpLogoutResponse { in_response_to: Some("_r9".into()), success: true });
    let partial = read_response(&response("urn:oasis:names:tc:SAML:2.0:status:Requester"), &expected()).unwrap();
    assert!(!partial.success);
    assert_eq!(read_response(&response(STATUS_SUCCESS).replace(IDP, "x"), &expected()), Err(LogoutRefusal::Issuer));
}

proptest! {
    #![proptest_config(crate::testing::generative(256))]
    #[test]
    fn arbitrary_logout_messages_never_panic(text in ".{0,400}") {
        let _ = read_request(&text, &expected());
        let _ = read_response(&text, &expected());
    }

    #[test]
    fn mutations_of_a_request_never_name_someone_else(index in 0usize..2000, byte in proptest::sample::select(b"<>/=\" a!-_".to_vec())) {
        let original = idp_request(NOW, "");
        let mut bytes = original.clone().into_bytes();
        let index = index % bytes.len();
        bytes[index] = byte;
        if let Ok(text) = String::from_utf8(bytes) {
            if let Ok(read) = read_request(&text, &expected()) {
                // Whatever parses still came from this IdP to this SLO URL; it may name another
                // subject only where the NameID element itself changed.
                let start = original.find("<saml:NameID").unwrap();
                let end = original.find("</saml:NameID>").unwrap() + "</saml:NameID>".len();
                prop_assert!(read.name_id == "ann@acme.test" || (start..end).contains(&index), "{}", read.name_id);
            }
        }
    }
}
