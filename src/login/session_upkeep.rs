//! What the login configuration decides about a session it already issued: whether it still
//! admits the session (the configuration decides, not the session), and the tokens a refresh
//! leaves it with.

use super::config::LoginConfig;
use super::profile::TokenResponse;
use super::provider::Provider;
use crate::directory::connections::connection_id_ok;
use crate::session::{SessionError, SessionRecord, UpstreamTokens};

/// The provider that made `record`, if the configuration still admits it: a provider removed, or
/// a domain no longer allowed, ends the sessions it made, at their next use.
pub fn admitting_provider<'a>(login: &'a LoginConfig, record: &SessionRecord) -> Result<&'a Provider, SessionError> {
    match login.provider(&record.provider) {
        Some(provider) if provider.allows_email(record.email.as_deref()) => Ok(provider),
        _ => Err(SessionError::Revoked),
    }
}

/// The issuer of the identity `record` holds, if its provider still admits it: a configured
/// provider (see [`admitting_provider`]), or a tenant's stored connection, whose issuer the
/// record carries (reading the connection on every request would cost a D1 query each; it is
/// read when the session refreshes).
pub fn admitted_issuer(login: &LoginConfig, record: &SessionRecord) -> Result<String, SessionError> {
    match (login.provider(&record.provider), &record.connection_issuer) {
        (Some(_), _) => admitting_provider(login, record).map(Provider::identity_issuer),
        (None, Some(issuer)) if connection_id_ok(&record.provider) => Ok(issuer.clone()),
        (None, _) => Err(SessionError::Revoked),
    }
}

/// The tokens after a refresh at `now_s` (RFC 6749 §6): the provider may rotate the refresh token
/// and may send a new ID token; what it does not send, the session keeps.
pub fn refreshed_tokens(answer: TokenResponse, previous: &UpstreamTokens, now_s: i64, margin_s: i64) -> UpstreamTokens {
    UpstreamTokens::issued(
        answer.access_token,
        answer.expires_in,
        answer.refresh_token.or_else(|| previous.refresh_token.clone()),
        answer.id_token.or_else(|| previous.id_token.clone()),
        now_s,
        margin_s,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::Environment;
    use serde_json::json;

    fn login(allowed: &[&str]) -> LoginConfig {
        let value = json!({
            "redirect_uri": "https://app.test/auth/callback",
            "providers": [{ "id": "corp", "type": "oidc", "issuer": "https://idp.test", "client_id": "c1",
                            "client_secret": "S", "allowed_email_domains": allowed }]
        });
        LoginConfig::from_value(&value, Environment::Production, "/auth").unwrap()
    }

    fn record(provider: &str, email: Option<&str>) -> SessionRecord {
        SessionRecord {
            subject: "alice".into(),
            email: email.map(str::to_owned),
            name: None,
            groups: Vec::new(),
            tenant: None,
            provider: provider.into(),
            created_at_s: 0,
            created_at_ms: 0,
            last_seen_s: 0,
            expires_at_s: 100,
            tokens: None,
            user_id: None,
            directory_roles: Vec::new(),
            connection_issuer: None,
            amr: Vec::new(),
            acr: None,
            auth_time_s: 0,
            authentication_vouched: false,
            saml: None,
            attributes: Default::default(),
        }
    }

    #[test]
    fn the_configuration_decides_which_sessions_live_on() {
        let cases: &[(&[&str], &str, Option<&str>, bool)] = &[
            (&[], "corp", None, true),
            (&[], "corp", Some("a@anywhere.test"), true),
            (&["corp.test"], "corp", Some("a@corp.test"), true),
            // The domain was narrowed after the session began.
            (&["corp.test"], "corp", Some("a@old.test"), false),
            (&["corp.test"], "corp", None, false),
            // The provider was removed.
            (&[], "github", Some("a@corp.test"), false),
        ];
        for (allowed, provider, email, lives) in cases {
            let login = login(allowed);
            let outcome = admitting_provider(&login, &record(provider, *email)).map(|p| p.id.clone());
            let expected = if *lives { Ok("corp".to_owned()) } else { Err(SessionError::Revoked) };
            assert_eq!(outcome, expected, "{allowed:?} {provider} {email:?}");
        }
    }

    #[test]
    fn a_refresh_keeps_what_the_provider_did_not_replace() {
        let previous = UpstreamTokens::issued("a0".into(), Some(60), Some("r0".into()), Some("i0".into()), 0, 10);
        let answer = |refresh: Option<&str>, id: Option<&str>| TokenResponse {
            access_token: "a1".into(),
            token_type: "Bearer".into(),
            expires_in: Some(300),
            refresh_token: refresh.map(str::to_owned),
            id_token: id.map(str::to_owned),
        };
        let cases: &[(Option<&str>, Option<&str>, &str, &str)] = &[
            (None, None, "r0", "i0"),
            (Some("r1"), None, "r1", "i0"),
            (None, Some("i1"), "r0", "i1"),
            (Some("r1"), Some("i1"), "r1", "i1"),
        ];
        for (refresh, id, kept_refresh, kept_id) in cases {
            let tokens = refreshed_tokens(answer(*refresh, *id), &previous, 1_000, 30);
            assert_eq!(tokens.access_token, "a1");
            assert_eq!(tokens.refresh_token.as_deref(), Some(*kept_refresh), "{refresh:?}");
            assert_eq!(tokens.id_token.as_deref(), Some(*kept_id), "{id:?}");
            assert!(!tokens.needs_refresh(1_000, 30) && tokens.needs_refresh(1_270, 30));
        }
    }
}
