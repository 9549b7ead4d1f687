//! The login flow against the in-memory ports: a real sealed ticket, real ES256 ID tokens
//! verified by the pure-Rust verifier, a ledger, a session store, and a provider that answers from
//! a table (forging the answers an attacker or a broken provider would give).

use super::*;
use crate::authn::jwt::keys::KeySet;
use crate::authn::jwt::rfc_keys::{EC_D, EC_X, EC_Y};
use crate::authn::jwt::verifier::KeySetVerifier;
use crate::deploy::Environment;
use crate::directory::store::MemoryDirectory;
use crate::login::oidc::SetupTicket;
use crate::ports::memory::{block_on, ManualClock, MemoryLedger, TablePeer};
use crate::ports::SystemEntropy;
use crate::session::store::MemorySessionStore;
use jwt_compact::alg::Es256;
use jwt_compact::{Algorithm, AlgorithmSignature};
use proptest::prelude::*;
use serde_json::{json, Value};

const NOW_MS: u64 = 1_800_000_000_000;
const ISSUER: &str = "https://idp.test";
const CALLBACK: &str = "https://app.test/auth/callback";

fn login(corp_extra: &Value) -> LoginConfig {
    let mut value = json!({
        "redirect_uri": CALLBACK,
        "providers": [
            { "id": "corp", "type": "oidc", "issuer": ISSUER, "client_id": "c1", "client_secret": "CORP_SECRET",
              "allowed_email_domains": ["corp.test"] },
            { "id": "github", "type": "oauth2", "client_id": "c2", "client_secret": "GITHUB_SECRET",
              "authorization_endpoint": "https://github.test/authorize",
              "token_endpoint": "https://github.test/token",
              "userinfo_endpoint": "https://api.github.test/user",
              "emails_endpoint": "https://api.github.test/user/emails" }
        ]
    });
    for (name, field) in corp_extra.as_object().unwrap() {
        value["providers"][0][name] = field.clone();
    }
    LoginConfig::from_value(&value, Environment::Production, "/auth").expect("a valid login configuration")
}

fn corp_endpoints() -> Endpoints {
    Endpoints {
        authorization: format!("{ISSUER}/authorize"),
        token: format!("{ISSUER}/token"),
        userinfo: None,
        end_session: None,
        revocation: None,
        jwks_uri: Some(format!("{ISSUER}/jwks")),
        issuer: Some(ISSUER.into()),
        iss_parameter_supported: true,
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn es256(claims: &Value) -> String {
    let input = format!("{}.{}", b64(json!({ "alg": "ES256", "kid": "ec" }).to_string()), b64(claims.to_string()));
    let key = p256::ecdsa::SigningKey::from_slice(&URL_SAFE_NO_PAD.decode(EC_D).unwrap()).unwrap();
    let signature = Es256.sign(&key, input.as_bytes());
    format!("{input}.{}", b64(signature.as_bytes()))
}

/// The ports and the login secret of one test.
struct World {
    login: LoginConfig,
    clock: ManualClock,
    ledger: MemoryLedger,
    peer: TablePeer,
    sessions: MemorySessionStore<SystemEntropy>,
    directory: MemoryDirectory,
    key: SecretBytes,
    keys: KeySet,
}

/// What the browser carries back from the provider.
struct Flow {
    state: String,
    nonce: String,
    challenge: String,
    sealed: String,
}

fn world() -> World {
    world_with(&json!({}))
}

/// A world whose `corp` provider has `corp_extra` in its configuration.
fn world_with(corp_extra: &Value) -> World {
    let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "ec", "x": EC_X, "y": EC_Y }] });
    World {
        login: login(corp_extra),
        clock: ManualClock::at_ms(NOW_MS),
        ledger: MemoryLedger::default(),
        peer: TablePeer::default(),
        sessions: MemorySessionStore::new(SystemEntropy),
        directory: MemoryDirectory::default(),
        key: SecretBytes::new(vec![7; 32]),
        keys: KeySet::from_jwks(jwks.to_string().as_bytes()).expect("a key set").0,
    }
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

fn param(pairs: &[(String, String)], name: &str) -> String {
    crate::http::pair_value(pairs, name).unwrap_or_default().to_owned()
}

impl World {
    fn begin(&self, provider: &str, endpoints: &Endpoints) -> Flow {
        self.begin_for(provider, endpoints, Purpose::SignIn { return_to: "/app".into(), step_up: None })
    }

    fn begin_for(&self, provider: &str, endpoints: &Endpoints, purpose: Purpose) -> Flow {
        let provider = self.login.provider(provider).unwrap();
        let begun = begin(&self.login, provider, endpoints, purpose, None, &self.key, &SystemEntropy, &self.clock)
            .expect("a flow begins");
        let query = query_of(&begun.location);
        let (name, rest) = begun.ticket_cookie.split_once('=').unwrap();
        assert_eq!(name, oidc::ticket_cookie_name(&param(&query, "state")));
        Flow {
            state: param(&query, "state"),
            nonce: param(&query, "nonce"),
            challenge: param(&query, "code_challenge"),
            sealed: rest.split(';').next().unwrap().to_owned(),
        }
    }

    fn id_token(&self, nonce: &str, overrides: Value) -> String {
        let now = (self.clock.now_ms() / 1000) as i64;
        let mut claims = json!({ "iss": ISSUER, "aud": "c1", "sub": "alice", "iat": now, "exp": now + 300,
                                 "nonce": nonce, "email": "alice@corp.test", "email_verified": true });
        // A claim overridden with null is one the provider left out.
        for (name, value) in overrides.as_object().unwrap() {
            match value {
                Value::Null => drop(claims.as_object_mut().unwrap().remove(name)),
                _ => claims[name] = value.clone(),
            }
        }
        es256(&claims)
    }

