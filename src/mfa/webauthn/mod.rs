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
//! CBOR is read with `minicbor` (definite lengths only, also in the values skipped, no duplicate
//! keys, bounded maps, nothing left over).

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
    /// The backup-eligible flag differs from the registration's (it is fixed for a credential's
    /// life, WebAuthn §6.1.3): not the authenticator that registered.
    BackupEligibilityChanged,
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
            PasskeyError::BackupEligibilityChanged => "backup_eligibility_changed",
            PasskeyError::UnknownCredential => "unknown_credential",
            PasskeyError::WrongUser => "wrong_user",
            PasskeyError::CeremonyExpired => "ceremony_expired",
        }
    }
}

/// The longest passkey name kept.
const MAX_NAME_CHARS: usize = 64;

/// A passkey's name as the user typed it: trimmed, at most [`MAX_NAME_CHARS`], without control
/// characters and without the invisible ones that could make a name pass for another on the
/// security page (bidirectional overrides and isolates, zero-width characters, the BOM);
/// "Passkey" when nothing is left.
pub fn passkey_name(typed: Option<&str>) -> String {
    let invisible = |c: &char| matches!(*c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{061c}' | '\u{feff}');
    let name: String = typed
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && !invisible(c))
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned();
    if name.is_empty() {
        "Passkey".to_owned()
    } else {
        name
    }
}

/// How deep a skipped CBOR value may nest.
const MAX_SKIPPED_DEPTH: u8 = 8;

/// Skips one CBOR value that is read by no one, holding it to the rules of the values that are
/// read: definite lengths only, nested at most [`MAX_SKIPPED_DEPTH`] deep. (`minicbor`'s own
/// `skip` accepts indefinite lengths.)
pub(crate) fn skip_definite(decoder: &mut minicbor::Decoder<'_>) -> Result<(), ()> {
    skip_nested(decoder, MAX_SKIPPED_DEPTH)
}

fn skip_nested(decoder: &mut minicbor::Decoder<'_>, depth: u8) -> Result<(), ()> {
    use minicbor::data::Type;
    let inner = depth.checked_sub(1).ok_or(())?;
    match decoder.datatype().map_err(drop)? {
        Type::ArrayIndef | Type::MapIndef | Type::BytesIndef | Type::StringIndef | Type::Break => Err(()),
        Type::Array => {
            let items = decoder.array().map_err(drop)?.ok_or(())?;
            (0..items).try_for_each(|_| skip_nested(decoder, inner))
        }
        Type::Map => {
            let entries = decoder.map().map_err(drop)?.ok_or(())?;
            (0..entries).try_for_each(|_| skip_nested(decoder, inner).and_then(|()| skip_nested(decoder, inner)))
        }
        Type::Tag => {
            decoder.tag().map_err(drop)?;
            skip_nested(decoder, inner)
        }
        _ => decoder.skip().map_err(drop),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_name_keeps_what_shows_and_drops_what_hides() {
        assert_eq!(passkey_name(Some("  Work laptop ")), "Work laptop");
        assert_eq!(passkey_name(None), "Passkey");
        assert_eq!(passkey_name(Some("\u{202e}\u{200b}\t")), "Passkey");
        assert_eq!(passkey_name(Some("Phone\u{202e}kooB\u{2066}")), "PhonekooB");
        assert_eq!(passkey_name(Some("Clé de sécurité 🔑")), "Clé de sécurité 🔑");
        assert_eq!(passkey_name(Some(&"x".repeat(100))).chars().count(), MAX_NAME_CHARS);
    }

    proptest! {
        #[test]
        fn a_name_is_never_empty_long_or_invisible(typed in any::<String>()) {
            let name = passkey_name(Some(&typed));
            prop_assert!(!name.is_empty() && name.chars().count() <= MAX_NAME_CHARS);
            let overrides = '\u{202a}'..='\u{202e}';
            prop_assert!(!name.chars().any(|c| c.is_control() || overrides.contains(&c)), "{:?}", name);
        }
    }
}
