//! The second-factor pages of local accounts under `/auth/accounts/`: the challenge after the
//! password (`mfa`), which is also the step-up page of a signed-in session, the authenticator
//! app's enrolment (`totp`), and the account's security page (`security`). The decisions are the
//! core's (`crate::mfa`); this module reads forms, asks the stores and answers.
//!
//! - Between the password and the second factor there is no session, only a sealed five-minute
//!   ticket cookie (`mfa::ticket`), spent once when the sign-in completes.
//! - Codes are throttled per user in the ledger, like passwords (the same policy), and every TOTP
//!   step is accepted once: in the ledger, and by the factor's last accepted step in D1.
//! - Changing factors needs a session that passed a second factor (or a user without any), and
//!   the owner is emailed about every change and every recovery code used.

use super::account_store::{Credential, D1Accounts};
use super::accounts::{unavailable, Page, Refusal, Typed};
use super::adapters::DurableLedger;
use super::connections::directory_key;
use super::directory::D1Directory;
use super::login::{audit_login, login_secret};
use super::mfa_store::{D1Factors, TotpFactor};
use super::sessions::{self, LiveSession};
use crate::accounts::form::Form;
use crate::accounts::mail::MailKind;
use crate::accounts::pages::Notice;
use crate::accounts::throttle::{Gate, ThrottleOp};
use crate::accounts::{AccountError, PASSWORD_PROVIDER};
use crate::directory::store::Directory;
use crate::directory::{TenantScope, UserStatus};
use crate::edge::AccountsPage;
use crate::error::{account_reply, Failure};
use crate::login::csrf;
use crate::login::pages::html_escape;
use crate::mfa::factors::{self, FactorRow, NextStep, SecondFactor};
use crate::mfa::ticket::{self, FirstFactor, SecondFactorTicket, Stage};
use crate::mfa::{qr, recovery, totp};
use crate::ports::{Entropy, Ledger, SystemEntropy};
use crate::secret::{sha256_hex, SecretBytes};
use crate::session::{self, SessionRecord, MFA_COOKIE_NAME};
use worker::Response;

/// How recent a session's second factor must be to change the account's factors.
const RECENT_FACTOR_S: i64 = 900;

/// How long a TOTP step stays spent in the ledger: the ±1 window around it, and then some.
const STEP_SPENT_MS: u64 = 180_000;

/// Who is presenting a second factor.
pub(super) enum Presenter {
    /// A sign-in halfway through.
    Ticket(SecondFactorTicket),
    /// A signed-in password session (stepping up, or managing its factors).
    Session(Box<LiveSession>),
}

impl Presenter {
    pub(super) fn tenant(&self) -> &str {
        match self {
            Presenter::Ticket(ticket) => &ticket.tenant,
            Presenter::Session(session) => session.record().tenant.as_deref().unwrap_or(""),
        }
    }

    /// The directory user (a password session's subject is its id; a provider's session keeps
    /// the provider's subject, and the id beside it).
    pub(super) fn user_id(&self) -> &str {
        match self {
            Presenter::Ticket(ticket) => &ticket.user_id,
            Presenter::Session(session) => {
                let record = session.record();
                record.user_id.as_deref().unwrap_or(&record.subject)
            }
        }
    }

    /// The sign-in's provider (`password` for a local account), as the audit names it.
    pub(super) fn provider(&self) -> &str {
        match self {
            Presenter::Ticket(ticket) => ticket.provider(),
            Presenter::Session(session) => &session.record().provider,
        }
    }

    /// How the user authenticated so far (a provider's session from before its `amr` was
    /// vouched for: nothing).
    pub(super) fn amr(&self) -> &[String] {
        match self {
            Presenter::Ticket(ticket) => &ticket.first_amr,
            Presenter::Session(session) => {
                let record = session.record();
                let believed = record.provider == PASSWORD_PROVIDER || record.authentication_vouched;
                if believed {
                    &record.amr
                } else {
                    &[]
                }
            }
        }
    }

    /// Whether the first factor passed in the last [`RECENT_FACTOR_S`] seconds: a ticket's did
    /// (it lives five minutes); a session's, when its `auth_time` is that recent.
    fn signed_in_recently(&self, now_s: i64) -> bool {
        match self {
            Presenter::Ticket(_) => true,
            Presenter::Session(session) => {
                let auth_time = session.record().auth_time_s;
                auth_time > 0 && (0..=RECENT_FACTOR_S).contains(&(now_s - auth_time))
            }
        }
    }

    /// Whether a second factor was already passed (a session that passed MFA).
    fn passed_second_factor(&self) -> bool {
        self.amr().iter().any(|method| method == "mfa")
    }

    /// Whether a second factor passed in the last [`RECENT_FACTOR_S`] seconds (what changing the
    /// account's factors needs: a stolen older session cannot).
    pub(super) fn passed_second_factor_recently(&self, now_s: i64) -> bool {
        match self {
            Presenter::Session(session) => {
                self.passed_second_factor() && now_s - session.record().auth_time_s <= RECENT_FACTOR_S
            }
            Presenter::Ticket(_) => false,
        }
    }
}

