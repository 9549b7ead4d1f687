//! The ports: the small traits through which the core reaches the world. The shell implements
//! them over the Workers runtime (`Date.now`, Web Crypto, `fetch`, the `KeyRevocations` Durable
//! Object); [`memory`] implements them in memory for the host tests.
//!
//! Only the ports every feature shares live here, so this module stays a leaf. A store of one
//! feature's records lives with that feature, next to its record type:
//! [`crate::session::store::SessionStore`], [`crate::authn::api_key::store::KeyStore`] and
//! [`crate::authn::jwt::verifier::TokenVerifier`].
//!
//! The worker is single-threaded, so no port promises `Send` futures.

pub mod memory;

use std::fmt;

/// A dependency that did not answer (a store, a Durable Object, the CSPRNG, a peer): the caller
/// fails closed.
#[derive(Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl Unavailable {
    /// The dependency's own error, as the reason (for the log, never for a client).
    pub fn because(error: impl fmt::Display) -> Self {
        Self(error.to_string())
    }
}

impl fmt::Debug for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unavailable: {}", self.0)
    }
}

/// The wall clock.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Seconds since the Unix epoch.
    fn now_s(&self) -> i64 {
        (self.now_ms() / 1000) as i64
    }
}

/// A cryptographically secure random source.
pub trait Entropy {
    /// Fills `bytes` with random bytes.
    fn fill(&self, bytes: &mut [u8]) -> Result<(), Unavailable>;

    /// `N` random bytes.
    fn bytes<const N: usize>(&self) -> Result<[u8; N], Unavailable>
    where
        Self: Sized,
    {
        let mut bytes = [0u8; N];
        self.fill(&mut bytes)?;
        Ok(bytes)
    }

    /// A fresh 256-bit value as 43 base64url characters (a `state`, a `nonce`, a lease owner).
    fn token(&self) -> Result<String, Unavailable>
    where
        Self: Sized,
    {
        use base64::Engine;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.bytes::<32>()?))
    }
}

/// The platform CSPRNG (Web Crypto in the worker, the OS on the host).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEntropy;

impl Entropy for SystemEntropy {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), Unavailable> {
        getrandom::fill(bytes).map_err(|error| Unavailable(format!("randomness: {error}")))
    }
}

/// The strongly consistent record of one-time values and of when things stop working, shared by
/// every location (the `KeyRevocations` Durable Object in the worker).
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait Ledger {
    /// Records `id` as used for `ttl_ms`: `Ok(true)` the first time, `Ok(false)` ever after.
    async fn claim_once(&self, id: &str, ttl_ms: u64) -> Result<bool, Unavailable>;

    /// Records that `id` stops working at `at_ms`, kept until `keep_until_ms` (`None`: for good).
    /// Once this answers, every location sees it. Recorded again, a credential's revocation keeps
    /// the earliest time and a user's the latest ([`crate::ledger::combined_revocation`]).
    async fn revoke(&self, id: &str, at_ms: u64, keep_until_ms: Option<u64>) -> Result<(), Unavailable>;
}

/// An HTTP method the core sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

/// A request the core sends to a peer (an identity provider).
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, for a `POST`.
    pub body: Option<String>,
}

impl fmt::Debug for OutboundRequest {
    /// Never the headers or the body: they carry client secrets, codes and tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.method, self.url)
    }
}

/// A peer's answer: its status and its (bounded) body.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundResponse {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl fmt::Debug for InboundResponse {
    /// The status and the body's length: a token endpoint's body holds tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.status, self.body.len())
    }
}

/// An HTTP client for calls to peers. Implementations bound the time and the answer's size, never
/// follow redirects, and send `accept: application/json` unless told otherwise.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait HttpClient {
    /// Sends `request`; `Err` when there was no answer (unreachable, timed out, too large).
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, Unavailable>;
}

/// An email to send: a plain-text and an HTML part.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundMail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

impl fmt::Debug for OutboundMail {
    /// The recipient and the subject: the body holds a one-time link.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mail to {} ({:?})", self.to, self.subject)
    }
}

/// Sends email (Cloudflare's `send_email` binding, or an HTTP mail API).
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait Mailer {
    /// Hands `mail` to the sender; `Err` when it did not take it.
    async fn send(&self, mail: &OutboundMail) -> Result<(), Unavailable>;
}
