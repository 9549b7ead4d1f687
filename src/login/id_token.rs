//! The ID token (OIDC Core 3.1.3.7): verified by the bearer verifier as a JWT of the provider
//! (signature against its JWKS, algorithm, `iss`, `aud` = client id, `exp`, `iat`), then readable
//! only with the login flow's `nonce`, after the `azp` and `nonce` checks. No code path can read an
//! ID token's claims without those checks.

use super::error::LoginError;
use super::oidc;
use super::provider::{Provider, ProviderKind};
use super::provider_api::Endpoints;
use crate::authn::jwt::issuer::{ClaimNames, Issuer, JwksCachePolicy, JwtConfig, KeySource};
use crate::authn::jwt::verifier::TokenVerifier;
use crate::authn::AuthnError;
use crate::secret::SecretString;
use serde_json::{Map, Value};

/// The `nonce` a login flow sent, from its sealed ticket: the only key to an ID token's claims.
pub struct FlowNonce(SecretString);

impl FlowNonce {
    /// The ticket's nonce; only the flow holds a ticket.
    pub(super) fn from_ticket(nonce: &str) -> Self {
        Self(SecretString::new(nonce.to_owned()))
    }
}

/// An ID token whose JWT checks passed; its claims wait for [`VerifiedIdToken::claims`].
pub struct VerifiedIdToken {
    claims: Map<String, Value>,
    client_id: String,
}

impl VerifiedIdToken {
    /// Verifies `id_token` as a JWT of `provider`, with keys from its discovered `jwks_uri`.
    pub async fn verify(
        verifier: &impl TokenVerifier,
        provider: &Provider,
        endpoints: &Endpoints,
        jwks_cache: &JwksCachePolicy,
        id_token: &str,
    ) -> Result<Self, LoginError> {
        let ProviderKind::Oidc { issuer, algorithms, leeway_s, .. } = &provider.kind else {
            return Err(LoginError::IdTokenInvalid("not an OIDC provider".into()));
        };
        let jwks_uri = endpoints.jwks_uri.clone().ok_or(LoginError::IdTokenInvalid("no jwks_uri".into()))?;
        let rules = JwtConfig {
            issuers: vec![Issuer {
                issuer: issuer.clone(),
                audiences: vec![provider.client_id.clone()],
                key_source: KeySource::JwksUrl(jwks_uri),
                algorithms: algorithms.clone(),
                leeway_s: *leeway_s,
                required_claims: vec!["sub".into(), "iat".into()],
                typ: None,
                claims: ClaimNames::default(),
            }],
            jwks_cache: jwks_cache.clone(),
            verified_cache_entries: 0,
        };
        let principal = verifier.verify(&rules, id_token).await.map_err(|error| match error {
            AuthnError::Unavailable(_) => LoginError::ProviderUnavailable("the provider's keys".into()),
            other => LoginError::IdTokenInvalid(other.to_string()),
        })?;
        Ok(Self { claims: principal.claims().clone(), client_id: provider.client_id.clone() })
    }

    /// The claims, once `azp` names this client and `nonce` is the flow's (OIDC Core 3.1.3.7,
    /// steps 4, 5 and 11).
    pub fn claims(self, nonce: &FlowNonce) -> Result<Map<String, Value>, LoginError> {
        oidc::check_id_token(&self.claims, &self.client_id, nonce.0.expose())
            .map_err(|error| LoginError::IdTokenInvalid(format!("{error:?}")))?;
        Ok(self.claims)
    }
}