    fn answer_tokens(&self, id_token: &str) {
        let body = json!({ "access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
                           "refresh_token": "rt-1", "id_token": id_token });
        self.peer.answer(&format!("{ISSUER}/token"), 200, &body);
    }

    /// Runs the callback, with the ticket `sealed` (if any) and the response `query`, arriving at
    /// `arrived_at`, through every step the shell runs (provisioning does nothing for a provider
    /// without a directory).
    fn callback_at(
        &self,
        arrived_at: &str,
        sealed: Option<&str>,
        query: &[(&str, &str)],
        endpoints: Endpoints,
    ) -> Result<SessionIssued, FlowError> {
        let query: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let verifier = KeySetVerifier::new(self.keys.clone(), &self.clock);
        let secret = SecretString::new("client-secret".into());
        block_on(async {
            let started = open_ticket(sealed, &self.key, &self.clock)?.start(&self.login, arrived_at)?;
            let checked = started.check(&query, endpoints)?;
            let redeemed = checked.redeem(&self.ledger, &self.peer, &secret).await?;
            let verified = redeemed.verify(&verifier, &self.peer, &JwksCachePolicy::default()).await?;
            let verified = verified.provision(&self.directory, &self.directory, &SystemEntropy, &self.clock).await?;
            verified.issue(&self.sessions, &self.clock).await
        })
    }

    fn callback(&self, flow: &Flow, query: &[(&str, &str)]) -> Result<SessionIssued, FlowError> {
        self.callback_at(CALLBACK, Some(&flow.sealed), query, corp_endpoints())
    }

    fn token_requests(&self) -> usize {
        self.peer.sent().iter().filter(|r| r.url.ends_with("/token")).count()
    }
}

fn refused(error: LoginError) -> Result<(), FlowError> {
    Err(FlowError::Refused(error))
}

fn outcome(result: Result<SessionIssued, FlowError>) -> Result<(), FlowError> {
    result.map(|_| ())
}

#[test]
fn a_complete_flow_issues_a_session_bound_to_the_verified_identity() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    let issued = w.callback(&flow, &[("code", "code-1"), ("state", &flow.state), ("iss", ISSUER)]).expect("a session");
    assert_eq!(issued.return_to, "/app");
    assert_eq!(issued.profile.subject, "alice");
    let record = w.sessions.open(&issued.cookie).expect("the store holds the session");
    assert_eq!((record.subject.as_str(), record.provider.as_str()), ("alice", "corp"));
    assert_eq!(record.email.as_deref(), Some("alice@corp.test"));
    assert_eq!(record.created_at_ms, NOW_MS as i64);
    assert_eq!(record.expires_at_s, (NOW_MS / 1000) as i64 + w.login.session.absolute_lifetime_s);
    assert_eq!(record.tokens.as_ref().map(|t| t.access_token.as_str()), Some("at-1"));
    // The code went to the token endpoint with the verifier whose S256 hash was the challenge.
    let sent = w.peer.sent();
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(sent[0].body.as_deref().unwrap().as_bytes()).into_owned().collect();
    assert_eq!(param(&form, "code"), "code-1");
    assert_eq!(param(&form, "redirect_uri"), CALLBACK);
    assert_eq!(b64(Sha256::digest(param(&form, "code_verifier").as_bytes())), flow.challenge);
    assert!(sent[0].headers.iter().any(|(name, value)| name == "authorization" && value.starts_with("Basic ")));
    assert!(!format!("{:?}", sent[0]).contains("code-1"), "a request's Debug never shows its body");
}

#[test]
fn a_setup_test_shows_who_signed_in_and_can_neither_provision_nor_start_a_session() {
    let w = world();
    let setup = SetupTicket { link: "stl_aaaaaaaaaaaaaaaa".into(), revision: "r1".into() };
    let purpose = Purpose::SetupTest { setup: setup.clone(), return_to: "/auth/setup".into() };
    let run = |take_result: bool| {
        let flow = w.begin_for("corp", &corp_endpoints(), purpose.clone());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
        let query: Vec<(String, String)> =
            [("code", format!("code-{take_result}")), ("state", flow.state.clone()), ("iss", ISSUER.into())]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        let verifier = KeySetVerifier::new(w.keys.clone(), &w.clock);
        let secret = SecretString::new("client-secret".into());
        block_on(async {
            let opened = open_ticket(Some(&flow.sealed), &w.key, &w.clock).unwrap();
            assert_eq!(opened.setup(), Some(&setup));
            let checked = opened.start(&w.login, CALLBACK).unwrap().check(&query, corp_endpoints()).unwrap();
            let redeemed = checked.redeem(&w.ledger, &w.peer, &secret).await.unwrap();
            let verified = redeemed.verify(&verifier, &w.peer, &JwksCachePolicy::default()).await.unwrap();
            if take_result {
                let tested = verified.setup_tested().expect("a setup test's result");
                assert_eq!((&tested.setup, tested.return_to.as_str()), (&setup, "/auth/setup"));
                assert_eq!(tested.profile.subject, "alice");
                return;
            }
            let provisioned = verified.provision(&w.directory, &w.directory, &SystemEntropy, &w.clock).await;
            assert_eq!(provisioned.err(), Some(FlowError::Refused(LoginError::StateInvalid)), "provisions nobody");
        })
    };
    run(true);
    run(false);
    assert!(w.sessions.is_empty(), "no session");
    // A sign-in is no setup test.
    let flow = w.begin("corp", &corp_endpoints());
    assert_eq!(open_ticket(Some(&flow.sealed), &w.key, &w.clock).unwrap().setup(), None);
}

