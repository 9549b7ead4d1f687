//! Browser sessions in the worker: the KV store, the session authenticator, refresh of the
//! provider's access token, and logout or revocation that take effect at once.
//!
//! - KV holds the sealed record (see [`crate::session`]). An isolate trusts a record it loaded,
//!   with its revocation state, for `login.session.cache_ttl_s` (default 10 s).
//! - Logout and revocation write the `KeyRevocations` Durable Object before anything else, so once
//!   they answer, every cache miss anywhere sees them: a logged-out session works nowhere after
//!   `cache_ttl_s`, and not at all in the isolate that served the logout. KV's own replication
//!   delay (up to about 60 s) never matters.
//! - Refresh is single-flight: within an isolate by polling a flag, across isolates by a lease in
//!   the Durable Object; requests that lose the race keep using the current token while it is
//!   valid, and otherwise wait for the winner's record.

use super::adapters::FetchClient;
use super::bindings::KV_BINDING;
use super::deadline::{store_call, within, TimedOut};
use super::key_revocations::client as revocations;
use super::providers;
use crate::accounts;
use crate::authn::principal::Principal;
use crate::authn::{session as session_authn, AuthnError, Dependency};
use crate::cache::BoundedCache;
use crate::config::Config;
use crate::http::RequestHead;
use crate::ledger::ClaimOp;
use crate::login::config::LoginConfig;
use crate::login::error::LoginError;
use crate::login::flow::saml_logout;
use crate::login::provider::Provider;
use crate::login::provider_api::{self, Grant};
use crate::login::session_upkeep;
use crate::ports::{Entropy, SystemEntropy, Unavailable};
use crate::secret::SecretString;
use crate::session::index::{self, SessionSummary};
use crate::session::store::SessionStore;
use crate::session::{
    after_refresh_failure, cookie_value, is_revoked, AfterRefreshFailure, RefreshFailure, SessionCookie, SessionError,
    SessionRecord, UpstreamTokens, COOKIE_NAME,
};
use std::cell::RefCell;
use std::time::Duration;
use worker::{console_warn, Context, Delay, Env};

/// How long a refresh lease lasts. The leader gives up its provider calls [`LEASE_MARGIN_MS`]
/// before the lease ends (each call alone may take up to 20 s), so that two isolates never
/// redeem the same refresh token at once.
const REFRESH_LEASE_MS: u64 = 25_000;
/// What the leader keeps of its lease for writing the refreshed record.
const LEASE_MARGIN_MS: u64 = 5_000;
/// After a refresh, how long the lease stays closed: other isolates may hold the old record for
/// `cache_ttl_s`, and KV may show it elsewhere for up to about 60 s.
const SETTLING_MS: u64 = 60_000;
/// The most sessions an isolate keeps in memory.
const MAX_CACHED: usize = 10_000;
const POLL_MS: u64 = 20;

struct Cached {
    sealed: Vec<u8>,
    session_revoked_at_ms: Option<u64>,
    subject_revoked_at_ms: Option<u64>,
}

