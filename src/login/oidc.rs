//! The OpenID Connect relying party's checks, following OIDC Core 3.1, RFC 7636 (PKCE), RFC 9207
//! (`iss` in authorisation responses) and RFC 9700 (OAuth security best current practice).

use crate::deploy::Environment;
use crate::secret::{Sealer, SecretBytes};
use crate::session::TICKET_COOKIE_PREFIX;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A PKCE pair (RFC 7636): the verifier stays with the relying party, the S256 challenge goes out.
#[derive(Debug)]
pub struct Pkce {
    /// The code verifier (43 base64url characters); single use, never printed.
    pub verifier: SecretBytes,
    /// `base64url(SHA-256(verifier))`.
    pub challenge: String,
}

/// A PKCE pair from 32 CSPRNG bytes.
pub fn pkce(random: &[u8; 32]) -> Pkce {
    let verifier = URL_SAFE_NO_PAD.encode(random);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce { verifier: SecretBytes::new(verifier.into_bytes()), challenge }
}

/// The parts of an OpenID Provider's metadata (OIDC Discovery §3) the relying party uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    /// The issuer; must equal the configured one exactly.
    pub issuer: String,
    /// Where browsers are sent.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The provider's keys.
    pub jwks_uri: String,
    /// The userinfo endpoint, if any.
    pub userinfo_endpoint: Option<String>,
    /// RP-initiated logout, if supported.
    pub end_session_endpoint: Option<String>,
    /// Token revocation (RFC 7009), if supported.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// PKCE methods; when listed, `S256` must be among them.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the provider puts `iss` in authorisation responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// Parses and checks a discovery document for the configured issuer.
pub fn parse_discovery(document: &[u8], expected_issuer: &str, environment: Environment) -> Result<Discovery, String> {
    let discovery: Discovery =
        serde_json::from_slice(document).map_err(|e| format!("not a discovery document: {e}"))?;
    // OIDC Discovery §4.3: the issuer must be identical, or anyone could impersonate the provider.
    if discovery.issuer != expected_issuer {
        return Err(format!("the document's issuer {:?} is not {expected_issuer:?}", discovery.issuer));
    }
    let endpoints = [
        ("authorization_endpoint", Some(&discovery.authorization_endpoint)),
        ("token_endpoint", Some(&discovery.token_endpoint)),
        ("jwks_uri", Some(&discovery.jwks_uri)),
        ("userinfo_endpoint", discovery.userinfo_endpoint.as_ref()),
        ("end_session_endpoint", discovery.end_session_endpoint.as_ref()),
        ("revocation_endpoint", discovery.revocation_endpoint.as_ref()),
    ];
    for (name, endpoint) in endpoints {
        let Some(endpoint) = endpoint else { continue };
        let url = url::Url::parse(endpoint).map_err(|_| format!("{name} is not a URL"))?;
        if url.scheme() != "https" && environment == Environment::Production {
            return Err(format!("{name} must be https"));
        }
    }
    if discovery.code_challenge_methods_supported.as_ref().is_some_and(|methods| !methods.iter().any(|m| m == "S256")) {
        return Err("the provider does not support PKCE with S256".into());
    }
    Ok(discovery)
}

/// What goes into an authorisation request besides the endpoint.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The exact registered redirect URI.
    pub redirect_uri: &'a str,
    /// Scopes.
    pub scopes: &'a [String],
    /// The CSRF `state`.
    pub state: &'a str,
    /// The ID token `nonce` (OIDC only).
    pub nonce: Option<&'a str>,
    /// The PKCE S256 challenge.
    pub challenge: &'a str,
    /// A `login_hint` (the email typed for home-realm discovery).
    pub login_hint: Option<&'a str>,
    /// The provider's extra parameters.
    pub extra: &'a std::collections::BTreeMap<String, String>,
    /// A step-up's `max_age` and `acr_values`, which replace the extra parameters of those names.
    pub step_up: Option<&'a crate::mfa::step_up::ProviderAsk>,
}

