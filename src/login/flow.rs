//! The authorisation code flow of the relying party, as a typestate (RFC 6749 §4.1, OIDC Core
//! 3.1, RFC 7636, RFC 9207, RFC 9700): each step consumes the one before, so no step can run out
//! of order or be skipped.
//!
//! ```text
//! begin ──▶ (browser at the provider) ──▶ TicketOpened ──▶ Started ──▶ CallbackChecked
//!   ──▶ CodeRedeemed ──▶ IdentityVerified ──▶ SessionIssued
//! ```
//!
//! - [`begin`]: PKCE S256, `state`, `nonce` and the sealed ticket cookie.
//! - [`open_ticket`]: the callback's ticket, sealed by this gateway and at most
//!   [`TICKET_MAX_AGE_S`] old, names the provider the flow began with.
//! - [`TicketOpened::start`]: the answer arrived at that provider's redirect URI (mix-up).
//! - [`Started::check`]: `iss` (RFC 9207), `state` against the ticket, the provider's `error`, the
//!   code.
//! - [`CallbackChecked::redeem`]: `state` and code each used once, ever (the [`Ledger`]), then
//!   the code redeemed with the PKCE verifier.
//! - [`CodeRedeemed::verify`]: the ID token (readable only with the ticket's nonce), userinfo,
//!   required claims, verified email, allowed domains.
//! - [`IdentityVerified::issue`]: a fresh session in the [`SessionStore`].
//!
//! I/O goes through the ports; where the provider's endpoints come from (and how discovery is
//! cached) is the caller's business.

use super::config::LoginConfig;
use super::error::LoginError;
use super::id_token::{FlowNonce, VerifiedIdToken};
use super::oidc::{self, AuthorizationRequest, CallbackError, LoginTicket, SetupTicket};
use super::profile::{self, Profile, TokenResponse};
use super::provider::{email_domain, Provider, ProviderKind};
use super::provider_api::{self, Endpoints, Grant};
use crate::authn::jwt::issuer::JwksCachePolicy;
use crate::authn::jwt::verifier::TokenVerifier;
use crate::directory::connections::connection_id_ok;
use crate::directory::provision::{provision, FederatedIdentity, ProvisionError, ProvisioningPolicy};
use crate::directory::store::Directory;
use crate::directory::tenants::TenantStore;
use crate::directory::TenantScope;
use crate::mfa::step_up::ProviderAsk;
use crate::ports::{Clock, Entropy, HttpClient, Ledger, Unavailable};
use crate::secret::{SecretBytes, SecretString};
use crate::session::store::SessionStore;
use crate::session::{SessionCookie, SessionRecord, UpstreamTokens};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub mod saml;
pub mod saml_logout;

/// How long a login may take from `/auth/login` to `/auth/callback`.
pub const TICKET_MAX_AGE_S: i64 = 600;

/// How far in the future an IdP's `auth_time` may be (clock skew) and still be taken.
const AUTH_TIME_SKEW_S: i64 = 60;
/// How long a used `state` or code is remembered: beyond any ticket's life.
pub const ONCE_TTL_MS: u64 = 2 * TICKET_MAX_AGE_S as u64 * 1000;

/// Why a flow step stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowError {
    /// The login is refused; the browser is told why.
    Refused(LoginError),
    /// A dependency of the gateway (randomness, the ledger, the session store) did not answer.
    Unavailable(Unavailable),
}

impl From<LoginError> for FlowError {
    fn from(error: LoginError) -> Self {
        FlowError::Refused(error)
    }
}

impl From<Unavailable> for FlowError {
    fn from(unavailable: Unavailable) -> Self {
        FlowError::Unavailable(unavailable)
    }
}

/// Where `/auth/login` sends the browser, and the ticket cookie it sets.
pub struct Begun {
    /// The provider's authorisation URL.
    pub location: String,
    /// The `Set-Cookie` value of the flow's sealed ticket.
    pub ticket_cookie: String,
}

impl std::fmt::Debug for Begun {
    /// Neither the location (it holds the `state`) nor the sealed ticket.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Begun([redacted])")
    }
}

