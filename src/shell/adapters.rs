//! The shell's implementations of the core's ports over the Workers runtime.

use super::http::{fetch_with_timeout, read_answer};
use super::jwt_verifier::verify_jwt_with;
use super::key_revocations::client as revocations;
use crate::authn::jwt::issuer::JwtConfig;
use crate::authn::jwt::verifier::TokenVerifier;
use crate::authn::principal::Principal;
use crate::authn::AuthnError;
use crate::ledger::ClaimOp;
use crate::ports::{Clock, HttpClient, InboundResponse, Ledger, Method, OutboundRequest, Unavailable};
use worker::{Env, Headers, Request, RequestInit, RequestRedirect};

/// `Date.now()`: in Workers, the time of the last I/O (it does not advance during computation).
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }
}

/// The `KeyRevocations` Durable Object, sharded by the record's id.
pub struct DurableLedger<'a>(pub &'a Env);

impl Ledger for DurableLedger<'_> {
    async fn claim_once(&self, id: &str, ttl_ms: u64) -> Result<bool, Unavailable> {
        revocations::claim(self.0, ClaimOp::Once, id, ttl_ms, "").await.map_err(Unavailable::because)
    }

    async fn revoke(&self, id: &str, at_ms: u64, keep_until_ms: Option<u64>) -> Result<(), Unavailable> {
        revocations::revoke(self.0, id, id, at_ms, keep_until_ms).await.map_err(Unavailable::because)
    }
}

/// How long a call to a peer may take.
const CALL_TIMEOUT_MS: u64 = 10_000;
/// The most a peer's answer may weigh.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Outbound `fetch` to identity providers: a deadline, no redirects, a bounded answer, JSON by
/// default, and a `User-Agent` (GitHub refuses API calls without one).
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchClient;

impl HttpClient for FetchClient {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, Unavailable> {
        let headers = Headers::new();
        // A value that is no header value (a provider's malformed access token) is left out, and
        // the peer refuses the call: the answer the caller already handles.
        for (name, value) in &request.headers {
            let _ = headers.set(name, value);
        }
        if !headers.has("accept").unwrap_or(false) {
            headers.set("accept", "application/json").map_err(Unavailable::because)?;
        }
        headers.set("user-agent", "Portcullis").map_err(Unavailable::because)?;
        let method = match request.method {
            Method::Get => worker::Method::Get,
            Method::Post => worker::Method::Post,
        };
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers).with_redirect(RequestRedirect::Manual);
        if let Some(body) = request.body {
            init.with_body(Some(body.into()));
        }
        let outbound = Request::new_with_init(&request.url, &init).map_err(Unavailable::because)?;
        let mut response = fetch_with_timeout(outbound, CALL_TIMEOUT_MS)
            .await
            .map_err(|failure| Unavailable(format!("{failure:?}")))?;
        let body = read_answer(&mut response, MAX_ANSWER_BYTES, CALL_TIMEOUT_MS)
            .await
            .map_err(|failure| Unavailable(format!("answer: {failure:?}")))?;
        Ok(InboundResponse { status: response.status_code(), body })
    }
}

/// The worker's JWT verifier: keys from the JWKS cache, signatures by Web Crypto.
pub struct WorkerTokenVerifier<'a>(pub &'a Env);

impl TokenVerifier for WorkerTokenVerifier<'_> {
    async fn verify(&self, config: &JwtConfig, token: &str) -> Result<Principal, AuthnError> {
        verify_jwt_with(self.0, config, token, |_| true).await
    }
}
