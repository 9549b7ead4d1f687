//! A tenant's connections to its identity providers as the directory stores them: provider
//! settings without the secret, and the client secret sealed (see `login/connection.rs`, which
//! makes and reads them).

use serde::Serialize;
use serde_json::Value;

/// What a connection id starts with; configured provider ids cannot (see [`connection_id_ok`]).
pub const CONNECTION_PREFIX: &str = "con_";

/// A stored connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// Its id, `con_` and 16 of a-z, 0-9.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// `oidc` or `oauth2`.
    pub kind: String,
    /// The provider settings, without the secret.
    pub settings: Value,
    /// The client secret, sealed.
    #[serde(skip)]
    pub sealed_secret: Vec<u8>,
    /// When it was created.
    pub created_at_ms: u64,
    /// Whether it signs users in. A connection saved by a setup link is not active until the
    /// setup finishes after a successful test sign-in (only that link's test flow may use it
    /// before then); one made through the admin API is active at once.
    pub active: bool,
}

/// The most connections a tenant has.
pub const MAX_CONNECTIONS: usize = 10;

/// Whether `id` is a connection id this module makes.
pub fn connection_id_ok(id: &str) -> bool {
    id.len() == CONNECTION_PREFIX.len() + 16
        && id.starts_with(CONNECTION_PREFIX)
        && id[CONNECTION_PREFIX.len()..].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A new connection's id from 16 random bytes.
pub fn new_connection_id(random: [u8; 16]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let tail: String = random.iter().map(|b| ALPHABET[usize::from(b % 32)] as char).collect();
    format!("{CONNECTION_PREFIX}{tail}")
}
