//! Single Logout both ways, with the test IdP's RSA key and an EC SP key: what leaves is signed
//! by the SP key and names the subject as the assertion did; what comes in is taken only signed
//! by the IdP, to this SLO URL, once.

use super::*;
use crate::deploy::Environment;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::{block_on, ManualClock, MemoryLedger};
use crate::ports::SystemEntropy;
use crate::saml::certificate::{
    self,
    tests::{EC_PEM, RSA_PEM},
};
use crate::saml::redirect_signature::{read_redirect, signed_redirect_url, tests::TestSigner, verify};
use crate::saml::response::{ASSERTION_NS, PROTOCOL_NS};
use crate::saml::test_signing::TestKey;
use crate::saml::time::format_instant;
use serde_json::json;

const NOW_S: u64 = 1_800_000_000;
const IDP: &str = "https://idp.example/saml";
const IDP_SLO: &str = "https://idp.example/slo";
const OWN_SLO: &str = "https://app.example/auth/saml/okta/slo";

fn login(slo: bool) -> LoginConfig {
    let mut saml = json!({ "idp_entity_id": IDP, "sso_url": "https://idp.example/sso", "certificates": [RSA_PEM] });
    if slo {
        saml["slo_url"] = json!(IDP_SLO);
    }
    let value = json!({ "redirect_uri": "https://app.example/auth/callback", "saml_signing": { "certificate": EC_PEM },
                        "providers": [{ "id": "okta", "type": "saml", "saml": saml }] });
    LoginConfig::from_value(&value, Environment::Production, "/auth").expect("valid")
}

fn clock() -> ManualClock {
    ManualClock::at_ms(NOW_S * 1000)
}

fn subject() -> SamlSubject {
    SamlSubject {
        name_id: "ann@corp.example".into(),
        format: None,
        name_qualifier: None,
        sp_name_qualifier: None,
        session_index: Some("_s7".into()),
    }
}

/// The IdP's signed message (its RSA key) to `destination`.
fn from_idp(kind: MessageKind, xml: &str, relay: Option<&str>, key: TestKey) -> String {
    let url = block_on(signed_redirect_url(OWN_SLO, kind, xml, relay, Some(&TestSigner(key)))).unwrap();
    url.split_once('?').unwrap().1.to_owned()
}

fn idp_request(id: &str, destination: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{destination}"><saml:Issuer>{IDP}</saml:Issuer><saml:NameID>ann@corp.example</saml:NameID></samlp:LogoutRequest>"#,
        format_instant(NOW_S)
    )
}

fn read(login: &LoginConfig, query: &str, ledger: &MemoryLedger) -> Result<IdpLogout, FlowError> {
    block_on(read_idp_message(login, login.provider("okta").unwrap(), query, &RustSignatures, ledger, &clock()))
}

fn reason(result: Result<IdpLogout, FlowError>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(FlowError::Refused(LoginError::SamlLogoutRefused(reason))) => reason.into(),
        Err(other) => format!("{other:?}"),
    }
}