/// What a flow is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Signing in: a session, then `return_to`, which must already be safe
    /// ([`oidc::safe_return_to`]).
    SignIn {
        /// Where the browser goes after login.
        return_to: String,
        /// A route's step-up that sent the session back to its provider.
        step_up: Option<ProviderAsk>,
    },
    /// Testing the connection of a setup link (`link`, its id): the identity is shown to the
    /// tenant's IT administrator, nobody is provisioned and no session begins; the browser goes
    /// back to `return_to`, the onboarding page.
    SetupTest {
        /// The setup link and the connection's revision.
        setup: SetupTicket,
        /// The onboarding page.
        return_to: String,
    },
}

/// Starts a flow with `provider`.
#[allow(clippy::too_many_arguments, reason = "each is one input of the authorisation request")]
pub fn begin(
    login: &LoginConfig,
    provider: &Provider,
    endpoints: &Endpoints,
    purpose: Purpose,
    login_hint: Option<&str>,
    key: &SecretBytes,
    entropy: &impl Entropy,
    clock: &impl Clock,
) -> Result<Begun, FlowError> {
    // A SAML provider's flow begins with an AuthnRequest ([`saml::begin`]).
    if matches!(provider.kind, ProviderKind::Saml(_)) {
        return Err(LoginError::StateInvalid.into());
    }
    let state = entropy.token()?;
    let nonce = entropy.token()?;
    let pkce = oidc::pkce(&entropy.bytes::<32>()?);
    let is_oidc = matches!(provider.kind, ProviderKind::Oidc { .. });
    let verifier = String::from_utf8(pkce.verifier.expose().to_vec())
        .map_err(|_| Unavailable("the PKCE verifier is not text".into()))?;
    let redirect_uri = login.redirect_uri_for(provider);
    let (return_to, setup, mut step_up) = match purpose {
        Purpose::SignIn { return_to, step_up } => (return_to, None, step_up.unwrap_or_default()),
        Purpose::SetupTest { setup, return_to } => (return_to, Some(setup), ProviderAsk::default()),
    };
    // A provider that must confirm a second factor is asked for one on every sign-in (unless
    // Portcullis's own factors stand in for its: then a provider that did none is no refusal).
    let trust = &provider.authentication;
    if trust.require_mfa && !trust.local_factors && setup.is_none() {
        for value in provider.authentication.step_up_acr_values.to_ask_for(crate::mfa::step_up::Method::Any) {
            step_up.ask_for(value);
        }
    }
    let request = AuthorizationRequest {
        client_id: &provider.client_id,
        redirect_uri: &redirect_uri,
        scopes: &provider.scopes,
        state: &state,
        nonce: is_oidc.then_some(nonce.as_str()),
        challenge: &pkce.challenge,
        login_hint,
        extra: &provider.authorization_params,
        step_up: (step_up != ProviderAsk::default()).then_some(&step_up),
    };
    let location = oidc::authorization_url(&endpoints.authorization, &request)
        .map_err(|reason| Unavailable(format!("authorization endpoint: {reason}")))?;
    let cookie_name = oidc::ticket_cookie_name(&state);
    let ticket = LoginTicket {
        provider: provider.id.clone(),
        state,
        nonce,
        verifier,
        return_to,
        issued_at_s: clock.now_s(),
        setup,
        max_age_s: step_up.max_age_s,
        acr_values: step_up.acr_values,
    };
    let sealed = oidc::seal(&ticket, key, &entropy.bytes::<12>()?);
    let ticket_cookie =
        format!("{cookie_name}={sealed}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={TICKET_MAX_AGE_S}");
    Ok(Begun { location, ticket_cookie })
}

/// The `Set-Cookie` value that clears the ticket of the flow with `state`.
pub fn clear_ticket(state: &str) -> String {
    format!("{}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0", oidc::ticket_cookie_name(state))
}

/// A callback whose ticket this gateway sealed, within its age.
#[derive(Debug)]
pub struct TicketOpened {
    ticket: LoginTicket,
}

