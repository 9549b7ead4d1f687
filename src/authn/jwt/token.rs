//! An untrusted JWT: parsed, but nothing in it believed yet.
//!
//! jwt-compact checks the compact structure (three base64url parts, a JSON header with `alg`,
//! JSON content); the header and claims are then re-read with duplicate members refused
//! (see [`super::strict_json`]).

use super::error::JwtError;
use super::strict_json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Header members that would let a token choose its own key or key source (RFC 8725 §3.10).
const KEY_INJECTION_MEMBERS: &[&str] = &["jku", "jwk", "x5u", "x5c"];

/// A parsed compact JWS (RFC 7515 §7.1) whose signature is not yet checked.
#[derive(Debug)]
pub struct UntrustedJws<'t> {
    signing_input: &'t str,
    header: Map<String, Value>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// A parsed JWT: a JWS whose payload is a JSON object of claims, none of them believed yet.
#[derive(Debug)]
pub struct UntrustedJwt<'t> {
    jws: UntrustedJws<'t>,
    claims: Map<String, Value>,
}

/// Whether a credential has the shape of a compact JWS (three dot-separated parts), so that the
/// JWT authenticator should claim it rather than leave it to another.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

impl<'t> UntrustedJws<'t> {
    /// Parses a compact JWS. Anything malformed, oversized, with duplicate header members, or
    /// with a non-JSON content type is refused.
    pub fn parse(token: &'t str) -> Result<Self, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed);
        }
        let structural = jwt_compact::UntrustedToken::new(token).map_err(|_| JwtError::Malformed)?;
        let (signing_input, _) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
        let (header_segment, payload_segment) = signing_input.split_once('.').ok_or(JwtError::Malformed)?;
        let header_bytes = URL_SAFE_NO_PAD.decode(header_segment).map_err(|_| JwtError::Malformed)?;
        Ok(Self {
            signing_input,
            header: strict_json::parse_object(&header_bytes).map_err(|_| JwtError::Malformed)?,
            payload: URL_SAFE_NO_PAD.decode(payload_segment).map_err(|_| JwtError::Malformed)?,
            signature: structural.signature_bytes().to_vec(),
        })
    }

    /// `header.payload`, the bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The decoded payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The header's `alg`, as written.
    pub fn alg_name(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// The header's `kid`, if it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The header (unverified).
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// Refuses headers that try to choose the key (`jku`, `jwk`, `x5u`, `x5c`), any `crit`
    /// extension (none is understood, RFC 7515 §4.1.11), a non-string `kid`, and, when the issuer
    /// sets one, a `typ` other than the expected one (RFC 8725 §3.11).
    pub fn check_header(&self, expected_typ: Option<&str>) -> Result<(), JwtError> {
        if let Some(member) = KEY_INJECTION_MEMBERS.iter().find(|m| self.header.contains_key(**m)) {
            return Err(JwtError::ForbiddenHeader(member));
        }
        if self.header.contains_key("crit") {
            return Err(JwtError::UnsupportedCritical);
        }
        if self.header.get("kid").is_some_and(|kid| !kid.is_string()) {
            return Err(JwtError::Malformed);
        }
        if let Some(expected) = expected_typ {
            let typ = self.header.get("typ").and_then(Value::as_str).ok_or(JwtError::TypeMismatch)?;
            let bare = match typ.get(..12) {
                Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
                _ => typ,
            };
            if !bare.eq_ignore_ascii_case(expected) {
                return Err(JwtError::TypeMismatch);
            }
        }
        Ok(())
    }
}

impl<'t> UntrustedJwt<'t> {
    /// Parses a JWT: a compact JWS whose payload is a JSON object (duplicate claims refused).
    pub fn parse(token: &'t str) -> Result<Self, JwtError> {
        let jws = UntrustedJws::parse(token)?;
        let claims = strict_json::parse_object(jws.payload()).map_err(|_| JwtError::Malformed)?;
        Ok(Self { jws, claims })
    }

    /// The unverified `iss` claim, used only to pick which issuer's rules apply.
    pub fn claimed_issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The claims (unverified until the signature is).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims, by value.
    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }
}

impl<'t> std::ops::Deref for UntrustedJwt<'t> {
    type Target = UntrustedJws<'t>;

    fn deref(&self) -> &UntrustedJws<'t> {
        &self.jws
    }
}