#[test]
fn signing_out_here_sends_a_logout_request_signed_by_the_sp_key() {
    let login = login(true);
    let provider = login.provider("okta").unwrap();
    let location =
        block_on(sp_logout_location(&login, provider, &subject(), &TestSigner(TestKey::Ec), &SystemEntropy, &clock()))
            .unwrap()
            .expect("Single Logout is on");
    assert!(location.starts_with(&format!("{IDP_SLO}?SAMLRequest=")), "{location}");
    let message = read_redirect(location.split_once('?').unwrap().1).unwrap();
    block_on(verify(&message, &[certificate::parse(EC_PEM).unwrap()], &RustSignatures)).expect("the SP key signed it");
    assert!(
        message.xml.contains(">ann@corp.example</saml:NameID><samlp:SessionIndex>_s7</samlp:SessionIndex>"),
        "{}",
        message.xml
    );
    assert!(message.xml.contains(r#"<saml:Issuer>https://app.example/auth/saml/okta/metadata</saml:Issuer>"#));
    let off = login_without_slo();
    let none = block_on(sp_logout_location(
        &off,
        off.provider("okta").unwrap(),
        &subject(),
        &TestSigner(TestKey::Ec),
        &SystemEntropy,
        &clock(),
    ));
    assert_eq!(none.unwrap(), None, "no Single Logout: only the session here ends");
}

fn login_without_slo() -> LoginConfig {
    login(false)
}

#[test]
fn the_idp_s_logout_request_is_taken_signed_by_it_to_this_slo_url_once() {
    let login = login(true);
    let ledger = MemoryLedger::default();
    let query = from_idp(MessageKind::Request, &idp_request("_idp1", OWN_SLO), Some("back"), TestKey::Rsa);
    match read(&login, &query, &ledger).unwrap() {
        IdpLogout::Request { request, relay_state } => {
            assert_eq!(request.name_id, "ann@corp.example");
            assert_eq!(relay_state.as_deref(), Some("back"));
            let answer = block_on(logout_response_location(
                &login,
                login.provider("okta").unwrap(),
                &request,
                relay_state.as_deref(),
                LogoutStatus::Success,
                &TestSigner(TestKey::Ec),
                &SystemEntropy,
                &clock(),
            ))
            .unwrap();
            let message = read_redirect(answer.split_once('?').unwrap().1).unwrap();
            block_on(verify(&message, &[certificate::parse(EC_PEM).unwrap()], &RustSignatures))
                .expect("signed by the SP");
            assert!(message.xml.contains(r#"InResponseTo="_idp1""#) && message.xml.contains("status:Success"));
            assert_eq!(message.relay_state.as_deref(), Some("back"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reason(read(&login, &query, &ledger)),
        format!("{:?}", FlowError::Refused(LoginError::Replayed)),
        "replayed"
    );
    let other = from_idp(
        MessageKind::Request,
        &idp_request("_idp2", "https://app.example/auth/saml/other/slo"),
        None,
        TestKey::Rsa,
    );
    assert_eq!(reason(read(&login, &other, &ledger)), "saml_destination");
    let by_another_key = from_idp(MessageKind::Request, &idp_request("_idp3", OWN_SLO), None, TestKey::Ec);
    assert_eq!(
        reason(read(&login, &by_another_key, &ledger)),
        "signature_invalid",
        "the SP's own key is not the IdP's"
    );
    let unsigned: String = by_another_key.split('&').filter(|p| !p.starts_with("Sig")).collect::<Vec<_>>().join("&");
    assert_eq!(reason(read(&login, &unsigned, &ledger)), "saml_redirect_unsigned");
    let from_elsewhere = idp_request("_idp4", OWN_SLO).replace(IDP, "https://evil.example");
    assert_eq!(
        reason(read(&login, &from_idp(MessageKind::Request, &from_elsewhere, None, TestKey::Rsa), &ledger)),
        "saml_issuer"
    );
    let off = login_without_slo();
    let fresh = from_idp(MessageKind::Request, &idp_request("_idp5", OWN_SLO), None, TestKey::Rsa);
    assert_eq!(reason(read(&off, &fresh, &ledger)), format!("{:?}", FlowError::Refused(LoginError::UnknownProvider)));
}

#[test]
fn the_idp_s_logout_response_is_read_once_signed() {
    let login = login(true);
    let response = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="_p1" Version="2.0" IssueInstant="{}" Destination="{OWN_SLO}" InResponseTo="_r1"><saml:Issuer>{IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        format_instant(NOW_S)
    );
    let query = from_idp(MessageKind::Response, &response, None, TestKey::Rsa);
    assert_eq!(
        read(&login, &query, &MemoryLedger::default()).unwrap(),
        IdpLogout::Response(IdpLogoutResponse { in_response_to: Some("_r1".into()), success: true })
    );
}

#[test]
fn a_name_key_is_the_provider_s_and_never_the_name_itself() {
    let key = name_key("okta", "ann@corp.example");
    assert!(key.starts_with("saml-name:okta:") && !key.contains("ann"));
    assert_ne!(key, name_key("other", "ann@corp.example"));
}