/// Opens the callback's ticket: `sealed` is the value of the cookie named for the callback's
/// `state` ([`oidc::ticket_cookie_name`]), if the browser sent one.
pub fn open_ticket(sealed: Option<&str>, key: &SecretBytes, clock: &impl Clock) -> Result<TicketOpened, LoginError> {
    let sealed = sealed.ok_or(LoginError::StateInvalid)?;
    let ticket = oidc::open(sealed, key, clock.now_s(), TICKET_MAX_AGE_S).map_err(|_| LoginError::StateInvalid)?;
    Ok(TicketOpened { ticket })
}

fn url_path(url: &str) -> String {
    url::Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_default()
}

impl TicketOpened {
    /// The id of the provider the flow began with, for the audit line.
    pub fn provider_id(&self) -> &str {
        &self.ticket.provider
    }

    /// What the flow tests, if it is a setup link's test.
    pub fn setup(&self) -> Option<&SetupTicket> {
        self.ticket.setup.as_ref()
    }

    /// Binds the flow to its provider: still configured, and the answer arrived (`arrived_at`, the
    /// callback's URL) at that provider's redirect URI, so a provider with its own URI cannot have
    /// its answer taken for another's (mix-up).
    pub fn start<'a>(self, login: &'a LoginConfig, arrived_at: &str) -> Result<Started<'a>, LoginError> {
        let provider = login.provider(&self.ticket.provider).ok_or(LoginError::StateInvalid)?;
        self.start_with(login, provider, arrived_at)
    }

    /// [`TicketOpened::start`] with a provider that is not in the configuration (a tenant's
    /// stored connection), which must be the one the flow began with.
    pub fn start_with<'a>(
        self,
        login: &'a LoginConfig,
        provider: &'a Provider,
        arrived_at: &str,
    ) -> Result<Started<'a>, LoginError> {
        if provider.id != self.ticket.provider {
            return Err(LoginError::StateInvalid);
        }
        if url_path(arrived_at) != url_path(&login.redirect_uri_for(provider)) {
            return Err(LoginError::IssuerMismatch);
        }
        Ok(Started { login, provider, ticket: self.ticket })
    }
}

/// A callback bound to the provider its flow began with.
#[derive(Debug)]
pub struct Started<'a> {
    login: &'a LoginConfig,
    provider: &'a Provider,
    ticket: LoginTicket,
}

impl<'a> Started<'a> {
    /// The provider, whose endpoints the next step needs.
    pub fn provider(&self) -> &'a Provider {
        self.provider
    }

    /// Checks the authorisation response (`query`) against the ticket and the provider's
    /// `endpoints`: RFC 9207 `iss`, then `state`, then the provider's `error`, then the code.
    pub fn check(self, query: &[(String, String)], endpoints: Endpoints) -> Result<CallbackChecked<'a>, LoginError> {
        // A SAML provider's answer is POSTed to its ACS ([`Started::check_saml`]), never a code.
        if matches!(self.provider.kind, ProviderKind::Saml(_)) {
            return Err(LoginError::StateInvalid);
        }
        let code =
            oidc::check_callback(query, &self.ticket, endpoints.expected_issuer()).map_err(|error| match error {
                CallbackError::Provider(code) => LoginError::ProviderRefused(code),
                CallbackError::MissingCode => LoginError::MissingCode,
                CallbackError::StateMismatch => LoginError::StateInvalid,
                CallbackError::IssuerMismatch => LoginError::IssuerMismatch,
            })?;
        Ok(CallbackChecked { started: self, endpoints, code: SecretString::new(code) })
    }
}

/// A checked authorisation response and its code.
#[derive(Debug)]
pub struct CallbackChecked<'a> {
    started: Started<'a>,
    endpoints: Endpoints,
    code: SecretString,
}