thread_local! {
    /// Sealed records and their revocation state, each for `session.cache_ttl_s`.
    static CACHE: RefCell<BoundedCache<String, Cached>> = RefCell::new(BoundedCache::new(MAX_CACHED));
    /// Sessions this isolate is refreshing, each for at most a lease.
    static REFRESHING: RefCell<BoundedCache<String, ()>> = RefCell::new(BoundedCache::new(MAX_CACHED));
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn now_s() -> i64 {
    (now_ms() / 1000.0) as i64
}

/// A session whose cookie opened a live record: only [`open`] makes one, and its principal is
/// always the one its final record (after any refresh) stands for.
pub struct LiveSession {
    cookie: SessionCookie,
    record: SessionRecord,
    principal: Principal,
}

impl LiveSession {
    /// The record.
    pub fn record(&self) -> &SessionRecord {
        &self.record
    }

    /// Who the session stands for.
    pub fn into_principal(self) -> Principal {
        self.principal
    }

    /// The KV key, which also names the session in revocations and logs.
    pub fn kv_key(&self) -> String {
        self.cookie.kv_key()
    }
}

/// The id under which all of a user's sessions are revoked.
fn subject_id(provider: &str, subject: &str) -> String {
    format!("{}{}", crate::ledger::SUBJECT_REVOCATION_PREFIX, index::subject_tag(provider, subject))
}

async fn read_sealed(env: &Env, kv_key: &str) -> Result<Option<Vec<u8>>, AuthnError> {
    let kv = env.kv(KV_BINDING).map_err(|_| AuthnError::Unavailable(Dependency::SessionStore))?;
    store_call(kv.get(kv_key).bytes()).await.map_err(|error| {
        console_warn!("{}", serde_json::json!({ "event": "session_store_unavailable", "reason": error.to_string() }));
        AuthnError::Unavailable(Dependency::SessionStore)
    })
}

/// Writes a record under the cookie's KV key, expiring with the session.
async fn write(env: &Env, cookie: &SessionCookie, record: &SessionRecord) -> Result<Vec<u8>, ()> {
    let nonce = SystemEntropy.bytes::<12>().map_err(|_| ())?;
    let sealed = cookie.seal(record, &nonce);
    let ttl_s = (record.expires_at_s - now_s()).max(60) as u64;
    let kv = env.kv(KV_BINDING).map_err(|_| ())?;
    store_call(kv.put_bytes(&cookie.kv_key(), &sealed).map_err(|_| ())?.expiration_ttl(ttl_s).execute())
        .await
        .map_err(|error| {
            console_warn!("{}", serde_json::json!({ "event": "session_write_failed", "reason": error.to_string() }));
        })?;
    Ok(sealed)
}

fn remember(
    kv_key: &str,
    sealed: Vec<u8>,
    session_revoked_at_ms: Option<u64>,
    subject_revoked_at_ms: Option<u64>,
    ttl_ms: u64,
) {
    let entry = Cached { sealed, session_revoked_at_ms, subject_revoked_at_ms };
    let now = now_ms() as u64;
    CACHE.with(|cache| cache.borrow_mut().insert(kv_key.to_owned(), entry, now + ttl_ms, now));
}

fn forget(kv_key: &str) {
    CACHE.with(|cache| cache.borrow_mut().remove(kv_key));
}

/// Drops this isolate's cached state of the session a cookie value names, so that the next
/// check reads KV and asks the revocation Durable Object.
pub fn forget_cached(value: &str) {
    if let Ok(cookie) = SessionCookie::from_value(value) {
        forget(&cookie.kv_key());
    }
}

/// Reads the sealed record and its revocation state (cache, or KV then the Durable Object).
async fn load(env: &Env, cookie: &SessionCookie, login: &LoginConfig) -> Result<SessionRecord, AuthnError> {
    let kv_key = cookie.kv_key();
    let ttl_ms = login.session.cache_ttl_s.max(0) as u64 * 1000;
    let now = now_ms() as u64;
    let cached = CACHE.with(|cache| {
        cache
            .borrow_mut()
            .get(&kv_key, now)
            .map(|entry| (entry.sealed.clone(), entry.session_revoked_at_ms, entry.subject_revoked_at_ms))
    });
    let (sealed, session_revoked, subject_revoked, fresh) = match cached {
        Some((sealed, session, subject)) => (sealed, session, subject, false),
        None => {
            let sealed = read_sealed(env, &kv_key).await?.ok_or(AuthnError::InvalidSession(SessionError::Unknown))?;
            (sealed, None, None, true)
        }
    };
    let record = cookie.open(&sealed).map_err(AuthnError::InvalidSession)?;
    let (session_revoked, subject_revoked) = if fresh {
        let subject_key = subject_id(&record.provider, &record.subject);
        let statuses = revocations::statuses(env, &subject_key, &[kv_key.as_str(), subject_key.as_str()])
            .await
            .map_err(|error| {
                console_warn!(
                    "{}",
                    serde_json::json!({ "event": "session_revocations_unavailable", "reason": error.to_string() })
                );
                AuthnError::Unavailable(Dependency::Revocations)
            })?;
        let session = statuses.first().copied().flatten();
        let subject = statuses.get(1).copied().flatten();
        if ttl_ms > 0 {
            remember(&kv_key, sealed.clone(), session, subject, ttl_ms);
        }
        (session, subject)
    } else {
        (session_revoked, subject_revoked)
    };
    let now = now_ms() as u64;
    if is_revoked(session_revoked, subject_revoked, record.created_at_ms, now) {
        forget(&kv_key);
        return Err(AuthnError::InvalidSession(SessionError::Revoked));
    }
    Ok(record)
}

/// What loading a session may do besides checking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upkeep {
    /// Refresh the provider's tokens when due, and record the use (for the idle timeout).
    Full,
    /// Only check (logout: it must work while the provider is down).
    None,
}

