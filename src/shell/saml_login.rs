//! A SAML provider's service-provider endpoints: the assertion consumer service (the IdP's
//! HTTP-POST of its response) and this SP's metadata. The steps are the core's
//! (`login::flow`'s SAML half); the sign-in then ends as every other does
//! ([`super::login::sign_in`]).

use super::adapters::{DurableLedger, WorkerClock};
use super::body::read_bounded;
use super::connections::ConnectionUse;
use super::login::{self, audit_login, flow_failure, limit_sign_ins, login_secret, redirect, Completed};
use super::login_context::LoginContext;
use super::respond;
use super::saml_keys::{sp_signer, LazySpDecryptor};
use super::saml_providers::saml_provider;
use super::sessions;
use super::webcrypto::WebCryptoSignatures;
use crate::edge::SamlEndpoint;
use crate::error::Failure;
use crate::gateway::refusals::RouteError;
use crate::http::headers::{self, HeaderList};
use crate::login::config::LoginConfig;
use crate::login::error::LoginError;
use crate::login::flow;
use crate::login::flow::saml::{
    self as saml_flow, clear_ticket as clear_saml_ticket, settings_of as saml_settings_of, AcsForm, SamlKeys,
    UnsolicitedAccepted,
};
use crate::login::flow::saml_logout::{self, single_logout_of, IdpLogout};
use crate::login::handoff;
use crate::login::oidc;
use crate::login::provider::Provider;
use crate::ports::{Clock, Entropy, SystemEntropy};
use crate::saml::binding::MAX_ENCODED_BYTES;
use crate::saml::logout::LogoutStatus;
use crate::saml::metadata::SpMetadata;
use crate::session;
use worker::{Request, Response};

/// Serves a SAML endpoint; failures come back for the caller to render (and audit).
pub async fn serve(
    mut req: Request,
    cx: &LoginContext<'_>,
    endpoint: SamlEndpoint,
) -> Result<Response, (Failure, HeaderList)> {
    let plain = |failure: Failure| (failure, Vec::new());
    let Some(login) = &cx.config.login else {
        return Err(plain(RouteError::UnknownEdgePath.into()));
    };
    match endpoint {
        // Both may read the directory and check signatures for anyone who asks: the sign-in
        // limit applies.
        SamlEndpoint::Metadata(id) => {
            limit_sign_ins(cx, login).await?;
            metadata(cx, login, &id).await.map_err(plain)
        }
        SamlEndpoint::Handoff => handoff(cx, login).await,
        SamlEndpoint::SingleLogout(id) => {
            limit_sign_ins(cx, login).await?;
            single_logout(cx, login, &id).await
        }
        SamlEndpoint::AssertionConsumer(id) => {
            limit_sign_ins(cx, login).await?;
            assertion_consumer(&mut req, cx, login, &id).await
        }
    }
}

/// What a SAML provider's IdP is told about this SP, for the directory API's view of a
/// connection; `None` for another kind of provider.
pub(super) fn sp_view(login: &LoginConfig, provider: &Provider) -> Option<serde_json::Value> {
    let document = sp_metadata(login, provider)?;
    let metadata_url =
        crate::saml::config::metadata_url(&login.own_origin().unwrap_or_default(), &login.edge_prefix(), &provider.id);
    Some(
        serde_json::json!({ "entity_id": document.entity_id, "acs_url": document.acs_url, "metadata_url": metadata_url }),
    )
}

/// This SP's metadata at a SAML provider.
fn sp_metadata(login: &LoginConfig, provider: &Provider) -> Option<SpMetadata> {
    let settings = saml_settings_of(provider)?;
    Some(SpMetadata {
        entity_id: saml_flow::sp_entity_id(login, settings, provider),
        acs_url: login.redirect_uri_for(provider),
        slo_url: single_logout_of(provider)
            .filter(|_| login.saml_signing.is_some())
            .map(|_| saml_logout::slo_url(login, provider)),
        name_id_format: settings.name_id_format.clone(),
        signing_certificate: login.saml_signing.as_ref().map(|signing| signing.certificate_base64.clone()),
        authn_requests_signed: settings.sign_requests,
        encryption_certificate: login.saml_encryption.as_ref().map(|key| key.certificate_base64.clone()),
    })
}

