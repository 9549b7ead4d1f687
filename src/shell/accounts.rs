//! The local-account pages under `/auth/accounts/`: sign-up, email verification, sign-in,
//! forgotten password, reset and change. The decisions are the core's (`crate::accounts`,
//! `crate::authn::password`); this module reads forms, asks the stores, sends mail and answers.
//!
//! - Every `POST` must come from the app's own origin (login CSRF), and is rate limited per client
//!   IP by `login.rate_limits`; failed sign-ins are throttled per email and per IP in the ledger.
//! - Answers do not tell which emails have accounts: see the core's module documentation.
//! - A store that does not answer fails the submission closed, with nothing half-made kept.

use super::account_store::{Created, Credential, D1Accounts};
use super::adapters::{DurableLedger, FetchClient, WorkerClock};
use super::body::read_bounded;
use super::directory::D1Directory;
use super::key_revocations::client as revocations;
use super::login::{audit_login, login_secret, page_headers, template};
use super::login_context::LoginContext;
use super::mailer::WorkerMailer;
use super::mfa_store::D1Factors;
use super::rate_limit::{self, Verdict};
use super::respond;
use super::sessions::{self, KvSessions, LiveSession, Upkeep};
use crate::accounts::config::{AccountTenant, LocalAccounts};
use crate::accounts::device;
use crate::accounts::form::Form;
use crate::accounts::mail::{self, MailKind};
use crate::accounts::pages::{self as account_pages, Notice, PageValues};
use crate::accounts::throttle::{Gate, ThrottleOp, ThrottlePolicy, ThrottleRequest};
use crate::accounts::token::{self, check_link, LinkToken, Purpose, StoredLink};
use crate::accounts::{self, AccountError, Attempt, SignInOutcome, AMR_PASSWORD, PASSWORD_PROVIDER};
use crate::authn::password::blocklist::CommonPasswords;
use crate::authn::password::breach::{self, BreachVerdict};
use crate::authn::password::hash::{self, Verified};
use crate::authn::password::policy::{self, AcceptedPassword};
use crate::authn::AuthnError;
use crate::directory::store::Directory;
use crate::directory::{new_user_id, roles_for, TenantScope};
use crate::edge::AccountsPage;
use crate::error::{account_reply, Failure};
use crate::gateway::refusals::RouteError;
use crate::http::headers::{self, HeaderList};
use crate::http::pair_value;
use crate::ledger::ClaimOp;
use crate::login::config::LoginConfig;
use crate::login::{csrf, oidc};
use crate::mfa::factors::{self, NextStep};
use crate::ports::{Clock, Entropy, Ledger, Mailer, SystemEntropy};
use crate::secret::{SecretBytes, SecretString};
use crate::session;
use crate::session::store::SessionStore;
use crate::session::SessionRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use worker::{console_warn, Env, Request, Response};

/// The most a form body may weigh (two bounded passwords and a few short fields).
const MAX_FORM_BYTES: usize = 4096;
/// How often one email may be sent a reset link.
const RESET_MAIL_INTERVAL_MS: u64 = 60_000;
/// How often one email may be sent a sign-up mail (a verification link, or "you have an account").
const SIGN_UP_MAIL_INTERVAL_MS: u64 = 60_000;

/// Everything a handler needs.
pub(super) struct Page<'a> {
    pub(super) cx: &'a LoginContext<'a>,
    pub(super) login: &'a LoginConfig,
    pub(super) accounts: &'a LocalAccounts,
}

/// What the page shows again after a refusal.
#[derive(Default)]
pub(super) struct Typed<'a> {
    pub(super) email: &'a str,
    pub(super) tenant: &'a str,
    pub(super) return_to: &'a str,
    pub(super) token: &'a str,
    pub(super) csrf_token: &'a str,
}

/// Serves an account page (`submit`: its form's `POST`).
pub async fn serve(
    req: Request,
    cx: &LoginContext<'_>,
    page: AccountsPage,
    submit: bool,
) -> Result<Response, (Failure, HeaderList)> {
    let plain = |failure: Failure| (failure, Vec::new());
    let (Some(login), Some(accounts)) = (&cx.config.login, &cx.config.local_accounts) else {
        return Err(plain(RouteError::UnknownEdgePath.into()));
    };
    let here = Page { cx, login, accounts };
    if !submit {
        return here.show(page).await.map_err(plain);
    }
    limit_submissions(cx, login).await?;
    here.submit(req, page).await.map_err(plain)
}

/// The login section's rate limits, on a submission.
pub(super) async fn limit_submissions(cx: &LoginContext<'_>, login: &LoginConfig) -> Result<(), (Failure, HeaderList)> {
    let plain = |failure: Failure| (failure, Vec::new());
    if !login.rate_limits.is_empty() {
        let client_ip = cx.head.header("cf-connecting-ip");
        match rate_limit::enforce_rules(cx.env, cx.config, "auth-accounts", &login.rate_limits, None, client_ip).await {
            Verdict::Allowed(..) => {}
            Verdict::Limited(failure, headers) => return Err((failure, headers)),
            Verdict::Unavailable(reason) => {
                console_warn!(
                    "{}",
                    serde_json::json!({ "event": "accounts_rate_limiter_unavailable", "reason": reason })
                );
                return Err(plain(Failure::Unavailable));
            }
        }
    }
    Ok(())
}