/// The session the request presents: `Ok(None)` without a session cookie.
pub async fn current(
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
    upkeep: Upkeep,
) -> Result<Option<LiveSession>, AuthnError> {
    // No session cookie is not an error, a malformed one is.
    let Some(value) = head.header("cookie").and_then(cookie_in) else { return Ok(None) };
    open(env, ctx, config, &value, upkeep).await
}

/// The session cookie's value in a `Cookie` header, if there is one.
pub fn cookie_in(header: &str) -> Option<String> {
    cookie_value(header, COOKIE_NAME)
}

/// The session a session cookie's value names: `Ok(None)` when login is not configured.
pub async fn open(
    env: &Env,
    ctx: &Context,
    config: &Config,
    value: &str,
    upkeep: Upkeep,
) -> Result<Option<LiveSession>, AuthnError> {
    let Some(login) = &config.login else { return Ok(None) };
    let cookie = SessionCookie::from_value(value).map_err(AuthnError::InvalidSession)?;
    let mut record = load(env, &cookie, login).await?;
    let now = now_s();
    let admission = |record: &SessionRecord| {
        if record.provider == accounts::PASSWORD_PROVIDER {
            let issuer = accounts::password_issuer(login, &config.edge_prefix);
            accounts::admit_password_session(config.local_accounts.as_ref(), record, issuer)
        } else {
            session_upkeep::admitted_issuer(login, record)
        }
    };
    // Checked before any upkeep: a dead session refreshes nothing.
    let admitted = session_authn::admit(&record, now, login.session.idle_timeout_s, admission)
        .map_err(AuthnError::InvalidSession)?;
    if upkeep == Upkeep::None {
        let principal = admitted.principal(&record);
        return Ok(Some(LiveSession { cookie, record, principal }));
    }
    let mut refresh_due = false;
    if let Some(tokens) = record.tokens.clone() {
        if tokens.needs_refresh(now, login.session.refresh_margin_s) {
            record = refresh(env, config, login, &cookie, record, &tokens).await?;
            refresh_due = record.tokens.as_ref().is_some_and(|t| t.needs_refresh(now, login.session.refresh_margin_s));
        }
    }
    // A record whose tokens are still due for refresh may be stale (another request is
    // refreshing): writing it back could undo that refresh, so it is not touched.
    if !refresh_due && now - record.last_seen_s >= login.session.touch_interval_s {
        record.last_seen_s = now;
        let env = env.clone();
        let cookie = cookie.clone();
        let touched = record.clone();
        ctx.wait_until(async move {
            if let Ok(sealed) = write(&env, &cookie, &touched).await {
                update_cached(&cookie.kv_key(), sealed);
            }
        });
    }
    // The principal of the record as upkeep left it.
    let principal = admitted.principal(&record);
    Ok(Some(LiveSession { cookie, record, principal }))
}

fn update_cached(kv_key: &str, sealed: Vec<u8>) {
    CACHE.with(|cache| {
        if let Some(entry) = cache.borrow_mut().get_mut(kv_key, now_ms() as u64) {
            entry.sealed = sealed;
        }
    });
}