/// The authorisation request URL (RFC 6749 §4.1.1, OIDC Core 3.1.2.1), with PKCE S256, `state`
/// and, for OIDC, `nonce`.
pub fn authorization_url(endpoint: &str, request: &AuthorizationRequest<'_>) -> Result<String, String> {
    let mut url = url::Url::parse(endpoint).map_err(|e| e.to_string())?;
    {
        let mut pairs = url.query_pairs_mut();
        pairs
            .append_pair("response_type", "code")
            .append_pair("client_id", request.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", &request.scopes.join(" "))
            .append_pair("state", request.state);
        if let Some(nonce) = request.nonce {
            pairs.append_pair("nonce", nonce);
        }
        pairs.append_pair("code_challenge", request.challenge).append_pair("code_challenge_method", "S256");
        if let Some(hint) = request.login_hint {
            pairs.append_pair("login_hint", hint);
        }
        let mut step_up = request.step_up.map(|ask| ask.query_pairs()).unwrap_or_default();
        // A configured max_age stricter than the step-up's stays.
        let configured_age = request.extra.get("max_age").and_then(|age| age.parse::<u64>().ok());
        for (name, value) in &mut step_up {
            if let (&mut "max_age", Some(configured)) = (name, configured_age) {
                if value.parse::<u64>().is_ok_and(|asked| configured < asked) {
                    *value = configured.to_string();
                }
            }
        }
        for (name, value) in request.extra {
            if !step_up.iter().any(|(asked, _)| asked == name) {
                pairs.append_pair(name, value);
            }
        }
        for (name, value) in &step_up {
            pairs.append_pair(name, value);
        }
    }
    Ok(url.into())
}

/// The ticket cookie's name for a `state`.
pub fn ticket_cookie_name(state: &str) -> String {
    let tag: String = state.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(12).collect();
    format!("{TICKET_COOKIE_PREFIX}{tag}")
}

/// What the browser carries between `/auth/login` and `/auth/callback`, in a short-lived cookie
/// encrypted and authenticated with AES-256-GCM: the flow's secrets are unreadable outside the
/// gateway, any change is detected, and a callback from another browser has no ticket.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginTicket {
    /// The provider's configured id.
    pub provider: String,
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// Where to go after login (already checked by [`safe_return_to`]).
    pub return_to: String,
    /// When the flow started, in seconds.
    pub issued_at_s: i64,
    /// The setup link whose connection this flow tests: such a flow provisions nobody and starts
    /// no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<SetupTicket>,
    /// A step-up's `max_age`: the provider's `auth_time` must then be within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_s: Option<u64>,
    /// A step-up's `acr_values`: the provider's `acr` must then be one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
}

/// What a setup test's ticket says it tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupTicket {
    /// The setup link's id.
    pub link: String,
    /// The revision of the connection the test began with (a later save makes another): the
    /// callback refuses the test if the connection changed since, and the result counts only for
    /// this revision.
    pub revision: String,
}

impl std::fmt::Debug for LoginTicket {
    /// Never the `state`, the `nonce` or the PKCE verifier.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginTicket")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("issued_at_s", &self.issued_at_s)
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

/// Why a login ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketError {
    /// Not a ticket, or its seal does not verify.
    Invalid,
    /// Older than the allowed age, or from the future.
    Expired,
}

fn ticket_sealer(key: &SecretBytes) -> Sealer {
    // A key of its own for tickets, derived from the login secret.
    Sealer::new(b"portcullis-login-ticket.", key)
}

const TICKET_AAD: &[u8] = b"portcullis-login-ticket";

/// `base64url(nonce).base64url(AES-256-GCM(json))`: the ticket's `nonce` and PKCE verifier are
/// unreadable to anyone holding the cookie, and any change to it is detected.
pub fn seal(ticket: &LoginTicket, key: &SecretBytes, nonce: &[u8; 12]) -> String {
    let plaintext = serde_json::to_vec(ticket).unwrap_or_default();
    ticket_sealer(key).seal(TICKET_AAD, &plaintext, nonce)
}

