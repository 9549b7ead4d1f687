//! A tenant's SCIM bearer tokens: 256 random bits, shown once, stored as a SHA-256 hash. The
//! hash is the lookup key, so no comparison of secrets happens in code; a token names its tenant
//! only through the stored row, never through its text.

use crate::ports::{Entropy, Unavailable};
use crate::secret::SecretString;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// What every token starts with, so secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "scim_";

/// A token just made: the only time it exists outside the IdP.
#[derive(Debug)]
pub struct IssuedToken {
    /// Its id, for listing and revoking.
    pub id: String,
    /// The token, shown once.
    pub token: SecretString,
    /// What is stored.
    pub hash: String,
}

/// Makes a token.
pub fn issue(entropy: &impl Entropy) -> Result<IssuedToken, Unavailable> {
    let id = format!("sct_{}", URL_SAFE_NO_PAD.encode(entropy.bytes::<9>()?));
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(entropy.bytes::<32>()?));
    let hash = sha256_hex(&token);
    Ok(IssuedToken { id, token: SecretString::new(token), hash })
}

/// The stored form of a presented token, or `None` when it cannot be one of ours (then nothing
/// is looked up).
pub fn lookup_hash(presented: &str) -> Option<String> {
    let body = presented.strip_prefix(TOKEN_PREFIX)?;
    let ok = body.len() == 43 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| sha256_hex(presented))
}

/// The hex SHA-256 of a token: what the directory stores in its place.
pub use crate::secret::sha256_hex;

/// Whether `id` is a token id this module makes.
pub fn token_id_ok(id: &str) -> bool {
    id.len() == 16
        && id.starts_with("sct_")
        && id[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SystemEntropy;

    #[test]
    fn a_token_is_found_by_its_hash_only() {
        let issued = issue(&SystemEntropy).unwrap();
        assert!(token_id_ok(&issued.id));
        assert_eq!(lookup_hash(issued.token.expose()), Some(issued.hash.clone()));
        assert_eq!(issued.hash.len(), 64);
        assert!(!format!("{issued:?}").contains(issued.token.expose()), "Debug never shows the token");
        for bad in ["", "scim_", "scim_short", "Bearer x", &format!("{}!", &issued.token.expose()[..47])] {
            assert_eq!(lookup_hash(bad), None, "{bad:?}");
        }
        let mut altered = issued.token.expose().to_owned();
        altered.replace_range(10..11, if &altered[10..11] == "A" { "B" } else { "A" });
        assert_ne!(lookup_hash(&altered), Some(issued.hash));
    }
}
