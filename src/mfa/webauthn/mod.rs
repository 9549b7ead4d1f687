//! Passkeys (WebAuthn Level 3), verified in the core: the relying party's checks of a
//! registration and of an assertion, with time and randomness from the ports and signatures
//! through the [`signature::SignatureVerifier`] port (WebCrypto in the worker, pure Rust on the
//! host).
//!
//! - [`authenticator_data`]: the authenticator's binary record (RP ID hash, flags, sign count,
//!   the attested credential of a registration).
//! - [`cose`]: the credential's public key (COSE_Key, RFC 9052/9053) as a JWK.
//! - [`client_data`]: `clientDataJSON`'s type, challenge and origin.
//! - [`attestation`]: the attestation object of a registration (`none`, and `packed` self
//!   attestation).
//! - [`ceremony`]: the sealed state of one ceremony, the options the browser gets, and the two
//!   verifications.
//! - [`signature`]: what is signed, ES256's DER signatures as raw `r || s`, and the port.
//!
//! CBOR is read with `minicbor` (definite lengths only, no duplicate keys, nothing left over).

pub mod attestation;
pub mod authenticator_data;
pub mod ceremony;
pub mod client_data;
pub mod cose;
pub mod signature;

/// Why a passkey response was refused. Each has a stable [`reason`](Self::reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyError {
    /// The response is not well formed (JSON, base64url, CBOR, lengths); the part is named.
    Malformed(&'static str),
    /// `clientDataJSON.type` is not this ceremony's (`webauthn.create` or `webauthn.get`).
    WrongType,
    /// `clientDataJSON.challenge` is not this ceremony's.
    ChallengeMismatch,
    /// `clientDataJSON.origin` is not an allowed origin.
    OriginMismatch,
    /// The ceremony ran in a cross-origin iframe.
    CrossOrigin,
    /// The authenticator data's RP ID hash is not SHA-256 of the RP ID.
    RpIdMismatch,
    /// The user-present flag is not set.
    UserNotPresent,
    /// User verification was required and the flag is not set.
    UserNotVerified,
    /// The credential's algorithm is not ES256, EdDSA or RS256, or its key is unusable.
    AlgorithmUnsupported,
    /// An attestation format other than `none` or `packed` self attestation.
    AttestationUnsupported,
    /// The signature does not verify.
    SignatureInvalid,
    /// The signature counter did not increase: the credential may be cloned.
    SignCountRegressed,
    /// The credential is not registered (or not to this tenant).
    UnknownCredential,
    /// The credential belongs to another user than the ceremony's.
    WrongUser,
    /// The ceremony is unknown, expired, spent, or for something else.
    CeremonyExpired,
}

impl PasskeyError {
    /// The stable reason, for the client's error body and the audit.
    pub fn reason(self) -> &'static str {
        match self {
            PasskeyError::Malformed(_) => "malformed",
            PasskeyError::WrongType => "wrong_type",
            PasskeyError::ChallengeMismatch => "challenge_mismatch",
            PasskeyError::OriginMismatch => "origin_mismatch",
            PasskeyError::CrossOrigin => "cross_origin",
            PasskeyError::RpIdMismatch => "rp_id_mismatch",
            PasskeyError::UserNotPresent => "user_not_present",
            PasskeyError::UserNotVerified => "user_not_verified",
            PasskeyError::AlgorithmUnsupported => "algorithm_unsupported",
            PasskeyError::AttestationUnsupported => "attestation_unsupported",
            PasskeyError::SignatureInvalid => "signature_invalid",
            PasskeyError::SignCountRegressed => "sign_count_regressed",
            PasskeyError::UnknownCredential => "unknown_credential",
            PasskeyError::WrongUser => "wrong_user",
            PasskeyError::CeremonyExpired => "ceremony_expired",
        }
    }
}

/// base64url without padding, as WebAuthn's JSON encodings use; padding is tolerated on input.
pub(crate) fn b64url_decode(field: &'static str, value: &str) -> Result<Vec<u8>, PasskeyError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| PasskeyError::Malformed(field))
}

/// base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod test_authenticator;
