//! The SAML steps of the flow with the test IdP's keys: the request that leaves, the response
//! that comes back to this browser's ticket, and the ones that must not pass.

use super::*;
use crate::deploy::Environment;
use crate::login::flow::open_ticket;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::{block_on, ManualClock, MemoryLedger};
use crate::ports::SystemEntropy;
use crate::saml::certificate::tests::{EC_PEM, RSA_PEM};
use crate::saml::redirect_signature::tests::TestSigner;
use crate::saml::response::PROTOCOL_NS;
use crate::saml::test_signing::{TestKey, TestResponse};
use crate::secret::SecretBytes;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

const NOW_S: u64 = 1_800_000_000;
const IDP: &str = "https://idp.example/saml";
const ACS: &str = "https://app.example/auth/callback/okta";
const SP: &str = "https://app.example/auth/saml/okta/metadata";

fn login(allow_idp_initiated: bool) -> LoginConfig {
    let value = json!({
        "redirect_uri": "https://app.example/auth/callback",
        "providers": [{
            "id": "okta", "type": "saml", "allowed_email_domains": ["corp.example"],
            "saml": { "idp_entity_id": IDP, "sso_url": "https://idp.example/sso?app=1", "certificates": [RSA_PEM],
                      "attributes": { "preset": "okta" }, "allow_idp_initiated": allow_idp_initiated,
                      "trust_email": true }
        }]
    });
    LoginConfig::from_value(&value, Environment::Production, "/auth").expect("a valid login configuration")
}

struct Browser {
    state: String,
    sealed: String,
    request_id: String,
}