/// `GET {prefix}/saml/:provider/slo`: the IdP's signed `LogoutRequest`, which ends every session
/// of the subject it names here and is answered with a signed `LogoutResponse`; or the IdP's
/// `LogoutResponse` to this SP's request, after which the browser goes where a logout ends. The
/// browser's cookie is left alone: a valid message replayed by any page must not sign a browser
/// out (its session, if the subject's, is over everywhere already).
async fn single_logout(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    id: &str,
) -> Result<Response, (Failure, HeaderList)> {
    // A refused message changes nothing, not even the browser's cookie (any page could send a
    // browser here).
    let fail = |failure: Failure| (failure, Vec::new());
    let provider = saml_provider(cx, login, id, ConnectionUse::SignIn).await.map_err(fail)?;
    let provider = provider.as_ref();
    let signing = login.saml_signing.as_ref().filter(|_| single_logout_of(provider).is_some());
    let signing = signing.ok_or_else(|| fail(LoginError::UnknownProvider.into()))?;
    let raw_query = cx.head.url.split_once('?').map(|(_, query)| query.split('#').next().unwrap_or_default());
    let ledger = DurableLedger(cx.env);
    let message = saml_logout::read_idp_message(
        login,
        provider,
        raw_query.unwrap_or_default(),
        &WebCryptoSignatures,
        &ledger,
        &WorkerClock,
    )
    .await
    .map_err(|error| {
        let failure = flow_failure(error);
        audit_login(cx, "logout_idp_refused", Some(&provider.id), None, &failure.to_string());
        fail(failure)
    })?;
    match message {
        IdpLogout::Response(response) => {
            let detail = if response.success {
                "the IdP signed the user out"
            } else {
                "the IdP did not sign the user out everywhere"
            };
            audit_login(cx, "logout_idp_answered", Some(&provider.id), None, detail);
            redirect(cx, 303, &login.post_logout_redirect_uri, &[]).map_err(fail)
        }
        IdpLogout::Request { request, relay_state } => {
            // Every session of the subject here (not only those of the named SessionIndexes: more
            // is ended than asked, never less).
            let subject = sessions::saml_subject_named(cx.env, provider, &request.name_id).await;
            let ended = match &subject {
                Ok(subject) => sessions::revoke_subject(cx.env, &provider.id, subject).await.map(|_| ()),
                Err(()) => Err(()),
            };
            let status = if ended.is_ok() { LogoutStatus::Success } else { LogoutStatus::Failed };
            let subject = subject.unwrap_or_else(|()| request.name_id.clone());
            let detail = match status {
                LogoutStatus::Success => "the IdP signed the user out: every session ended",
                LogoutStatus::Failed => "the IdP signed the user out: the sessions could not be ended",
            };
            audit_login(cx, "logout_idp_initiated", Some(&provider.id), Some(&subject), detail);
            let signer = sp_signer(cx.env, signing).await.map_err(|_| fail(Failure::Unavailable))?;
            let location = saml_logout::logout_response_location(
                login,
                provider,
                &request,
                relay_state.as_deref(),
                status,
                signer.as_ref(),
                &SystemEntropy,
                &WorkerClock,
            )
            .await
            .map_err(|error| fail(flow_failure(error)))?;
            redirect(cx, 303, &location, &[]).map_err(fail)
        }
    }
}

