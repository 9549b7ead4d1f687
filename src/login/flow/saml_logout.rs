//! SAML Single Logout's steps, over HTTP-Redirect (the shell drives them from `/auth/logout` and
//! `{prefix}/saml/:provider/slo`):
//!
//! ```text
//! SP-initiated:  session ended here ──▶ sp_logout_location (signed LogoutRequest) ──▶ IdP
//!                IdP ──▶ GET slo?SAMLResponse ──▶ read_idp_message ──▶ Response (logged out page)
//! IdP-initiated: IdP ──▶ GET slo?SAMLRequest ──▶ read_idp_message ──▶ Request (the subject's
//!                sessions ended) ──▶ logout_response_location (signed LogoutResponse) ──▶ IdP
//! ```
//!
//! Every message from the IdP must carry a query signature by one of its pinned certificates; a
//! `LogoutRequest` is spent once in the ledger, for as long as it could be taken. Portcullis's
//! own messages are signed with the SP key (`login.saml_signing`), as the profile requires.

use super::{claim_once, digest, FlowError};
use crate::login::config::LoginConfig;
use crate::login::error::LoginError;
use crate::login::provider::Provider;
use crate::mfa::webauthn::signature::SignatureVerifier;
use crate::ports::{Clock, Entropy, Ledger, Unavailable};
use crate::saml::binding::MessageKind;
use crate::saml::config::SamlSettings;
use crate::saml::logout::{
    self, Expected, IdpLogoutRequest, IdpLogoutResponse, LogoutRequest, LogoutResponse, LogoutStatus,
};
use crate::saml::redirect_signature::{self, MessageSigner, SignatureFailure};
use crate::saml::request::new_request_id;
use crate::session::SamlSubject;

use super::saml::{settings_of, sp_entity_id};

/// This SP's Single Logout URL at `provider`: `{origin}{prefix}/saml/{id}/slo`.
pub fn slo_url(login: &LoginConfig, provider: &Provider) -> String {
    format!("{}{}/saml/{}/slo", login.own_origin().unwrap_or_default(), login.edge_prefix(), provider.id)
}

/// The SAML settings of a provider with Single Logout on, and its IdP's SLO URL.
pub fn single_logout_of(provider: &Provider) -> Option<(&SamlSettings, &str)> {
    let settings = settings_of(provider)?;
    Some((settings, settings.slo_url.as_deref()?))
}

/// The key under which a SAML session's `NameID` names its subject (the mapping may take the
/// subject from an attribute, while a `LogoutRequest` names only the `NameID`).
pub fn name_key(provider_id: &str, name_id: &str) -> String {
    format!("saml-name:{provider_id}:{}", digest(name_id))
}

/// Where the browser goes to be signed out at the IdP too, once its session here has ended: a
/// signed `LogoutRequest` for the subject the IdP's assertion named. `None` when the provider has
/// no Single Logout.
pub async fn sp_logout_location(
    login: &LoginConfig,
    provider: &Provider,
    subject: &SamlSubject,
    signer: &impl MessageSigner,
    entropy: &impl Entropy,
    clock: &impl Clock,
) -> Result<Option<String>, Unavailable> {
    let Some((settings, idp_slo_url)) = single_logout_of(provider) else { return Ok(None) };
    let id = new_request_id(entropy)?;
    let sp_entity_id = sp_entity_id(login, settings, provider);
    let request = LogoutRequest {
        id: &id,
        sp_entity_id: &sp_entity_id,
        destination: idp_slo_url,
        subject,
        issued_at_s: u64::try_from(clock.now_s()).unwrap_or_default(),
    };
    let xml = request.to_xml();
    redirect_signature::signed_redirect_url(idp_slo_url, MessageKind::Request, &xml, None, Some(signer)).await.map(Some)
}

/// What an IdP sent to this SP's SLO URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpLogout {
    /// Its `LogoutRequest` (spent): the subject's sessions are to end, and the IdP answered.
    Request {
        /// The request.
        request: IdpLogoutRequest,
        /// Its `RelayState`, to send back.
        relay_state: Option<String>,
    },
    /// Its `LogoutResponse` to this SP's request.
    Response(IdpLogoutResponse),
}

fn refused(reason: &'static str) -> FlowError {
    LoginError::SamlLogoutRefused(reason).into()
}

/// Reads an IdP's Single Logout message from the query string it came with (`raw_query`, as
/// sent): signed by one of the provider's certificates, from its IdP, to this SP's SLO URL,
/// fresh; a request is spent once, everywhere.
pub async fn read_idp_message(
    login: &LoginConfig,
    provider: &Provider,
    raw_query: &str,
    verifier: &impl SignatureVerifier,
    ledger: &impl Ledger,
    clock: &impl Clock,
) -> Result<IdpLogout, FlowError> {
    let (settings, _) = single_logout_of(provider).ok_or(LoginError::UnknownProvider)?;
    let message = redirect_signature::read_redirect(raw_query).map_err(|refusal| refused(refusal.reason()))?;
    match redirect_signature::verify(&message, &settings.certificates, verifier).await {
        Ok(()) => {}
        Err(SignatureFailure::Refused(refusal)) => return Err(refused(refusal.reason())),
        Err(SignatureFailure::Unavailable(unavailable)) => return Err(FlowError::Unavailable(unavailable)),
    }
    let own_slo_url = slo_url(login, provider);
    let now_s = u64::try_from(clock.now_s()).unwrap_or_default();
    let expected = Expected {
        idp_entity_id: &settings.idp_entity_id,
        slo_url: &own_slo_url,
        now_s,
        skew_s: settings.clock_skew_s,
    };
    match message.kind {
        MessageKind::Request => {
            let request = logout::read_request(&message.xml, &expected).map_err(|refusal| refused(refusal.reason()))?;
            let ttl_ms = request.replay_until_s.saturating_sub(now_s).saturating_mul(1000).max(1000);
            // Spent per provider: another provider naming the same IdP cannot spend its IDs first.
            let once = format!("saml-logout:{}", digest(&format!("{}\n{}", provider.id, request.id)));
            claim_once(ledger, once, ttl_ms).await?;
            Ok(IdpLogout::Request { request, relay_state: message.relay_state })
        }
        MessageKind::Response => {
            let response =
                logout::read_response(&message.xml, &expected).map_err(|refusal| refused(refusal.reason()))?;
            Ok(IdpLogout::Response(response))
        }
    }
}

/// Where the browser takes this SP's signed `LogoutResponse` to the IdP's request.
#[allow(clippy::too_many_arguments, reason = "each is one part of the response; a struct would only rename them")]
pub async fn logout_response_location(
    login: &LoginConfig,
    provider: &Provider,
    request: &IdpLogoutRequest,
    relay_state: Option<&str>,
    status: LogoutStatus,
    signer: &impl MessageSigner,
    entropy: &impl Entropy,
    clock: &impl Clock,
) -> Result<String, FlowError> {
    let (settings, idp_slo_url) = single_logout_of(provider).ok_or(LoginError::UnknownProvider)?;
    let id = new_request_id(entropy)?;
    let sp_entity_id = sp_entity_id(login, settings, provider);
    let response = LogoutResponse {
        id: &id,
        in_response_to: &request.id,
        sp_entity_id: &sp_entity_id,
        destination: idp_slo_url,
        status,
        issued_at_s: u64::try_from(clock.now_s()).unwrap_or_default(),
    };
    let xml = response.to_xml();
    let location =
        redirect_signature::signed_redirect_url(idp_slo_url, MessageKind::Response, &xml, relay_state, Some(signer))
            .await?;
    Ok(location)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