/// Refreshes the provider's access token, once across isolates. A provider that refuses the
/// grant (`invalid_grant`) ends the session when `revalidate` is on.
async fn refresh(
    env: &Env,
    config: &Config,
    login: &LoginConfig,
    cookie: &SessionCookie,
    record: SessionRecord,
    tokens: &UpstreamTokens,
) -> Result<SessionRecord, AuthnError> {
    let now = now_s();
    let kv_key = cookie.kv_key();
    let keep_or_end = |record: SessionRecord, reason: &str| {
        console_warn!("{}", serde_json::json!({ "event": "session_refresh_skipped", "reason": reason }));
        match after_refresh_failure(RefreshFailure::CannotRefresh, tokens.expired(now), login.session.revalidate) {
            AfterRefreshFailure::Keep => Ok(record),
            _ => Err(AuthnError::InvalidSession(SessionError::GrantEnded)),
        }
    };
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        return keep_or_end(record, "no refresh token");
    };
    // A tenant's stored connection is read from D1 here, on a refresh, never on every request.
    let stored = match login.provider(&record.provider) {
        Some(_) => None,
        None => match super::connections::stored_provider(
            env,
            config,
            &record.provider,
            super::connections::ConnectionUse::SignIn,
        )
        .await
        {
            Ok(found) => found,
            Err(_) => return Err(AuthnError::Unavailable(Dependency::Directory)),
        },
    };
    let (provider, stored_secret) = match (login.provider(&record.provider), &stored) {
        (Some(provider), _) => (provider, None),
        (None, Some((provider, secret))) => (provider, Some(secret)),
        (None, None) => return keep_or_end(record, "provider no longer configured"),
    };
    // Within this isolate: one refresh per session at a time.
    let started_ms = now_ms() as u64;
    if REFRESHING.with(|r| r.borrow_mut().get(&kv_key, started_ms).is_some()) {
        return wait_for_refresh(env, login, cookie, tokens).await;
    }
    REFRESHING.with(|r| r.borrow_mut().insert(kv_key.clone(), (), started_ms + REFRESH_LEASE_MS, started_ms));
    let leader = Leader { env, config, login, provider, stored_secret, cookie };
    let result = leader.refresh(record, tokens, &refresh_token).await;
    REFRESHING.with(|r| r.borrow_mut().remove(&kv_key));
    result
}

/// The request that holds a session's refresh lease.
struct Leader<'a> {
    env: &'a Env,
    config: &'a Config,
    login: &'a LoginConfig,
    provider: &'a Provider,
    /// The client secret of a stored connection (a configured provider's is a binding).
    stored_secret: Option<&'a SecretString>,
    cookie: &'a SessionCookie,
}