impl Page<'_> {
    pub(super) fn env(&self) -> &Env {
        self.cx.env
    }

    pub(super) fn prefix(&self) -> &str {
        &self.cx.config.edge_prefix
    }

    pub(super) fn now_ms(&self) -> u64 {
        WorkerClock.now_ms()
    }

    pub(super) fn now_s(&self) -> i64 {
        (self.now_ms() / 1000) as i64
    }

    fn mail(&self) -> Mail<'_> {
        Mail { env: self.env(), login: self.login, accounts: self.accounts, prefix: self.prefix() }
    }

    /// Sends an email after the response (notices that the answer must not wait for).
    pub(super) fn send_later(&self, kind: MailKind, to: String, extra: Vec<(&'static str, String)>) {
        if to.is_empty() {
            // A provider's user whose provider gave no verified email: nobody to tell.
            console_warn!(
                "{}",
                serde_json::json!({ "event": "security_mail_unaddressed", "kind": format!("{kind:?}") })
            );
            return;
        }
        let (env, login, accounts) = (self.env().clone(), self.login.clone(), self.accounts.clone());
        let prefix = self.prefix().to_owned();
        self.cx.ctx.wait_until(async move {
            let mail = Mail { env: &env, login: &login, accounts: &accounts, prefix: &prefix };
            let _ = mail.send(kind, &to, &extra).await;
        });
    }

    fn tenant_of<'t>(&'t self, named: Option<&str>) -> Result<&'t AccountTenant, AccountError> {
        self.accounts.tenant(named).ok_or(AccountError::UnknownTenant)
    }

    pub(super) fn return_to(&self, candidate: Option<&str>) -> String {
        oidc::safe_return_to(candidate.unwrap_or("/"), &self.login.app_origins())
    }

    /// A page, with a notice and what was typed.
    async fn render(
        &self,
        page: AccountsPage,
        status: u16,
        notice: Notice<'_>,
        typed: &Typed<'_>,
        cookies: &[String],
    ) -> Result<Response, Failure> {
        self.render_with(page, status, notice, typed, &[], cookies).await
    }

    /// A page with its own placeholders filled too (`extra`, already HTML); those it does not
    /// name are left empty.
    pub(super) async fn render_with(
        &self,
        page: AccountsPage,
        status: u16,
        notice: Notice<'_>,
        typed: &Typed<'_>,
        extra: &[(&str, String)],
        cookies: &[String],
    ) -> Result<Response, Failure> {
        let name = match page {
            AccountsPage::SignUp => "sign-up",
            AccountsPage::SignIn => "sign-in",
            AccountsPage::Verify => "verify",
            AccountsPage::Forgot => "forgot",
            AccountsPage::Reset => "reset",
            AccountsPage::ChangePassword => "password",
            AccountsPage::SecondFactor => "mfa",
            AccountsPage::EnrolTotp => "totp",
            AccountsPage::Security => "security",
        };
        let blanks = account_pages::PAGE_PLACEHOLDERS.iter().map(|name| (*name, String::new()));
        // The sign-in page's passkey button shows only where passkeys may sign in on their own.
        let passwordless = page == AccountsPage::SignIn
            && self.accounts.passkeys.as_ref().is_some_and(|passkeys| passkeys.passwordless);
        let passkey_default = ("passkey_hidden", if passwordless { String::new() } else { "hidden".to_owned() });
        let extra: Vec<(&str, String)> =
            extra.iter().cloned().chain(std::iter::once(passkey_default)).chain(blanks).collect();
        let body = account_pages::render_with(&self.page_template(name).await?, &self.values(notice, typed), &extra);
        self.html(status, &body, cookies)
    }

    /// An account page's template, in the layout.
    pub(super) async fn page_template(&self, name: &str) -> Result<String, Failure> {
        let layout = template(self.env(), "/accounts/layout.html").await?;
        let page = template(self.env(), &format!("/accounts/{name}.html")).await?;
        account_pages::assemble(&layout, &page).ok_or(Failure::Unavailable)
    }

    pub(super) fn values<'v>(&'v self, notice: Notice<'_>, typed: &Typed<'v>) -> PageValues<'v> {
        PageValues {
            brand_name: &self.login.branding.name,
            brand_logo: &self.login.branding.logo,
            prefix: self.prefix(),
            notice: notice.html(),
            email: typed.email,
            tenant: typed.tenant,
            return_to: typed.return_to,
            token: typed.token,
            csrf_token: typed.csrf_token,
            min_length: self.accounts.policy.min_length,
            max_length: self.accounts.policy.max_length,
        }
    }

    /// The message page: a title, a message and a link on.
    pub(super) async fn message(
        &self,
        status: u16,
        title: &str,
        message: &str,
        next: (&str, &str),
        cookies: &[String],
    ) -> Result<Response, Failure> {
        let typed = Typed::default();
        let body = account_pages::render_message(
            &self.page_template("message").await?,
            &self.values(Notice::None, &typed),
            title,
            message,
            next,
        );
        self.html(status, &body, cookies)
    }

    pub(super) fn html(&self, status: u16, body: &str, cookies: &[String]) -> Result<Response, Failure> {
        let mut list = page_headers(self.cx, self.login, "text/html; charset=utf-8");
        headers::set(&mut list, "cache-control", "no-store");
        for cookie in cookies {
            list.push(("set-cookie".into(), cookie.clone()));
        }
        respond::build_text(status, &list, body).map_err(|_| Failure::Unavailable)
    }

    /// A refused submission: the page again, with the reason.
    pub(super) async fn refused(
        &self,
        page: AccountsPage,
        error: &AccountError,
        typed: &Typed<'_>,
    ) -> Result<Response, Failure> {
        let (status, code, messages) = account_reply(error);
        let mut response = self.render(page, status, Notice::Error(code, &messages), typed, &[]).await?;
        if let AccountError::Wait(seconds) = error {
            let _ = response.headers_mut().set("retry-after", &seconds.to_string());
        }
        Ok(response)
    }

    /// `GET`: the page.
    async fn show(&self, page: AccountsPage) -> Result<Response, Failure> {
        let query = self.cx.head.query_pairs();
        let tenant = pair_value(&query, "tenant").unwrap_or("");
        let return_to = self.return_to(pair_value(&query, "return_to"));
        let mut typed = Typed { tenant, return_to: &return_to, ..Typed::default() };
        if self.accounts.tenant(Some(tenant)).is_none() {
            return self.refused(page, &AccountError::UnknownTenant, &typed).await;
        }
        let token = pair_value(&query, "token").unwrap_or("");
        match page {
            AccountsPage::Verify | AccountsPage::Reset => {
                // Only the shape is checked here: a mail scanner that opens the link spends nothing.
                if token::presented_digest(token).is_none() {
                    return self.refused(page, &AccountError::LinkInvalid, &typed).await;
                }
                typed.token = token;
                let mut response = self.render(page, 200, Notice::None, &typed, &[]).await?;
                // The token is in this page's URL: it must not leak onwards.
                let _ = response.headers_mut().set("referrer-policy", "no-referrer");
                Ok(response)
            }
            AccountsPage::ChangePassword => {
                let Some(session) = self.password_session().await? else {
                    return self.to_sign_in("password");
                };
                let key = login_secret(self.env(), self.cx.config, self.login)?;
                let csrf_token = csrf::token(&key, &session.kv_key());
                let email = session.record().email.clone().unwrap_or_default();
                let typed = Typed { email: &email, csrf_token: &csrf_token, ..typed };
                let mut response = self.render(page, 200, Notice::None, &typed, &[]).await?;
                let _ = response.headers_mut().set("referrer-policy", "same-origin");
                Ok(response)
            }
            AccountsPage::SecondFactor | AccountsPage::EnrolTotp | AccountsPage::Security => {
                self.show_mfa(page, &return_to).await
            }
            _ => self.render(page, 200, Notice::None, &typed, &[]).await,
        }
    }

    /// `303 See Other` to `location`, with these cookies set.
    pub(super) fn see_other(&self, location: &str, cookies: &[String]) -> Result<Response, Failure> {
        respond::redirect(303, location, cookies, &self.cx.config.security_headers, self.cx.request_id)
            .map_err(|_| Failure::Unavailable)
    }

    /// Sends the browser to sign in first, coming back to `page`.
    pub(super) fn to_sign_in(&self, page: &str) -> Result<Response, Failure> {
        let back = format!("{}/accounts/{page}", self.prefix());
        let location = format!(
            "{}/accounts/sign-in?{}",
            self.prefix(),
            url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", &back).finish()
        );
        self.see_other(&location, &[])
    }

    /// The request's session, if it is a password session.
    pub(super) async fn password_session(&self) -> Result<Option<LiveSession>, Failure> {
        match sessions::current(self.env(), self.cx.ctx, self.cx.config, self.cx.head, Upkeep::Full).await {
            Ok(Some(session)) if session.record().provider == PASSWORD_PROVIDER => Ok(Some(session)),
            Ok(_) | Err(AuthnError::InvalidSession(_) | AuthnError::Missing) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether a session's user presents Portcullis's second factors: a directory user's, or a
    /// password session's.
    fn uses_local_factors(&self, record: &SessionRecord) -> bool {
        let directory_tenant = record.user_id.as_ref().and(record.tenant.as_deref());
        accounts::uses_local_factors(self.accounts, Some(self.login), &record.provider, directory_tenant)
    }

    /// The request's session, if its user may use Portcullis's second factors
    /// ([`accounts::uses_local_factors`]).
    pub(super) async fn factor_session(&self) -> Result<Option<LiveSession>, Failure> {
        match sessions::current(self.env(), self.cx.ctx, self.cx.config, self.cx.head, Upkeep::Full).await {
            Ok(Some(session)) if self.uses_local_factors(session.record()) => Ok(Some(session)),
            Ok(_) | Err(AuthnError::InvalidSession(_) | AuthnError::Missing) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// `POST`: the form.
    async fn submit(&self, mut req: Request, page: AccountsPage) -> Result<Response, Failure> {
        // Sign-in and sign-up answer no sooner than the floor, whatever their work cost: the timer
        // starts now, before anything is read.
        let floor = match page {
            AccountsPage::SignIn | AccountsPage::SignUp => AnswerFloor::start(self.accounts.answer_floor_ms),
            _ => AnswerFloor::start(0),
        };
        let answer = self.answer(&mut req, page).await;
        floor.wait().await;
        answer
    }

    async fn answer(&self, req: &mut Request, page: AccountsPage) -> Result<Response, Failure> {
        let body = read_bounded(req, MAX_FORM_BYTES).await?;
        let fields: &'static [&'static str] = match page {
            AccountsPage::SignUp | AccountsPage::SignIn => &["email", "password"],
            AccountsPage::Forgot => &["email"],
            AccountsPage::Verify => &["token", "password"],
            AccountsPage::Reset => &["token", "password"],
            AccountsPage::ChangePassword => &["username", "current_password", "new_password"],
            AccountsPage::SecondFactor => &["code", "recovery_code"],
            AccountsPage::EnrolTotp => &["code", "enrolment"],
            AccountsPage::Security => &["action", "passkey", "name"],
        };
        let form = match Form::parse(&body, fields) {
            Ok(form) => form,
            Err(error) => return self.refused(page, &error.into(), &Typed::default()).await,
        };
        let return_to = self.return_to(form.optional("return_to"));
        let typed = Typed {
            email: form.optional("email").unwrap_or(""),
            tenant: form.optional("tenant").unwrap_or(""),
            return_to: &return_to,
            token: form.optional("token").unwrap_or(""),
            csrf_token: form.optional("csrf_token").unwrap_or(""),
        };
        if !csrf::from_own_origin(self.cx.head, &self.login.app_origins()) {
            return self.refused(page, &AccountError::CsrfRejected, &typed).await;
        }
        let outcome = match page {
            AccountsPage::SignUp => self.sign_up(&form).await,
            AccountsPage::Verify => self.verify(&form).await,
            AccountsPage::SignIn => self.sign_in(&form, &return_to).await,
            AccountsPage::Forgot => self.forgot(&form).await,
            AccountsPage::Reset => self.reset(&form).await,
            AccountsPage::ChangePassword => self.change_password(&form).await,
            AccountsPage::SecondFactor => self.second_factor(&form, &return_to).await,
            AccountsPage::EnrolTotp => self.enrol_totp(&form, &return_to).await,
            AccountsPage::Security => self.change_security(&form).await,
        };
        match outcome {
            Ok(response) => Ok(response),
            Err(Refusal::Page(error)) => self.refused(page, &error, &typed).await,
            Err(Refusal::Failure(failure)) => Err(failure),
        }
    }

    fn pepper(&self) -> Result<Option<SecretBytes>, Refusal> {
        let Some(name) = &self.accounts.pepper_secret else { return Ok(None) };
        match super::bindings::key_secret(self.env(), name) {
            Some(pepper) => Ok(Some(pepper)),
            None => {
                // Hashing without it would lock every account out: refuse until it is set.
                console_warn!("{}", serde_json::json!({ "event": "password_pepper_missing", "secret": name }));
                Err(Refusal::Page(AccountError::Unavailable))
            }
        }
    }

    /// The policy, then the breach check: a password that may be set, normalised.
    async fn acceptable(&self, password: &str, email: &str, tenant: &str) -> Result<AcceptedPassword, Refusal> {
        let words = accounts::context_words(email, tenant, &self.login.branding.name);
        let accepted = policy::check(password, &self.accounts.policy, &words, &CommonPasswords)
            .map_err(|failures| Refusal::Page(AccountError::Policy(failures)))?;
        if let Some((range_url, when_unavailable)) = &self.accounts.breach_check {
            match breach::check(&FetchClient, range_url, accepted.expose(), *when_unavailable).await {
                BreachVerdict::NotFound => {}
                BreachVerdict::Breached(times) => return Err(Refusal::Page(AccountError::Breached(times))),
                BreachVerdict::Unavailable => return Err(Refusal::Page(AccountError::BreachCheckUnavailable)),
            }
        }
        Ok(accepted)
    }

    fn hash(&self, accepted: &AcceptedPassword) -> Result<String, Refusal> {
        let pepper = self.pepper()?;
        hash::hash(accepted.expose(), pepper.as_ref(), self.accounts.hash, &SystemEntropy)
            .map(|stored| stored.as_str().to_owned())
            .map_err(|error| {
                console_warn!(
                    "{}",
                    serde_json::json!({ "event": "password_hash_failed", "reason": format!("{error:?}") })
                );
                Refusal::Page(AccountError::Unavailable)
            })
    }

    /// Verifies a password against a stored hash, or against the dummy hash when there is none.
    fn verify_password(&self, password: &str, stored: Option<&str>) -> Result<Option<Verified>, Refusal> {
        let pepper = self.pepper()?;
        let normalized = policy::normalize(password);
        let dummy = hash::dummy_hash(self.accounts.hash);
        let verdict =
            hash::verify(normalized.as_bytes(), pepper.as_ref(), stored.unwrap_or(&dummy), self.accounts.hash);
        match (stored, verdict) {
            (None, _) => Ok(None),
            (Some(_), Ok(verified)) => Ok(Some(verified)),
            (Some(_), Err(error)) => {
                console_warn!(
                    "{}",
                    serde_json::json!({ "event": "password_hash_unreadable", "reason": format!("{error:?}") })
                );
                Ok(Some(Verified::Mismatch))
            }
        }
    }

    pub(super) async fn throttle(
        &self,
        id: String,
        policy: ThrottlePolicy,
        op: ThrottleOp,
    ) -> Result<(Gate, bool), Refusal> {
        let request = ThrottleRequest { id, op, policy, now_ms: self.now_ms() };
        revocations::throttle(self.env(), &request).await.map(|answer| (answer.gate, answer.newly_locked)).map_err(
            |error| {
                console_warn!(
                    "{}",
                    serde_json::json!({ "event": "sign_in_throttle_unavailable", "reason": error.to_string() })
                );
                Refusal::Page(AccountError::Unavailable)
            },
        )
    }

    /// `POST sign-up`.
    async fn sign_up(&self, form: &Form) -> Result<Response, Refusal> {
        let tenant = self.tenant_of(form.optional("tenant")).map_err(Refusal::Page)?;
        let email = form.email().map_err(|e| Refusal::Page(e.into()))?;
        let password = form.required("password").map_err(|e| Refusal::Page(e.into()))?;
        if !tenant.allows_email(&email) {
            return Err(Refusal::Page(AccountError::EmailNotAllowed));
        }
        let accepted = self.acceptable(password, &email, &tenant.id).await?;
        let store = D1Accounts(self.env());
        let taken = store.email_taken(&tenant.id, &email).await.map_err(unavailable)?;
        // The hash runs either way, so that both answers take as long.
        let hashed = self.hash(&accepted)?;
        // At most one sign-up mail a minute to an address (against mail bombing): later sign-ups
        // in the minute get the same page and send nothing.
        let window = self.now_ms() / SIGN_UP_MAIL_INTERVAL_MS;
        let kind = if taken { "exists" } else { "verify" };
        let id = format!("sign-up-mail:{kind}:{}:{window}", accounts::account_throttle_id(&tenant.id, &email));
        // A lease on the minute's mail: held (completed) once the mail is sent, given back when it
        // could not be, so that "try again" can.
        let owner = URL_SAFE_NO_PAD.encode(SystemEntropy.bytes::<16>().map_err(unavailable)?);
        let ttl = SIGN_UP_MAIL_INTERVAL_MS * 2;
        let lease = revocations::claim(self.env(), ClaimOp::Lease, &id, ttl, &owner).await;
        // Every sign-up is kept as a pending one (at most five an address): the one mailed link
        // proves the mailbox, and the password typed at confirmation picks the sign-up it was chosen
        // for. So someone who signs up with another person's address every minute neither blocks
        // that person's own sign-up nor gets the account. A taken address does the same store work.
        let pending = if taken {
            store.touch_links(self.now_ms()).await.map_err(unavailable)?;
            None
        } else {
            Some(self.save_pending(tenant, &email, hashed).await?)
        };
        let sent = match (lease, &pending) {
            (Err(error), _) => Err(unavailable(crate::ports::Unavailable::because(error))),
            (Ok(false), _) => {
                audit_login(
                    self.cx,
                    "sign_up_requested",
                    Some(PASSWORD_PROVIDER),
                    None,
                    "mail already sent this minute",
                );
                Ok(())
            }
            (Ok(true), None) => self.mail().send(MailKind::AccountExists, &email, &[]).await,
            (Ok(true), Some(link)) => {
                let url = self.mail().page_url("verify", &[("tenant", &tenant.id), ("token", link.expose())]);
                self.mail().send(MailKind::Verify, &email, &[("link", url)]).await
            }
        };
        let settle = if sent.is_ok() { ClaimOp::Complete } else { ClaimOp::Release };
        let _ = revocations::claim(self.env(), settle, &id, ttl, &owner).await;
        if let (Err(_), Some(link)) = (&sent, &pending) {
            // No mail, no pending sign-up: nothing half-made stays.
            let _ = store.drop_link(&link.digest()).await;
        }
        sent?;
        audit_login(self.cx, "sign_up_requested", Some(PASSWORD_PROVIDER), None, "verification mail sent");
        let sign_in = format!("{}/accounts/sign-in?tenant={}", self.prefix(), tenant.id);
        self.message(
            200,
            "Check your email",
            "We sent a link to finish creating your account. It works once, for a limited time.",
            (&sign_in, "Back to sign-in"),
            &[],
        )
        .await
        .map_err(Refusal::Failure)
    }

    /// Keeps a sign-up, pending its confirmation, under a fresh link (returned, for the mail).
    async fn save_pending(&self, tenant: &AccountTenant, email: &str, hashed: String) -> Result<LinkToken, Refusal> {
        let link = LinkToken::generate(&SystemEntropy).map_err(unavailable)?;
        let now = self.now_ms();
        let stored = StoredLink {
            purpose: Purpose::Verify,
            tenant: tenant.id.clone(),
            email: email.to_owned(),
            user_id: None,
            pending_hash: Some(hashed),
            credential_changed_at_ms: None,
            expires_at_ms: now + self.accounts.link_lifetime_ms,
        };
        D1Accounts(self.env()).save_link(&link.digest(), &stored, now).await.map_err(unavailable)?;
        Ok(link)
    }

    /// Spends a link once: its stored record, checked for `purpose` (and, for a reset, against the
    /// user's current password).
    async fn open_link(
        &self,
        form: &Form,
        purpose: Purpose,
    ) -> Result<(String, StoredLink, Option<Credential>), Refusal> {
        let presented = form.required("token").map_err(|_| Refusal::Page(AccountError::LinkInvalid))?;
        let digest = token::presented_digest(presented).ok_or(Refusal::Page(AccountError::LinkInvalid))?;
        let store = D1Accounts(self.env());
        let link = store.link(&digest).await.map_err(unavailable)?;
        let credential = match (&link, purpose) {
            (Some(StoredLink { tenant, user_id: Some(user), .. }), Purpose::Reset) => {
                store.credential_of(tenant, user).await.map_err(unavailable)?
            }
            _ => None,
        };
        let changed_at = credential.as_ref().map(|c| c.changed_at_ms);
        check_link(link.as_ref(), purpose, self.now_ms(), changed_at)
            .map_err(|_| Refusal::Page(AccountError::LinkInvalid))?;
        let link = link.ok_or(Refusal::Page(AccountError::LinkInvalid))?;
        if purpose == Purpose::Reset && credential.is_none() {
            return Err(Refusal::Page(AccountError::LinkInvalid));
        }
        Ok((digest, link, credential))
    }

    /// Takes the link for this use, everywhere at once (`LinkInvalid` when it is used already). The
    /// use then either completes, which spends the link for good, or fails and gives it back, so
    /// that a store outage midway does not burn a link whose work was not done.
    async fn take_link(&self, digest: &str) -> Result<LinkUse, Refusal> {
        let ttl = self.accounts.link_lifetime_ms * 2;
        let owner = URL_SAFE_NO_PAD.encode(SystemEntropy.bytes::<16>().map_err(unavailable)?);
        let id = token::once_id(digest);
        match revocations::claim(self.env(), ClaimOp::Lease, &id, ttl, &owner).await {
            Ok(true) => Ok(LinkUse { id, owner, ttl }),
            Ok(false) => Err(Refusal::Page(AccountError::LinkInvalid)),
            Err(_) => Err(Refusal::Page(AccountError::Unavailable)),
        }
    }

    /// Ends a link's use: spent when the work was done, given back otherwise.
    async fn settle_link<T>(&self, taken: LinkUse, outcome: Result<T, Refusal>) -> Result<T, Refusal> {
        let op = if outcome.is_ok() { ClaimOp::Complete } else { ClaimOp::Release };
        let _ = revocations::claim(self.env(), op, &taken.id, taken.ttl, &taken.owner).await;
        outcome
    }

    /// A link's own attempt counter: five wrong passwords void a confirmation link.
    async fn link_attempt(&self, digest: &str) -> Result<(), Refusal> {
        let lifetime = self.accounts.link_lifetime_ms;
        let policy = ThrottlePolicy {
            free_failures: 5,
            base_delay_ms: 0,
            lock_after: 5,
            lock_ms: lifetime,
            window_ms: lifetime,
        };
        match self.throttle(format!("verify-link:{digest}"), policy, ThrottleOp::Attempt).await? {
            (Gate::Open, _) => Ok(()),
            _ => Err(Refusal::Page(AccountError::LinkInvalid)),
        }
    }

    /// `POST verify`: the account exists from here on.
    async fn verify(&self, form: &Form) -> Result<Response, Refusal> {
        let (digest, link, _) = self.open_link(form, Purpose::Verify).await?;
        // The configuration may have changed since the sign-up.
        let tenant = self.accounts.tenant(Some(&link.tenant)).ok_or(Refusal::Page(AccountError::LinkInvalid))?;
        if !tenant.allows_email(&link.email) {
            return Err(Refusal::Page(AccountError::EmailNotAllowed));
        }
        // The link proves the mailbox; the password proves which sign-up this is (someone else may
        // have signed up with the same address and a password of their own, waiting for its owner
        // to confirm it). A link takes five wrong passwords, then is void.
        let password = form.required("password").map_err(|e| Refusal::Page(e.into()))?;
        self.link_attempt(&digest).await?;
        let store = D1Accounts(self.env());
        let candidates = store.pending_hashes(&link.tenant, &link.email, self.now_ms()).await.map_err(unavailable)?;
        let mut chosen = None;
        for hash in candidates {
            if matches!(self.verify_password(password, Some(&hash))?, Some(Verified::Match { .. })) {
                chosen = Some(hash);
                break;
            }
        }
        let hash = chosen.ok_or(Refusal::Page(AccountError::Incorrect))?;
        let taken = self.take_link(&digest).await?;
        let user_id = new_user_id(&SystemEntropy).map_err(unavailable)?;
        let created =
            store.create(&link.tenant, &user_id, &link.email, &hash, self.now_ms()).await.map_err(unavailable);
        let created = self.settle_link(taken, created).await?;
        let _ = store.drop_pending(&link.tenant, &link.email).await;
        if created == Created::EmailTaken {
            return Err(Refusal::Page(AccountError::EmailInUse));
        }
        audit_login(self.cx, "account_created", Some(PASSWORD_PROVIDER), Some(&user_id), "email verified");
        let sign_in = format!("{}/accounts/sign-in?tenant={}", self.prefix(), link.tenant);
        self.message(
            200,
            "Email confirmed",
            "Your account is ready. Sign in with your email and password.",
            (&sign_in, "Sign in"),
            &[],
        )
        .await
        .map_err(Refusal::Failure)
    }

    /// `POST sign-in`.
    async fn sign_in(&self, form: &Form, return_to: &str) -> Result<Response, Refusal> {
        let tenant = self.tenant_of(form.optional("tenant")).map_err(Refusal::Page)?;
        let email = form.email().map_err(|e| Refusal::Page(e.into()))?;
        let password = form.required("password").map_err(|e| Refusal::Page(e.into()))?;
        let client_ip = self.cx.head.header("cf-connecting-ip").unwrap_or("unknown").to_owned();
        let ip_key = accounts::ip_throttle_id(&client_ip);
        // A browser that signed in to this account before counts on its own counter, so that
        // strangers who lock the email do not lock its owner out of it.
        let login_key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        let store = D1Accounts(self.env());
        let credential = store.credential_by_email(&tenant.id, &email).await.map_err(unavailable)?;
        // An email outside the tenant's domains signs in to nothing (its domain was narrowed).
        let credential = credential.filter(|_| tenant.allows_email(&email));
        let known_device = self
            .cx
            .head
            .header("cookie")
            .and_then(|header| session::cookie_value(header, device::COOKIE_NAME))
            .zip(credential.as_ref())
            .and_then(|(value, credential)| {
                device::recognise(&login_key, &value, device_binding(&tenant.id, credential))
            });
        let account_key = match &known_device {
            Some(id) => format!("{}:device:{id}", accounts::account_throttle_id(&tenant.id, &email)),
            None => accounts::account_throttle_id(&tenant.id, &email),
        };
        // Each attempt is counted as the ledger lets it through, before its password is checked:
        // first against the IP, then (only if the IP may try) against the email, so that attempts
        // an IP is refused never lock anyone's account.
        let (ip_gate, _) = self.throttle(ip_key.clone(), self.accounts.ip_throttle, ThrottleOp::Attempt).await?;
        let (account_gate, locked_now) = if ip_gate == Gate::Open {
            self.throttle(account_key.clone(), self.accounts.account_throttle, ThrottleOp::Attempt).await?
        } else {
            (Gate::Open, false)
        };
        let both_open = ip_gate == Gate::Open && account_gate == Gate::Open;
        // The hash runs for every attempt the gates let through, account or not.
        let verified = if both_open {
            self.verify_password(password, credential.as_ref().map(|c| c.hash.as_str()))?
        } else {
            None
        };
        let attempt = Attempt {
            ip: ip_gate,
            account: account_gate,
            verified,
            active: credential.as_ref().is_some_and(|c| c.active),
        };
        let outcome = accounts::decide_sign_in(attempt, self.now_ms());
        // This attempt locked the email, and did not sign in: its owner is told, once.
        if let (true, Some(credential)) =
            (locked_now && !matches!(outcome, SignInOutcome::SignedIn { .. }), &credential)
        {
            let minutes = (self.accounts.account_throttle.lock_ms / 60_000).to_string();
            self.send_later(MailKind::Locked, credential.email.clone(), vec![("minutes", minutes)]);
            audit_login(
                self.cx,
                "account_locked",
                Some(PASSWORD_PROVIDER),
                Some(&credential.user_id),
                "too many failures",
            );
        }
        match outcome {
            SignInOutcome::Wait { retry_after_s } => {
                audit_login(self.cx, "login_failed", Some(PASSWORD_PROVIDER), None, "throttled");
                Err(Refusal::Page(AccountError::Wait(retry_after_s)))
            }
            SignInOutcome::Incorrect => {
                let subject = credential.as_ref().map(|c| c.user_id.as_str());
                audit_login(self.cx, "login_failed", Some(PASSWORD_PROVIDER), subject, "email or password incorrect");
                Err(Refusal::Page(AccountError::Incorrect))
            }
            SignInOutcome::Disabled => {
                let subject = credential.as_ref().map(|c| c.user_id.as_str());
                audit_login(self.cx, "login_failed", Some(PASSWORD_PROVIDER), subject, "account disabled");
                Err(Refusal::Page(AccountError::Disabled))
            }
            SignInOutcome::SignedIn { needs_rehash } => {
                let credential = credential.ok_or(Refusal::Page(AccountError::Incorrect))?;
                let _ = futures_util::future::join(
                    self.throttle(account_key, self.accounts.account_throttle, ThrottleOp::Clear),
                    self.throttle(ip_key, self.accounts.ip_throttle, ThrottleOp::Refund),
                )
                .await;
                if needs_rehash {
                    self.rehash_later(&tenant.id, &credential, password);
                }
                let mut cookies = Vec::new();
                if known_device.is_none() {
                    let id: [u8; 16] = SystemEntropy.bytes().map_err(unavailable)?;
                    cookies.push(device::set_cookie(&device::value(
                        &login_key,
                        &id,
                        device_binding(&tenant.id, &credential),
                    )));
                }
                // The password passed; a second factor may be due before any session exists.
                let enrolled =
                    D1Factors(self.env()).enrolled(&tenant.id, &credential.user_id).await.map_err(unavailable)?;
                match factors::after_first_factor(self.accounts.requires_mfa(tenant), enrolled) {
                    NextStep::Session => {}
                    next => return self.start_second_factor(&tenant.id, &credential, next, return_to, cookies),
                }
                let session_cookie =
                    self.issue_session(&tenant.id, &credential, (vec![AMR_PASSWORD.into()], None), None).await?;
                cookies.insert(0, session_cookie);
                self.signed_in(&credential, "session created");
                self.see_other(return_to, &cookies).map_err(Refusal::Failure)
            }
        }
    }

    /// What follows every completed sign-in: the owner's notice (when configured) and the audit.
    pub(super) fn signed_in(&self, credential: &Credential, outcome: &str) {
        if self.accounts.notify_sign_in {
            let extra = vec![
                ("ip", self.cx.head.header("cf-connecting-ip").unwrap_or("unknown").to_owned()),
                ("user_agent", self.cx.head.header("user-agent").unwrap_or("unknown").to_owned()),
            ];
            self.send_later(MailKind::NewSignIn, credential.email.clone(), extra);
        }
        audit_login(self.cx, "login_succeeded", Some(PASSWORD_PROVIDER), Some(&credential.user_id), outcome);
    }

    /// Rehashes a password with the configured parameters after the response.
    /// The hash runs after the response, not on the sign-in's own time.
    fn rehash_later(&self, tenant: &str, credential: &Credential, password: &str) {
        let Ok(pepper) = self.pepper() else { return };
        let normalized = SecretString::new(policy::normalize(password));
        let params = self.accounts.hash;
        let env = self.env().clone();
        let (tenant, user, old) = (tenant.to_owned(), credential.user_id.clone(), credential.hash.clone());
        self.cx.ctx.wait_until(async move {
            let fresh = match hash::hash(normalized.expose().as_bytes(), pepper.as_ref(), params, &SystemEntropy) {
                Ok(fresh) => fresh,
                Err(error) => {
                    console_warn!(
                        "{}",
                        serde_json::json!({ "event": "password_rehash_failed", "reason": format!("{error:?}") })
                    );
                    return;
                }
            };
            if let Err(reason) = D1Accounts(&env).rehash(&tenant, &user, &old, fresh.as_str()).await {
                console_warn!("{}", serde_json::json!({ "event": "password_rehash_failed", "reason": reason.0 }));
            }
        });
    }

    /// A new session for the account (the browser's previous one ends), created at or after
    /// `not_before_ms` (after a revocation of the user's sessions, so that it survives it).
    /// `amr` and `auth_time_s`: how and when the user authenticated (`None`: just now).
    pub(super) async fn issue_session(
        &self,
        tenant: &str,
        credential: &Credential,
        (amr, auth_time_s): (Vec<String>, Option<i64>),
        not_before_ms: Option<u64>,
    ) -> Result<String, Refusal> {
        let scope = TenantScope::of(tenant);
        let directory = D1Directory(self.env());
        let user = directory.user(&scope, &credential.user_id).await.map_err(unavailable)?;
        let user = user.ok_or(Refusal::Page(AccountError::Incorrect))?;
        let mappings = directory.role_mappings(&scope).await.map_err(unavailable)?;
        let policy = &self.login.session;
        let now_ms = self.now_ms().max(not_before_ms.map_or(0, |at| at + 1));
        let now_s = (now_ms / 1000) as i64;
        let record = SessionRecord {
            subject: credential.user_id.clone(),
            email: Some(credential.email.clone()),
            name: user.name.clone(),
            groups: user.groups.clone(),
            tenant: Some(tenant.to_owned()),
            provider: PASSWORD_PROVIDER.into(),
            created_at_s: now_s,
            created_at_ms: now_ms as i64,
            last_seen_s: now_s,
            expires_at_s: now_s + policy.absolute_lifetime_s,
            tokens: None,
            user_id: Some(credential.user_id.clone()),
            directory_roles: roles_for(&user.groups, &mappings),
            connection_issuer: None,
            amr,
            acr: None,
            auth_time_s: auth_time_s.unwrap_or(now_s),
            authentication_vouched: false,
            saml: None,
            attributes: Default::default(),
        };
        self.replace_session(&record, policy.absolute_lifetime_s as u64).await
    }

    /// Stores `record` as the browser's new session (under a fresh id; the previous one ends),
    /// and returns its `Set-Cookie`, living `max_age_s`.
    pub(super) async fn replace_session(&self, record: &SessionRecord, max_age_s: u64) -> Result<String, Refusal> {
        sessions::end_previous(self.env(), self.cx.config, self.cx.head).await;
        let store = KvSessions {
            env: self.env(),
            client_ip: self.cx.head.header("cf-connecting-ip"),
            user_agent: self.cx.head.header("user-agent"),
        };
        let cookie = store.create(record).await.map_err(unavailable)?;
        Ok(cookie.set_cookie(max_age_s))
    }

    /// `POST forgot`: always the same answer; a link goes out only to an active account, at most
    /// once a minute per email, after the response.
    async fn forgot(&self, form: &Form) -> Result<Response, Refusal> {
        let tenant = self.tenant_of(form.optional("tenant")).map_err(Refusal::Page)?.clone();
        let email = form.email().map_err(|e| Refusal::Page(e.into()))?;
        let (env, login, accounts) = (self.env().clone(), self.login.clone(), self.accounts.clone());
        let prefix = self.prefix().to_owned();
        self.cx.ctx.wait_until(async move {
            let mail = Mail { env: &env, login: &login, accounts: &accounts, prefix: &prefix };
            if let Err(reason) = mail.send_reset_link(&tenant, &email).await {
                console_warn!("{}", serde_json::json!({ "event": "reset_link_not_sent", "reason": reason }));
            }
        });
        audit_login(self.cx, "password_reset_requested", Some(PASSWORD_PROVIDER), None, "answered");
        let sign_in = format!("{}/accounts/sign-in?tenant={}", self.prefix(), form.optional("tenant").unwrap_or(""));
        self.message(
            200,
            "Check your email",
            "If that email has an account, we sent it a link to choose a new password.",
            (&sign_in, "Back to sign-in"),
            &[],
        )
        .await
        .map_err(Refusal::Failure)
    }

    /// `POST reset`: a new password; every session of the user ends.
    async fn reset(&self, form: &Form) -> Result<Response, Refusal> {
        let (digest, link, credential) = self.open_link(form, Purpose::Reset).await?;
        // A link made before the user was blocked (or its tenant lost local accounts) is void.
        let credential = credential.filter(|c| c.active).ok_or(Refusal::Page(AccountError::LinkInvalid))?;
        let tenant = self.accounts.tenant(Some(&link.tenant)).ok_or(Refusal::Page(AccountError::LinkInvalid))?;
        if !tenant.allows_email(&credential.email) {
            return Err(Refusal::Page(AccountError::LinkInvalid));
        }
        let password = form.required("password").map_err(|e| Refusal::Page(e.into()))?;
        // The rules come before the link is spent: a refused password may be retried with it.
        let accepted = self.acceptable(password, &credential.email, &link.tenant).await?;
        let hashed = self.hash(&accepted)?;
        let taken = self.take_link(&digest).await?;
        let replaced = self.replace_password(&link.tenant, &credential, &hashed).await;
        self.settle_link(taken, replaced).await?;
        let _ = D1Accounts(self.env()).drop_link(&digest).await;
        let account_key = accounts::account_throttle_id(&link.tenant, &credential.email);
        let _ = self.throttle(account_key, self.accounts.account_throttle, ThrottleOp::Clear).await;
        audit_login(
            self.cx,
            "password_reset",
            Some(PASSWORD_PROVIDER),
            Some(&credential.user_id),
            "every session ended",
        );
        let sign_in = format!("{}/accounts/sign-in?tenant={}", self.prefix(), link.tenant);
        self.message(
            200,
            "Password changed",
            "Your new password is set, and every session signed in with the old one has ended. Sign in again.",
            (&sign_in, "Sign in"),
            &[],
        )
        .await
        .map_err(Refusal::Failure)
    }

    /// Ends every session of the user, then stores the new password; the owner is told. In that
    /// order: a failure midway leaves the old password with no sessions, never the new password
    /// with the old sessions alive. Answers when the sessions were ended.
    async fn replace_password(&self, tenant: &str, credential: &Credential, hashed: &str) -> Result<u64, Refusal> {
        // Every session of the user ends: its password sessions, and those of any identity linked to
        // it (an SSO login of the same user).
        let scope = TenantScope::of(tenant);
        let mut identities =
            D1Directory(self.env()).identities(&scope, &credential.user_id).await.map_err(unavailable)?;
        let own = (PASSWORD_PROVIDER.to_owned(), credential.user_id.clone());
        if !identities.contains(&own) {
            identities.push(own);
        }
        let mut revoked_at = 0;
        for (connection, subject) in &identities {
            let at = sessions::revoke_subject(self.env(), connection, subject)
                .await
                .map_err(|()| Refusal::Page(AccountError::Unavailable))?;
            revoked_at = revoked_at.max(at);
        }
        let store = D1Accounts(self.env());
        if !store.set_password(tenant, &credential.user_id, hashed, self.now_ms()).await.map_err(unavailable)? {
            return Err(Refusal::Page(AccountError::LinkInvalid));
        }
        self.send_later(MailKind::PasswordChanged, credential.email.clone(), Vec::new());
        Ok(revoked_at)
    }

    /// `POST password`: the signed-in account's new password; its other sessions end, this one
    /// goes on in a fresh session.
    async fn change_password(&self, form: &Form) -> Result<Response, Refusal> {
        let session = self.password_session().await.map_err(Refusal::Failure)?;
        let Some(session) = session else {
            return self.to_sign_in("password").map_err(Refusal::Failure);
        };
        let key = login_secret(self.env(), self.cx.config, self.login).map_err(Refusal::Failure)?;
        let presented = form.optional("csrf_token").unwrap_or("");
        if !csrf::token_matches(&key, &session.kv_key(), presented) {
            return Err(Refusal::Page(AccountError::CsrfRejected));
        }
        let record = session.record();
        let tenant = record.tenant.clone().ok_or(Refusal::Page(AccountError::UnknownTenant))?;
        let store = D1Accounts(self.env());
        let credential = store.credential_of(&tenant, &record.subject).await.map_err(unavailable)?;
        let credential = credential.ok_or(Refusal::Page(AccountError::Incorrect))?;
        let current = form.required("current_password").map_err(|e| Refusal::Page(e.into()))?;
        let new = form.required("new_password").map_err(|e| Refusal::Page(e.into()))?;
        // Someone holding a stolen session guesses the current password no faster than a sign-in,
        // on the session's own counter (a stranger's lock of the email does not stop its owner).
        let account_key = format!(
            "{}:session:{}",
            accounts::account_throttle_id(&tenant, &credential.email),
            crate::secret::sha256_hex(&session.kv_key())
        );
        let (gate, _) = self.throttle(account_key.clone(), self.accounts.account_throttle, ThrottleOp::Attempt).await?;
        if let Gate::Wait { until_ms } | Gate::Locked { until_ms } = gate {
            return Err(Refusal::Page(AccountError::Wait(crate::accounts::throttle::wait_s(until_ms, self.now_ms()))));
        }
        if !matches!(self.verify_password(current, Some(&credential.hash))?, Some(Verified::Match { .. })) {
            return Err(Refusal::Page(AccountError::Incorrect));
        }
        let _ = self.throttle(account_key, self.accounts.account_throttle, ThrottleOp::Clear).await;
        let accepted = self.acceptable(new, &credential.email, &tenant).await?;
        let hashed = self.hash(&accepted)?;
        let revoked_at = self.replace_password(&tenant, &credential, &hashed).await?;
        // The new session keeps how and when this one authenticated: the password was proven
        // again, but no second factor was, so nothing looks fresher than it is.
        let how = (record.amr.clone(), Some(record.auth_time_s));
        let cookie = self.issue_session(&tenant, &credential, how, Some(revoked_at)).await?;
        audit_login(
            self.cx,
            "password_changed",
            Some(PASSWORD_PROVIDER),
            Some(&credential.user_id),
            "other sessions ended",
        );
        self.message(
            200,
            "Password changed",
            "Your new password is set. Every other session has ended; this one goes on.",
            ("/", "Continue"),
            &[cookie],
        )
        .await
        .map_err(Refusal::Failure)
    }
}

/// The least time an answer takes: a timer started as the request arrived (a wait, not CPU).
struct AnswerFloor(Option<wasm_bindgen_futures::JsFuture>);

impl AnswerFloor {
    fn start(ms: u64) -> Self {
        if ms == 0 {
            return Self(None);
        }
        // The promise's executor runs now, so the timer starts now, not when it is awaited.
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            use wasm_bindgen::JsCast;
            let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms.min(5_000) as i32);
        });
        Self(Some(wasm_bindgen_futures::JsFuture::from(promise)))
    }

    async fn wait(self) {
        if let Some(timer) = self.0 {
            let _ = timer.await;
        }
    }
}