#[test]
fn a_state_or_a_code_works_once() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    let query = [("code", "code-1"), ("state", flow.state.as_str()), ("iss", ISSUER)];
    assert!(w.callback(&flow, &query).is_ok());
    assert_eq!(outcome(w.callback(&flow, &query)), refused(LoginError::Replayed), "the same response twice");
    // A second flow presenting the first one's code.
    let second = w.begin("corp", &corp_endpoints());
    let query = [("code", "code-1"), ("state", second.state.as_str()), ("iss", ISSUER)];
    assert_eq!(outcome(w.callback(&second, &query)), refused(LoginError::Replayed), "a used code");
    assert_eq!(w.token_requests(), 1, "a replay never reaches the token endpoint");
    assert_eq!(w.sessions.len(), 1);
}

#[test]
fn the_ledger_down_fails_closed_before_the_code_is_redeemed() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    w.ledger.set_available(false);
    let result = w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]);
    assert!(matches!(result, Err(FlowError::Unavailable(_))));
    assert_eq!(w.token_requests(), 0);
    assert!(w.sessions.is_empty());
}

/// A good callback query for `flow`, with `changes` applied (an empty value removes the
/// parameter).
fn query_with(flow: &Flow, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut query = vec![("code".to_owned(), "c".to_owned()), ("state".into(), flow.state.clone())];
    query.push(("iss".into(), ISSUER.into()));
    for (name, value) in changes {
        query.retain(|(n, _)| n != name);
        if !value.is_empty() {
            query.push((name.to_string(), value.to_string()));
        }
    }
    query
}

/// The flow's ticket, a good query with `changes`, at the shared redirect URI.
fn at_callback(flow: &Flow, changes: &[(&str, &str)]) -> (Option<String>, Vec<(String, String)>, String) {
    (Some(flow.sealed.clone()), query_with(flow, changes), CALLBACK.into())
}

/// `sealed` with one base64url character changed.
fn tampered(sealed: &str) -> String {
    let mut bytes = sealed.as_bytes().to_vec();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// Each row: what is wrong with the callback (ticket, query, where it arrived), and the one
/// refusal it must get, before the code is redeemed.
#[test]
fn bad_callbacks_are_refused_with_one_reason() {
    type Tamper = fn(&Flow) -> (Option<String>, Vec<(String, String)>, String);
    let cases: Vec<(&str, Tamper, LoginError)> = vec![
        ("no ticket cookie", |f| (None, query_with(f, &[]), CALLBACK.into()), LoginError::StateInvalid),
        (
            "a tampered ticket",
            |f| (Some(tampered(&f.sealed)), query_with(f, &[]), CALLBACK.into()),
            LoginError::StateInvalid,
        ),
        ("another flow's state", |f| at_callback(f, &[("state", "someone-elses")]), LoginError::StateInvalid),
        ("no state", |f| at_callback(f, &[("state", "")]), LoginError::StateInvalid),
        ("another issuer's iss", |f| at_callback(f, &[("iss", "https://evil.test")]), LoginError::IssuerMismatch),
        ("no iss where promised", |f| at_callback(f, &[("iss", "")]), LoginError::IssuerMismatch),
        (
            "another redirect path",
            |f| (Some(f.sealed.clone()), query_with(f, &[]), format!("{CALLBACK}/github")),
            LoginError::IssuerMismatch,
        ),
        (
            "the provider's error",
            |f| at_callback(f, &[("error", "access_denied"), ("code", "")]),
            LoginError::ProviderRefused("access_denied".into()),
        ),
        ("no code", |f| at_callback(f, &[("code", "")]), LoginError::MissingCode),
    ];
    for (name, tamper, expected) in cases {
        let w = world();
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
        let (sealed, query, arrived_at) = tamper(&flow);
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let result = w.callback_at(&arrived_at, sealed.as_deref(), &query, corp_endpoints());
        assert_eq!(outcome(result), refused(expected), "{name}");
        assert_eq!(w.token_requests(), 0, "{name}: refused before the code is redeemed");
        assert!(w.sessions.is_empty(), "{name}");
    }
}

#[test]
fn an_expired_ticket_is_refused() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    w.clock.advance_ms((TICKET_MAX_AGE_S as u64 + 1) * 1000);
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    let result = w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]);
    assert_eq!(outcome(result), refused(LoginError::StateInvalid));
}

/// Each row: how the provider's ID token is wrong, and the refusal it gets. None may issue a
/// session.
#[test]
fn bad_id_tokens_never_issue_a_session() {
    let cases: &[(&str, Value, fn(&LoginError) -> bool)] = &[
        (
            "another nonce",
            json!({ "nonce": "replayed-nonce" }),
            |e| matches!(e, LoginError::IdTokenInvalid(r) if r.contains("Nonce")),
        ),
        ("no nonce", json!({ "nonce": null }), |e| matches!(e, LoginError::IdTokenInvalid(_))),
        ("another audience", json!({ "aud": "c2" }), |e| matches!(e, LoginError::IdTokenInvalid(_))),
        ("another issuer", json!({ "iss": "https://evil.test" }), |e| matches!(e, LoginError::IdTokenInvalid(_))),
        ("expired", json!({ "exp": 1_000 }), |e| matches!(e, LoginError::IdTokenInvalid(_))),
        (
            "another authorised party",
            json!({ "aud": ["c1", "c9"], "azp": "c9" }),
            |e| matches!(e, LoginError::IdTokenInvalid(r) if r.contains("AuthorizedParty")),
        ),
        ("several audiences, no azp", json!({ "aud": ["c1", "c9"] }), |e| matches!(e, LoginError::IdTokenInvalid(_))),
        ("no subject", json!({ "sub": null }), |e| matches!(e, LoginError::IdTokenInvalid(_))),
        ("an email outside the allowed domains", json!({ "email": "mallory@evil.test" }), |e| {
            *e == LoginError::EmailNotAllowed
        }),
        ("an unverified email", json!({ "email_verified": false }), |e| *e == LoginError::EmailNotAllowed),
    ];
    for (name, overrides, expected) in cases {
        let w = world();
        let flow = w.begin("corp", &corp_endpoints());
        let token = w.id_token(&flow.nonce, overrides.clone());
        w.answer_tokens(&token);
        match w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]) {
            Err(FlowError::Refused(error)) => assert!(expected(&error), "{name}: {error:?}"),
            other => panic!("{name}: {:?}", other.map(|issued| issued.profile)),
        }
        assert!(w.sessions.is_empty(), "{name}");
    }
}

