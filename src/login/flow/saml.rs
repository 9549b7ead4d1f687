//! The SAML 2.0 Web Browser SSO profile as steps of the same flow, ending in the same
//! [`IdentityVerified`] as OIDC (so provisioning, second factors and the session are shared):
//!
//! ```text
//! begin (AuthnRequest over HTTP-Redirect, the ticket cookie)
//!   ──▶ (browser at the IdP) ──▶ POST to the provider's ACS
//!   ──▶ TicketOpened ──▶ Started ──▶ Started::verify_saml ──▶ IdentityVerified
//! ```
//!
//! The browser's ticket is the same sealed cookie as OIDC's, named for the flow's `RelayState`
//! (an opaque random reference and nothing else), with `SameSite=None`: the IdP's POST is a
//! cross-site request, on which a `Lax` cookie is not sent. That POST is safe to take because it
//! proves itself: the response must answer the `AuthnRequest` whose ID this very ticket holds
//! (`InResponseTo`), so another browser's response, or an attacker's own (login CSRF), finds no
//! ticket that it answers. A response the IdP sends unasked has no ticket and is refused unless
//! the provider allows IdP-initiated login.

use super::{claim_once, digest, IdentityVerified, Started, ONCE_TTL_MS};
use crate::login::config::LoginConfig;
use crate::login::error::LoginError;
use crate::login::oidc::{self, LoginTicket};
use crate::login::profile::{Authentication, Profile};
use crate::login::provider::{Provider, ProviderKind};
use crate::mfa::step_up::ProviderAsk;
use crate::mfa::webauthn::signature::SignatureVerifier;
use crate::ports::{Clock, Entropy, Ledger, Unavailable};
use crate::saml::binding::{self, MessageKind};
use crate::saml::config::SamlSettings;
use crate::saml::encryption::{KeyDecryptor, NoDecryption};
use crate::saml::mapping;
use crate::saml::redirect_signature::{self, MessageSigner};
use crate::saml::request::{new_request_id, AuthnRequest};
use crate::saml::response::{self, Decryption, Expected, ResponseFailure, VerifiedAssertion};
use crate::session::SamlSubject;

use super::{Begun, FlowError, TICKET_MAX_AGE_S};

/// The SAML settings of a provider, if it is a SAML provider.
pub fn settings_of(provider: &Provider) -> Option<&SamlSettings> {
    match &provider.kind {
        ProviderKind::Saml(settings) => Some(settings),
        _ => None,
    }
}

/// This SP's entity id at `provider`.
pub fn sp_entity_id(login: &LoginConfig, settings: &SamlSettings, provider: &Provider) -> String {
    settings.sp_entity_id(&login.own_origin().unwrap_or_default(), &login.edge_prefix(), &provider.id)
}

/// The `Set-Cookie` of a SAML flow's ticket: `SameSite=None`, so the IdP's cross-site POST
/// carries it (see the module's documentation for why that is safe).
pub fn ticket_cookie(state: &str, sealed: &str) -> String {
    format!(
        "{}={sealed}; Path=/; Secure; HttpOnly; SameSite=None; Max-Age={TICKET_MAX_AGE_S}",
        oidc::ticket_cookie_name(state)
    )
}

/// The `Set-Cookie` that clears a SAML flow's ticket.
pub fn clear_ticket(state: &str) -> String {
    format!("{}=; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=0", oidc::ticket_cookie_name(state))
}

