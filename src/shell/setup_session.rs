//! A browser's setup session: the link its cookie names, the audit lines of what it does, and
//! the checks and the record of its test sign-in (which the login callback runs).

use super::adapters::WorkerClock;
use super::login_context::LoginContext;
use super::setup_links::D1SetupLinks;
use super::tenants::D1Tenants;
use crate::directory::onboarding::{self, SetupLink, SetupLinkStore, TestFailure, TestIdentity, TestResult};
use crate::directory::tenants::TenantStore;
use crate::error::Failure;
use crate::login::error::LoginError;
use crate::login::flow::SetupTested;
use crate::login::oidc::SetupTicket;
use crate::login::provider::email_domain;
use crate::ports::Clock;
use crate::session::{cookie_value, SETUP_COOKIE_NAME};
use serde_json::{json, Value};
use worker::console_log;

/// One audit line for what a setup session did: the actor is the link.
pub(super) fn audit(cx: &LoginContext<'_>, event: &str, link: &SetupLink, detail: Value) {
    console_log!(
        "{}",
        json!({ "event": event, "tenant": link.tenant, "actor": format!("setup-link:{}", link.id),
                "detail": detail, "request_id": cx.request_id,
                "client_ip": cx.head.header("cf-connecting-ip") })
    );
}

/// The link of the browser's live setup session.
pub(super) async fn session_link(cx: &LoginContext<'_>) -> Result<SetupLink, Failure> {
    let cookie = cx.head.header("cookie").and_then(|header| cookie_value(header, SETUP_COOKIE_NAME));
    Ok(onboarding::session_link(&D1SetupLinks(cx.env), &WorkerClock, cookie.as_deref()).await?)
}

/// The setup link a test flow's callback belongs to: the ticket names the link, the browser still
/// holds that link's live session, and the flow's provider is the link's connection. (The
/// callback then checks that the connection is still the revision the test began with.)
pub async fn test_link(cx: &LoginContext<'_>, ticket: &SetupTicket, provider_id: &str) -> Result<SetupLink, Failure> {
    let link = session_link(cx).await?;
    if link.id != ticket.link || link.connection_id != provider_id {
        return Err(LoginError::StateInvalid.into());
    }
    Ok(link)
}

/// Records a test sign-in's outcome on its link (best effort: the browser is told either way).
pub async fn record_test(
    cx: &LoginContext<'_>,
    link: &SetupLink,
    revision: &str,
    outcome: Result<&SetupTested, &Failure>,
) {
    let now = WorkerClock.now_ms();
    let revision = revision.to_owned();
    let result = match outcome {
        Ok(tested) => {
            let profile = &tested.profile;
            let domain = profile.email.as_deref().and_then(email_domain);
            let owner = match domain {
                Some(domain) => D1Tenants(cx.env).verified_owner(&domain).await.ok().flatten(),
                None => None,
            };
            let tenants_own = owner.is_some_and(|owner| owner.id() == link.tenant);
            let identity = TestIdentity::new(
                &profile.subject,
                profile.email.as_deref(),
                tenants_own,
                profile.name.as_deref(),
                &profile.groups,
            );
            TestResult { at_ms: now, revision, identity: Some(identity), error: None }
        }
        Err(failure) => {
            let reply = failure.reply();
            let error = TestFailure { code: reply.code.into(), message: reply.description.into() };
            TestResult { at_ms: now, revision, identity: None, error: Some(error) }
        }
    };
    let outcome = if result.error.is_none() { "signed_in" } else { "failed" };
    audit(
        cx,
        "setup_test_finished",
        link,
        json!({ "outcome": outcome, "code": result.error.as_ref().map(|e| &e.code) }),
    );
    if let Err(reason) = D1SetupLinks(cx.env).record_test(&link.id, Some(&result)).await {
        console_log!("{}", json!({ "event": "setup_test_unrecorded", "reason": reason.0 }));
    }
}