#[test]
fn an_id_token_signed_by_another_key_is_refused() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    let token = w.id_token(&flow.nonce, json!({}));
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[10] ^= 1;
    w.answer_tokens(&format!("{input}.{}", b64(signature)));
    let result = w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]);
    assert!(matches!(result, Err(FlowError::Refused(LoginError::IdTokenInvalid(_)))));
}

#[test]
fn a_refused_or_broken_token_endpoint_ends_the_flow() {
    let cases: &[(u16, Value, fn(&LoginError) -> bool)] = &[
        (400, json!({ "error": "invalid_grant" }), |e| *e == LoginError::TokenExchangeFailed("invalid_grant".into())),
        (200, json!({ "error": "bad_verification_code" }), |e| matches!(e, LoginError::TokenExchangeFailed(_))),
        (200, json!({ "access_token": "x", "token_type": "mac" }), |e| matches!(e, LoginError::TokenExchangeFailed(_))),
        (503, json!({}), |e| matches!(e, LoginError::ProviderUnavailable(_))),
        (200, json!({ "access_token": "x", "token_type": "Bearer" }), |e| matches!(e, LoginError::IdTokenInvalid(_))),
    ];
    for (status, body, expected) in cases {
        let w = world();
        let flow = w.begin("corp", &corp_endpoints());
        w.peer.answer(&format!("{ISSUER}/token"), *status, body);
        match w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]) {
            Err(FlowError::Refused(error)) => assert!(expected(&error), "{status} {body}: {error:?}"),
            other => panic!("{status} {body}: {:?}", other.map(|issued| issued.profile)),
        }
    }
}

#[test]
fn an_oauth2_provider_signs_in_with_its_verified_primary_email_at_its_own_redirect_uri() {
    let w = world();
    let github = Endpoints::configured(w.login.provider("github").unwrap()).unwrap();
    let flow = w.begin("github", &github);
    assert!(flow.nonce.is_empty(), "no nonce for a provider without ID tokens");
    w.peer.answer("https://github.test/token", 200, &json!({ "access_token": "gh", "token_type": "bearer" }));
    w.peer.answer("https://api.github.test/user", 200, &json!({ "id": 42, "email": "public@corp.test" }));
    let emails = json!([{ "email": "public@corp.test", "primary": false, "verified": false },
                        { "email": "Alice@Corp.test", "primary": true, "verified": true }]);
    w.peer.answer("https://api.github.test/user/emails", 200, &emails);
    let own = format!("{CALLBACK}/github");
    let query = [("code", "c"), ("state", flow.state.as_str())];
    assert_eq!(
        outcome(w.callback_at(CALLBACK, Some(&flow.sealed), &query, github.clone())),
        refused(LoginError::IssuerMismatch),
        "its answer at the shared redirect URI is another provider's"
    );
    let issued = w.callback_at(&own, Some(&flow.sealed), &query, github).expect("a session");
    assert_eq!(issued.profile.subject, "42");
    assert_eq!(issued.profile.email.as_deref(), Some("alice@corp.test"));
}

#[test]
fn a_replayed_state_never_records_its_code() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    assert!(w.callback(&flow, &[("code", "first"), ("state", &flow.state), ("iss", ISSUER)]).is_ok());
    let again = w.callback(&flow, &[("code", "second"), ("state", &flow.state), ("iss", ISSUER)]);
    assert_eq!(outcome(again), refused(LoginError::Replayed));
    assert!(w.ledger.is_used(&format!("code:{}", digest("first"))));
    assert!(!w.ledger.is_used(&format!("code:{}", digest("second"))), "a used ticket writes nothing more");
}

#[test]
fn the_authorisation_request_and_the_ticket_cookie_are_what_rfc_9700_asks() {
    let w = world();
    let provider = w.login.provider("corp").unwrap();
    let begun = begin(
        &w.login,
        provider,
        &corp_endpoints(),
        Purpose::SignIn { return_to: "/app".into(), step_up: None },
        Some("a@corp.test"),
        &w.key,
        &SystemEntropy,
        &w.clock,
    )
    .unwrap();
    let query = query_of(&begun.location);
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", "c1"),
        ("redirect_uri", CALLBACK),
        ("code_challenge_method", "S256"),
        ("login_hint", "a@corp.test"),
    ] {
        assert_eq!(param(&query, name), value, "{name}");
    }
    assert_eq!(param(&query, "state").len(), 43);
    assert_eq!(param(&query, "nonce").len(), 43);
    assert!(
        begun.ticket_cookie.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600"),
        "{}",
        begun.ticket_cookie
    );
    assert!(!begun.ticket_cookie.contains(&param(&query, "nonce")), "the nonce is sealed, not readable");
    assert_eq!(format!("{begun:?}"), "Begun([redacted])");
}