impl Leader<'_> {
    async fn refresh(
        &self,
        record: SessionRecord,
        tokens: &UpstreamTokens,
        refresh_token: &str,
    ) -> Result<SessionRecord, AuthnError> {
        let env = self.env;
        let kv_key = self.cookie.kv_key();
        let lease_id = format!("refresh:{kv_key}");
        let owner = SystemEntropy.token().map_err(|_| AuthnError::Unavailable(Dependency::Randomness))?;
        match revocations::claim(env, ClaimOp::Lease, &lease_id, REFRESH_LEASE_MS, &owner).await {
            Ok(true) => {}
            // Someone else is refreshing, or just did: this isolate's copy may be stale.
            Ok(false) => return wait_for_refresh(env, self.login, self.cookie, tokens).await,
            Err(_) => {
                // A claim that timed out may have landed: give it back rather than leave every
                // request for this session waiting out a lease that has no leader.
                let _ = revocations::claim(env, ClaimOp::Release, &lease_id, 0, &owner).await;
                return Err(AuthnError::Unavailable(Dependency::Revocations));
            }
        }
        let provider_calls = async {
            let endpoints = providers::endpoints(self.provider, self.config).await?;
            let secret = match self.stored_secret {
                Some(secret) => secret.clone(),
                None => providers::client_secret(env, self.provider)?,
            };
            let grant = Grant::Refresh(refresh_token);
            provider_api::redeem(&FetchClient, self.provider, &secret, &endpoints.token, grant).await
        };
        let answer = within(REFRESH_LEASE_MS - LEASE_MARGIN_MS, provider_calls)
            .await
            .unwrap_or_else(|TimedOut| Err(LoginError::ProviderUnavailable("refresh outlasted its lease".into())));
        match answer {
            Ok(answer) => {
                let now = now_s();
                let mut refreshed = record;
                let margin_s = self.login.session.refresh_margin_s;
                refreshed.tokens = Some(session_upkeep::refreshed_tokens(answer, tokens, now, margin_s));
                // The provider may have rotated the refresh token already: the new tokens must
                // not be lost to one failed write.
                let mut written = write(env, self.cookie, &refreshed).await;
                if written.is_err() {
                    Delay::from(Duration::from_millis(1100)).await;
                    written = write(env, self.cookie, &refreshed).await;
                }
                match written {
                    Ok(sealed) => update_cached(&kv_key, sealed),
                    Err(()) => log_refresh(&refreshed, "refreshed, but the session store refused the write"),
                }
                // Keep the lease closed while other isolates may still read the old record.
                let _ = revocations::claim(env, ClaimOp::Complete, &lease_id, SETTLING_MS, &owner).await;
                log_refresh(&refreshed, "refreshed");
                Ok(refreshed)
            }
            Err(LoginError::TokenExchangeFailed(reason)) if reason == "invalid_grant" => {
                // The provider ended the grant: the user was disabled, or the grant revoked.
                log_refresh(&record, "refused: invalid_grant");
                let _ = revocations::claim(env, ClaimOp::Release, &lease_id, 0, &owner).await;
                let expired = tokens.expired(now_s());
                match after_refresh_failure(RefreshFailure::GrantRefused, expired, self.login.session.revalidate) {
                    AfterRefreshFailure::Keep => Ok(record),
                    _ => {
                        let _ = end_record(env, &kv_key, &record).await;
                        Err(AuthnError::InvalidSession(SessionError::GrantEnded))
                    }
                }
            }
            Err(other) => {
                // Anything else (a misconfigured client, a provider outage) is not the user's
                // doing: keep the session while its token lasts.
                log_refresh(&record, &format!("failed: {other:?}"));
                let _ = revocations::claim(env, ClaimOp::Release, &lease_id, 0, &owner).await;
                match after_refresh_failure(
                    RefreshFailure::Unavailable,
                    tokens.expired(now_s()),
                    self.login.session.revalidate,
                ) {
                    AfterRefreshFailure::Keep => Ok(record),
                    _ => Err(AuthnError::Unavailable(Dependency::Provider)),
                }
            }
        }
    }
}

fn log_refresh(record: &SessionRecord, outcome: &str) {
    worker::console_log!(
        "{}",
        serde_json::json!({ "event": "session_refresh", "ts_ms": now_ms() as u64, "provider": record.provider,
                            "principal": record.subject, "outcome": outcome })
    );
}

/// Another request is refreshing, or just did: reread the record (past this isolate's cache);
/// use it if it has the new tokens, else keep the current token while it is valid, else wait for
/// the refreshed record to appear.
async fn wait_for_refresh(
    env: &Env,
    login: &LoginConfig,
    cookie: &SessionCookie,
    tokens: &UpstreamTokens,
) -> Result<SessionRecord, AuthnError> {
    let kv_key = cookie.kv_key();
    let deadline = now_ms() + REFRESH_LEASE_MS as f64;
    // Each look costs a KV read and a ledger call: look less often the longer the wait.
    let mut pause_ms = POLL_MS * 5;
    loop {
        forget(&kv_key);
        let latest = load(env, cookie, login).await?;
        let refreshed = latest.tokens.as_ref().is_some_and(|t| t.access_token != tokens.access_token);
        if refreshed || !tokens.expired(now_s()) {
            return Ok(latest);
        }
        if now_ms() >= deadline {
            return Err(AuthnError::Unavailable(Dependency::Provider));
        }
        Delay::from(Duration::from_millis(pause_ms)).await;
        pause_ms = (pause_ms * 2).min(2_000);
    }
}