/// Opens a sealed ticket that is at most `max_age_s` old at `now_s`.
pub fn open(sealed: &str, key: &SecretBytes, now_s: i64, max_age_s: i64) -> Result<LoginTicket, TicketError> {
    let json = ticket_sealer(key).open(TICKET_AAD, sealed).ok_or(TicketError::Invalid)?;
    let ticket: LoginTicket = serde_json::from_slice(&json).map_err(|_| TicketError::Invalid)?;
    let age = now_s - ticket.issued_at_s;
    if !(0..=max_age_s).contains(&age) {
        return Err(TicketError::Expired);
    }
    Ok(ticket)
}

/// Why an authorisation response was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackError {
    /// The provider answered with an `error`.
    Provider(String),
    /// No `code`.
    MissingCode,
    /// `state` is not the one this browser's ticket holds (CSRF, or a swapped response).
    StateMismatch,
    /// RFC 9207: `iss` is missing where the provider promises it, or names another issuer
    /// (a mix-up attack).
    IssuerMismatch,
}

/// What the relying party knows of the provider's issuer, for RFC 9207.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedIssuer<'a> {
    /// The issuer identifier (OIDC), if the provider has one.
    pub issuer: Option<&'a str>,
    /// Whether the provider promises `iss` in every authorisation response.
    pub required: bool,
}

/// Checks an authorisation response against the browser's ticket; returns the code.
pub fn check_callback(
    query: &[(String, String)],
    ticket: &LoginTicket,
    expected: ExpectedIssuer<'_>,
) -> Result<String, CallbackError> {
    let param = |name: &str| crate::http::pair_value(query, name);
    // The issuer check comes first: an error response from a mixed-up provider is also refused.
    match (param("iss"), expected.issuer) {
        (Some(iss), Some(issuer)) if iss != issuer => return Err(CallbackError::IssuerMismatch),
        (None, _) if expected.required => return Err(CallbackError::IssuerMismatch),
        _ => {}
    }
    let state = param("state").unwrap_or("");
    if !bool::from(state.as_bytes().ct_eq(ticket.state.as_bytes())) {
        return Err(CallbackError::StateMismatch);
    }
    if let Some(error) = param("error") {
        return Err(CallbackError::Provider(error.chars().take(64).collect()));
    }
    param("code").filter(|code| !code.is_empty()).map(str::to_owned).ok_or(CallbackError::MissingCode)
}

/// Why an ID token's OIDC-specific claims were refused (signature, `iss`, `aud` and times are the
/// JWT verifier's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenError {
    /// `nonce` is missing or not the one sent (a replayed or injected token).
    NonceMismatch,
    /// `azp` is missing with several audiences, or is not this client.
    AuthorizedPartyMismatch,
}

/// OIDC Core 3.1.3.7, steps 4, 5 and 11: `azp` and `nonce`.
pub fn check_id_token(claims: &Map<String, Value>, client_id: &str, nonce: &str) -> Result<(), IdTokenError> {
    let audiences = match claims.get("aud") {
        Some(Value::Array(items)) => items.len(),
        Some(_) => 1,
        None => 0,
    };
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => return Err(IdTokenError::AuthorizedPartyMismatch),
        None if audiences > 1 => return Err(IdTokenError::AuthorizedPartyMismatch),
        _ => {}
    }
    let presented = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty() || !bool::from(presented.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(IdTokenError::NonceMismatch);
    }
    Ok(())
}

/// The longest `return_to` kept (a longer one makes the ticket cookie too big for browsers).
pub const MAX_RETURN_TO_BYTES: usize = 1024;