#[test]
fn a_ticket_from_the_future_is_refused() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    let earlier = ManualClock::at_ms(NOW_MS - 5_000);
    assert_eq!(open_ticket(Some(&flow.sealed), &w.key, &earlier).err(), Some(LoginError::StateInvalid));
}

#[test]
fn an_error_response_from_a_mixed_up_provider_is_refused_for_its_issuer_first() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    let result = w.callback(&flow, &[("error", "access_denied"), ("state", "wrong"), ("iss", "https://evil.test")]);
    assert_eq!(outcome(result), refused(LoginError::IssuerMismatch));
}

#[test]
fn userinfo_about_someone_else_is_refused() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    let endpoints = Endpoints { userinfo: Some(format!("{ISSUER}/me")), ..corp_endpoints() };
    w.peer.answer(&format!("{ISSUER}/me"), 200, &json!({ "sub": "mallory", "email": "m@corp.test" }));
    let query = [("code", "c"), ("state", flow.state.as_str()), ("iss", ISSUER)];
    let result = w.callback_at(CALLBACK, Some(&flow.sealed), &query, endpoints);
    assert!(
        matches!(result, Err(FlowError::Refused(LoginError::ProfileInvalid(_)))),
        "{:?}",
        result.map(|i| i.profile)
    );
    assert!(w.sessions.is_empty());
}

#[test]
fn an_account_without_the_required_claims_is_refused() {
    let w = world_with(&json!({ "required_claims": { "hd": "corp.test" } }));
    for (hd, expected) in [
        (json!("corp.test"), None),
        (json!("other.test"), Some(LoginError::AccountNotAllowed)),
        (Value::Null, Some(LoginError::AccountNotAllowed)),
    ] {
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "hd": hd })));
        let result = w.callback(&flow, &[("code", &flow.state), ("state", &flow.state), ("iss", ISSUER)]);
        assert_eq!(result.err(), expected.clone().map(FlowError::Refused), "hd {hd}");
    }
}

#[test]
fn an_id_token_with_another_algorithm_or_without_iat_is_refused() {
    let unsigned =
        |claims: &Value| format!("{}.{}.", b64(json!({ "alg": "none" }).to_string()), b64(claims.to_string()));
    let hmac = |claims: &Value| {
        let header = b64(json!({ "alg": "HS256", "kid": "ec" }).to_string());
        format!("{header}.{}.{}", b64(claims.to_string()), b64([1u8; 32]))
    };
    let cases: &[(&str, fn(&Value) -> String, &[&str])] =
        &[("alg none", unsigned, &[]), ("HS256 under the EC key's kid", hmac, &[]), ("no iat", es256, &["iat"])];
    for (name, sign, left_out) in cases {
        let w = world();
        let flow = w.begin("corp", &corp_endpoints());
        let now = (NOW_MS / 1000) as i64;
        let mut claims = json!({ "iss": ISSUER, "aud": "c1", "sub": "alice", "iat": now, "exp": now + 300,
                                 "nonce": flow.nonce, "email": "alice@corp.test", "email_verified": true });
        for claim in *left_out {
            claims.as_object_mut().unwrap().remove(*claim);
        }
        w.answer_tokens(&sign(&claims));
        let result = w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]);
        assert!(matches!(result, Err(FlowError::Refused(LoginError::IdTokenInvalid(_)))), "{name}");
        assert!(w.sessions.is_empty(), "{name}");
    }
}

#[test]
fn client_secret_post_puts_the_credentials_in_the_form_only() {
    let w = world_with(&json!({ "client_auth": "client_secret_post" }));
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    assert!(w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]).is_ok());
    let sent = w.peer.sent();
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(sent[0].body.as_deref().unwrap().as_bytes()).into_owned().collect();
    assert_eq!((param(&form, "client_id"), param(&form, "client_secret")), ("c1".into(), "client-secret".into()));
    assert!(!sent[0].headers.iter().any(|(name, _)| name == "authorization"));
}

proptest! {
    #![proptest_config(crate::testing::generative(256))]
/// Whatever an attacker puts in the callback's query (arbitrary values, and the flow's real
    /// `state` and issuer, repeated or not), a session is issued only when the first `state` is
    /// the ticket's and the first `iss` the provider's; nothing panics.
    #[test]
    fn arbitrary_callbacks_never_issue_a_session_without_the_state(
        pairs in proptest::collection::vec(("(code|state|iss|error|x)", 0..3usize, ".{0,40}"), 0..7)
    ) {
        let w = world();
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(name, pick, random)| {
                let value = match pick {
                    0 => flow.state.clone(),
                    1 => ISSUER.to_owned(),
                    _ => random,
                };
                (name, value)
            })
            .collect();
        let query: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let result = w.callback(&flow, &query);
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if result.is_ok() {
            prop_assert_eq!(first("state"), Some(flow.state.as_str()));
            prop_assert_eq!(first("iss"), Some(ISSUER));
            prop_assert!(first("error").is_none());
        }
    }

    /// Arbitrary bytes as the ticket cookie are refused, never a panic.
    #[test]
    fn arbitrary_tickets_are_refused(sealed in ".{0,300}") {
        let w = world();
        let opened = open_ticket(Some(&sealed), &w.key, &w.clock);
        prop_assert_eq!(opened.err(), Some(LoginError::StateInvalid));
    }
}

