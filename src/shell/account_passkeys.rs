//! The passkey ceremonies of local accounts, under `/auth/accounts/passkeys/` (JSON, `POST`, for
//! `www/static/passkeys.js`): register a passkey (from the security page, or as the enrolment a
//! tenant requires), and sign in with one, as the second factor after the password, as a
//! session's step-up, or on its own (passwordless, with a discoverable credential).
//!
//! Each ceremony is two requests: its options (with a sealed [`Ceremony`]), then the browser's
//! credential with that ceremony back. The challenge is spent in the ledger before anything is
//! checked, so no response is accepted twice; the checks are the core's
//! (`crate::mfa::webauthn::ceremony`), the signatures WebCrypto's.

use super::account_mfa::{account_email, second_factor_name, Presenter};
use super::account_store::D1Accounts;
use super::accounts::{limit_submissions, unavailable, Page, Refusal};
use super::adapters::DurableLedger;
use super::body::read_bounded;
use super::login::{audit_login, login_secret};
use super::login_context::LoginContext;
use super::mfa_store::D1Factors;
use super::passkey_store::D1Passkeys;
use super::respond;
use super::webcrypto::{self, WebCryptoSignatures};
use crate::accounts::config::{rp_id_ok, Passkeys};
use crate::accounts::form::Form;
use crate::accounts::mail::MailKind;
use crate::accounts::{AccountError, PASSWORD_PROVIDER};
use crate::edge::PasskeyStep;
use crate::error::{account_reply, Failure};
use crate::gateway::refusals::RouteError;
use crate::http::headers::HeaderList;
use crate::login::csrf;
use crate::login::pages::html_escape;
use crate::mfa::factors::{self, SecondFactor};
use crate::mfa::recovery;
use crate::mfa::ticket::{self, Stage};
use crate::mfa::webauthn::ceremony::{
    self, AssertionJson, Ceremony, Kind, PasskeyUser, RegistrationJson, RelyingParty, CEREMONY_LIFETIME_S,
};
use crate::mfa::webauthn::signature::Failure as VerifyFailure;
use crate::mfa::webauthn::{self, b64url, PasskeyError};
use crate::ports::{Entropy, Ledger, SystemEntropy};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

/// The largest ceremony body read (a registration with an RSA key and extensions fits easily).
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Deserialize, Default, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// After the password, or a session's step-up.
    #[default]
    SecondFactor,
    /// On its own.
    Passwordless,
}

#[derive(Deserialize, Default)]
struct OptionsRequest {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    csrf_token: String,
}

#[derive(Deserialize)]
struct CeremonyResponse {
    ceremony: String,
    credential: Value,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    csrf_token: String,
}

/// Serves one step of a ceremony.
pub async fn serve(
    mut req: Request,
    cx: &LoginContext<'_>,
    step: PasskeyStep,
) -> Result<Response, (Failure, HeaderList)> {
    let plain = |failure: Failure| (failure, Vec::new());
    let (Some(login), Some(accounts)) = (&cx.config.login, &cx.config.local_accounts) else {
        return Err(plain(RouteError::UnknownEdgePath.into()));
    };
    let Some(passkeys) = &accounts.passkeys else {
        return Err(plain(RouteError::UnknownEdgePath.into()));
    };
    limit_submissions(cx, login).await?;
    let page = Page { cx, login, accounts };
    let outcome = async {
        if !csrf::from_own_origin(cx.head, &login.app_origins()) {
            return Err(Refusal::Page(AccountError::CsrfRejected));
        }
        let body = read_bounded(&mut req, MAX_BODY_BYTES).await.map_err(Refusal::Failure)?;
        let malformed = || Refusal::Page(AccountError::Passkey(PasskeyError::Malformed("request body")));
        match step {
            PasskeyStep::RegistrationOptions | PasskeyStep::SignInOptions => {
                let request: OptionsRequest = if body.is_empty() {
                    OptionsRequest::default()
                } else {
                    serde_json::from_slice(&body).map_err(|_| malformed())?
                };
                if step == PasskeyStep::RegistrationOptions {
                    page.registration_options(passkeys, &request).await
                } else {
                    page.sign_in_options(passkeys, &request).await
                }
            }
            PasskeyStep::Register | PasskeyStep::SignIn => {
                let response: CeremonyResponse = serde_json::from_slice(&body).map_err(|_| malformed())?;
                if step == PasskeyStep::Register {
                    page.register_passkey(passkeys, &response).await
                } else {
                    page.passkey_sign_in(passkeys, &response).await
                }
            }
        }
    }
    .await;
    match outcome {
        Ok(response) => Ok(response),
        Err(Refusal::Page(error)) => page.json_refusal(&error).map_err(plain),
        Err(Refusal::Failure(failure)) => Err(plain(failure)),
    }
}