fn digest(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

async fn claim_once(ledger: &impl Ledger, id: String, ttl_ms: u64) -> Result<(), FlowError> {
    match ledger.claim_once(&id, ttl_ms).await? {
        true => Ok(()),
        false => Err(LoginError::Replayed.into()),
    }
}

impl<'a> CallbackChecked<'a> {
    /// Uses the `state`, then the code, once ever (recorded in `ledger`, which every location
    /// sees; the code only for a fresh state, so a used ticket cannot be replayed to write more),
    /// then redeems the code at the token endpoint with the PKCE verifier.
    pub async fn redeem(
        self,
        ledger: &impl Ledger,
        http: &impl HttpClient,
        client_secret: &SecretString,
    ) -> Result<CodeRedeemed<'a>, FlowError> {
        let Self { started, endpoints, code } = self;
        claim_once(ledger, format!("state:{}", digest(&started.ticket.state)), ONCE_TTL_MS).await?;
        claim_once(ledger, format!("code:{}", digest(code.expose())), ONCE_TTL_MS).await?;
        let redirect_uri = started.login.redirect_uri_for(started.provider);
        let verifier = SecretString::new(started.ticket.verifier.clone());
        let grant = Grant::Code { code: &code, verifier: &verifier, redirect_uri: &redirect_uri };
        let tokens = provider_api::redeem(http, started.provider, client_secret, &endpoints.token, grant).await?;
        Ok(CodeRedeemed { started, endpoints, tokens })
    }
}

/// The provider's tokens for this flow.
#[derive(Debug)]
pub struct CodeRedeemed<'a> {
    started: Started<'a>,
    endpoints: Endpoints,
    tokens: TokenResponse,
}

impl<'a> CodeRedeemed<'a> {
    /// Who signed in: for OIDC, the ID token's claims (verified by `verifier`, read with the
    /// flow's nonce), merged with userinfo when the provider is set to use it; for OAuth 2.0, the
    /// userinfo endpoint. Then the provider's required claims, the claim mapping, GitHub-style
    /// verified emails, and the allowed email domains.
    pub async fn verify(
        self,
        verifier: &impl TokenVerifier,
        http: &impl HttpClient,
        jwks_cache: &JwksCachePolicy,
    ) -> Result<IdentityVerified<'a>, FlowError> {
        let Self { started, endpoints, tokens } = self;
        let provider = started.provider;
        let invalid = |error: profile::ProfileError| LoginError::ProfileInvalid(format!("{error:?}"));
        let not_object = || LoginError::ProfileInvalid("userinfo is not an object".into());
        // How the user authenticated is the ID token's word only (its signature covers it): never
        // userinfo's, and nothing for a plain OAuth 2.0 profile, whose fields may be the user's own.
        let mut authentication = profile::Authentication::default();
        let claims = match &provider.kind {
            ProviderKind::Oidc { userinfo, .. } => {
                let id_token = tokens.id_token.as_deref().ok_or(LoginError::IdTokenInvalid("no id_token".into()))?;
                let nonce = FlowNonce::from_ticket(&started.ticket.nonce);
                let claims = VerifiedIdToken::verify(verifier, provider, &endpoints, jwks_cache, id_token)
                    .await?
                    .claims(&nonce)?;
                authentication = profile::Authentication::from_claims(&claims);
                match (&endpoints.userinfo, userinfo) {
                    (Some(url), true) => {
                        let info = provider_api::get_with_token(http, url, &tokens.access_token).await?;
                        profile::merge_userinfo(&claims, info.as_object().ok_or_else(not_object)?).map_err(invalid)?
                    }
                    _ => claims,
                }
            }
            ProviderKind::OAuth2 { userinfo_endpoint, .. } => {
                let info = provider_api::get_with_token(http, userinfo_endpoint, &tokens.access_token).await?;
                info.as_object().cloned().ok_or_else(not_object)?
            }
            // A SAML flow has no code (see `Started::check`): never here.
            ProviderKind::Saml(_) => return Err(LoginError::StateInvalid.into()),
        };
        if !provider.meets_required_claims(&claims) {
            return Err(LoginError::AccountNotAllowed.into());
        }
        let mut profile = profile::profile_from_claims(&claims, &provider.claims).map_err(invalid)?;
        profile.authentication = authentication;
        if let ProviderKind::OAuth2 { emails_endpoint: Some(emails), .. } = &provider.kind {
            if profile.email.is_none() || provider.claims.email_verified.is_none() {
                // GitHub's profile email is public, not necessarily verified: only the verified
                // primary address counts.
                let list = provider_api::get_with_token(http, emails, &tokens.access_token).await?;
                profile.email = profile::primary_verified_email(&list);
            }
        }
        if !provider.allows_email(profile.email.as_deref()) {
            return Err(LoginError::EmailNotAllowed.into());
        }
        Ok(IdentityVerified { started, tokens: Some(tokens), ends_by_s: None, saml_subject: None, profile, user: None })
    }
}