#[test]
fn no_step_prints_the_flows_secrets() {
    let w = world();
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
    let query: Vec<(String, String)> = [("code", "the-code"), ("state", flow.state.as_str()), ("iss", ISSUER)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let secret = SecretString::new("client-secret".into());
    let verifier = KeySetVerifier::new(w.keys.clone(), &w.clock);
    let mut printed = Vec::new();
    block_on(async {
        let opened = open_ticket(Some(&flow.sealed), &w.key, &w.clock).unwrap();
        printed.push(format!("{opened:?}"));
        let started = opened.start(&w.login, CALLBACK).unwrap();
        printed.push(format!("{started:?}"));
        let checked = started.check(&query, corp_endpoints()).unwrap();
        printed.push(format!("{checked:?}"));
        let redeemed = checked.redeem(&w.ledger, &w.peer, &secret).await.unwrap();
        printed.push(format!("{redeemed:?}"));
        let verified = redeemed.verify(&verifier, &w.peer, &JwksCachePolicy::default()).await.unwrap();
        printed.push(format!("{verified:?}"));
        printed.push(format!("{:?}", verified.issue(&w.sessions, &w.clock).await.unwrap()));
    });
    printed.push(format!("{:?}", w.peer.sent()));
    for text in &printed {
        for secret in [flow.state.as_str(), flow.nonce.as_str(), "the-code", "client-secret", "at-1", "rt-1"] {
            assert!(!text.contains(secret), "{secret:?} printed in {text}");
        }
    }
}

#[test]
fn a_provider_with_a_directory_provisions_the_user_into_its_tenant() {
    use crate::directory::store::Directory;
    use crate::directory::{TenantScope, UserStatus};
    let w = world_with(&json!({ "directory": { "tenant": "acme" } }));
    let directory = &w.directory;
    let login_once = |tenant_claim: &str| {
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "tenant": tenant_claim })));
        w.callback(&flow, &[("code", &flow.state), ("state", &flow.state), ("iss", ISSUER)])
    };
    let first = login_once("globex").expect("a session");
    let record = w.sessions.open(&first.cookie).unwrap();
    let user_id = record.user_id.clone().expect("a directory id");
    assert!(user_id.starts_with("usr_"));
    assert_eq!(record.tenant.as_deref(), Some("acme"), "the provider's tenant, not the claim's");
    let second = login_once("acme").expect("a session");
    assert_eq!(w.sessions.open(&second.cookie).unwrap().user_id, Some(user_id.clone()), "the same user");
    let scope = TenantScope::of("acme");
    let user = directory.users(&scope).pop().unwrap();
    block_on(directory.set_status(&scope, &user.id, UserStatus::Blocked, 0)).unwrap();
    assert_eq!(login_once("acme").err(), Some(FlowError::Refused(LoginError::AccountDisabled)));
    directory.set_available(false);
    assert!(matches!(login_once("acme").err(), Some(FlowError::Refused(LoginError::DirectoryUnavailable(_)))));
    assert_eq!(w.sessions.len(), 2, "no session for a refused login");
}

#[test]
fn a_tenants_idp_never_speaks_for_another_tenants_verified_domain() {
    use crate::directory::tenants::{Tenant, TenantStore};
    use crate::directory::TenantScope;
    let verify = |directory: &MemoryDirectory, tenant: &str, domain: &str| {
        let scope = TenantScope::of(tenant);
        let tenant = Tenant { id: tenant.into(), name: tenant.into(), created_at_ms: 0 };
        block_on(directory.create_tenant(&tenant)).unwrap();
        block_on(directory.claim_domain(&scope, domain, "t")).unwrap();
        assert!(block_on(directory.mark_verified(&scope, domain, 1)).unwrap());
    };
    for (link, owner, kept) in [
        // Another tenant owns corp.test: acme's IdP may not assert an address there.
        (json!({ "tenant": "acme" }), Some("globex"), false),
        (json!({ "tenant": "acme" }), Some("acme"), true),
        (json!({ "tenant": "acme" }), None, true),
        (json!({ "tenant": "acme", "verified_domains_only": true }), None, false),
        (json!({ "tenant": "acme", "verified_domains_only": true }), Some("acme"), true),
    ] {
        let w = world_with(&json!({ "directory": link }));
        if let Some(owner) = owner {
            verify(&w.directory, owner, "corp.test");
        }
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({})));
        let issued = w.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]).expect("a session");
        let record = w.sessions.open(&issued.cookie).unwrap();
        let expected = kept.then(|| "alice@corp.test".to_owned());
        assert_eq!(record.email, expected, "{link} with corp.test verified by {owner:?}");
        let user = w.directory.users(&TenantScope::of("acme")).pop().unwrap();
        assert_eq!(user.email, expected, "the directory keeps what the session does");
    }
}

#[test]
fn a_providers_amr_and_acr_count_only_as_far_as_its_configuration_says() {
    let said = json!({ "amr": ["pwd", "mfa"], "acr": "urn:corp:mfa", "auth_time": (NOW_MS / 1000) as i64 - 10 });
    let session_of = |w: &World| {
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, said.clone()));
        let issued =
            w.callback(&flow, &[("code", "code-1"), ("state", &flow.state), ("iss", ISSUER)]).expect("a session");
        w.sessions.open(&issued.cookie).expect("stored")
    };
    let plain = session_of(&world());
    assert_eq!((plain.amr.len(), plain.acr.clone()), (0, None), "not believed by default");
    assert_eq!(plain.auth_time_s, (NOW_MS / 1000) as i64 - 10, "auth_time is kept: max_age asks it of every provider");
    let trusted = session_of(&world_with(&json!({ "authentication": { "trust_amr": true } })));
    assert_eq!(trusted.amr, ["pwd", "mfa"]);
    let by_acr = session_of(&world_with(&json!({ "authentication": { "acr": { "urn:corp:mfa": ["otp", "mfa"] } } })));
    assert_eq!(
        (by_acr.amr.clone(), by_acr.acr.as_deref()),
        (vec!["otp".to_owned(), "mfa".to_owned()], Some("urn:corp:mfa"))
    );
}