/// `GET {prefix}/saml/:provider/metadata`.
async fn metadata(cx: &LoginContext<'_>, login: &LoginConfig, id: &str) -> Result<Response, Failure> {
    let unknown = || Failure::from(RouteError::UnknownEdgePath);
    let provider = saml_provider(cx, login, id, ConnectionUse::SetupTest).await.map_err(|failure| match failure {
        Failure::Login(LoginError::UnknownProvider) => unknown(),
        other => other,
    })?;
    let document = sp_metadata(login, &provider).ok_or_else(unknown)?;
    let mut list = respond::edge_headers(
        &cx.config.security_headers,
        cx.request_id,
        "application/samlmetadata+xml; charset=utf-8",
    );
    headers::set(&mut list, "cache-control", "public, max-age=300");
    respond::build_text(200, &list, &document.to_xml()).map_err(|_| Failure::Unavailable)
}

/// `POST {prefix}/callback/:provider`: the IdP's response. With a `RelayState` whose ticket this
/// browser carries, it must answer that ticket's request; without one it is unsolicited (refused
/// unless the provider allows IdP-initiated login). Any failure clears the ticket; the origin is
/// never reached.
async fn assertion_consumer(
    req: &mut Request,
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    id: &str,
) -> Result<Response, (Failure, HeaderList)> {
    let plain = |failure: Failure| (failure, Vec::new());
    let provider = saml_provider(cx, login, id, ConnectionUse::SignIn).await.map_err(plain)?;
    let provider = provider.as_ref();
    // Form encoding escapes base64's `+`, `/` and `=` and any line breaks: room for that too.
    let body = read_bounded(req, 2 * MAX_ENCODED_BYTES).await.map_err(plain)?;
    let form = AcsForm::parse(&body).map_err(|error| plain(error.into()))?;
    let state = form.relay_state.clone().unwrap_or_default();
    let clear_cookie = clear_saml_ticket(&state);
    let clear = vec![("set-cookie".to_owned(), clear_cookie.clone())];
    let outcome = complete(cx, login, provider, &form, &state).await;
    match outcome {
        Ok(Consumed::Unsolicited(accepted)) => {
            audit_login(cx, "login_idp_initiated", Some(&provider.id), None, "sent on to an SP-initiated sign-in");
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("provider", &provider.id).append_pair("return_to", &accepted.return_to);
            let location = format!("{}/login?{}", cx.config.edge_prefix, query.finish());
            redirect(cx, 303, &location, &[clear_cookie]).map_err(|f| (f, clear))
        }
        Ok(Consumed::SignedIn(completed)) => finish(cx, login, provider, *completed, clear_cookie, clear),
        Err(failure) => {
            audit_login(cx, "login_failed", Some(&provider.id), None, &failure.to_string());
            Err((failure, clear))
        }
    }
}

/// What the ACS made of a response.
enum Consumed {
    /// A response to this browser's flow: the sign-in's end.
    SignedIn(Box<Completed>),
    /// An IdP-initiated response: a fresh SP-initiated sign-in follows.
    Unsolicited(UnsolicitedAccepted),
}

/// The answer to a sign-in the ACS completed.
fn finish(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    provider: &Provider,
    completed: Completed,
    clear_cookie: String,
    clear: HeaderList,
) -> Result<Response, (Failure, HeaderList)> {
    match completed {
        // The session exists; its cookie is set on the same-site GET that follows (see
        // `login::handoff`), where the browser's old session is seen and ended.
        Completed::Session(issued) => {
            let key = login_secret(cx.env, cx.config, login).map_err(|f| (f, clear.clone()))?;
            let id = SystemEntropy.token().map_err(|_| (Failure::Unavailable, clear.clone()))?;
            let nonce: [u8; 12] = SystemEntropy.bytes().map_err(|_| (Failure::Unavailable, clear.clone()))?;
            let handing = handoff::Handing {
                session: &issued.cookie,
                return_to: &issued.return_to,
                provider: &provider.id,
                subject: &issued.profile.subject,
            };
            let handoff_cookie = handoff::set_cookie(handing, &id, &key, &nonce, WorkerClock.now_s());
            let location = format!("{}/saml/handoff", cx.config.edge_prefix);
            redirect(cx, 303, &location, &[handoff_cookie, clear_cookie]).map_err(|f| (f, clear))
        }
        Completed::SecondFactorDue(due) => {
            redirect(cx, 303, &due.location, &[due.ticket_cookie, clear_cookie]).map_err(|f| (f, clear))
        }
        // A SAML flow is never a setup test.
        Completed::SetupTested(..) => Err((LoginError::StateInvalid.into(), clear)),
    }
}

