//! Bearer JWT verification (RFC 7519, RFC 8725, OWASP ASVS 5.0 V9).
//!
//! The order of checks:
//!
//! 1. parse ([`token::UntrustedJwt`]): structure, base64url, strict JSON, size;
//! 2. pick the issuer by the untrusted `iss`, then check everything against that issuer's
//!    configuration: `alg` on its list, no key-choosing header, no `crit`, the `typ`;
//! 3. registered claims ([`claims::check`]): `iss`, `aud`, `exp`, `nbf`, `iat`, required claims;
//! 4. choose the key by `kid` from the issuer's key source ([`keys::KeySet::select`]);
//! 5. signature prechecks, then the signature itself (WebCrypto in the worker, jwt-compact's
//!    pure-Rust algorithms on the host, HMAC in Rust everywhere), which issues [`VerifiedSignature`];
//! 6. map the claims to a [`crate::authn::principal::Principal`].
//!
//! Cheap checks run before the signature, so garbage costs no crypto; nothing is believed until
//! the signature verified.

pub mod alg;
pub mod claims;
pub mod error;
pub mod issuer;
pub mod keys;
// Used by the suites that sign with the host-only algorithms.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod rfc_keys;
pub mod signature;
pub mod strict_json;
pub mod token;
pub mod verified_cache;
pub mod verifier;

// The suites verify with the pure-Rust algorithms, which build for the host only.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use crate::authn::principal::{AuthMethod, Principal};
use alg::Alg;
use error::JwtError;
use issuer::{Issuer, JwtConfig};
use keys::{KeySet, Selection, VerificationKey};
use signature::VerifiedSignature;
use token::UntrustedJwt;

/// A token that passed every check but the signature.
#[derive(Debug)]
pub struct PendingJwt<'c, 't> {
    /// The issuer whose rules applied.
    pub issuer: &'c Issuer,
    /// The token's algorithm, one the issuer accepts.
    pub alg: Alg,
    token: UntrustedJwt<'t>,
}

/// Runs steps 1 to 3 at time `now_s`.
pub fn precheck<'c, 't>(config: &'c JwtConfig, token: &'t str, now_s: i64) -> Result<PendingJwt<'c, 't>, JwtError> {
    let token = UntrustedJwt::parse(token)?;
    let issuer = token.claimed_issuer().and_then(|iss| config.issuer(iss)).ok_or(JwtError::UnknownIssuer)?;
    let alg = token
        .alg_name()
        .and_then(Alg::parse)
        .filter(|alg| issuer.algorithms.contains(alg))
        .ok_or(JwtError::AlgorithmNotAllowed)?;
    token.check_header(issuer.typ.as_deref())?;
    claims::check(issuer, token.claims(), now_s)?;
    Ok(PendingJwt { issuer, alg, token })
}

/// The outcome of looking for the token's key.
#[derive(Debug)]
pub enum KeyLookup<'k> {
    /// Verify with this key.
    Found(&'k VerificationKey),
    /// The key set may be stale: refresh it (within the cooldown) and look again.
    RefreshAndRetry,
    /// Refused.
    Refused(JwtError),
}

impl<'c, 't> PendingJwt<'c, 't> {
    /// Step 4: the key for this token from a key set.
    pub fn find_key<'k>(&self, keys: &'k KeySet) -> KeyLookup<'k> {
        match keys.select(self.token.kid(), self.alg) {
            Selection::Key(key) => KeyLookup::Found(key),
            Selection::UnknownKid => KeyLookup::RefreshAndRetry,
            Selection::KeyTypeMismatch => KeyLookup::Refused(JwtError::KeyTypeMismatch),
            Selection::AmbiguousWithoutKid => KeyLookup::Refused(JwtError::AmbiguousKey),
            Selection::NoKey => KeyLookup::Refused(JwtError::NoKey),
        }
    }

    /// When the token stops being acceptable: `exp` plus the issuer's leeway, in seconds.
    pub fn acceptable_until_s(&self) -> f64 {
        let exp = self.token.claims().get("exp").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        exp + self.issuer.leeway_s as f64
    }

    /// The `kid`, for logs.
    pub fn kid(&self) -> Option<&str> {
        self.token.kid()
    }

    /// The bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.token.signing_input()
    }

    /// The signature.
    pub fn signature(&self) -> &[u8] {
        self.token.signature()
    }

    /// Step 5a: the checks every backend relies on.
    pub fn precheck_signature(&self, key: &VerificationKey) -> Result<(), JwtError> {
        signature::precheck(self.alg, key, self.signature()).map_err(JwtError::MalformedSignature)
    }

    /// Step 5b with a synchronous verifier: the prechecks, then `verify`.
    fn verify_with(
        &self,
        key: &VerificationKey,
        verify: fn(Alg, &VerificationKey, &[u8], &[u8]) -> bool,
    ) -> Result<VerifiedSignature, JwtError> {
        self.precheck_signature(key)?;
        if verify(self.alg, key, self.signing_input(), self.signature()) {
            Ok(VerifiedSignature::new())
        } else {
            Err(JwtError::BadSignature)
        }
    }

    /// Step 5b for HMAC tokens, in Rust in every build.
    pub fn verify_hmac(&self, key: &VerificationKey) -> Result<VerifiedSignature, JwtError> {
        self.verify_with(key, signature::verify_hmac)
    }

    /// Step 5b with the pure-Rust algorithms (on the host; the worker uses WebCrypto).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn verify_rust(&self, key: &VerificationKey) -> Result<VerifiedSignature, JwtError> {
        self.verify_with(key, signature::verify_rust)
    }

    /// Step 6: the principal, once the signature verified.
    pub fn into_principal(self, _proof: VerifiedSignature) -> Result<Principal, JwtError> {
        let names = &self.issuer.claims;
        let identity = claims::map_identity(names, self.token.claims())?;
        let tier = names
            .tier
            .as_deref()
            .and_then(|name| claims::lookup(self.token.claims(), name))
            .and_then(serde_json::Value::as_str);
        let tier = tier.map(str::to_owned);
        Ok(Principal::new(identity, AuthMethod::Jwt, Some(self.issuer.issuer.clone()))
            .with_tier(tier)
            .with_claims(self.token.into_claims()))
    }
}