#[test]
fn a_step_up_asks_the_provider_for_max_age_and_acr_values_and_needs_a_fresh_auth_time() {
    let w = world_with(&json!({
        "authorization_params": { "max_age": "86400", "prompt": "consent" },
        "authentication": { "acr": { "urn:corp:phr": ["hwk", "mfa"] }, "step_up_acr_values": { "webauthn": "urn:corp:phr" } }
    }));
    let ask = crate::mfa::step_up::ProviderAsk { max_age_s: Some(300), acr_values: vec!["urn:corp:phr".into()] };
    let purpose = Purpose::SignIn { return_to: "/vault".into(), step_up: Some(ask) };
    let now = (NOW_MS / 1000) as i64;
    let run = |auth_time: Value| {
        let flow = w.begin_for("corp", &corp_endpoints(), purpose.clone());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "auth_time": auth_time, "acr": "urn:corp:phr" })));
        outcome(w.callback(&flow, &[("code", &format!("code-{auth_time}")), ("state", &flow.state), ("iss", ISSUER)]))
    };
    let provider = w.login.provider("corp").unwrap();
    let begun =
        begin(&w.login, provider, &corp_endpoints(), purpose.clone(), None, &w.key, &SystemEntropy, &w.clock).unwrap();
    let query = query_of(&begun.location);
    assert_eq!(
        query.iter().filter(|(name, _)| name == "max_age").count(),
        1,
        "the step-up's max_age replaces the configured one"
    );
    assert_eq!(param(&query, "max_age"), "300");
    assert_eq!(param(&query, "acr_values"), "urn:corp:phr");
    assert_eq!(param(&query, "prompt"), "consent", "other configured parameters stay");
    assert_eq!(run(json!(now - 30)), Ok(()));
    assert_eq!(run(json!(now - 300)), Ok(()));
    assert_eq!(run(json!(now - 301)), refused(LoginError::StepUpNotMet), "older than max_age (no skew on the age)");
    assert_eq!(run(Value::Null), refused(LoginError::StepUpNotMet), "no auth_time");
    assert_eq!(run(json!(now + 3600)), refused(LoginError::StepUpNotMet), "in the future");
    // Fresh, but another acr than the ones asked for (acr_values is voluntary), or none.
    for acr in [json!("urn:corp:pwd"), Value::Null] {
        let flow = w.begin_for("corp", &corp_endpoints(), purpose.clone());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "auth_time": now, "acr": acr })));
        let code = format!("code-acr-{acr}");
        let result = w.callback(&flow, &[("code", &code), ("state", &flow.state), ("iss", ISSUER)]);
        assert_eq!(outcome(result), refused(LoginError::StepUpNotMet), "{acr}");
    }
    // Without a step-up, an old auth_time is no reason to refuse a sign-in.
    let flow = w.begin("corp", &corp_endpoints());
    w.answer_tokens(&w.id_token(&flow.nonce, json!({ "auth_time": now - 86_400 })));
    assert!(w.callback(&flow, &[("code", "code-plain"), ("state", &flow.state), ("iss", ISSUER)]).is_ok());
}

#[test]
fn a_step_up_whose_answer_would_still_fall_short_starts_nothing_and_provisions_nobody() {
    // trust_amr: the acr asked for comes back, but the amr shows no passkey: a session would
    // fall short of the route again, and the browser would go round for ever.
    let w = world_with(&json!({
        "authentication": { "trust_amr": true, "step_up_acr_values": { "webauthn": "urn:corp:phr" } },
        "directory": { "tenant": "acme" }
    }));
    let ask = crate::mfa::step_up::ProviderAsk { max_age_s: None, acr_values: vec!["urn:corp:phr".into()] };
    let purpose = Purpose::SignIn { return_to: "/vault".into(), step_up: Some(ask) };
    let run = |amr: Value, code: &str| {
        let flow = w.begin_for("corp", &corp_endpoints(), purpose.clone());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "acr": "urn:corp:phr", "amr": amr })));
        outcome(w.callback(&flow, &[("code", code), ("state", &flow.state), ("iss", ISSUER)]))
    };
    assert_eq!(run(json!(["pwd", "otp"]), "code-otp"), refused(LoginError::StepUpNotMet));
    assert!(w.directory.users(&crate::directory::TenantScope::of("acme")).is_empty(), "refused before provisioning");
    assert_eq!(run(json!(["pwd", "hwk"]), "code-hwk"), Ok(()));
    assert_eq!(w.directory.users(&crate::directory::TenantScope::of("acme")).len(), 1);
}

#[test]
fn a_configured_max_age_stricter_than_the_step_ups_stays() {
    let w = world_with(&json!({ "authorization_params": { "max_age": "0" } }));
    let ask = crate::mfa::step_up::ProviderAsk { max_age_s: Some(300), acr_values: vec![] };
    let provider = w.login.provider("corp").unwrap();
    let purpose = Purpose::SignIn { return_to: "/".into(), step_up: Some(ask) };
    let begun = begin(&w.login, provider, &corp_endpoints(), purpose, None, &w.key, &SystemEntropy, &w.clock).unwrap();
    let query = query_of(&begun.location);
    assert_eq!(query.iter().filter(|(name, _)| name == "max_age").map(|(_, v)| v.as_str()).collect::<Vec<_>>(), ["0"]);
}