/// Stores a new session and returns its cookie. The id is always fresh: a login never reuses a
/// session id (session fixation).
pub async fn create(env: &Env, record: &SessionRecord) -> Result<SessionCookie, ()> {
    let cookie = SessionCookie::from_random(&SystemEntropy.bytes::<48>().map_err(|_| ())?);
    write(env, &cookie, record).await?;
    Ok(cookie)
}

/// Parks a provider's sign-in held for its second factor (sealed, `mfa::ticket::seal_held`)
/// under `key` for `ttl_s` seconds (at least KV's 60).
pub async fn park_held(env: &Env, key: &str, sealed: &str, ttl_s: u64) -> Result<(), Unavailable> {
    let unavailable = |reason: String| Unavailable(format!("the session store: {reason}"));
    let kv = env.kv(KV_BINDING).map_err(|e| unavailable(e.to_string()))?;
    let put = kv.put(key, sealed).map_err(|e| unavailable(e.to_string()))?.expiration_ttl(ttl_s.max(60));
    store_call(put.execute()).await.map_err(|e| unavailable(e.to_string()))
}

/// Whether all of a record's user's sessions were revoked after it was made (an administrator's
/// revocation, a role mapping or group change): a held sign-in made before completes nothing.
pub async fn subject_revoked_since(env: &Env, record: &SessionRecord) -> Result<bool, Unavailable> {
    let subject_key = subject_id(&record.provider, &record.subject);
    let statuses = revocations::statuses(env, &subject_key, &[subject_key.as_str()])
        .await
        .map_err(|error| Unavailable(format!("the revocation store: {error}")))?;
    let subject_revoked = statuses.first().copied().flatten();
    Ok(is_revoked(None, subject_revoked, record.created_at_ms, now_ms() as u64))
}

/// Takes a held sign-in out of KV: it is deleted as it is read (its ticket is spent already).
pub async fn take_held(env: &Env, key: &str) -> Result<Option<String>, Unavailable> {
    let unavailable = |reason: String| Unavailable(format!("the session store: {reason}"));
    let kv = env.kv(KV_BINDING).map_err(|e| unavailable(e.to_string()))?;
    let sealed = store_call(kv.get(key).text()).await.map_err(|e| unavailable(e.to_string()))?;
    if sealed.is_some() {
        if let Err(error) = store_call(kv.delete(key)).await {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "held_sign_in_delete_failed", "reason": error.to_string() })
            );
        }
    }
    Ok(sealed)
}

/// Sessions in Workers KV, as the login flow's port, for a request from `client_ip` with
/// `user_agent` (kept in the session's index entry for administrators).
pub struct KvSessions<'a> {
    /// The runtime environment.
    pub env: &'a Env,
    /// `CF-Connecting-IP`.
    pub client_ip: Option<&'a str>,
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
}

impl SessionStore for KvSessions<'_> {
    async fn create(&self, record: &SessionRecord) -> Result<SessionCookie, Unavailable> {
        // A SAML session is found again by the NameID its IdP's logout request names: the
        // NameID's key names its subject (an attribute's, for some mappings), or that logout
        // could not end this session. So it is written first, and its failure fails the sign-in.
        if let Some(saml) = &record.saml {
            write_saml_name(self.env, record, &saml.name_id)
                .await
                .map_err(|reason| Unavailable(format!("the session store: {reason}")))?;
        }
        let cookie = create(self.env, record).await.map_err(|()| Unavailable("the session store".into()))?;
        let summary = SessionSummary::new(
            &cookie.kv_key(),
            record.created_at_ms.max(0) as u64,
            record.expires_at_s,
            self.client_ip,
            self.user_agent,
        );
        // Only administrators' view of the session depends on it: a failure is logged, and the
        // user's sessions can still all be ended (by the subject's revocation).
        if let Err(reason) = write_index(self.env, record, &summary).await {
            console_warn!("{}", serde_json::json!({ "event": "session_index_write_failed", "reason": reason }));
        }
        Ok(cookie)
    }
}