/// A verified identity, allowed to sign in.
#[derive(Debug)]
pub struct IdentityVerified<'a> {
    started: Started<'a>,
    /// The provider's tokens (OIDC and OAuth 2.0; a SAML sign-in has none).
    tokens: Option<TokenResponse>,
    /// When the IdP says the session must end at the latest (SAML's `SessionNotOnOrAfter`).
    ends_by_s: Option<i64>,
    /// The subject as a SAML IdP named it, for Single Logout.
    saml_subject: Option<crate::session::SamlSubject>,
    profile: Profile,
    user: Option<ProvisionedUser>,
}

/// The directory user a login provisioned, with the roles its groups map to now.
#[derive(Debug)]
struct ProvisionedUser {
    id: String,
    tenant: String,
    roles: Vec<String>,
}

impl IdentityVerified<'_> {
    /// Who signed in.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// A setup test's result: the identity, and the onboarding page to go back to. `None` for a
    /// sign-in, which goes on to [`IdentityVerified::provision`] and [`IdentityVerified::issue`].
    pub fn setup_tested(self) -> Option<SetupTested> {
        let setup = self.started.ticket.setup?;
        Some(SetupTested { setup, profile: self.profile, return_to: self.started.ticket.return_to })
    }

    fn sign_in_only(&self) -> Result<(), FlowError> {
        match self.started.ticket.setup {
            None => Ok(()),
            Some(_) => Err(LoginError::StateInvalid.into()),
        }
    }

    /// Just-in-time provisioning, when the provider names a directory tenant: the user is created
    /// or updated there, and the session carries its directory id and the tenant. A blocked or
    /// deprovisioned user, or an email another user holds, ends the flow here.
    pub async fn provision(
        mut self,
        directory: &impl Directory,
        tenants: &impl TenantStore,
        entropy: &impl Entropy,
        clock: &impl Clock,
    ) -> Result<Self, FlowError> {
        self.sign_in_only()?;
        // Before anything is written (the directory here, the old session's end in the shell):
        // a step-up that failed leaves the user as they were.
        self.step_up_met(clock)?;
        let Some(link) = &self.started.provider.directory else { return Ok(self) };
        let scope = TenantScope::of(&link.tenant);
        let unavailable = |reason: Unavailable| FlowError::Refused(LoginError::DirectoryUnavailable(reason.0));
        // A tenant's IdP speaks for its own domains only: an email in a domain another tenant has
        // verified (or, with `verified_domains_only`, one this tenant has not) is not kept.
        if let Some(domain) = self.profile.email.as_deref().and_then(email_domain) {
            let owner = tenants.verified_owner(&domain).await.map_err(unavailable)?;
            let trusted = match owner {
                Some(owner) => owner == scope,
                None => !link.verified_domains_only,
            };
            if !trusted {
                self.profile.email = None;
            }
        }
        let policy = ProvisioningPolicy { link_by_email: link.link_by_email, groups_from_scim: link.groups_from_scim };
        let identity = FederatedIdentity {
            connection: self.started.provider.id.clone(),
            subject: self.profile.subject.clone(),
            // A profile keeps only verified emails.
            email_verified: self.profile.email.is_some(),
            email: self.profile.email.clone(),
            name: self.profile.name.clone(),
            groups: self.profile.groups.clone(),
            attributes: serde_json::Map::new(),
        };
        let provisioned =
            provision(directory, entropy, clock, &scope, policy, &identity).await.map_err(|error| match error {
                ProvisionError::AccountDisabled => FlowError::Refused(LoginError::AccountDisabled),
                ProvisionError::EmailInUse => FlowError::Refused(LoginError::EmailInUse),
                ProvisionError::Unavailable(reason) => FlowError::Refused(LoginError::DirectoryUnavailable(reason.0)),
            })?;
        self.user =
            Some(ProvisionedUser { id: provisioned.user.id, tenant: link.tenant.clone(), roles: provisioned.roles });
        Ok(self)
    }

    /// A provider with `require_mfa` must be believed to have done a second factor. And a
    /// step-up's sign-in must be what it asked for (OIDC Core 3.1.2.1, 3.1.3.7): with
    /// `max_age`, an `auth_time` within it; with `acr_values`, an `acr` among them (a provider
    /// may answer a voluntary `acr_values` with another). Otherwise no session starts: it would
    /// only fall short of the route again, and send the browser round once more.
    fn step_up_met(&self, clock: &impl Clock) -> Result<(), FlowError> {
        let (ticket, said) = (&self.started.ticket, &self.profile.authentication);
        let now = clock.now_s();
        // No skew on the age: a sign-in that passes here must pass the route's own check next.
        let fresh = ticket.max_age_s.is_none_or(|max_age| {
            said.auth_time_s
                .is_some_and(|auth_time| auth_time <= now + AUTH_TIME_SKEW_S && now - auth_time <= max_age as i64)
        });
        // The acr must be one asked for, and what the provider's `authentication` then believes
        // must meet a method that acr was asked for (with `trust_amr`, the amr is judged too).
        let trust = &self.started.provider.authentication;
        let vouched = trust.vouched_amr(said);
        let strong = ticket.acr_values.is_empty()
            || (said.acr.as_ref().is_some_and(|acr| ticket.acr_values.contains(acr))
                && ticket.acr_values.iter().any(|asked| {
                    trust.step_up_acr_values.methods_for(asked).iter().any(|method| method.shown_by(&vouched))
                }));
        // With `local_factors`, the shell asks for one of Portcullis's factors instead.
        if trust.require_mfa && !trust.local_factors && !crate::mfa::step_up::Method::Any.shown_by(&vouched) {
            return Err(LoginError::MfaRequired.into());
        }
        if !(fresh && strong) {
            return Err(LoginError::StepUpNotMet.into());
        }
        Ok(())
    }

    /// The session record for this identity, beginning now.
    fn session_record(&self, clock: &impl Clock) -> SessionRecord {
        let policy = &self.started.login.session;
        let now = clock.now_s();
        let profile = &self.profile;
        // A tenant's own connection is its IdP's word about its users, and that IdP could say any
        // `amr`: how its users authenticated is not taken (deployment step-up must not trust it).
        // A configured provider's is taken as far as its `authentication` says.
        let authentication = if connection_id_ok(&self.started.provider.id) {
            crate::login::profile::Authentication::default()
        } else {
            self.started.provider.authentication.vouched(&profile.authentication)
        };
        SessionRecord {
            subject: profile.subject.clone(),
            email: profile.email.clone(),
            name: profile.name.clone(),
            groups: profile.groups.clone(),
            // A directory's tenant is the one its provider names, whatever the claims say.
            tenant: self.user.as_ref().map(|user| user.tenant.clone()).or_else(|| profile.tenant.clone()),
            provider: self.started.provider.id.clone(),
            created_at_s: now,
            created_at_ms: clock.now_ms() as i64,
            last_seen_s: now,
            expires_at_s: self
                .ends_by_s
                .map_or(now + policy.absolute_lifetime_s, |by| by.min(now + policy.absolute_lifetime_s)),
            tokens: self.tokens.as_ref().map(|tokens| {
                UpstreamTokens::issued(
                    tokens.access_token.clone(),
                    tokens.expires_in,
                    tokens.refresh_token.clone(),
                    tokens.id_token.clone(),
                    now,
                    policy.refresh_margin_s,
                )
            }),
            user_id: self.user.as_ref().map(|user| user.id.clone()),
            directory_roles: self.user.as_ref().map(|user| user.roles.clone()).unwrap_or_default(),
            // A stored connection is not in the configuration: the session keeps its issuer.
            connection_issuer: connection_id_ok(&self.started.provider.id)
                .then(|| super::connection::connection_issuer(self.started.provider)),
            amr: authentication.amr.clone(),
            acr: authentication.acr.clone(),
            // The IdP's time, within a minute of clock skew; otherwise unknown (0), which no
            // `max_age` accepts. A login without `auth_time` is not a fresh authentication: the
            // IdP may have signed the user in silently from a session days old.
            auth_time_s: authentication.auth_time_s.filter(|t| *t <= now + AUTH_TIME_SKEW_S).map_or(0, |t| t.min(now)),
            authentication_vouched: true,
            saml: self.saml_subject.clone(),
            attributes: profile.attributes.clone(),
        }
    }

    /// The directory user who owes one of Portcullis's own second factors before a session
    /// (`authentication.local_factors`, and the provider is not believed to have done one):
    /// `None` when no factor is owed. Call after [`IdentityVerified::provision`].
    pub fn local_factor_owed(&self) -> Option<LocalFactorOwed> {
        let trust = &self.started.provider.authentication;
        let user = self.user.as_ref()?;
        trust.owes_local_factor(&trust.vouched_amr(&self.profile.authentication)).then(|| LocalFactorOwed {
            tenant: user.tenant.clone(),
            user_id: user.id.clone(),
            provider_requires: trust.require_mfa,
        })
    }

    /// The session this sign-in becomes once a second factor passes, held back: nothing is stored
    /// (the shell parks it, sealed, for the second-factor pages), and the browser's old session
    /// stays until the factor passes.
    pub fn hold(self, clock: &impl Clock) -> Result<HeldSignIn, FlowError> {
        self.sign_in_only()?;
        self.step_up_met(clock)?;
        let record = self.session_record(clock);
        Ok(HeldSignIn { profile: self.profile, record: Box::new(record), return_to: self.started.ticket.return_to })
    }

    /// Stores a fresh session (a login never reuses a session id: the caller ends any session
    /// the browser still carried).
    pub async fn issue(self, store: &impl SessionStore, clock: &impl Clock) -> Result<SessionIssued, FlowError> {
        self.sign_in_only()?;
        self.step_up_met(clock)?;
        let record = self.session_record(clock);
        let cookie = store.create(&record).await?;
        Ok(SessionIssued { profile: self.profile, cookie, return_to: self.started.ticket.return_to })
    }
}

/// The end of a setup test: who signed in, for the onboarding page only.
#[derive(Debug)]
pub struct SetupTested {
    /// The setup link, and the revision of its connection that was tested.
    pub setup: SetupTicket,
    /// Who the IdP said signed in.
    pub profile: Profile,
    /// The onboarding page.
    pub return_to: String,
}

/// Who owes one of Portcullis's own second factors after a provider's sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFactorOwed {
    /// The directory tenant.
    pub tenant: String,
    /// The directory user.
    pub user_id: String,
    /// The provider's `require_mfa` (see [`crate::accounts::local_factor_required`]).
    pub provider_requires: bool,
}

/// A sign-in held back until its second factor: the session record it becomes.
#[derive(Debug)]
pub struct HeldSignIn {
    /// Who signed in.
    pub profile: Profile,
    /// The session, not stored.
    pub record: Box<SessionRecord>,
    /// Where to send the browser once signed in.
    pub return_to: String,
}

/// The end of a flow: a session, and where the browser goes next.
#[derive(Debug)]
pub struct SessionIssued {
    /// Who signed in.
    pub profile: Profile,
    /// The new session's cookie.
    pub cookie: SessionCookie,
    /// Where to send the browser (checked when the flow began).
    pub return_to: String,
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