/// Starts a SAML flow: the `AuthnRequest` (its ID kept in the ticket, `ForceAuthn` for a step-up
/// with `max_age`, the asked context classes for one with `acr_values`), sent over HTTP-Redirect
/// with the ticket's reference as `RelayState`, and signed by `signer` (the SP key) when the
/// provider says `sign_requests`.
#[allow(clippy::too_many_arguments, reason = "the flow's inputs and its three ports")]
pub async fn begin(
    login: &LoginConfig,
    provider: &Provider,
    return_to: String,
    step_up: ProviderAsk,
    key: &crate::secret::SecretBytes,
    signer: Option<&impl MessageSigner>,
    entropy: &impl Entropy,
    clock: &impl Clock,
) -> Result<Begun, FlowError> {
    let settings = settings_of(provider).ok_or(LoginError::StateInvalid)?;
    // A provider that must confirm a second factor is asked for one on every sign-in, as an OIDC
    // one is (unless Portcullis's own factors stand in for its).
    let mut step_up = step_up;
    let trust = &provider.authentication;
    if trust.require_mfa && !trust.local_factors {
        for value in trust.step_up_acr_values.to_ask_for(crate::mfa::step_up::Method::Any) {
            step_up.ask_for(value);
        }
    }
    let state = entropy.token()?;
    let request = AuthnRequest {
        id: new_request_id(entropy)?,
        sp_entity_id: sp_entity_id(login, settings, provider),
        destination: settings.sso_url.clone(),
        acs_url: login.redirect_uri_for(provider),
        name_id_format: settings.name_id_format.clone(),
        force_authn: step_up.max_age_s.is_some(),
        authn_context_classes: step_up.acr_values.clone(),
        issued_at_s: clock.now_s().max(0) as u64,
    };
    let signer = match (settings.sign_requests, signer) {
        (true, None) => return Err(FlowError::Unavailable(Unavailable("no SAML SP signing key".into()))),
        (true, signer) => signer,
        (false, _) => None,
    };
    let location = redirect_signature::signed_redirect_url(
        &settings.sso_url,
        MessageKind::Request,
        &request.to_xml(),
        Some(&state),
        signer,
    )
    .await?;
    let ticket = LoginTicket {
        provider: provider.id.clone(),
        state: state.clone(),
        nonce: request.id,
        verifier: String::new(),
        return_to,
        issued_at_s: clock.now_s(),
        setup: None,
        max_age_s: step_up.max_age_s,
        acr_values: step_up.acr_values,
    };
    let sealed = oidc::seal(&ticket, key, &entropy.bytes::<12>()?);
    Ok(Begun { location, ticket_cookie: ticket_cookie(&state, &sealed) })
}

/// The form fields of a POST to the ACS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsForm {
    /// `SAMLResponse`, base64.
    pub saml_response: String,
    /// `RelayState`, if any.
    pub relay_state: Option<String>,
}

impl AcsForm {
    /// Reads the form body (`application/x-www-form-urlencoded`).
    pub fn parse(body: &[u8]) -> Result<Self, LoginError> {
        let mut saml_response = None;
        let mut relay_state = None;
        for (name, value) in url::form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "SAMLResponse" => &mut saml_response,
                "RelayState" => &mut relay_state,
                _ => continue,
            };
            // A field given twice is not one answer.
            if slot.replace(value.into_owned()).is_some() {
                return Err(LoginError::SamlRefused("saml_form"));
            }
        }
        let saml_response = saml_response.ok_or(LoginError::MissingCode)?;
        if let Some(relay) = &relay_state {
            binding::relay_state(relay).map_err(|refusal| LoginError::SamlRefused(refusal.reason()))?;
        }
        Ok(AcsForm { saml_response, relay_state })
    }
}

fn refused(failure: ResponseFailure) -> FlowError {
    match failure {
        ResponseFailure::Refused(refusal) => FlowError::Refused(LoginError::SamlRefused(refusal.reason())),
        ResponseFailure::Unavailable(unavailable) => FlowError::Unavailable(unavailable),
    }
}

/// The keys a response is checked with: the IdP's signatures' verifier, and this SP's
/// decryption key if it has one.
pub struct SamlKeys<'a, V, D> {
    /// Verifies the IdP's signatures.
    pub verifier: &'a V,
    /// Opens encrypted assertions (`None`: the SP has no decryption key).
    pub decryptor: Option<&'a D>,
}

impl<'a, V: SignatureVerifier> SamlKeys<'a, V, NoDecryption> {
    /// Keys that only verify (no encrypted assertion is read).
    pub fn verifying(verifier: &'a V) -> Self {
        SamlKeys { verifier, decryptor: None }
    }
}

/// Verifies a response against `settings` and this flow's request (`in_response_to`, `None` for
/// an unsolicited one), then uses its assertion once, everywhere (the ledger), for as long as it
/// could be accepted.
async fn verify_response(
    login: &LoginConfig,
    provider: &Provider,
    form: &AcsForm,
    in_response_to: Option<&str>,
    ledger: &impl Ledger,
    keys: &SamlKeys<'_, impl SignatureVerifier, impl KeyDecryptor>,
    clock: &impl Clock,
) -> Result<VerifiedAssertion, FlowError> {
    let settings = settings_of(provider).ok_or(LoginError::StateInvalid)?;
    let xml = binding::decode_post(&form.saml_response).map_err(|refusal| LoginError::SamlRefused(refusal.reason()))?;
    let now_s = clock.now_s().max(0) as u64;
    let sp_entity_id = sp_entity_id(login, settings, provider);
    let acs_url = login.redirect_uri_for(provider);
    let expected = Expected {
        idp_entity_id: &settings.idp_entity_id,
        certificates: &settings.certificates,
        sp_entity_id: &sp_entity_id,
        acs_url: &acs_url,
        in_response_to,
        now_s,
        skew_s: settings.clock_skew_s,
        allow_sha1: settings.insecure_allow_sha1,
    };
    let decryption = Decryption {
        decryptor: keys.decryptor,
        required: settings.require_encryption,
        // Not under a tenant's IdP's signature (see `Decryption::cbc_when_signed`).
        cbc_when_signed: !crate::directory::connections::connection_id_ok(&provider.id),
    };
    let verified = response::verify_with(&xml, &expected, keys.verifier, decryption).await.map_err(refused)?;
    let ttl_ms = verified.replay_until_s.saturating_sub(now_s).saturating_mul(1000).max(1000);
    claim_once(ledger, format!("saml:{}", digest(&format!("{}\n{}", verified.issuer, verified.assertion_id))), ttl_ms)
        .await?;
    Ok(verified)
}