/// Writes which subject a SAML `NameID` names at the session's provider, for as long as the
/// session may live.
async fn write_saml_name(env: &Env, record: &SessionRecord, name_id: &str) -> Result<(), String> {
    let kv = env.kv(KV_BINDING).map_err(|e| e.to_string())?;
    let ttl_s = (record.expires_at_s - now_s()).max(60) as u64;
    let put = kv.put(&saml_logout::name_key(&record.provider, name_id), &record.subject).map_err(|e| e.to_string())?;
    store_call(put.expiration_ttl(ttl_s).execute()).await.map_err(|e| e.to_string())
}

/// The subject whose sessions a SAML `NameID` names at `provider`: the one its sign-in recorded
/// (see [`write_saml_name`]), else, where the mapping's subject is the `NameID`, the `NameID`
/// itself. `Err` when the store did not answer, or nothing was recorded for a subject taken from
/// an attribute: then nobody is known to be signed out.
pub async fn saml_subject_named(env: &Env, provider: &Provider, name_id: &str) -> Result<String, ()> {
    let kv = env.kv(KV_BINDING).map_err(|_| ())?;
    let recorded = store_call(kv.get(&saml_logout::name_key(&provider.id, name_id)).text()).await.map_err(|_| ())?;
    let name_is_subject = crate::login::flow::saml::settings_of(provider)
        .is_some_and(|settings| settings.attributes.names().subject.is_empty());
    match recorded {
        Some(subject) => Ok(subject),
        None if name_is_subject => Ok(name_id.to_owned()),
        None => Err(()),
    }
}

/// Writes a session's index entry, expiring with it.
async fn write_index(env: &Env, record: &SessionRecord, summary: &SessionSummary) -> Result<(), String> {
    let kv = env.kv(KV_BINDING).map_err(|e| e.to_string())?;
    let key = index::key_of(&index::subject_tag(&record.provider, &record.subject), &summary.id);
    let ttl_s = (record.expires_at_s - now_s()).max(60) as u64;
    let value = serde_json::to_string(summary).map_err(|e| e.to_string())?;
    let put = kv.put(&key, value).map_err(|e| e.to_string())?.metadata(summary).map_err(|e| e.to_string())?;
    store_call(put.expiration_ttl(ttl_s).execute()).await.map_err(|e| e.to_string())
}

/// The live sessions a user has with a provider, oldest first (at most 1000): the index's
/// entries, less those revoked since (by logout, by an administrator, or all at once).
pub async fn list_of(env: &Env, provider: &str, subject: &str) -> Result<Vec<SessionSummary>, ()> {
    let kv = env.kv(KV_BINDING).map_err(|_| ())?;
    let tag = index::subject_tag(provider, subject);
    let listed = store_call(kv.list().prefix(index::prefix_of(&tag)).execute()).await.map_err(|error| {
        console_warn!("{}", serde_json::json!({ "event": "session_index_unavailable", "reason": error.to_string() }));
    })?;
    let sessions: Vec<SessionSummary> = listed
        .keys
        .into_iter()
        .filter_map(|key| serde_json::from_value::<SessionSummary>(key.metadata?).ok())
        .filter(|summary| index::handle_ok(&summary.id) && summary.expires_at_s > now_s())
        .collect();
    if sessions.is_empty() {
        return Ok(sessions);
    }
    let subject_key = subject_id(provider, subject);
    let kv_keys: Vec<String> = sessions.iter().map(SessionSummary::kv_key).collect();
    let mut ids: Vec<&str> = kv_keys.iter().map(String::as_str).collect();
    ids.push(&subject_key);
    let statuses = revocations::statuses(env, &subject_key, &ids).await.map_err(|_| ())?;
    let subject_revoked = statuses.last().copied().flatten();
    let now = now_ms() as u64;
    // The statuses answer the ids in order: each session's, then the subject's.
    let mut sessions: Vec<SessionSummary> = sessions
        .into_iter()
        .zip(statuses)
        .filter(|(summary, revoked)| !is_revoked(*revoked, subject_revoked, summary.created_at_ms as i64, now))
        .map(|(summary, _)| summary)
        .collect();
    sessions.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    Ok(sessions)
}