/// `GET {prefix}/saml/handoff`: the end of a SAML sign-in, where the browser's `Lax` cookies are
/// seen. The handoff is spent once; the session the browser had is ended; the new one's cookie is
/// set.
async fn handoff(cx: &LoginContext<'_>, login: &LoginConfig) -> Result<Response, (Failure, HeaderList)> {
    let clear = vec![("set-cookie".to_owned(), handoff::clear_cookie())];
    let key = login_secret(cx.env, cx.config, login).map_err(|f| (f, clear.clone()))?;
    let value = cx.head.header("cookie").and_then(|header| session::cookie_value(header, handoff::HANDOFF_COOKIE));
    let value = value.ok_or_else(|| (Failure::from(LoginError::StateInvalid), clear.clone()))?;
    let handed = handoff::spend(&value, &key, WorkerClock.now_s(), &DurableLedger(cx.env))
        .await
        .map_err(|error| (flow_failure(error), clear.clone()))?;
    // The browser's old session, if any (never the new one: its cookie is not set yet).
    sessions::end_previous(cx.env, cx.config, cx.head).await;
    audit_login(cx, "login_succeeded", Some(&handed.provider), Some(&handed.subject), "session created");
    let session_cookie = handed.session.set_cookie(login.session.absolute_lifetime_s as u64);
    redirect(cx, 303, &handed.return_to, &[session_cookie, handoff::clear_cookie()]).map_err(|f| (f, clear))
}

/// The response's checks, then the sign-in (or, for an unsolicited response, the sign-in to start).
async fn complete(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    provider: &Provider,
    form: &AcsForm,
    state: &str,
) -> Result<Consumed, Failure> {
    let ledger = DurableLedger(cx.env);
    // This SP's decryption key, if it has one: loaded only for an encrypted assertion (a missing
    // or broken one then fails closed).
    let decryptor = login.saml_encryption.as_ref().map(|key| LazySpDecryptor { env: cx.env, key });
    let keys = SamlKeys { verifier: &WebCryptoSignatures, decryptor: decryptor.as_ref() };
    let sealed = match form.relay_state {
        Some(_) => {
            cx.head.header("cookie").and_then(|header| session::cookie_value(header, &oidc::ticket_cookie_name(state)))
        }
        None => None,
    };
    let verified = match sealed {
        Some(sealed) => {
            let key = login_secret(cx.env, cx.config, login)?;
            let opened = flow::open_ticket(Some(&sealed), &key, &WorkerClock)?;
            // The ticket's provider must be this ACS's (and, for a stored connection, still the
            // active connection it began with).
            let started = opened.start_with(login, provider, &cx.head.url)?;
            started.verify_saml(form, &ledger, &keys, &WorkerClock).await.map_err(flow_failure)?
        }
        // No ticket of this browser: an IdP-initiated response (whose RelayState, if any, is where
        // the IdP would have the user go), or another browser's.
        None => {
            let accepted = saml_flow::accept_unsolicited(login, provider, form, &ledger, &keys, &WorkerClock)
                .await
                .map_err(flow_failure)?;
            return Ok(Consumed::Unsolicited(accepted));
        }
    };
    login::sign_in(cx, login, verified).await.map(|completed| Consumed::SignedIn(Box::new(completed)))
}