/// Where to send the browser after login: `candidate` when it is a path on this site or a URL on
/// one of `allowed_origins` (`scheme://host[:port]`), and `/` otherwise, so there is no open
/// redirect (RFC 9700 §4.11).
pub fn safe_return_to(candidate: &str, allowed_origins: &[String]) -> String {
    let fallback = || "/".to_owned();
    if candidate.chars().any(|c| c.is_control() || c == '\\') {
        return fallback();
    }
    if candidate.len() > MAX_RETURN_TO_BYTES {
        return fallback();
    }
    if candidate.starts_with('/') {
        // `//host` and `/\host` are other hosts to a browser.
        if candidate.starts_with("//") {
            return fallback();
        }
        // Re-serialised, so it is percent-encoded ASCII and fits in a `Location` header.
        let base = url::Url::parse("https://return-to.invalid/").ok();
        return match base.and_then(|base| base.join(candidate).ok()) {
            Some(url) if url.host_str() == Some("return-to.invalid") => {
                let mut path = url.path().to_owned();
                // The join removed dot segments: `/.//evil.test` is `//evil.test` now, which a
                // browser takes for another host. The output is what is checked.
                if path.starts_with("//") || path.starts_with("/\\") {
                    return fallback();
                }
                if let Some(query) = url.query() {
                    path.push('?');
                    path.push_str(query);
                }
                path
            }
            _ => fallback(),
        };
    }
    match url::Url::parse(candidate) {
        Ok(url)
            if matches!(url.scheme(), "https" | "http")
                && allowed_origins.iter().any(|o| *o == url.origin().ascii_serialization()) =>
        {
            url.into()
        }
        _ => fallback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn discovery(iss_supported: bool) -> Discovery {
        Discovery {
            issuer: "https://idp.test".into(),
            authorization_endpoint: "https://idp.test/authorize".into(),
            token_endpoint: "https://idp.test/token".into(),
            jwks_uri: "https://idp.test/jwks".into(),
            userinfo_endpoint: None,
            end_session_endpoint: None,
            revocation_endpoint: None,
            code_challenge_methods_supported: Some(vec!["S256".into()]),
            authorization_response_iss_parameter_supported: iss_supported,
        }
    }

    fn ticket() -> LoginTicket {
        LoginTicket {
            provider: "idp".into(),
            state: "state-123".into(),
            nonce: "nonce-456".into(),
            verifier: "v".into(),
            return_to: "/app".into(),
            issued_at_s: 1_000,
            setup: None,
            max_age_s: None,
            acr_values: Vec::new(),
        }
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let random: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191,
            240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let pair = pkce(&random);
        assert_eq!(pair.verifier.expose(), b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(pair.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(format!("{:?}", pair.verifier), "[redacted]");
    }

    #[test]
    fn discovery_documents_are_checked() {
        let doc = |extra: Value| {
            let mut base = json!({ "issuer": "https://idp.test", "authorization_endpoint": "https://idp.test/a",
                                   "token_endpoint": "https://idp.test/t", "jwks_uri": "https://idp.test/k" });
            for (key, value) in extra.as_object().unwrap() {
                base[key] = value.clone();
            }
            base.to_string()
        };
        let check = |text: String, env| parse_discovery(text.as_bytes(), "https://idp.test", env);
        assert!(check(doc(json!({})), Environment::Production).is_ok());
        let cases = [
            (doc(json!({ "issuer": "https://idp.test/" })), Environment::Production, "issuer"),
            (doc(json!({ "issuer": "https://evil.test" })), Environment::Production, "issuer"),
            (
                doc(json!({ "token_endpoint": "http://idp.test/t" })),
                Environment::Production,
                "token_endpoint must be https",
            ),
            (doc(json!({ "code_challenge_methods_supported": ["plain"] })), Environment::Production, "PKCE"),
            ("{}".to_owned(), Environment::Production, "not a discovery document"),
        ];
        for (text, env, expected) in cases {
            let error = check(text.clone(), env).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        assert!(check(doc(json!({ "token_endpoint": "http://idp.test/t" })), Environment::Development).is_ok());
    }

    #[test]
    fn the_authorization_url_carries_pkce_state_and_nonce() {
        let scopes = ["openid".to_owned(), "email".to_owned()];
        let request = AuthorizationRequest {
            client_id: "client 1",
            redirect_uri: "https://app.test/auth/callback",
            scopes: &scopes,
            state: "s",
            nonce: Some("n"),
            challenge: "c",
            login_hint: Some("a@b.test"),
            extra: &[("hd".to_owned(), "b.test".to_owned())].into_iter().collect(),
            step_up: None,
        };
        let url = authorization_url(&discovery(true).authorization_endpoint, &request).unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let params: Map<String, Value> = parsed.query_pairs().map(|(k, v)| (k.into_owned(), json!(v))).collect();
        assert_eq!(params["client_id"], "client 1");
        assert_eq!(params["scope"], "openid email");
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(params["response_type"], "code");
        assert_eq!(params["login_hint"], "a@b.test");
        assert_eq!(params["hd"], "b.test");
        assert_eq!(params["redirect_uri"], "https://app.test/auth/callback");
        assert_eq!(
            (params["state"].clone(), params["nonce"].clone(), params["code_challenge"].clone()),
            (json!("s"), json!("n"), json!("c"))
        );
    }

    #[test]
    fn sealed_tickets_open_only_intact_and_fresh() {
        let key = SecretBytes::new(b"a-ticket-key-of-at-least-32-bytes!!".to_vec());
        let sealed = seal(&ticket(), &key, &[7; 12]);
        assert_eq!(open(&sealed, &key, 1_100, 600), Ok(ticket()));
        assert!(!sealed.contains("nonce-456") && !sealed.contains(&URL_SAFE_NO_PAD.encode("nonce-456")));
        assert_ne!(seal(&ticket(), &key, &[8; 12]), sealed, "a fresh nonce, a different cookie");
        let other_key = SecretBytes::new(b"another-ticket-key-of-32-bytes!!!!".to_vec());
        let tampered = {
            let (nonce, ciphertext) = sealed.split_once('.').unwrap();
            let mut bytes = URL_SAFE_NO_PAD.decode(ciphertext).unwrap();
            bytes[3] ^= 1;
            format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(bytes))
        };
        let renonced = format!("{}.{}", URL_SAFE_NO_PAD.encode([9u8; 12]), sealed.split_once('.').unwrap().1);
        let cases: &[(&str, &SecretBytes, i64, Result<(), TicketError>)] = &[
            (&sealed, &key, 1_600, Ok(())),
            (&sealed, &key, 1_601, Err(TicketError::Expired)),
            (&sealed, &key, 999, Err(TicketError::Expired)),
            (&sealed, &other_key, 1_100, Err(TicketError::Invalid)),
            (&tampered, &key, 1_100, Err(TicketError::Invalid)),
            (&renonced, &key, 1_100, Err(TicketError::Invalid)),
            ("garbage", &key, 1_100, Err(TicketError::Invalid)),
            ("a.b", &key, 1_100, Err(TicketError::Invalid)),
        ];
        for (sealed, key, now, expected) in cases {
            assert_eq!(open(sealed, key, *now, 600).map(|_| ()), *expected, "{sealed} at {now}");
        }
    }

    #[test]
    fn callback_table() {
        let q =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
        let with_iss = discovery(true);
        let without_iss = discovery(false);
        let cases: Vec<(&Discovery, Vec<(String, String)>, Result<&str, CallbackError>)> = vec![
            (&with_iss, q(&[("code", "c1"), ("state", "state-123"), ("iss", "https://idp.test")]), Ok("c1")),
            (&without_iss, q(&[("code", "c1"), ("state", "state-123")]), Ok("c1")),
            (&with_iss, q(&[("code", "c1"), ("state", "state-123")]), Err(CallbackError::IssuerMismatch)),
            (
                &without_iss,
                q(&[("code", "c1"), ("state", "state-123"), ("iss", "https://evil.test")]),
                Err(CallbackError::IssuerMismatch),
            ),
            (
                &with_iss,
                q(&[("code", "c1"), ("state", "other"), ("iss", "https://idp.test")]),
                Err(CallbackError::StateMismatch),
            ),
            (&with_iss, q(&[("code", "c1"), ("iss", "https://idp.test")]), Err(CallbackError::StateMismatch)),
            (&with_iss, q(&[("state", "state-123"), ("iss", "https://idp.test")]), Err(CallbackError::MissingCode)),
            (
                &with_iss,
                q(&[("code", ""), ("state", "state-123"), ("iss", "https://idp.test")]),
                Err(CallbackError::MissingCode),
            ),
            (
                &with_iss,
                q(&[("error", "access_denied"), ("state", "state-123"), ("iss", "https://idp.test")]),
                Err(CallbackError::Provider("access_denied".into())),
            ),
            (
                &with_iss,
                q(&[("error", "access_denied"), ("state", "x"), ("iss", "https://idp.test")]),
                Err(CallbackError::StateMismatch),
            ),
        ];
        for (discovery, query, expected) in cases {
            let expected_issuer = ExpectedIssuer {
                issuer: Some(&discovery.issuer),
                required: discovery.authorization_response_iss_parameter_supported,
            };
            assert_eq!(
                check_callback(&query, &ticket(), expected_issuer).as_deref().map_err(Clone::clone),
                expected.clone(),
                "{query:?}"
            );
        }
    }

    #[test]
    fn providers_without_an_issuer_ignore_iss_and_tickets_get_per_flow_cookies() {
        let oauth2 = ExpectedIssuer { issuer: None, required: false };
        let query = vec![("code".to_owned(), "c1".to_owned()), ("state".to_owned(), "state-123".to_owned())];
        assert_eq!(check_callback(&query, &ticket(), oauth2), Ok("c1".to_owned()));
        assert_eq!(ticket_cookie_name("AbC-_x.y/z0123456789"), "__Host-portcullis-login-AbC-_xyz0123");
        assert_ne!(ticket_cookie_name("first-state-xx"), ticket_cookie_name("other-state-xx"));
    }

    #[test]
    fn id_token_claims_table() {
        let cases: &[(Value, Result<(), IdTokenError>)] = &[
            (json!({ "aud": "client", "nonce": "n1" }), Ok(())),
            (json!({ "aud": ["client"], "nonce": "n1" }), Ok(())),
            (json!({ "aud": ["client", "other"], "azp": "client", "nonce": "n1" }), Ok(())),
            (json!({ "aud": ["client", "other"], "nonce": "n1" }), Err(IdTokenError::AuthorizedPartyMismatch)),
            (json!({ "aud": "client", "azp": "other", "nonce": "n1" }), Err(IdTokenError::AuthorizedPartyMismatch)),
            (json!({ "aud": "client" }), Err(IdTokenError::NonceMismatch)),
            (json!({ "aud": "client", "nonce": "n2" }), Err(IdTokenError::NonceMismatch)),
            (json!({ "aud": "client", "nonce": 7 }), Err(IdTokenError::NonceMismatch)),
        ];
        for (claims, expected) in cases {
            assert_eq!(check_id_token(claims.as_object().unwrap(), "client", "n1"), *expected, "{claims}");
        }
        assert_eq!(
            check_id_token(json!({ "aud": "client", "nonce": "" }).as_object().unwrap(), "client", ""),
            Err(IdTokenError::NonceMismatch)
        );
    }

    #[test]
    fn return_to_never_leaves_the_allowed_origins() {
        let allowed = vec!["https://app.test".to_owned(), "https://admin.app.test".to_owned()];
        let cases: &[(&str, &str)] = &[
            ("/dashboard?tab=1", "/dashboard?tab=1"),
            ("/", "/"),
            ("https://app.test/x", "https://app.test/x"),
            ("https://admin.app.test/y", "https://admin.app.test/y"),
            ("https://evil.test/", "/"),
            ("https://app.test.evil.test/", "/"),
            ("//evil.test/", "/"),
            ("/\\evil.test/", "/"),
            ("\\\\evil.test", "/"),
            ("javascript:alert(1)", "/"),
            ("http://app.test/x", "/"),
            ("/a\nLocation: x", "/"),
            ("", "/"),
            ("relative/path", "/"),
            ("/caf\u{e9}/\u{100}?q=\u{2603}", "/caf%C3%A9/%C4%80?q=%E2%98%83"),
            ("/a/../b#frag", "/b"),
            // Dot segments that the join removes must not leave a `//host` path behind.
            ("/.//evil.test/x", "/"),
            ("/..//evil.test/x", "/"),
            ("/%2e//evil.test", "/"),
            ("/%2E%2E//evil.test", "/"),
            ("/a/..//evil.test", "/"),
            ("/a/./..//evil.test", "/"),
            ("/./x", "/x"),
        ];
        for (candidate, expected) in cases {
            assert_eq!(safe_return_to(candidate, &allowed), *expected, "{candidate:?}");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO_BYTES)), &allowed), "/");
    }
}