/// What a device cookie of this account is bound to.
fn device_binding<'a>(tenant: &'a str, credential: &'a Credential) -> device::Binding<'a> {
    device::Binding { tenant, user_id: &credential.user_id, password_changed_at_ms: credential.changed_at_ms }
}

/// A link taken for one use (a lease in the ledger).
struct LinkUse {
    id: String,
    owner: String,
    ttl: u64,
}

/// How a submission was refused: its page again with the reason, or a failure for the caller.
pub(super) enum Refusal {
    Page(AccountError),
    Failure(Failure),
}

pub(super) fn unavailable(reason: crate::ports::Unavailable) -> Refusal {
    console_warn!("{}", serde_json::json!({ "event": "accounts_store_unavailable", "reason": reason.0 }));
    Refusal::Page(AccountError::Unavailable)
}

/// What sending mail needs, borrowed from the request or owned by work after the response.
struct Mail<'a> {
    env: &'a Env,
    login: &'a LoginConfig,
    accounts: &'a LocalAccounts,
    prefix: &'a str,
}

impl Mail<'_> {
    /// An absolute URL of an account page, for emails.
    fn page_url(&self, page: &str, query: &[(&str, &str)]) -> String {
        let origin = self.login.own_origin().unwrap_or_default();
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        format!("{origin}{}/accounts/{page}{query}", self.prefix)
    }

    /// Renders and sends one email.
    async fn send(&self, kind: MailKind, to: &str, extra: &[(&str, String)]) -> Result<(), Refusal> {
        let name = kind.template();
        let text = template(self.env, &format!("/mail/{name}.txt")).await.map_err(Refusal::Failure)?;
        let html = template(self.env, &format!("/mail/{name}.html")).await.map_err(Refusal::Failure)?;
        let mut values = vec![
            ("brand_name", self.login.branding.name.clone()),
            ("brand_color", self.login.branding.primary_color.clone()),
            ("minutes", (self.accounts.link_lifetime_ms / 60_000).to_string()),
            ("sign_in", self.page_url("sign-in", &[])),
            ("forgot", self.page_url("forgot", &[])),
        ];
        values.extend(extra.iter().cloned());
        let message =
            mail::render(kind, to, &text, &html, &values).map_err(|_| Refusal::Failure(Failure::Unavailable))?;
        WorkerMailer { env: self.env, config: &self.accounts.mail }.send(&message).await.map_err(|reason| {
            console_warn!("{}", serde_json::json!({ "event": "mail_send_failed", "kind": name, "reason": reason.0 }));
            Refusal::Page(AccountError::MailUnavailable)
        })
    }

    /// Sends a reset link to an active account with this email, at most one a minute.
    async fn send_reset_link(&self, tenant: &AccountTenant, email: &str) -> Result<(), String> {
        let store = D1Accounts(self.env);
        let Some(credential) = store.credential_by_email(&tenant.id, email).await.map_err(|e| e.0)? else {
            return Ok(());
        };
        if !credential.active || !tenant.allows_email(email) {
            return Ok(());
        }
        let once = format!("reset-mail:{}", accounts::account_throttle_id(&tenant.id, email));
        let ledger = DurableLedger(self.env);
        // One id per minute-long window: a flood of requests sends one link a minute.
        let window = WorkerClock.now_ms() / RESET_MAIL_INTERVAL_MS;
        if !ledger.claim_once(&format!("{once}:{window}"), RESET_MAIL_INTERVAL_MS * 2).await.map_err(|e| e.0)? {
            return Ok(());
        }
        let link = LinkToken::generate(&SystemEntropy).map_err(|e| e.0)?;
        let now = WorkerClock.now_ms();
        let stored = StoredLink {
            purpose: Purpose::Reset,
            tenant: tenant.id.clone(),
            email: credential.email.clone(),
            user_id: Some(credential.user_id.clone()),
            pending_hash: None,
            credential_changed_at_ms: Some(credential.changed_at_ms),
            expires_at_ms: now + self.accounts.link_lifetime_ms,
        };
        store.save_link(&link.digest(), &stored, now).await.map_err(|e| e.0)?;
        let url = self.page_url("reset", &[("tenant", &tenant.id), ("token", link.expose())]);
        self.send(MailKind::Reset, &credential.email, &[("link", url)]).await.map_err(|_| "mail".to_owned())
    }
}
