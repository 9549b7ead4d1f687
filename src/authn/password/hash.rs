//! Password hashing: argon2id (RFC 9106, RustCrypto `argon2`, pure Rust, so the same in the worker
//! and on the host), stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! - The salt is 16 bytes from the [`Entropy`] port; nothing here reads a clock.
//! - With a pepper (a secret from the deployment's secret store), the password is first keyed:
//!   argon2id hashes `HMAC-SHA256(pepper, password)`, so a leaked table is useless without the
//!   secret. A pepper cannot be added or changed later without every user's password, so the
//!   stored string does not say whether one was used: the deployment knows.
//! - [`verify`] says whether the stored hash was made with other parameters than the wanted ones,
//!   so that a login can rehash with the current ones ([`Verified::needs_rehash`]).
//! - Passwords are taken whole, never truncated; their policy (length, NFKC normalisation,
//!   blocklists) is decided before hashing, elsewhere.

use crate::ports::{Entropy, Unavailable};
use crate::secret::SecretBytes;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::PasswordVerifier;
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB (`m`); the OWASP minimum is 19456 (19 MiB).
    pub memory_kib: u32,
    /// Passes over the memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl Default for HashParams {
    /// The OWASP Password Storage Cheat Sheet's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// The salt length in bytes (RFC 9106 recommends 16).
const SALT_LEN: usize = 16;
/// The hash length in bytes.
const OUTPUT_LEN: usize = 32;

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// The parameters are outside what argon2id allows.
    InvalidParams(String),
    /// No randomness for the salt.
    Unavailable(Unavailable),
    /// The stored value is not an argon2id PHC string this module wrote.
    MalformedStoredHash,
}

/// A stored password hash, in PHC string format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHash(String);

impl StoredHash {
    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password is not the one the hash was made from.
    Mismatch,
    /// It is. `needs_rehash`: the hash was made with other parameters than the wanted ones.
    Match {
        /// Rehash with the wanted parameters now, while the password is at hand.
        needs_rehash: bool,
    },
}

fn argon2(params: HashParams) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(params.memory_kib, params.iterations, params.parallelism, Some(OUTPUT_LEN))
        .map_err(|error| HashError::InvalidParams(error.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The bytes argon2id hashes: the password, or with a pepper `HMAC-SHA256(pepper, password)`.
fn keyed(password: &[u8], pepper: Option<&SecretBytes>) -> Vec<u8> {
    match pepper {
        None => password.to_vec(),
        Some(pepper) => {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper.expose()).unwrap_or_else(|_| unreachable!());
            mac.update(password);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// Hashes a password with a fresh salt.
pub fn hash(
    password: &[u8],
    pepper: Option<&SecretBytes>,
    params: HashParams,
    entropy: &impl Entropy,
) -> Result<StoredHash, HashError> {
    let salt: [u8; SALT_LEN] = entropy.bytes().map_err(HashError::Unavailable)?;
    hash_with_salt(password, pepper, params, &salt)
}

fn hash_with_salt(
    password: &[u8],
    pepper: Option<&SecretBytes>,
    params: HashParams,
    salt: &[u8],
) -> Result<StoredHash, HashError> {
    use argon2::password_hash::PasswordHasher;
    let hashed = argon2(params)?
        .hash_password_with_salt(&keyed(password, pepper), salt)
        .map_err(|error| HashError::InvalidParams(error.to_string()))?;
    Ok(StoredHash(hashed.to_string()))
}

/// The parameters a stored argon2id hash was made with, or `None` when it is not one.
fn params_of(stored: &PasswordHash) -> Option<HashParams> {
    if stored.algorithm.as_str() != "argon2id" || stored.version != Some(0x13) {
        return None;
    }
    let number = |name: &str| stored.params.get_decimal(name);
    Some(HashParams { memory_kib: number("m")?, iterations: number("t")?, parallelism: number("p")? })
}

/// Checks a password against a stored hash (with the pepper it was made with), in constant time
/// in the hash. `wanted` are the parameters new hashes get.
pub fn verify(
    password: &[u8],
    pepper: Option<&SecretBytes>,
    stored: &str,
    wanted: HashParams,
) -> Result<Verified, HashError> {
    let parsed = PasswordHash::new(stored).map_err(|_| HashError::MalformedStoredHash)?;
    let made_with = params_of(&parsed).ok_or(HashError::MalformedStoredHash)?;
    if parsed.salt.is_none() || parsed.hash.as_ref().map(|h| h.len()) != Some(OUTPUT_LEN) {
        return Err(HashError::MalformedStoredHash);
    }
    // Verification runs with the stored hash's own parameters.
    match argon2(made_with)?.verify_password(&keyed(password, pepper), &parsed) {
        Ok(()) => Ok(Verified::Match { needs_rehash: made_with != wanted }),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verified::Mismatch),
        Err(_) => Err(HashError::MalformedStoredHash),
    }
}

/// A stored hash that no password matches, with `params`: verifying against it costs what a real
/// verification costs, so a sign-in for an unknown email takes as long as one for a known email.
pub fn dummy_hash(params: HashParams) -> String {
    // A fixed salt and output; no password hashes to this output (finding one would break argon2id).
    format!(
        "$argon2id$v=19$m={},t={},p={}$cG9ydGN1bGxpcy1kdW1teQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        params.memory_kib, params.iterations, params.parallelism
    )
}

#[cfg(test)]
mod tests;