/// Begins a flow and reads what the IdP receives.
fn begin_at(login: &LoginConfig, clock: &ManualClock, key: &SecretBytes) -> (Browser, String) {
    let provider = login.provider("okta").unwrap();
    let no_signer = None::<&TestSigner>;
    let begun =
        block_on(begin(login, provider, "/app".into(), ProviderAsk::default(), key, no_signer, &SystemEntropy, clock))
            .expect("begun");
    let url = url::Url::parse(&begun.location).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let value = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(value("app"), "1", "the SSO URL's own query is kept");
    let xml = binding::decode_redirect(&value("SAMLRequest")).expect("a deflated request");
    let state = value("RelayState");
    let cookie = begun.ticket_cookie;
    assert!(cookie.contains("SameSite=None") && cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let sealed = cookie.split_once('=').unwrap().1.split(';').next().unwrap().to_owned();
    let document = crate::saml::xml::parse(&xml).unwrap();
    let root = document.root_element();
    assert!(root.has_tag_name((PROTOCOL_NS, "AuthnRequest")));
    let request_id = root.attribute("ID").unwrap().to_owned();
    (Browser { state, sealed, request_id }, xml)
}

fn form(xml: &str, relay_state: Option<&str>) -> AcsForm {
    AcsForm { saml_response: STANDARD.encode(xml), relay_state: relay_state.map(str::to_owned) }
}

fn response(in_response_to: Option<&str>, assertion_id: &str, name_id: &str) -> String {
    TestResponse {
        idp: IDP,
        sp: SP,
        acs: ACS,
        in_response_to,
        assertion_id,
        name_id,
        attributes: &[("firstName", "Ann"), ("groups", "eng")],
        now_s: NOW_S,
    }
    .signed(TestKey::Rsa)
}

/// The ACS step for `browser` with `form`.
fn acs(
    login: &LoginConfig,
    browser: &Browser,
    form: &AcsForm,
    ledger: &MemoryLedger,
    clock: &ManualClock,
    key: &SecretBytes,
) -> Result<Profile, FlowError> {
    let opened = open_ticket(Some(&browser.sealed), key, clock)?;
    let started = opened.start(login, ACS)?;
    let verified = block_on(started.verify_saml(form, ledger, &SamlKeys::verifying(&RustSignatures), clock))?;
    Ok(verified.profile().clone())
}

#[test]
fn a_request_goes_out_and_the_response_to_it_signs_the_user_in_once() {
    let login = login(false);
    let (clock, ledger, key) =
        (ManualClock::at_ms(NOW_S * 1000), MemoryLedger::default(), SecretBytes::new(vec![7; 32]));
    let (browser, xml) = begin_at(&login, &clock, &key);
    assert!(xml.contains(r#"AssertionConsumerServiceURL="https://app.example/auth/callback/okta""#), "{xml}");
    assert!(xml.contains(&format!("<saml:Issuer>{SP}</saml:Issuer>")), "{xml}");
    assert!(browser.state.len() <= 80 && !browser.state.contains("/app"), "RelayState is an opaque reference only");

    let answer = form(&response(Some(&browser.request_id), "_a1", "ann@corp.example"), Some(&browser.state));
    let profile = acs(&login, &browser, &answer, &ledger, &clock, &key).expect("signed in");
    assert_eq!(profile.subject, "ann@corp.example");
    assert_eq!(profile.email.as_deref(), Some("ann@corp.example"));
    assert_eq!(profile.name.as_deref(), Some("Ann"));
    assert_eq!(profile.groups, vec!["eng"]);
    assert_eq!(profile.authentication.auth_time_s, Some(NOW_S as i64));

    // The same answer again: the flow's state is used.
    assert_eq!(
        acs(&login, &browser, &answer, &ledger, &clock, &key).unwrap_err(),
        FlowError::Refused(LoginError::Replayed)
    );
}

#[test]
fn an_answer_to_another_browsers_request_or_with_another_relay_state_is_refused() {
    let login = login(false);
    let (clock, ledger, key) =
        (ManualClock::at_ms(NOW_S * 1000), MemoryLedger::default(), SecretBytes::new(vec![7; 32]));
    let (mine, _) = begin_at(&login, &clock, &key);
    let (theirs, _) = begin_at(&login, &clock, &key);
    let theirs_answer = response(Some(&theirs.request_id), "_a2", "ann@corp.example");
    assert_eq!(
        acs(&login, &mine, &form(&theirs_answer, Some(&mine.state)), &ledger, &clock, &key).unwrap_err(),
        FlowError::Refused(LoginError::SamlRefused("saml_in_response_to"))
    );
    let mine_answer = response(Some(&mine.request_id), "_a3", "ann@corp.example");
    assert_eq!(
        acs(&login, &mine, &form(&mine_answer, Some(&theirs.state)), &ledger, &clock, &key).unwrap_err(),
        FlowError::Refused(LoginError::StateInvalid)
    );
    // A replayed assertion, in a new flow of the same browser, is refused by its ID.
    let (again, _) = begin_at(&login, &clock, &key);
    let first = response(Some(&again.request_id), "_a4", "ann@corp.example");
    assert!(acs(&login, &again, &form(&first, Some(&again.state)), &ledger, &clock, &key).is_ok());
    let (next, _) = begin_at(&login, &clock, &key);
    let replay_in_new_flow = response(Some(&next.request_id), "_a4", "ann@corp.example");
    assert_eq!(
        acs(&login, &next, &form(&replay_in_new_flow, Some(&next.state)), &ledger, &clock, &key).unwrap_err(),
        FlowError::Refused(LoginError::Replayed),
        "an assertion ID is used once, whatever flow carries it"
    );
    // An email outside the allowed domains.
    let (other, _) = begin_at(&login, &clock, &key);
    let outsider = response(Some(&other.request_id), "_a5", "eve@evil.example");
    assert_eq!(
        acs(&login, &other, &form(&outsider, Some(&other.state)), &ledger, &clock, &key).unwrap_err(),
        FlowError::Refused(LoginError::EmailNotAllowed)
    );
    // The ledger down: fail closed.
    let (down, _) = begin_at(&login, &clock, &key);
    ledger.set_available(false);
    let answer = response(Some(&down.request_id), "_a6", "ann@corp.example");
    assert!(matches!(
        acs(&login, &down, &form(&answer, Some(&down.state)), &ledger, &clock, &key),
        Err(FlowError::Unavailable(_))
    ));
}

#[test]
fn an_unsolicited_response_is_refused_unless_allowed_and_then_only_starts_a_sign_in() {
    let (clock, ledger) = (ManualClock::at_ms(NOW_S * 1000), MemoryLedger::default());
    let unsolicited = form(&response(None, "_u1", "ann@corp.example"), Some("/reports"));
    let closed = login(false);
    let provider = closed.provider("okta").unwrap();
    assert_eq!(
        block_on(accept_unsolicited(
            &closed,
            provider,
            &unsolicited,
            &ledger,
            &SamlKeys::verifying(&RustSignatures),
            &clock
        ))
        .unwrap_err(),
        FlowError::Refused(LoginError::SamlUnsolicited)
    );
    let open = login(true);
    let provider = open.provider("okta").unwrap();
    let accepted = block_on(accept_unsolicited(
        &open,
        provider,
        &unsolicited,
        &ledger,
        &SamlKeys::verifying(&RustSignatures),
        &clock,
    ))
    .expect("accepted");
    assert_eq!(accepted, UnsolicitedAccepted { return_to: "/reports".into() }, "a sign-in to start, no identity");
    assert_eq!(
        block_on(accept_unsolicited(
            &open,
            provider,
            &unsolicited,
            &ledger,
            &SamlKeys::verifying(&RustSignatures),
            &clock
        ))
        .unwrap_err(),
        FlowError::Refused(LoginError::Replayed),
        "replayed within its window"
    );
    // A response to some request is not unsolicited.
    let solicited = form(&response(Some("_req"), "_u2", "ann@corp.example"), None);
    assert_eq!(
        block_on(accept_unsolicited(
            &open,
            provider,
            &solicited,
            &ledger,
            &SamlKeys::verifying(&RustSignatures),
            &clock
        ))
        .unwrap_err(),
        FlowError::Refused(LoginError::SamlRefused("saml_in_response_to"))
    );
}

#[test]
fn without_trust_email_the_email_is_not_kept_and_domain_rules_are_refused() {
    let value = |trust: bool, domains: bool| {
        json!({ "redirect_uri": "https://app.example/auth/callback",
            "providers": [{ "id": "okta", "type": "saml",
                "allowed_email_domains": if domains { json!(["corp.example"]) } else { json!([]) },
                "saml": { "idp_entity_id": IDP, "sso_url": "https://idp.example/sso?app=1", "certificates": [RSA_PEM],
                          "trust_email": trust } }] })
    };
    let refused = LoginConfig::from_value(&value(false, true), Environment::Production, "/auth").unwrap_err();
    assert!(refused.iter().any(|(field, _)| field.ends_with(".allowed_email_domains")), "{refused:?}");
    let login = LoginConfig::from_value(&value(false, false), Environment::Production, "/auth").unwrap();
    let (clock, ledger, key) =
        (ManualClock::at_ms(NOW_S * 1000), MemoryLedger::default(), SecretBytes::new(vec![7; 32]));
    let (browser, _) = begin_at(&login, &clock, &key);
    let answer = form(&response(Some(&browser.request_id), "_t1", "ann@corp.example"), Some(&browser.state));
    let profile = acs(&login, &browser, &answer, &ledger, &clock, &key).expect("signed in");
    assert_eq!((profile.subject.as_str(), profile.email), ("ann@corp.example", None));
}

#[test]
fn the_acs_form_takes_each_field_once_and_bounds_relay_state() {
    assert_eq!(
        AcsForm::parse(b"SAMLResponse=abc&RelayState=r1").unwrap(),
        AcsForm { saml_response: "abc".into(), relay_state: Some("r1".into()) }
    );
    assert_eq!(AcsForm::parse(b"SAMLResponse=a&SAMLResponse=b").unwrap_err(), LoginError::SamlRefused("saml_form"));
    assert_eq!(AcsForm::parse(b"RelayState=r1").unwrap_err(), LoginError::MissingCode);
    let long = format!("SAMLResponse=a&RelayState={}", "r".repeat(81));
    assert_eq!(AcsForm::parse(long.as_bytes()).unwrap_err(), LoginError::SamlRefused("saml_relay_state"));
}

#[test]
fn saml_providers_are_configured_strictly() {
    let base = json!({ "redirect_uri": "https://app.example/auth/callback",
        "providers": [{ "id": "okta", "type": "saml", "saml": { "idp_entity_id": IDP, "sso_url": "https://idp.example/sso", "certificates": [RSA_PEM] } }] });
    assert!(LoginConfig::from_value(&base, Environment::Production, "/auth").is_ok());
    let problem_fields = |edit: &dyn Fn(&mut serde_json::Value)| -> Vec<String> {
        let mut value = base.clone();
        edit(&mut value);
        LoginConfig::from_value(&value, Environment::Production, "/auth")
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    };
    let fields = problem_fields(&|v| v["providers"][0]["client_id"] = json!("x"));
    assert!(fields.iter().any(|f| f.ends_with(".client_id")), "{fields:?}");
    let fields = problem_fields(&|v| v["providers"][0]["saml"]["certificates"] = json!(["not a certificate"]));
    assert!(fields.iter().any(|f| f.ends_with(".saml.certificates[0]")), "{fields:?}");
    let fields = problem_fields(&|v| v["providers"][0]["saml"]["insecure_allow_sha1"] = json!(true));
    assert!(fields.iter().any(|f| f.ends_with(".saml.insecure_allow_sha1")), "{fields:?}");
    let fields = problem_fields(&|v| v["providers"][0]["saml"]["sso_url"] = json!("http://idp.example/sso"));
    assert!(fields.iter().any(|f| f.ends_with(".saml.sso_url")), "{fields:?}");
    let fields = problem_fields(&|v| {
        v["providers"][0].as_object_mut().unwrap().remove("saml");
    });
    assert!(fields.iter().any(|f| f.ends_with(".saml")), "{fields:?}");
    let fields = problem_fields(&|v| v["providers"][0]["authentication"] = json!({ "trust_amr": true }));
    assert!(fields.iter().any(|f| f.ends_with(".authentication.trust_amr")), "{fields:?}");
}

#[test]
fn a_provider_that_signs_requests_sends_them_signed_by_the_sp_key_and_never_unsigned() {
    let value = json!({
        "redirect_uri": "https://app.example/auth/callback",
        "saml_signing": { "certificate": EC_PEM },
        "providers": [{ "id": "okta", "type": "saml",
            "saml": { "idp_entity_id": IDP, "sso_url": "https://idp.example/sso", "certificates": [RSA_PEM], "sign_requests": true } }]
    });
    let login = LoginConfig::from_value(&value, Environment::Production, "/auth").expect("valid");
    let provider = login.provider("okta").unwrap();
    let key = SecretBytes::new(b"login-secret-for-the-saml-flow-tests".to_vec());
    let clock = ManualClock::at_ms(NOW_S * 1000);
    let signer = TestSigner(TestKey::Ec);
    let begun = block_on(begin(
        &login,
        provider,
        "/app".into(),
        ProviderAsk::default(),
        &key,
        Some(&signer),
        &SystemEntropy,
        &clock,
    ))
    .expect("begun");
    let query = begun.location.split_once('?').unwrap().1;
    let message = crate::saml::redirect_signature::read_redirect(query).unwrap();
    let sp_key = crate::saml::certificate::parse(EC_PEM).unwrap();
    block_on(crate::saml::redirect_signature::verify(&message, &[sp_key], &RustSignatures))
        .expect("signed by the SP key");
    assert!(message.xml.contains("<samlp:AuthnRequest"));
    let unsigned = block_on(begin(
        &login,
        provider,
        "/app".into(),
        ProviderAsk::default(),
        &key,
        None::<&TestSigner>,
        &SystemEntropy,
        &clock,
    ));
    assert!(matches!(unsigned, Err(FlowError::Unavailable(_))), "no key: fail closed, never an unsigned request");
    let without_key = json!({ "redirect_uri": "https://app.example/auth/callback", "providers": value["providers"] });
    let problems = LoginConfig::from_value(&without_key, Environment::Production, "/auth").unwrap_err();
    assert_eq!(problems, vec![("providers[0].saml.sign_requests".to_owned(), "needs login.saml_signing".to_owned())]);
    let mut own_key = value.clone();
    own_key["saml_signing"]["certificate"] = json!(RSA_PEM);
    let problems = LoginConfig::from_value(&own_key, Environment::Production, "/auth").unwrap_err();
    assert_eq!(
        problems,
        vec![(
            "providers[0].saml.certificates".to_owned(),
            "this SP's own certificate, which cannot be the IdP's".to_owned()
        )],
        "what the SP signs must never pass for the IdP's word"
    );
}
