//! Finding a SAML provider (configured, or a tenant's stored connection), and where a SAML
//! session's browser goes to be signed out at its IdP too (Single Logout, SP-initiated). The
//! SAML routes themselves are `saml_login`'s; the logout route (`login`) asks here.

use super::adapters::WorkerClock;
use super::connections::{self, ConnectionUse};
use super::login_context::LoginContext;
use super::saml_keys::sp_signer;
use crate::error::Failure;
use crate::login::config::LoginConfig;
use crate::login::error::LoginError;
use crate::login::flow::saml::settings_of as saml_settings_of;
use crate::login::flow::saml_logout::{self, single_logout_of};
use crate::login::provider::Provider;
use crate::ports::SystemEntropy;
use crate::session::SessionRecord;
use std::borrow::Cow;

/// The SAML provider `id`: a configured one, else a tenant's stored connection (for its metadata
/// also one not active yet, whose IdP is still being set up).
pub(super) async fn saml_provider<'a>(
    cx: &LoginContext<'_>,
    login: &'a LoginConfig,
    id: &str,
    wanted_for: ConnectionUse,
) -> Result<Cow<'a, Provider>, Failure> {
    if let Some(provider) = login.provider(id) {
        return saml_settings_of(provider).map(|_| Cow::Borrowed(provider)).ok_or(LoginError::UnknownProvider.into());
    }
    let stored = connections::stored_provider(cx.env, cx.config, id, wanted_for).await?;
    let provider = stored.map(|(provider, _)| provider).filter(|provider| saml_settings_of(provider).is_some());
    provider.map(Cow::Owned).ok_or(LoginError::UnknownProvider.into())
}

/// Where a signed-out SAML session's browser goes next to be signed out at its IdP too (Single
/// Logout), if its provider has it and the SP key signs; `None` otherwise (the session here is
/// over either way).
pub(super) async fn sp_logout_location(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    record: &SessionRecord,
) -> Option<String> {
    let subject = record.saml.as_ref()?;
    let signing = login.saml_signing.as_ref()?;
    let provider = saml_provider(cx, login, &record.provider, ConnectionUse::SignIn).await.ok()?;
    single_logout_of(provider.as_ref())?;
    let signer = sp_signer(cx.env, signing).await.ok()?;
    saml_logout::sp_logout_location(login, provider.as_ref(), subject, signer.as_ref(), &SystemEntropy, &WorkerClock)
        .await
        .ok()
        .flatten()
}