#[test]
fn a_provider_that_must_confirm_mfa_is_asked_on_every_sign_in_and_refused_without_it() {
    let w = world_with(&json!({
        "authentication": { "require_mfa": true, "acr": { "urn:corp:mfa": ["mfa"] }, "step_up_acr_values": { "any": "urn:corp:mfa" } }
    }));
    let flow_with = |acr: Value, code: &str| {
        let provider = w.login.provider("corp").unwrap();
        let purpose = Purpose::SignIn { return_to: "/".into(), step_up: None };
        let begun =
            begin(&w.login, provider, &corp_endpoints(), purpose, None, &w.key, &SystemEntropy, &w.clock).unwrap();
        let query = query_of(&begun.location);
        assert_eq!(param(&query, "acr_values"), "urn:corp:mfa", "asked on a plain sign-in too");
        let flow = Flow {
            state: param(&query, "state"),
            nonce: param(&query, "nonce"),
            challenge: param(&query, "code_challenge"),
            sealed: begun.ticket_cookie.split_once('=').unwrap().1.split(';').next().unwrap().to_owned(),
        };
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "acr": acr })));
        outcome(w.callback(&flow, &[("code", code), ("state", &flow.state), ("iss", ISSUER)]))
    };
    assert_eq!(flow_with(json!("urn:corp:mfa"), "code-mfa"), Ok(()));
    assert_eq!(
        flow_with(json!("urn:corp:pwd"), "code-pwd"),
        refused(LoginError::MfaRequired),
        "an acr that vouches for no second factor"
    );
    // trust_amr without acr values: nothing to ask, the amr decides.
    let w = world_with(&json!({ "authentication": { "require_mfa": true, "trust_amr": true } }));
    let run = |amr: Value, code: &str| {
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "amr": amr })));
        outcome(w.callback(&flow, &[("code", code), ("state", &flow.state), ("iss", ISSUER)]))
    };
    assert_eq!(run(json!(["pwd"]), "code-a"), refused(LoginError::MfaRequired));
    assert_eq!(run(json!(["pwd", "otp"]), "code-b"), Ok(()));
    assert!(
        LoginConfig::from_value(
            &json!({ "redirect_uri": CALLBACK, "providers": [{ "id": "x", "type": "oidc", "issuer": ISSUER, "client_id": "c",
                     "client_secret": "S", "authentication": { "require_mfa": true } }] }),
            Environment::Production,
            "/auth"
        )
        .is_err(),
        "require_mfa that nothing could meet is refused"
    );
}

#[test]
fn with_portcullis_factors_a_sign_in_without_a_believed_one_is_held_not_refused_and_nothing_is_asked() {
    let w = world_with(&json!({
        "directory": { "tenant": "acme" },
        "authentication": { "require_mfa": true, "local_factors": true, "trust_amr": true,
                            "acr": { "urn:corp:mfa": ["mfa"] }, "step_up_acr_values": { "any": "urn:corp:mfa" } }
    }));
    let provider = w.login.provider("corp").unwrap();
    let purpose = Purpose::SignIn { return_to: "/app".into(), step_up: None };
    let begun = begin(&w.login, provider, &corp_endpoints(), purpose, None, &w.key, &SystemEntropy, &w.clock).unwrap();
    assert!(
        query_of(&begun.location).iter().all(|(name, _)| name != "acr_values"),
        "a provider whose users have Portcullis's factors is asked for none: one it did not do is no refusal"
    );
    let run = |amr: Value, code: &str| {
        let flow = w.begin("corp", &corp_endpoints());
        w.answer_tokens(&w.id_token(&flow.nonce, json!({ "amr": amr })));
        let query: Vec<(String, String)> = [("code", code), ("state", flow.state.as_str()), ("iss", ISSUER)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let verifier = KeySetVerifier::new(w.keys.clone(), &w.clock);
        let secret = SecretString::new("client-secret".into());
        block_on(async {
            let started = open_ticket(Some(&flow.sealed), &w.key, &w.clock)?.start(&w.login, CALLBACK)?;
            let redeemed = started.check(&query, corp_endpoints())?.redeem(&w.ledger, &w.peer, &secret).await?;
            let verified = redeemed.verify(&verifier, &w.peer, &JwksCachePolicy::default()).await?;
            let verified = verified.provision(&w.directory, &w.directory, &SystemEntropy, &w.clock).await?;
            Ok::<_, FlowError>((verified.local_factor_owed(), verified))
        })
    };
    let (owed, verified) = run(json!(["pwd"]), "code-pwd").expect("held, not refused with mfa_required");
    let owed = owed.expect("a factor is owed");
    assert!(owed.user_id.starts_with("usr_") && owed.tenant == "acme" && owed.provider_requires, "{owed:?}");
    let held = verified.hold(&w.clock).unwrap();
    assert_eq!(
        (held.record.provider.as_str(), held.record.user_id.as_deref(), held.record.amr.clone()),
        ("corp", Some(owed.user_id.as_str()), vec!["pwd".to_owned()]),
        "the record the factor completes: the provider's, with what it vouched"
    );
    assert_eq!(held.return_to, "/app");
    assert_eq!(w.sessions.len(), 0, "held: no session is stored");
    let (owed, verified) = run(json!(["pwd", "otp"]), "code-otp").unwrap();
    assert_eq!(owed, None, "a believed second factor owes none of Portcullis's");
    block_on(verified.issue(&w.sessions, &w.clock)).expect("a session");
    // Without local_factors, the same provider's users owe nothing here (require_mfa refuses).
    let plain = world_with(&json!({ "directory": { "tenant": "acme" }, "authentication": { "trust_amr": true } }));
    let flow = plain.begin("corp", &corp_endpoints());
    plain.answer_tokens(&plain.id_token(&flow.nonce, json!({ "amr": ["pwd"] })));
    assert!(plain.callback(&flow, &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)]).is_ok());
}