/// What a page shows and keeps across a refusal.
struct Shown {
    csrf_token: String,
    return_to: String,
}

impl Page<'_> {
    /// A user's second-factor throttle key: a digest, so that the ledger holds no ids.
    fn factor_throttle_id(tenant: &str, user_id: &str) -> String {
        format!("mfa:{}", sha256_hex(&format!("{tenant}\n{user_id}")))
    }

    /// Whether a factor may be added now: to an account that has one, after that factor, recently;
    /// a first one, after a recent sign-in. A stolen older session can then neither bind the
    /// thief's authenticator nor meet a route's step-up with it.
    pub(super) fn may_enrol(&self, presenter: &Presenter, enrolled: factors::Enrolled) -> Result<(), Refusal> {
        let now_s = self.now_s();
        if enrolled.any() && !presenter.passed_second_factor_recently(now_s) {
            return Err(Refusal::Page(AccountError::SecondFactorNeeded));
        }
        if !enrolled.any() && !presenter.signed_in_recently(now_s) {
            return Err(Refusal::Page(AccountError::RecentSignInNeeded));
        }
        Ok(())
    }

    /// Where a session goes to sign in again before it adds a first factor, coming back to the
    /// enrolment page: the password page, or its provider asked for a fresh sign-in (`max_age`).
    fn to_sign_in_again(&self, presenter: &Presenter, return_to: &str) -> Result<Response, Failure> {
        let provider = presenter.provider();
        if provider == PASSWORD_PROVIDER {
            return self.to_sign_in("totp");
        }
        let mut back = url::form_urlencoded::Serializer::new(String::new());
        back.append_pair("return_to", return_to);
        let enrolment = format!("{}/accounts/totp?{}", self.prefix(), back.finish());
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("provider", provider).append_pair("max_age", "60").append_pair("return_to", &enrolment);
        self.see_other(&format!("{}/login?{}", self.prefix(), query.finish()), &[])
    }

    /// The ticket cookie's sign-in, if it is good.
    fn ticket(&self) -> Result<Option<SecondFactorTicket>, Failure> {
        let Some(sealed) = self.cx.head.header("cookie").and_then(|h| session::cookie_value(h, MFA_COOKIE_NAME)) else {
            return Ok(None);
        };
        let key = login_secret(self.env(), self.cx.config, self.login)?;
        Ok(ticket::open(&sealed, &key, self.now_s()).ok())
    }

    /// Who is at the page: a ticket of the wanted stage first, else a password session.
    pub(super) async fn presenter(&self, stage: Stage) -> Result<Option<Presenter>, Failure> {
        if let Some(ticket) = self.ticket()?.filter(|ticket| ticket.stage == stage) {
            return Ok(Some(Presenter::Ticket(ticket)));
        }
        Ok(self.factor_session().await?.map(|session| Presenter::Session(Box::new(session))))
    }

    /// The CSRF token of a session presenter (a ticket needs none: its cookie is the proof, and
    /// the form must come from the app's own origin).
    pub(super) fn csrf_for(&self, presenter: &Presenter) -> Result<String, Failure> {
        match presenter {
            Presenter::Ticket(_) => Ok(String::new()),
            Presenter::Session(session) => {
                let key = login_secret(self.env(), self.cx.config, self.login)?;
                Ok(csrf::token(&key, &session.kv_key()))
            }
        }
    }

    fn csrf_ok(&self, presenter: &Presenter, form: &Form) -> Result<(), Refusal> {
        self.csrf_token_ok(presenter, form.optional("csrf_token").unwrap_or(""))
    }

    /// Whether a session presenter's request carries its CSRF token (a ticket needs none).
    pub(super) fn csrf_token_ok(&self, presenter: &Presenter, token: &str) -> Result<(), Refusal> {
        let Presenter::Session(session) = presenter else { return Ok(()) };
        let key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        if csrf::token_matches(&key, &session.kv_key(), token) {
            Ok(())
        } else {
            Err(Refusal::Page(AccountError::CsrfRejected))
        }
    }

    /// After the password: the ticket for the second factor, and the browser sent to it.
    pub(super) fn start_second_factor(
        &self,
        tenant: &str,
        credential: &Credential,
        next: NextStep,
        return_to: &str,
        mut cookies: Vec<String>,
    ) -> Result<Response, Refusal> {
        let (stage, page) = match next {
            NextStep::Enrol => (Stage::Enrol, "totp"),
            _ => (Stage::Challenge, "mfa"),
        };
        let ticket = SecondFactorTicket {
            id: ticket::new_id(&SystemEntropy).map_err(unavailable)?,
            tenant: tenant.to_owned(),
            user_id: credential.user_id.clone(),
            email: credential.email.clone(),
            first_factor: FirstFactor::Password { changed_at_ms: credential.changed_at_ms },
            first_amr: vec![crate::accounts::AMR_PASSWORD.into()],
            stage,
            return_to: return_to.to_owned(),
            issued_at_s: self.now_s(),
        };
        let key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        let nonce: [u8; 12] = SystemEntropy.bytes().map_err(unavailable)?;
        cookies.push(ticket::set_cookie(&ticket::seal(&ticket, &key, &nonce)));
        audit_login(self.cx, "login_first_factor", Some(PASSWORD_PROVIDER), Some(&credential.user_id), stage.due());
        let location = format!("{}/accounts/{page}", self.prefix());
        self.see_other(&location, &cookies).map_err(Refusal::Failure)
    }

    /// `GET` of a second-factor page.
    pub(super) async fn show_mfa(&self, page: AccountsPage, return_to: &str) -> Result<Response, Failure> {
        let stage = if page == AccountsPage::EnrolTotp { Stage::Enrol } else { Stage::Challenge };
        let Some(presenter) = self.presenter(stage).await? else {
            return match page {
                AccountsPage::SecondFactor => self.to_sign_in("mfa"),
                AccountsPage::EnrolTotp => self.to_sign_in("totp"),
                _ => self.to_sign_in("security"),
            };
        };
        let shown = Shown { csrf_token: self.csrf_for(&presenter)?, return_to: return_to.to_owned() };
        let outcome = match page {
            AccountsPage::SecondFactor => self.challenge_page(&presenter, &shown, Notice::None, 200).await,
            AccountsPage::EnrolTotp => self.enrolment_page(&presenter, &shown, None, Notice::None, 200).await,
            _ => self.security_page(&presenter, &shown, Notice::None, 200).await,
        };
        match outcome {
            Ok(response) => Ok(response),
            Err(Refusal::Page(AccountError::RecentSignInNeeded)) => self.to_sign_in_again(&presenter, return_to),
            Err(Refusal::Page(error)) => self.mfa_refused(page, &presenter, &shown, &error).await,
            Err(Refusal::Failure(failure)) => Err(failure),
        }
    }

    /// A refusal shown on its page.
    async fn mfa_refused(
        &self,
        page: AccountsPage,
        presenter: &Presenter,
        shown: &Shown,
        error: &AccountError,
    ) -> Result<Response, Failure> {
        let (status, code, messages) = account_reply(error);
        let notice = Notice::Error(code, &messages);
        let typed = Typed { csrf_token: &shown.csrf_token, return_to: &shown.return_to, ..Typed::default() };
        // The security page shows its factors again with the notice (if the store answers).
        let again = match page {
            AccountsPage::Security => self.security_page(presenter, shown, notice, status).await.ok(),
            AccountsPage::SecondFactor => self.challenge_page(presenter, shown, notice, status).await.ok(),
            _ => None,
        };
        let mut response = match again {
            Some(response) => response,
            None => self.render_with(page, status, notice, &typed, &[], &[]).await?,
        };
        if let AccountError::Wait(seconds) = error {
            let _ = response.headers_mut().set("retry-after", &seconds.to_string());
        }
        Ok(response)
    }

    async fn challenge_page(
        &self,
        presenter: &Presenter,
        shown: &Shown,
        notice: Notice<'_>,
        status: u16,
    ) -> Result<Response, Refusal> {
        let enrolled =
            D1Factors(self.env()).enrolled(presenter.tenant(), presenter.user_id()).await.map_err(unavailable)?;
        if let (Presenter::Session(_), false) = (presenter, enrolled.any()) {
            // A session stepping up without a factor enrols one first.
            let location = format!(
                "{}/accounts/totp?{}",
                self.prefix(),
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", &shown.return_to)
                    .finish()
            );
            return self.see_other(&location, &[]).map_err(Refusal::Failure);
        }
        let typed = Typed { csrf_token: &shown.csrf_token, return_to: &shown.return_to, ..Typed::default() };
        // Each way in shows only if the user has it (a user with only passkeys sees no code field).
        let hidden = |shown: bool| if shown { String::new() } else { "hidden".to_owned() };
        let passkeys_on = self.accounts.passkeys.is_some() && enrolled.passkeys > 0;
        let extra = [("passkey_hidden", hidden(passkeys_on)), ("totp_hidden", hidden(enrolled.totp || !passkeys_on))];
        self.render_with(AccountsPage::SecondFactor, status, notice, &typed, &extra, &[])
            .await
            .map_err(Refusal::Failure)
    }

    /// The enrolment page: a new secret (or, after a wrong code, the same one again).
    async fn enrolment_page(
        &self,
        presenter: &Presenter,
        shown: &Shown,
        again: Option<(&SecretBytes, &str)>,
        notice: Notice<'_>,
        status: u16,
    ) -> Result<Response, Refusal> {
        let (tenant, user_id) = (presenter.tenant(), presenter.user_id());
        let enrolled = D1Factors(self.env()).enrolled(tenant, user_id).await.map_err(unavailable)?;
        if enrolled.totp {
            return self.to_security().map_err(Refusal::Failure);
        }
        self.may_enrol(presenter, enrolled)?;
        let key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        let fresh;
        let (secret, enrolment) = match again {
            Some((secret, sealed)) => (secret, sealed.to_owned()),
            None => {
                fresh = totp::new_secret(&SystemEntropy).map_err(unavailable)?;
                let nonce: [u8; 12] = SystemEntropy.bytes().map_err(unavailable)?;
                let now_s = self.now_s();
                (&fresh, factors::seal_enrolment(&key, tenant, user_id, &fresh, now_s, &nonce))
            }
        };
        let account = account_email(presenter);
        let uri = totp::otpauth_uri(secret, &self.login.branding.name, &account, &totp::TotpParams::default());
        let svg = qr::svg(&uri).ok_or(Refusal::Page(AccountError::Unavailable))?;
        let extra = [
            ("qr_svg", svg),
            ("totp_secret", html_escape(&totp::display_secret(secret))),
            ("enrolment", html_escape(&enrolment)),
            // A passkey is the other way to meet the enrolment (shown by the script, if the
            // browser has WebAuthn).
            ("passkey_hidden", if self.accounts.passkeys.is_some() { String::new() } else { "hidden".into() }),
        ];
        let typed = Typed { csrf_token: &shown.csrf_token, return_to: &shown.return_to, ..Typed::default() };
        let mut response = self
            .render_with(AccountsPage::EnrolTotp, status, notice, &typed, &extra, &[])
            .await
            .map_err(Refusal::Failure)?;
        // The page holds a secret: no referrer carries its URL anywhere, and nothing caches it.
        let _ = response.headers_mut().set("referrer-policy", "no-referrer");
        Ok(response)
    }

    /// The security page: the factors, with a form for each change.
    async fn security_page(
        &self,
        presenter: &Presenter,
        shown: &Shown,
        notice: Notice<'_>,
        status: u16,
    ) -> Result<Response, Refusal> {
        let Presenter::Session(_) = presenter else {
            return self.to_sign_in("security").map_err(Refusal::Failure);
        };
        let store = D1Factors(self.env());
        let factor = store.totp(presenter.tenant(), presenter.user_id()).await.map_err(unavailable)?;
        let codes_left =
            store.unused_recovery_codes(presenter.tenant(), presenter.user_id()).await.map_err(unavailable)?;
        let csrf = html_escape(&shown.csrf_token);
        let action = format!("{}/accounts/security", html_escape(self.prefix()));
        let form = |name: &str, label: &str, class: &str| {
            format!(
                "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"action\" value=\"{name}\"><button id=\"{name}\" class=\"button {class}\" \
                 type=\"submit\">{label}</button></form>"
            )
        };
        let totp_status = match &factor {
            Some(factor) => format!(
                "<p id=\"totp-state\" data-state=\"on\">On: {} (added {}, last used {}).</p>{}",
                html_escape(&factor.name),
                date_of(factor.created_at_ms as u64),
                factor.last_used_at_ms.map_or_else(|| "never".to_owned(), |ms| date_of(ms as u64)),
                form("remove_totp", "Turn off", "button-secondary")
            ),
            None => format!(
                "<p id=\"totp-state\" data-state=\"off\">Off.</p><p class=\"actions\"><a id=\"enrol-totp\" \
                 class=\"button\" href=\"{}/accounts/totp?return_to={}\">Set up an authenticator app</a></p>",
                html_escape(self.prefix()),
                html_escape(
                    &percent_encoding::utf8_percent_encode(
                        &format!("{}/accounts/security", self.prefix()),
                        percent_encoding::NON_ALPHANUMERIC
                    )
                    .to_string()
                )
            ),
        };
        let (passkeys_status, passkey_count) = self.passkeys_section(presenter, &shown.csrf_token).await?;
        let recovery_status = if factor.is_some() || passkey_count > 0 {
            format!(
                "<p id=\"recovery-left\" data-left=\"{n}\">{n} of {total} unused.</p>{}",
                form("regenerate_codes", "Make new codes", "button-secondary"),
                n = codes_left.len(),
                total = recovery::CODES_PER_SET
            )
        } else {
            "<p id=\"recovery-left\" data-left=\"0\">Recovery codes come with two-step verification.</p>".into()
        };
        let typed = Typed { csrf_token: &shown.csrf_token, return_to: &shown.return_to, ..Typed::default() };
        // A provider's user has no password here to change.
        let password_hidden = if presenter.provider() == PASSWORD_PROVIDER { "" } else { "hidden" };
        let extra = [
            ("totp_status", totp_status),
            ("recovery_status", recovery_status),
            ("passkeys_status", passkeys_status),
            ("password_hidden", password_hidden.to_owned()),
        ];
        self.render_with(AccountsPage::Security, status, notice, &typed, &extra, &[]).await.map_err(Refusal::Failure)
    }

    fn to_security(&self) -> Result<Response, Failure> {
        let location = format!("{}/accounts/security", self.prefix());
        self.see_other(&location, &[])
    }

    /// Counts a code attempt against the user's second-factor throttle; a wait or lock refuses.
    async fn code_attempt(&self, presenter: &Presenter) -> Result<String, Refusal> {
        let key = Self::factor_throttle_id(presenter.tenant(), presenter.user_id());
        let (gate, locked_now) =
            self.throttle(key.clone(), self.accounts.account_throttle, ThrottleOp::Attempt).await?;
        if locked_now {
            audit_login(
                self.cx,
                "second_factor_locked",
                Some(presenter.provider()),
                Some(presenter.user_id()),
                "too many failures",
            );
        }
        match gate {
            Gate::Open => Ok(key),
            Gate::Wait { until_ms } | Gate::Locked { until_ms } => {
                Err(Refusal::Page(AccountError::Wait(crate::accounts::throttle::wait_s(until_ms, self.now_ms()))))
            }
        }
    }

    /// Checks a TOTP code against a secret, and spends its step: `true` when it passed now.
    async fn spend_code(
        &self,
        presenter: &Presenter,
        factor: &TotpFactor,
        secret: &SecretBytes,
        code: &str,
    ) -> Result<bool, Refusal> {
        let now_ms = self.now_ms();
        let Some(step) = totp::matching_step(secret, code, now_ms / 1000, &totp::TotpParams::default()) else {
            return Ok(false);
        };
        let (tenant, user_id) = (presenter.tenant(), presenter.user_id());
        let once = totp::step_once_id(&format!("{tenant}/{user_id}"), step);
        if !DurableLedger(self.env()).claim_once(&once, STEP_SPENT_MS).await.map_err(unavailable)? {
            return Ok(false);
        }
        D1Factors(self.env()).spend_step(tenant, user_id, &factor.id, step, now_ms).await.map_err(unavailable)
    }

    /// `POST mfa`: a TOTP code or a recovery code, completing a sign-in or stepping up a session.
    pub(super) async fn second_factor(&self, form: &Form, return_to: &str) -> Result<Response, Refusal> {
        let Some(presenter) = self.presenter(Stage::Challenge).await.map_err(Refusal::Failure)? else {
            return Err(Refusal::Page(AccountError::SecondFactorExpired));
        };
        self.csrf_ok(&presenter, form)?;
        let (tenant, user_id) = (presenter.tenant().to_owned(), presenter.user_id().to_owned());
        let throttle_key = self.code_attempt(&presenter).await?;
        let store = D1Factors(self.env());
        let used = match (form.optional("code").filter(|c| !c.is_empty()), form.optional("recovery_code")) {
            (Some(code), None) => {
                let factor = store.totp(&tenant, &user_id).await.map_err(unavailable)?;
                let factor = factor.ok_or(Refusal::Page(AccountError::CodeIncorrect))?;
                let key = directory_key(self.env()).map_err(Refusal::Failure)?;
                let row = FactorRow { tenant: &tenant, user_id: &user_id, factor_id: &factor.id };
                let Some(secret) = factors::open_totp_secret(&key, row, &factor.sealed_secret) else {
                    // A row that does not open under the key is not the user's fault: fail closed.
                    worker::console_warn!("{}", serde_json::json!({ "event": "totp_secret_unreadable" }));
                    return Err(Refusal::Page(AccountError::Unavailable));
                };
                if !self.spend_code(&presenter, &factor, &secret, code).await? {
                    audit_login(self.cx, "second_factor_failed", Some(presenter.provider()), Some(&user_id), "totp");
                    return Err(Refusal::Page(AccountError::CodeIncorrect));
                }
                SecondFactor::Totp
            }
            (None, Some(code)) => {
                let stored = store.unused_recovery_codes(&tenant, &user_id).await.map_err(unavailable)?;
                let spent = match recovery::find(code, &stored) {
                    Some(index) => store
                        .spend_recovery_code(&tenant, &user_id, &stored[index], self.now_ms())
                        .await
                        .map_err(unavailable)?,
                    None => false,
                };
                if !spent {
                    audit_login(
                        self.cx,
                        "second_factor_failed",
                        Some(presenter.provider()),
                        Some(&user_id),
                        "recovery code",
                    );
                    return Err(Refusal::Page(AccountError::CodeIncorrect));
                }
                SecondFactor::RecoveryCode
            }
            _ => return Err(Refusal::Page(AccountError::Form(crate::accounts::form::FormError::Missing("code")))),
        };
        let _ = self.throttle(throttle_key, self.accounts.account_throttle, ThrottleOp::Clear).await;
        let completing = self.complete(&presenter).await?;
        let mut cookies =
            vec![self.issue_completed(&presenter, &completing, factors::amr_after(presenter.amr(), used)).await?];
        if used == SecondFactor::RecoveryCode {
            let left = store.unused_recovery_codes(&tenant, &user_id).await.map(|codes| codes.len()).unwrap_or(0);
            let change = format!(
                "A recovery code was just used to sign in to your account. {left} unused codes are left; make new ones on the security page."
            );
            self.send_later(MailKind::SecurityChanged, completing.email(), vec![("change", change)]);
        }
        let destination = match &presenter {
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
                    Some(&user_id),
                    second_factor_name(used),
                );
                return_to.to_owned()
            }
        };
        self.see_other(&destination, &cookies).map_err(Refusal::Failure)
    }

    /// Completes a sign-in or step-up: a ticket is spent once; the user must still be active. A
    /// local account's password must not have changed since its ticket; a provider's held sign-in
    /// is taken out of KV (it completes once).
    pub(super) async fn complete(&self, presenter: &Presenter) -> Result<Completing, Refusal> {
        if let Presenter::Ticket(ticket) = presenter {
            let fresh = DurableLedger(self.env())
                .claim_once(&ticket::once_id(ticket), 2 * ticket::TICKET_LIFETIME_S as u64 * 1000)
                .await;
            if !fresh.map_err(unavailable)? {
                return Err(Refusal::Page(AccountError::SecondFactorExpired));
            }
        }
        if presenter.provider() != PASSWORD_PROVIDER {
            return self.complete_federated(presenter).await.map(|record| Completing::Federated(Box::new(record)));
        }
        let credential =
            D1Accounts(self.env()).credential_of(presenter.tenant(), presenter.user_id()).await.map_err(unavailable)?;
        // A ticket made before the password changed (a reset, a change) completes nothing.
        let same_password = match presenter {
            Presenter::Ticket(SecondFactorTicket { first_factor: FirstFactor::Password { changed_at_ms }, .. }) => {
                credential.as_ref().is_some_and(|c| c.changed_at_ms == *changed_at_ms)
            }
            Presenter::Ticket(_) => false,
            Presenter::Session(_) => true,
        };
        match credential {
            Some(_) if !same_password => Err(Refusal::Page(AccountError::SecondFactorExpired)),
            Some(credential) if credential.active => Ok(Completing::Account(credential)),
            Some(_) => Err(Refusal::Page(AccountError::Disabled)),
            None => Err(Refusal::Page(AccountError::SecondFactorExpired)),
        }
    }

    /// A provider's user completing: the held sign-in of its (spent) ticket, or the stepping-up
    /// session's record; the directory user must still be active.
    async fn complete_federated(&self, presenter: &Presenter) -> Result<SessionRecord, Refusal> {
        let record = match presenter {
            Presenter::Ticket(ticket) => {
                let key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
                let sealed = sessions::take_held(self.env(), &ticket::held_key(ticket)).await.map_err(unavailable)?;
                let held = sealed.and_then(|sealed| ticket::open_held(&sealed, ticket, &key));
                let held = held.ok_or(Refusal::Page(AccountError::SecondFactorExpired))?;
                // The user's sessions revoked while it waited (a role taken away, an
                // administrator's sign-out): it completes nothing.
                if sessions::subject_revoked_since(self.env(), &held).await.map_err(unavailable)? {
                    return Err(Refusal::Page(AccountError::SecondFactorExpired));
                }
                held
            }
            Presenter::Session(session) => session.record().clone(),
        };
        let scope = TenantScope::of(presenter.tenant());
        let user = D1Directory(self.env()).user(&scope, presenter.user_id()).await.map_err(unavailable)?;
        match user {
            Some(user) if user.status == UserStatus::Active => Ok(record),
            Some(_) => Err(Refusal::Page(AccountError::Disabled)),
            None => Err(Refusal::Page(AccountError::SecondFactorExpired)),
        }
    }

    /// The session a completed second factor makes, with this `amr`, as a `Set-Cookie` (the
    /// browser's previous session ends). A local account's is made anew; a provider's is its held
    /// (or stepped-up) record with the factor's `amr`, authenticated now, under a fresh id, made
    /// and ending when it was.
    pub(super) async fn issue_completed(
        &self,
        presenter: &Presenter,
        completing: &Completing,
        amr: Vec<String>,
    ) -> Result<String, Refusal> {
        let record = match completing {
            Completing::Account(credential) => {
                return self.issue_session(presenter.tenant(), credential, (amr, None), None).await
            }
            Completing::Federated(record) => record,
        };
        let now_s = self.now_s();
        // The provider's `acr` named the sign-in it came with: a later step-up is not that one.
        let acr = match presenter {
            Presenter::Ticket(_) if record.authentication_vouched => record.acr.clone(),
            _ => None,
        };
        // It keeps the creation time of the sign-in it completes, so that a revocation of the
        // user's sessions since (which ends those created before it) ends this one too.
        let record = SessionRecord {
            amr,
            acr,
            auth_time_s: now_s,
            last_seen_s: now_s,
            authentication_vouched: true,
            ..(**record).clone()
        };
        self.replace_session(&record, (record.expires_at_s - now_s).max(0) as u64).await
    }

    /// What follows a sign-in completed by its second factor: a local account's notice and
    /// audit, or a provider's audit.
    pub(super) fn signed_in_as(&self, completing: &Completing, outcome: &str) {
        match completing {
            Completing::Account(credential) => self.signed_in(credential, outcome),
            Completing::Federated(record) => {
                audit_login(self.cx, "login_succeeded", Some(&record.provider), Some(&record.subject), outcome);
            }
        }
    }

    /// `POST totp`: the first code from the app proves it holds the secret; the factor is stored,
    /// a set of recovery codes is made and shown once, and the sign-in (or session) goes on with
    /// the second factor.
    pub(super) async fn enrol_totp(&self, form: &Form, return_to: &str) -> Result<Response, Refusal> {
        let Some(presenter) = self.presenter(Stage::Enrol).await.map_err(Refusal::Failure)? else {
            return Err(Refusal::Page(AccountError::SecondFactorExpired));
        };
        self.csrf_ok(&presenter, form)?;
        let shown =
            Shown { csrf_token: form.optional("csrf_token").unwrap_or("").to_owned(), return_to: return_to.to_owned() };
        let (tenant, user_id) = (presenter.tenant().to_owned(), presenter.user_id().to_owned());
        let login_key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        let sealed = form.optional("enrolment").unwrap_or("");
        let now_ms = self.now_ms();
        let Some(secret) = factors::open_enrolment(&login_key, &tenant, &user_id, sealed, (now_ms / 1000) as i64)
        else {
            return Err(Refusal::Page(AccountError::EnrolmentExpired));
        };
        let code = form.required("code").map_err(|e| Refusal::Page(e.into()))?;
        let throttle_key = self.code_attempt(&presenter).await?;
        let params = totp::TotpParams::default();
        let Some(step) = totp::matching_step(&secret, code, now_ms / 1000, &params) else {
            let (status, error_code, messages) = account_reply(&AccountError::CodeIncorrect);
            return self
                .enrolment_page(
                    &presenter,
                    &shown,
                    Some((&secret, sealed)),
                    Notice::Error(error_code, &messages),
                    status,
                )
                .await;
        };
        let store = D1Factors(self.env());
        let enrolled = store.enrolled(&tenant, &user_id).await.map_err(unavailable)?;
        self.may_enrol(&presenter, enrolled)?;
        // The sign-in completes (its ticket spent, the password unchanged, the account active)
        // before anything is stored: a replayed or stale ticket enrols nothing.
        let completing = self.complete(&presenter).await?;
        let directory = directory_key(self.env()).map_err(Refusal::Failure)?;
        let nonce: [u8; 12] = SystemEntropy.bytes().map_err(unavailable)?;
        let factor_id = factors::new_factor_id(&SystemEntropy).map_err(unavailable)?;
        let row = FactorRow { tenant: &tenant, user_id: &user_id, factor_id: &factor_id };
        let factor = TotpFactor {
            sealed_secret: factors::seal_totp_secret(&directory, row, &secret, &nonce),
            id: factor_id.clone(),
            name: "Authenticator app".into(),
            created_at_ms: now_ms as f64,
            last_used_at_ms: None,
        };
        // The enrolling code's step is spent too: it cannot sign in a second time.
        let once = totp::step_once_id(&format!("{tenant}/{user_id}"), step);
        let _ = DurableLedger(self.env()).claim_once(&once, STEP_SPENT_MS).await;
        if !store.add_totp(&tenant, &user_id, &factor, step).await.map_err(unavailable)? {
            return self.to_security().map_err(Refusal::Failure);
        }
        // Only a stored factor clears the guesses (a stale enrolment form clears nothing).
        let _ = self.throttle(throttle_key, self.accounts.account_throttle, ThrottleOp::Clear).await;
        let codes = recovery::generate(&SystemEntropy).map_err(unavailable)?;
        store.replace_recovery_codes(&tenant, &user_id, &codes.stored).await.map_err(unavailable)?;
        let mut cookies = Vec::new();
        let change = "Two-step verification with an authenticator app was turned on for your account.".to_owned();
        self.send_later(MailKind::SecurityChanged, completing.email(), vec![("change", change)]);
        audit_login(self.cx, "mfa_enrolled", Some(presenter.provider()), Some(&user_id), "totp");
        if !enrolled.any() {
            cookies.push(self.session_after_first_factor(&presenter, &completing).await?);
        }
        let next = match &presenter {
            Presenter::Ticket(ticket) => {
                cookies.push(ticket::clear_cookie());
                self.signed_in_as(&completing, "second factor enrolled: totp");
                ticket.return_to.clone()
            }
            Presenter::Session(_) => return_to.to_owned(),
        };
        self.recovery_codes_page(&codes, &next, &cookies).await
    }

    /// The session an account's first factor completes (a required enrolment's sign-in, or the
    /// session that added it): as `mfa`, with no kind (see `SecondFactor::Enrolment`). A later
    /// factor makes none: adding it is not signing in with it, and the session keeps the
    /// `auth_time` of the factor it last used. (A ticket only ever enrols an account's first.)
    pub(super) async fn session_after_first_factor(
        &self,
        presenter: &Presenter,
        completing: &Completing,
    ) -> Result<String, Refusal> {
        let amr = factors::amr_after(presenter.amr(), SecondFactor::Enrolment);
        self.issue_completed(presenter, completing, amr).await
    }

    /// The page that shows a new set of recovery codes, once.
    async fn recovery_codes_page(
        &self,
        codes: &recovery::RecoverySet,
        next: &str,
        cookies: &[String],
    ) -> Result<Response, Refusal> {
        let items: String =
            codes.shown.iter().map(|code| format!("<li><code>{}</code></li>", html_escape(code.expose()))).collect();
        let template = self.page_template("recovery-codes").await.map_err(Refusal::Failure)?;
        let typed = Typed::default();
        let html = crate::accounts::pages::render_with(
            &template,
            &self.values(Notice::None, &typed),
            &[("recovery_codes", items), ("next_href", html_escape(next)), ("next_label", "Continue".into())],
        );
        let mut response = self.html(200, &html, cookies).map_err(Refusal::Failure)?;
        let _ = response.headers_mut().set("referrer-policy", "no-referrer");
        Ok(response)
    }

    /// `POST security`: turn the authenticator app off, or make new recovery codes.
    pub(super) async fn change_security(&self, form: &Form) -> Result<Response, Refusal> {
        let Some(session) = self.factor_session().await.map_err(Refusal::Failure)? else {
            return self.to_sign_in("security").map_err(Refusal::Failure);
        };
        let presenter = Presenter::Session(Box::new(session));
        self.csrf_ok(&presenter, form)?;
        let (tenant, user_id) = (presenter.tenant().to_owned(), presenter.user_id().to_owned());
        let store = D1Factors(self.env());
        let enrolled = store.enrolled(&tenant, &user_id).await.map_err(unavailable)?;
        let now_s = self.now_s();
        if enrolled.any() && !presenter.passed_second_factor_recently(now_s) {
            return Err(Refusal::Page(AccountError::SecondFactorNeeded));
        }
        let email = account_email(&presenter);
        match form.required("action").map_err(|e| Refusal::Page(e.into()))? {
            "remove_totp" => {
                if store.remove_totp(&tenant, &user_id).await.map_err(unavailable)? {
                    let change =
                        "Two-step verification with an authenticator app was turned off for your account.".to_owned();
                    self.send_later(MailKind::SecurityChanged, email, vec![("change", change)]);
                    audit_login(self.cx, "mfa_removed", Some(presenter.provider()), Some(&user_id), "totp");
                }
                self.to_security().map_err(Refusal::Failure)
            }
            "remove_passkey" | "rename_passkey" => self.change_passkey(&presenter, form, email).await,
            "regenerate_codes" if enrolled.any() => {
                let codes = recovery::generate(&SystemEntropy).map_err(unavailable)?;
                store.replace_recovery_codes(&tenant, &user_id, &codes.stored).await.map_err(unavailable)?;
                let change = "New recovery codes were made for your account; the old ones no longer work.".to_owned();
                self.send_later(MailKind::SecurityChanged, email, vec![("change", change)]);
                audit_login(
                    self.cx,
                    "recovery_codes_regenerated",
                    Some(presenter.provider()),
                    Some(&user_id),
                    "new set",
                );
                let back = format!("{}/accounts/security", self.prefix());
                self.recovery_codes_page(&codes, &back, &[]).await
            }
            _ => Err(Refusal::Page(AccountError::Form(crate::accounts::form::FormError::Unexpected))),
        }
    }
}