/// The RP ID and origins in force: configured, or the login's own origin and app origins.
struct Rp {
    id: String,
    origins: Vec<String>,
}

impl Page<'_> {
    fn rp(&self, passkeys: &Passkeys) -> Result<Rp, Refusal> {
        let own_host = self
            .login
            .own_origin()
            .and_then(|origin| url::Url::parse(&origin).ok().and_then(|url| url.host_str().map(str::to_owned)));
        let id = passkeys.rp_id.clone().or(own_host).unwrap_or_default();
        if !rp_id_ok(&id) {
            // An IP address cannot be an RP ID: the configuration must name a domain.
            worker::console_warn!("{}", json!({ "event": "passkeys_rp_id_unusable", "rp_id": id }));
            return Err(Refusal::Page(AccountError::Unavailable));
        }
        let origins = passkeys.origins.clone().unwrap_or_else(|| self.login.app_origins());
        Ok(Rp { id, origins })
    }

    fn json(&self, status: u16, body: &Value, cookies: &[String]) -> Result<Response, Refusal> {
        let mut response = respond::json(status, body, &self.cx.config.security_headers, self.cx.request_id)
            .map_err(|_| Refusal::Failure(Failure::Unavailable))?;
        let headers = response.headers_mut();
        let _ = headers.set("cache-control", "no-store");
        for cookie in cookies {
            let _ = headers.append("set-cookie", cookie);
        }
        Ok(response)
    }

    fn json_refusal(&self, error: &AccountError) -> Result<Response, Failure> {
        let (status, code, messages) = account_reply(error);
        let mut body = json!({ "error": code, "message": messages.join(" ") });
        if let AccountError::Passkey(reason) = error {
            body["reason"] = json!(reason.reason());
        }
        match self.json(status, &body, &[]) {
            Ok(response) => Ok(response),
            Err(Refusal::Failure(failure)) => Err(failure),
            Err(Refusal::Page(_)) => Err(Failure::Unavailable),
        }
    }

    fn seal_ceremony(&self, ceremony: &Ceremony) -> Result<String, Refusal> {
        let key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        let nonce: [u8; 12] = SystemEntropy.bytes().map_err(unavailable)?;
        Ok(ceremony.seal(&key, &nonce))
    }

    /// Opens the sealed ceremony and spends its challenge: a ceremony answers once.
    async fn spend_ceremony(&self, sealed: &str, kind: Kind) -> Result<Ceremony, Refusal> {
        let key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        let ceremony =
            Ceremony::open(sealed, &key, kind, self.now_s()).map_err(|e| Refusal::Page(AccountError::Passkey(e)))?;
        let spent_for_ms = 2 * CEREMONY_LIFETIME_S as u64 * 1000;
        if !DurableLedger(self.env()).claim_once(&ceremony.once_id(), spent_for_ms).await.map_err(unavailable)? {
            return Err(Refusal::Page(AccountError::Passkey(PasskeyError::CeremonyExpired)));
        }
        Ok(ceremony)
    }

    /// Who may register a passkey: a ticket of a required enrolment, or a password session (one
    /// that passed its second factor recently, when the account has one).
    async fn registrant(&self, csrf_token: &str) -> Result<(Presenter, factors::Enrolled), Refusal> {
        let presenter = self
            .presenter(Stage::Enrol)
            .await
            .map_err(Refusal::Failure)?
            .ok_or(Refusal::Page(AccountError::SecondFactorExpired))?;
        self.csrf_token_ok(&presenter, csrf_token)?;
        let enrolled =
            D1Factors(self.env()).enrolled(presenter.tenant(), presenter.user_id()).await.map_err(unavailable)?;
        self.may_enrol(&presenter, enrolled)?;
        Ok((presenter, enrolled))
    }

    async fn registration_options(&self, passkeys: &Passkeys, request: &OptionsRequest) -> Result<Response, Refusal> {
        let rp = self.rp(passkeys)?;
        let (presenter, _) = self.registrant(&request.csrf_token).await?;
        let (tenant, user_id) = (presenter.tenant(), presenter.user_id());
        let existing: Vec<_> = D1Passkeys(self.env())
            .of_user(tenant, user_id)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| row.descriptor())
            .collect();
        let ceremony = Ceremony::new(
            &SystemEntropy,
            Kind::Register,
            tenant,
            Some(user_id),
            passkeys.require_user_verification,
            self.now_s(),
        )
        .map_err(unavailable)?;
        let email = account_email(&presenter);
        let relying_party = RelyingParty { id: &rp.id, name: &self.login.branding.name, origins: &rp.origins };
        let options =
            ceremony::creation_options(relying_party, &ceremony, PasskeyUser { id: user_id, name: &email }, &existing);
        self.json(200, &json!({ "publicKey": options, "ceremony": self.seal_ceremony(&ceremony)? }), &[])
    }

    async fn register_passkey(&self, passkeys: &Passkeys, response: &CeremonyResponse) -> Result<Response, Refusal> {
        let rp = self.rp(passkeys)?;
        let (presenter, enrolled) = self.registrant(&response.csrf_token).await?;
        let ceremony = self.spend_ceremony(&response.ceremony, Kind::Register).await?;
        let (tenant, user_id) = (presenter.tenant().to_owned(), presenter.user_id().to_owned());
        if ceremony.tenant != tenant || ceremony.user_id.as_deref() != Some(user_id.as_str()) {
            return Err(Refusal::Page(AccountError::Passkey(PasskeyError::CeremonyExpired)));
        }
        let credential: RegistrationJson = serde_json::from_value(response.credential.clone())
            .map_err(|_| Refusal::Page(AccountError::Passkey(PasskeyError::Malformed("credential"))))?;
        let relying_party = RelyingParty { id: &rp.id, name: &self.login.branding.name, origins: &rp.origins };
        let passkey = ceremony::verify_registration(relying_party, &ceremony, &credential, &WebCryptoSignatures)
            .await
            .map_err(|failure| self.refused_passkey(failure, "passkey_registration_failed", &user_id))?;
        let key = passkey.key.verification_key().map_err(|e| Refusal::Page(AccountError::Passkey(e)))?;
        if !webcrypto::importable(passkey.key.alg, &key).await {
            return Err(Refusal::Page(AccountError::Passkey(PasskeyError::AlgorithmUnsupported)));
        }
        let name = webauthn::passkey_name(response.name.as_deref());
        // The sign-in completes before anything is stored: a replayed or stale ticket enrols nothing.
        let completing = self.complete(&presenter).await?;
        let store = D1Passkeys(self.env());
        if !store.add(&tenant, &user_id, &name, &passkey, self.now_ms()).await.map_err(unavailable)? {
            return Err(Refusal::Page(AccountError::PasskeyExists));
        }
        let first_factor = !enrolled.any();
        let codes = if first_factor {
            let codes = recovery::generate(&SystemEntropy).map_err(unavailable)?;
            D1Factors(self.env())
                .replace_recovery_codes(&tenant, &user_id, &codes.stored)
                .await
                .map_err(unavailable)?;
            Some(codes)
        } else {
            None
        };
        let change = format!("A passkey ({name}) was added to your account.");
        self.send_later(MailKind::SecurityChanged, completing.email(), vec![("change", change)]);
        audit_login(self.cx, "mfa_enrolled", Some(presenter.provider()), Some(&user_id), "passkey");
        let mut cookies = Vec::new();
        if first_factor {
            cookies.push(self.session_after_first_factor(&presenter, &completing).await?);
        }
        let next = match &presenter {
            Presenter::Ticket(ticket) => {
                cookies.push(ticket::clear_cookie());
                self.signed_in_as(&completing, "second factor enrolled: passkey");
                ticket.return_to.clone()
            }
            Presenter::Session(_) => self.return_to(response.return_to.as_deref()),
        };
        let shown: Option<Vec<String>> = codes.map(|codes| codes.shown.iter().map(|c| c.expose().to_owned()).collect());
        self.json(
            200,
            &json!({ "next": next, "recovery_codes": shown, "credential_id": passkey.credential_id }),
            &cookies,
        )
    }

    async fn sign_in_options(&self, passkeys: &Passkeys, request: &OptionsRequest) -> Result<Response, Refusal> {
        let rp = self.rp(passkeys)?;
        let now_s = self.now_s();
        let (ceremony, allowed) = match request.mode {
            Mode::SecondFactor => {
                let presenter = self
                    .presenter(Stage::Challenge)
                    .await
                    .map_err(Refusal::Failure)?
                    .ok_or(Refusal::Page(AccountError::SecondFactorExpired))?;
                self.csrf_token_ok(&presenter, &request.csrf_token)?;
                let rows = D1Passkeys(self.env())
                    .of_user(presenter.tenant(), presenter.user_id())
                    .await
                    .map_err(unavailable)?;
                if rows.is_empty() {
                    return Err(Refusal::Page(AccountError::NoPasskey));
                }
                let ceremony = Ceremony::new(
                    &SystemEntropy,
                    Kind::Authenticate,
                    presenter.tenant(),
                    Some(presenter.user_id()),
                    passkeys.require_user_verification,
                    now_s,
                )
                .map_err(unavailable)?;
                (ceremony, rows.iter().map(|row| row.descriptor()).collect::<Vec<_>>())
            }
            Mode::Passwordless => {
                if !passkeys.passwordless {
                    return Err(Refusal::Page(AccountError::NoPasskey));
                }
                let tenant = self
                    .accounts
                    .tenant(request.tenant.as_deref())
                    .ok_or(Refusal::Page(AccountError::UnknownTenant))?;
                // On its own, a passkey must verify its user: it is then both factors.
                let ceremony = Ceremony::new(&SystemEntropy, Kind::Authenticate, &tenant.id, None, true, now_s)
                    .map_err(unavailable)?;
                (ceremony, Vec::new())
            }
        };
        let relying_party = RelyingParty { id: &rp.id, name: &self.login.branding.name, origins: &rp.origins };
        let options = ceremony::request_options(relying_party, &ceremony, &allowed);
        self.json(200, &json!({ "publicKey": options, "ceremony": self.seal_ceremony(&ceremony)? }), &[])
    }

    async fn passkey_sign_in(&self, passkeys: &Passkeys, response: &CeremonyResponse) -> Result<Response, Refusal> {
        let rp = self.rp(passkeys)?;
        let ceremony = self.spend_ceremony(&response.ceremony, Kind::Authenticate).await?;
        // A second factor or a step-up: the ticket or session that asked must be the one answering.
        let presenter = match &ceremony.user_id {
            Some(user_id) => {
                let presenter = self
                    .presenter(Stage::Challenge)
                    .await
                    .map_err(Refusal::Failure)?
                    .filter(|p| p.tenant() == ceremony.tenant && p.user_id() == user_id)
                    .ok_or(Refusal::Page(AccountError::Passkey(PasskeyError::CeremonyExpired)))?;
                self.csrf_token_ok(&presenter, &response.csrf_token)?;
                Some(presenter)
            }
            // Passwordless, which the configuration may have turned off since the options.
            None if !passkeys.passwordless => return Err(Refusal::Page(AccountError::NoPasskey)),
            None => None,
        };
        let credential: AssertionJson = serde_json::from_value(response.credential.clone())
            .map_err(|_| Refusal::Page(AccountError::Passkey(PasskeyError::Malformed("credential"))))?;
        let credential_id = b64url(&credential.credential_id().map_err(|e| Refusal::Page(AccountError::Passkey(e)))?);
        let store = D1Passkeys(self.env());
        let row = store.find(&ceremony.tenant, &credential_id).await.map_err(unavailable)?;
        // The audit names the sign-in's provider (passwordless: local accounts').
        let provider = presenter.as_ref().map_or(PASSWORD_PROVIDER, |presenter| presenter.provider()).to_owned();
        let Some(row) = row else {
            audit_login(
                self.cx,
                "second_factor_failed",
                Some(&provider),
                ceremony.user_id.as_deref(),
                "passkey: unknown_credential",
            );
            return Err(Refusal::Page(AccountError::Passkey(PasskeyError::UnknownCredential)));
        };
        let Some(stored) = row.stored() else {
            worker::console_warn!("{}", json!({ "event": "passkey_row_unreadable" }));
            return Err(Refusal::Page(AccountError::Unavailable));
        };
        let relying_party = RelyingParty { id: &rp.id, name: &self.login.branding.name, origins: &rp.origins };
        let verified = ceremony::verify_assertion(
            relying_party,
            &ceremony,
            &credential,
            &stored,
            passkeys.sign_count,
            &WebCryptoSignatures,
        )
        .await
        .map_err(|failure| self.refused_passkey(failure, "second_factor_failed", &stored.user_id))?;
        let moved = store
            .record_use(
                &ceremony.tenant,
                &credential_id,
                stored.sign_count,
                verified.sign_count,
                verified.backed_up,
                self.now_ms(),
            )
            .await
            .map_err(unavailable)?;
        if !moved {
            // Another sign-in with this passkey moved its counter meanwhile: one of them is a clone.
            return Err(self.refused_passkey(
                VerifyFailure::Refused(PasskeyError::SignCountRegressed),
                "second_factor_failed",
                &stored.user_id,
            ));
        }
        if verified.sign_count_regressed {
            audit_login(
                self.cx,
                "passkey_sign_count_regressed",
                Some(&provider),
                Some(&stored.user_id),
                &credential_id,
            );
        }
        let used = SecondFactor::Passkey { synced: verified.backup_eligible };
        let mut cookies = Vec::new();
        let next = match &presenter {
            Some(presenter) => {
                let completing = self.complete(presenter).await?;
                let amr = factors::amr_after(presenter.amr(), used);
                cookies.push(self.issue_completed(presenter, &completing, amr).await?);
                match presenter {
                    Presenter::Ticket(ticket) => {
                        cookies.push(ticket::clear_cookie());
                        self.signed_in_as(&completing, second_factor_name(used));
                        ticket.return_to.clone()
                    }
                    Presenter::Session(_) => {
                        audit_login(
                            self.cx,
                            "step_up_succeeded",
                            Some(presenter.provider()),
                            Some(&stored.user_id),
                            second_factor_name(used),
                        );
                        self.return_to(response.return_to.as_deref())
                    }
                }
            }
            None => {
                let credential = D1Accounts(self.env())
                    .credential_of(&ceremony.tenant, &stored.user_id)
                    .await
                    .map_err(unavailable)?
                    .ok_or(Refusal::Page(AccountError::Passkey(PasskeyError::UnknownCredential)))?;
                if !credential.active {
                    return Err(Refusal::Page(AccountError::Disabled));
                }
                let amr = factors::amr_after(&[], used);
                cookies.push(self.issue_session(&ceremony.tenant, &credential, (amr, None), None).await?);
                self.signed_in(&credential, "passkey");
                self.return_to(response.return_to.as_deref())
            }
        };
        self.json(200, &json!({ "next": next }), &cookies)
    }

    /// A refused passkey, audited with its reason.
    fn refused_passkey(&self, failure: VerifyFailure, event: &str, user_id: &str) -> Refusal {
        match failure {
            VerifyFailure::Refused(reason) => {
                audit_login(
                    self.cx,
                    event,
                    Some(PASSWORD_PROVIDER),
                    Some(user_id),
                    &format!("passkey: {}", reason.reason()),
                );
                Refusal::Page(AccountError::Passkey(reason))
            }
            VerifyFailure::Unavailable(reason) => unavailable(reason),
        }
    }
}

