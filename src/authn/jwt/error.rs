//! Why a JWT was refused, down to the malformed signature.

use std::fmt;

/// Why a JWT was refused. The client only ever sees `invalid_token`; this goes to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not a well-formed JWS with JSON header and claims (or duplicate members, or too long).
    Malformed,
    /// No configured issuer has this `iss`.
    UnknownIssuer,
    /// `alg` is `none`, unknown, or not on the issuer's list.
    AlgorithmNotAllowed,
    /// A header member that would let the token choose its key.
    ForbiddenHeader(&'static str),
    /// A `crit` header (no extension is understood).
    UnsupportedCritical,
    /// `typ` is not the issuer's expected type.
    TypeMismatch,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// `aud` names none of the issuer's audiences.
    AudienceMismatch,
    /// A required claim is missing.
    MissingClaim(String),
    /// The `kid` is not in the issuer's key set, even after a refresh.
    UnknownKid,
    /// The `kid` names a key that cannot verify the token's algorithm.
    KeyTypeMismatch,
    /// No `kid`, and several keys could verify the token.
    AmbiguousKey,
    /// No key can verify the token's algorithm.
    NoKey,
    /// The signature is malformed.
    MalformedSignature(SignatureProblem),
    /// The signature does not verify.
    BadSignature,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Malformed => f.write_str("malformed"),
            JwtError::UnknownIssuer => f.write_str("unknown_issuer"),
            JwtError::AlgorithmNotAllowed => f.write_str("algorithm_not_allowed"),
            JwtError::ForbiddenHeader(member) => write!(f, "forbidden_header:{member}"),
            JwtError::UnsupportedCritical => f.write_str("unsupported_crit"),
            JwtError::TypeMismatch => f.write_str("typ_mismatch"),
            JwtError::Expired => f.write_str("expired"),
            JwtError::NotYetValid => f.write_str("not_yet_valid"),
            JwtError::IssuedInFuture => f.write_str("issued_in_future"),
            JwtError::AudienceMismatch => f.write_str("audience_mismatch"),
            JwtError::MissingClaim(name) => write!(f, "missing_claim:{name}"),
            JwtError::UnknownKid => f.write_str("unknown_kid"),
            JwtError::KeyTypeMismatch => f.write_str("key_type_mismatch"),
            JwtError::AmbiguousKey => f.write_str("ambiguous_key"),
            JwtError::NoKey => f.write_str("no_key"),
            JwtError::MalformedSignature(problem) => write!(f, "malformed_signature:{problem:?}"),
            JwtError::BadSignature => f.write_str("bad_signature"),
        }
    }
}

/// Why a signature was refused before verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureProblem {
    /// The key cannot verify this algorithm.
    KeyMismatch,
    /// The signature has the wrong length for the algorithm or key.
    BadLength,
    /// An ECDSA `r` or `s` is zero or not below the group order.
    ScalarOutOfRange,
    /// An HMAC secret shorter than the hash output (RFC 7518 §3.2).
    WeakKey,
}