/// Ends one of a user's sessions at once, by its handle; `false` when the user has none by that
/// handle with this provider.
pub async fn end_listed(env: &Env, provider: &str, subject: &str, handle: &str) -> Result<bool, ()> {
    let kv = env.kv(KV_BINDING).map_err(|_| ())?;
    let key = index::key_of(&index::subject_tag(provider, subject), handle);
    let entry = store_call(kv.get(&key).text()).await.map_err(|_| ())?;
    let Some(summary) = entry.and_then(|text| serde_json::from_str::<SessionSummary>(&text).ok()) else {
        return Ok(false);
    };
    let subject_key = subject_id(provider, subject);
    let kv_key = summary.kv_key();
    let keep_until_ms = (summary.expires_at_s.max(0) as u64 + 60) * 1000;
    revocations::revoke(env, &subject_key, &kv_key, now_ms() as u64, Some(keep_until_ms)).await.map_err(|_| ())?;
    forget(&kv_key);
    let _ = store_call(kv.delete(&kv_key)).await;
    let _ = store_call(kv.delete(&key)).await;
    Ok(true)
}

async fn end_record(env: &Env, kv_key: &str, record: &SessionRecord) -> Result<(), ()> {
    let subject_key = subject_id(&record.provider, &record.subject);
    // The Durable Object first: once it answers, the session is dead everywhere on the next load.
    // The revocation is moot once the session would have expired anyway.
    let keep_until_ms = (record.expires_at_s.max(0) as u64 + 60) * 1000;
    revocations::revoke(env, &subject_key, kv_key, now_ms() as u64, Some(keep_until_ms)).await.map_err(|_| ())?;
    forget(kv_key);
    if let Ok(kv) = env.kv(KV_BINDING) {
        let _ = store_call(kv.delete(kv_key)).await;
        let tag = index::subject_tag(&record.provider, &record.subject);
        let _ = store_call(kv.delete(&index::key_of(&tag, index::handle_of(kv_key)))).await;
    }
    Ok(())
}

/// Ends a session at once (logout).
pub async fn end(env: &Env, session: &LiveSession) -> Result<(), ()> {
    end_record(env, &session.kv_key(), session.record()).await
}

/// Ends every session a user has with a provider that began before now (admin revocation).
pub async fn revoke_subject(env: &Env, provider: &str, subject: &str) -> Result<u64, ()> {
    let subject_key = subject_id(provider, subject);
    let at_ms = now_ms() as u64;
    // Kept until every session it ends would have expired (the longest lifetime allowed).
    let keep_until_ms = at_ms + 91 * 86_400_000;
    revocations::revoke(env, &subject_key, &subject_key, at_ms, Some(keep_until_ms)).await.map_err(|_| ())?;
    // The revoked subject's sessions may be anywhere in the cache: drop them all, as before.
    CACHE.with(|cache| cache.borrow_mut().clear());
    Ok(at_ms)
}

/// Ends an old session the browser still carried when it logged in again; best effort.
pub async fn end_previous(env: &Env, config: &Config, head: &RequestHead) {
    let Some(login) = &config.login else { return };
    let Some(header) = head.header("cookie") else { return };
    let Ok(cookie) = SessionCookie::from_cookie_header(header) else { return };
    if let Ok(record) = load(env, &cookie, login).await {
        let _ = end_record(env, &cookie.kv_key(), &record).await;
    }
}