impl Page<'_> {
    /// The security page's passkeys: each with its name, dates, and forms to rename and remove
    /// it, and the button that adds one (shown by the script). Empty when passkeys are off.
    pub(super) async fn passkeys_section(
        &self,
        presenter: &Presenter,
        csrf_token: &str,
    ) -> Result<(String, usize), Refusal> {
        let Some(_) = &self.accounts.passkeys else { return Ok((String::new(), 0)) };
        let rows =
            D1Passkeys(self.env()).of_user(presenter.tenant(), presenter.user_id()).await.map_err(unavailable)?;
        let csrf = html_escape(csrf_token);
        let action = format!("{}/accounts/security", html_escape(self.prefix()));
        let items: String = rows
            .iter()
            .map(|row| {
                let id = html_escape(&row.credential_id);
                format!(
                    "<li class=\"passkey\" data-credential-id=\"{id}\"><span class=\"passkey-name\">{name}</span> \
                     <span class=\"hint\">({kind}, added {added}, last used {used})</span>\
                     <form method=\"post\" action=\"{action}\" class=\"inline-form\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"action\" value=\"rename_passkey\"><input type=\"hidden\" name=\"passkey\" value=\"{id}\">\
                     <label class=\"visually-hidden\" for=\"name-{id}\">New name</label><input id=\"name-{id}\" name=\"name\" maxlength=\"64\" value=\"{name}\">\
                     <button class=\"button button-secondary\" type=\"submit\">Rename</button></form>\
                     <form method=\"post\" action=\"{action}\" class=\"inline-form\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"action\" value=\"remove_passkey\"><input type=\"hidden\" name=\"passkey\" value=\"{id}\">\
                     <button class=\"button button-secondary remove-passkey\" type=\"submit\">Remove</button></form></li>",
                    name = html_escape(&row.name),
                    kind = if row.backup_eligible > 0.0 { "synced" } else { "this device only" },
                    added = super::account_mfa::date_of(row.created_at_ms as u64),
                    used = row.last_used_at_ms.map_or_else(|| "never".to_owned(), |ms| super::account_mfa::date_of(ms as u64)),
                )
            })
            .collect();
        let html = format!(
            "<section class=\"factor\" id=\"factor-passkeys\" aria-labelledby=\"passkeys-heading\"><h2 id=\"passkeys-heading\">Passkeys</h2>\
             <p id=\"passkeys-state\" data-count=\"{count}\">{summary}</p><ul class=\"passkeys\" id=\"passkey-list\">{items}</ul>\
             <div class=\"field\" hidden data-passkey-only><label for=\"passkey-name\">Name for a new passkey</label>\
             <input id=\"passkey-name\" maxlength=\"64\" placeholder=\"Laptop\"></div>\
             <p class=\"actions\"><button id=\"add-passkey\" class=\"button\" type=\"button\" data-passkey=\"register\" \
             data-csrf-token=\"{csrf}\" data-return-to=\"{back}\" hidden>Add a passkey</button></p></section>",
            count = rows.len(),
            summary = if rows.is_empty() { "None yet." } else { "Sign in with any of these:" },
            back = html_escape(&format!("{}/accounts/security", self.prefix())),
        );
        Ok((html, rows.len()))
    }

    /// `POST security` for a passkey: rename it, or remove it (the owner is emailed).
    pub(super) async fn change_passkey(
        &self,
        presenter: &Presenter,
        form: &Form,
        email: String,
    ) -> Result<Response, Refusal> {
        let credential_id = form.required("passkey").map_err(|e| Refusal::Page(e.into()))?;
        let store = D1Passkeys(self.env());
        let (tenant, user_id) = (presenter.tenant(), presenter.user_id());
        if form.optional("action") == Some("rename_passkey") {
            let name = webauthn::passkey_name(form.optional("name"));
            store.rename(tenant, user_id, credential_id, &name).await.map_err(unavailable)?;
        } else if store.remove(tenant, user_id, credential_id).await.map_err(unavailable)? {
            let change = "A passkey was removed from your account.".to_owned();
            self.send_later(MailKind::SecurityChanged, email, vec![("change", change)]);
            audit_login(self.cx, "mfa_removed", Some(presenter.provider()), Some(user_id), "passkey");
        }
        let location = format!("{}/accounts/security", self.prefix());
        self.see_other(&location, &[]).map_err(Refusal::Failure)
    }
}