/// Who a completed second factor signs in (or steps up).
pub(super) enum Completing {
    /// A local account.
    Account(Credential),
    /// A provider's user: the held sign-in of the ticket, or the stepping-up session's record.
    Federated(Box<SessionRecord>),
}

impl Completing {
    /// Where the user's security mail goes (empty: a provider gave no verified email).
    pub(super) fn email(&self) -> String {
        match self {
            Completing::Account(credential) => credential.email.clone(),
            Completing::Federated(record) => record.email.clone().unwrap_or_default(),
        }
    }
}

/// The account's email, as the authenticator app names the account.
pub(super) fn account_email(presenter: &Presenter) -> String {
    match presenter {
        Presenter::Ticket(ticket) => ticket.email.clone(),
        Presenter::Session(session) => session.record().email.clone().unwrap_or_default(),
    }
}

/// How the audit names a second factor.
pub(super) fn second_factor_name(used: SecondFactor) -> &'static str {
    match used {
        SecondFactor::Totp => "second factor: totp",
        SecondFactor::RecoveryCode => "second factor: recovery code",
        SecondFactor::Passkey { .. } => "second factor: passkey",
        SecondFactor::Enrolment => "second factor enrolled",
    }
}

/// A day as `YYYY-MM-DD`, from milliseconds since the epoch.
pub(super) fn date_of(ms: u64) -> String {
    let iso: String = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64)).to_iso_string().into();
    iso.chars().take(10).collect()
}
