//! `clientDataJSON` (WebAuthn §5.8.1): what the browser says it signed for. The relying party
//! checks the ceremony's type, its own challenge and an allowed origin, and refuses a ceremony run
//! in a cross-origin iframe. The bytes are hashed as they came: they are never re-serialised.

use super::PasskeyError;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Which ceremony.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyType {
    /// Registration (`webauthn.create`).
    Create,
    /// Authentication (`webauthn.get`).
    Get,
}

impl CeremonyType {
    fn name(self) -> &'static str {
        match self {
            CeremonyType::Create => "webauthn.create",
            CeremonyType::Get => "webauthn.get",
        }
    }
}

#[derive(Deserialize)]
struct ClientData<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    challenge: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    origin: std::borrow::Cow<'a, str>,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: Option<bool>,
    #[serde(rename = "topOrigin", default)]
    top_origin: Option<String>,
}

/// What a response's client data must show.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The ceremony.
    pub ceremony: CeremonyType,
    /// The challenge the relying party issued.
    pub challenge: &'a [u8],
    /// The origins the ceremony may run on (exact matches).
    pub origins: &'a [String],
}

/// Checks client data against what the relying party expects.
pub fn check(client_data_json: &[u8], expected: Expected<'_>) -> Result<(), PasskeyError> {
    let data: ClientData<'_> =
        serde_json::from_slice(client_data_json).map_err(|_| PasskeyError::Malformed("clientDataJSON"))?;
    if data.kind != expected.ceremony.name() {
        return Err(PasskeyError::WrongType);
    }
    let challenge = super::b64url_decode("clientDataJSON challenge", &data.challenge)
        .map_err(|_| PasskeyError::ChallengeMismatch)?;
    if !bool::from(challenge.ct_eq(expected.challenge)) {
        return Err(PasskeyError::ChallengeMismatch);
    }
    if !expected.origins.iter().any(|origin| *origin == data.origin) {
        return Err(PasskeyError::OriginMismatch);
    }
    if data.cross_origin == Some(true) || data.top_origin.is_some() {
        return Err(PasskeyError::CrossOrigin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHALLENGE: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn origins() -> Vec<String> {
        vec!["https://app.example".to_owned()]
    }

    fn client_data(kind: &str, challenge: &[u8], origin: &str, extra: &str) -> Vec<u8> {
        format!(r#"{{"type":"{kind}","challenge":"{}","origin":"{origin}"{extra}}}"#, super::super::b64url(challenge))
            .into_bytes()
    }

    #[test]
    fn the_type_challenge_and_origin_must_all_be_the_expected_ones() {
        let origins = origins();
        let get = Expected { ceremony: CeremonyType::Get, challenge: CHALLENGE, origins: &origins };
        let ok = client_data("webauthn.get", CHALLENGE, "https://app.example", r#","crossOrigin":false"#);
        assert_eq!(check(&ok, get), Ok(()));
        let cases = [
            (client_data("webauthn.create", CHALLENGE, "https://app.example", ""), PasskeyError::WrongType),
            (
                client_data("webauthn.get", b"another challenge", "https://app.example", ""),
                PasskeyError::ChallengeMismatch,
            ),
            (client_data("webauthn.get", CHALLENGE, "https://evil.example", ""), PasskeyError::OriginMismatch),
            (client_data("webauthn.get", CHALLENGE, "https://app.example.evil", ""), PasskeyError::OriginMismatch),
            (client_data("webauthn.get", CHALLENGE, "http://app.example", ""), PasskeyError::OriginMismatch),
            (
                client_data("webauthn.get", CHALLENGE, "https://app.example", r#","crossOrigin":true"#),
                PasskeyError::CrossOrigin,
            ),
            (
                client_data("webauthn.get", CHALLENGE, "https://app.example", r#","topOrigin":"https://evil.example""#),
                PasskeyError::CrossOrigin,
            ),
            // A repeated member: serde refuses it, so no parser disagreement can pick the other one.
            (
                client_data("webauthn.get", CHALLENGE, "https://app.example", r#","origin":"https://evil.example""#),
                PasskeyError::Malformed("clientDataJSON"),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(check(&bytes, get), Err(expected), "{}", String::from_utf8_lossy(&bytes));
        }
        let create = Expected { ceremony: CeremonyType::Create, ..get };
        assert_eq!(check(&ok, create), Err(PasskeyError::WrongType));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_pass(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let origins = origins();
            let expected = Expected { ceremony: CeremonyType::Get, challenge: CHALLENGE, origins: &origins };
            prop_assert!(check(&bytes, expected).is_err());
        }
    }
}