/// The profile of a verified assertion, by the provider's attribute mapping; its email only if
/// the provider allows its domain.
fn profile_of(
    provider: &Provider,
    settings: &SamlSettings,
    verified: &VerifiedAssertion,
) -> Result<Profile, FlowError> {
    let mapped = mapping::map(verified, &settings.attributes)
        .map_err(|error| LoginError::ProfileInvalid(format!("the assertion's attributes: {error:?}")))?;
    let profile = Profile {
        subject: mapped.subject,
        // Like an OIDC profile, a SAML one keeps only an email its IdP vouches for.
        email: mapped.email.filter(|_| settings.trust_email),
        name: mapped.name,
        groups: mapped.groups,
        tenant: None,
        authentication: Authentication {
            amr: Vec::new(),
            acr: mapped.authn_context_class,
            auth_time_s: i64::try_from(mapped.authn_instant_s).ok(),
        },
        attributes: mapped.custom,
    };
    if !provider.allows_email(profile.email.as_deref()) {
        return Err(LoginError::EmailNotAllowed.into());
    }
    Ok(profile)
}

impl<'a> Started<'a> {
    /// The SAML half of the callback: the POSTed response must answer this ticket's request; its
    /// `state` (the `RelayState`) and its assertion are each used once, ever.
    pub async fn verify_saml(
        self,
        form: &AcsForm,
        ledger: &impl Ledger,
        keys: &SamlKeys<'_, impl SignatureVerifier, impl KeyDecryptor>,
        clock: &impl Clock,
    ) -> Result<IdentityVerified<'a>, FlowError> {
        let settings = settings_of(self.provider).ok_or(LoginError::StateInvalid)?;
        // The cookie was found by the RelayState's name; the value must be the ticket's too.
        if form.relay_state.as_deref() != Some(self.ticket.state.as_str()) {
            return Err(LoginError::StateInvalid.into());
        }
        claim_once(ledger, format!("state:{}", digest(&self.ticket.state)), ONCE_TTL_MS).await?;
        let verified =
            verify_response(self.login, self.provider, form, Some(&self.ticket.nonce), ledger, keys, clock).await?;
        let profile = profile_of(self.provider, settings, &verified)?;
        let ends_by_s = verified.session_not_on_or_after_s.and_then(|by| i64::try_from(by).ok());
        let saml_subject = Some(SamlSubject {
            name_id: verified.name_id,
            format: verified.name_id_format,
            name_qualifier: verified.name_qualifiers.0,
            sp_name_qualifier: verified.name_qualifiers.1,
            session_index: verified.session_index,
        });
        Ok(IdentityVerified { started: self, tokens: None, ends_by_s, saml_subject, profile, user: None })
    }
}

/// What an accepted unsolicited response leads to: a fresh SP-initiated sign-in, never a session
/// of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsolicitedAccepted {
    /// Where the sign-in it starts goes afterwards: its `RelayState`, if that is a safe place
    /// here, else `/`.
    pub return_to: String,
}

/// An unsolicited response (IdP-initiated login), where the provider allows it: it answers no
/// request of this browser, so it cannot prove that this browser's user is the one it names (an
/// attacker could post their own into a victim's browser: login CSRF). It is verified and used
/// once, ever, and then only starts an SP-initiated sign-in, which the IdP (where the user has
/// just signed in) answers at once, bound to this browser's ticket.
pub async fn accept_unsolicited(
    login: &LoginConfig,
    provider: &Provider,
    form: &AcsForm,
    ledger: &impl Ledger,
    keys: &SamlKeys<'_, impl SignatureVerifier, impl KeyDecryptor>,
    clock: &impl Clock,
) -> Result<UnsolicitedAccepted, FlowError> {
    let settings = settings_of(provider).ok_or(LoginError::StateInvalid)?;
    if !settings.allow_idp_initiated {
        return Err(LoginError::SamlUnsolicited.into());
    }
    verify_response(login, provider, form, None, ledger, keys, clock).await?;
    let return_to = oidc::safe_return_to(form.relay_state.as_deref().unwrap_or("/"), &login.app_origins());
    Ok(UnsolicitedAccepted { return_to })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
