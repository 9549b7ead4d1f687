//! The deployment environment: the one fact about where Portcullis runs that every layer may ask.

use serde::Deserialize;

/// Where the gateway runs. Switches that weaken security (`insecure_*`) and plain-HTTP origins are
/// refused in production.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine or a test run.
    Development,
    /// Everything else; the default when a configuration is given.
    Production,
}

/// The fewest characters a key secret (the API key pepper, the login secret, the directory key,
/// the bootstrap administrator key) may have; a shorter one counts as unset.
pub const MIN_KEY_SECRET_LEN: usize = 32;

/// The names of the Worker bindings and secrets the gateway uses, as `wrangler.toml` and
/// `wrangler secret put` spell them. The shell reads them; `npm run preflight` checks them.
pub mod names {
    /// KV: sessions, API keys and other edge state.
    pub const KV: &str = "PORTCULLIS_KV";
    /// D1: the user directory.
    pub const DIRECTORY_DB: &str = "PORTCULLIS_DB";
    /// Durable Object: API key and session revocations, single-use login states and codes.
    pub const REVOCATIONS: &str = "API_KEY_REVOCATIONS";
    /// Static assets: Portcullis's own pages (`www/`).
    pub const ASSETS: &str = "ASSETS";
    /// Secret: the assertion signing keys (a JWKS of private keys; the first signs).
    pub const ASSERTION_KEYS_SECRET: &str = "PORTCULLIS_ASSERTION_KEYS";
    /// Secret: peppers the stored hashes of API keys.
    pub const API_KEY_PEPPER_SECRET: &str = "PORTCULLIS_API_KEY_PEPPER";
    /// Secret: the bootstrap administrator key of the management APIs.
    pub const ADMIN_KEY_SECRET: &str = "PORTCULLIS_ADMIN_KEY";
    /// Secret: seals the client secrets of tenants' own connections.
    pub const DIRECTORY_KEY_SECRET: &str = "PORTCULLIS_DIRECTORY_KEY";
}