#[cfg(test)]
mod generative {
    use super::*;
    use crate::testing::any_json;
    use proptest::prelude::*;

    const FIELDS: &[&str] = &[
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "end_session_endpoint",
        "authorization_response_iss_parameter_supported",
        "code_challenge_methods_supported",
        "response_types_supported",
    ];

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn return_to_is_this_site_or_an_allowed_origin(candidate in "[/.%2eE\\\\a-z:@?#]{0,24}") {
                let allowed = vec!["https://app.test".to_owned()];
                let kept = safe_return_to(&candidate, &allowed);
                // Resolved as a browser would against the app, it stays on the app.
                let resolved = url::Url::parse("https://app.test/here/").unwrap().join(&kept).unwrap();
                prop_assert_eq!(resolved.origin().ascii_serialization(), "https://app.test");
                prop_assert!(!kept.starts_with("//") && !kept.starts_with("/\\"));
            }

            #[test]
            fn arbitrary_discovery_documents_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), value in any_json(FIELDS)) {
                let _ = parse_discovery(&bytes, "https://idp.test", Environment::Production);
                let _ = parse_discovery(value.to_string().as_bytes(), "https://idp.test", Environment::Production);
            }

            /// A valid document with any of its fields replaced is accepted only when it still names
            /// the expected issuer and https endpoints.
            #[test]
            fn a_changed_document_is_accepted_only_for_its_issuer(
                changes in proptest::collection::btree_map(proptest::sample::select(FIELDS.to_vec()), any_json(FIELDS), 0..4),
            ) {
                let mut document = serde_json::json!({
                    "issuer": "https://idp.test", "authorization_endpoint": "https://idp.test/a",
                    "token_endpoint": "https://idp.test/t", "jwks_uri": "https://idp.test/k",
                    "code_challenge_methods_supported": ["S256"],
                });
                for (field, value) in &changes {
                    document[*field] = value.clone();
                }
                let parsed = parse_discovery(document.to_string().as_bytes(), "https://idp.test", Environment::Production);
                if changes.is_empty() {
                    prop_assert!(parsed.is_ok(), "the unchanged document is accepted: {:?}", parsed.err());
                }
                if let Ok(discovery) = parsed {
                    prop_assert_eq!(discovery.issuer.as_str(), "https://idp.test");
                    for endpoint in [&discovery.authorization_endpoint, &discovery.token_endpoint, &discovery.jwks_uri] {
                        prop_assert!(endpoint.starts_with("https://"), "{}", endpoint);
                    }
                }
            }
        }
}
