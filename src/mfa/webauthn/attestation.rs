//! The attestation object of a registration (WebAuthn §6.5): `{fmt, attStmt, authData}` in CBOR.
//! Portcullis asks for no attestation (`"attestation": "none"`), so it accepts the `none` format,
//! and `packed` self attestation (no certificate: the credential signs its own registration).
//! Any other statement is refused rather than ignored: nothing here can judge a certificate chain.

use super::PasskeyError;
use minicbor::data::Type;

/// What the attestation statement proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement<'b> {
    /// No statement.
    None,
    /// `packed` self attestation: the credential's signature (COSE algorithm `alg`) over
    /// `authData || SHA-256(clientDataJSON)`.
    SelfSigned {
        /// The COSE algorithm it says it used.
        alg: i64,
        /// The signature.
        sig: &'b [u8],
    },
}

/// A parsed attestation object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationObject<'b> {
    /// The statement.
    pub statement: Statement<'b>,
    /// The authenticator data, as the bytes that were signed.
    pub auth_data: &'b [u8],
}

const BAD: PasskeyError = PasskeyError::Malformed("attestationObject");

/// The most entries a map of the attestation object may have (it names three, `attStmt` two).
const MAX_ENTRIES: u64 = 8;

/// A map's entry count: definite and at most [`MAX_ENTRIES`].
fn bounded_map(decoder: &mut minicbor::Decoder<'_>) -> Result<u64, PasskeyError> {
    match decoder.map() {
        Ok(Some(entries)) if entries <= MAX_ENTRIES => Ok(entries),
        _ => Err(BAD),
    }
}

impl<'b> AttestationObject<'b> {
    /// Parses an attestation object; every byte must be accounted for.
    pub fn parse(bytes: &'b [u8]) -> Result<Self, PasskeyError> {
        let mut decoder = minicbor::Decoder::new(bytes);
        let entries = bounded_map(&mut decoder)?;
        let (mut fmt, mut statement_at, mut auth_data) = (None, None, None);
        let mut seen: Vec<&str> = Vec::new();
        for _ in 0..entries {
            let key = decoder.str().map_err(|_| BAD)?;
            if seen.contains(&key) {
                return Err(BAD);
            }
            seen.push(key);
            match key {
                "fmt" => fmt = Some(decoder.str().map_err(|_| BAD)?),
                "authData" => auth_data = Some(decoder.bytes().map_err(|_| BAD)?),
                "attStmt" => {
                    if decoder.datatype().map_err(|_| BAD)? != Type::Map {
                        return Err(BAD);
                    }
                    statement_at = Some(decoder.position());
                    super::skip_definite(&mut decoder).map_err(|_| BAD)?;
                }
                _ => super::skip_definite(&mut decoder).map_err(|_| BAD)?,
            }
        }
        if decoder.position() != bytes.len() {
            return Err(BAD);
        }
        let (fmt, statement_at, auth_data) = (fmt.ok_or(BAD)?, statement_at.ok_or(BAD)?, auth_data.ok_or(BAD)?);
        let statement = match fmt {
            "none" => {
                let mut statement = minicbor::Decoder::new(&bytes[statement_at..]);
                if statement.map().map_err(|_| BAD)? != Some(0) {
                    return Err(BAD);
                }
                Statement::None
            }
            "packed" => packed(&bytes[statement_at..])?,
            _ => return Err(PasskeyError::AttestationUnsupported),
        };
        Ok(Self { statement, auth_data })
    }
}

/// A `packed` statement: `{alg, sig}` and no `x5c` (self attestation only).
fn packed(bytes: &[u8]) -> Result<Statement<'_>, PasskeyError> {
    let mut decoder = minicbor::Decoder::new(bytes);
    let entries = bounded_map(&mut decoder)?;
    let (mut alg, mut sig) = (None, None);
    let mut seen: Vec<&str> = Vec::new();
    for _ in 0..entries {
        let key = decoder.str().map_err(|_| BAD)?;
        if seen.contains(&key) {
            return Err(BAD);
        }
        seen.push(key);
        match key {
            "alg" => alg = Some(decoder.i64().map_err(|_| BAD)?),
            "sig" => sig = Some(decoder.bytes().map_err(|_| BAD)?),
            // A certificate chain (full attestation) is not something Portcullis can judge.
            "x5c" => return Err(PasskeyError::AttestationUnsupported),
            _ => super::skip_definite(&mut decoder).map_err(|_| BAD)?,
        }
    }
    Ok(Statement::SelfSigned { alg: alg.ok_or(BAD)?, sig: sig.ok_or(BAD)? })
}

// The tests' software authenticator signs with the host-only pure-Rust algorithms.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::super::test_authenticator::{cbor_map, CborValue as V};
    use super::*;
    use proptest::prelude::*;

    fn object(fmt: &str, statement: V) -> Vec<u8> {
        cbor_map(&[
            (V::Text("fmt".into()), V::Text(fmt.into())),
            (V::Text("attStmt".into()), statement),
            (V::Text("authData".into()), V::Bytes(vec![1, 2, 3])),
        ])
    }

    #[test]
    fn none_and_packed_self_attestation_parse_and_others_are_refused() {
        let none = object("none", V::Map(vec![]));
        assert_eq!(
            AttestationObject::parse(&none),
            Ok(AttestationObject { statement: Statement::None, auth_data: &[1, 2, 3] })
        );
        let packed = object(
            "packed",
            V::Map(vec![(V::Text("alg".into()), V::Int(-7)), (V::Text("sig".into()), V::Bytes(vec![9; 70]))]),
        );
        assert!(matches!(
            AttestationObject::parse(&packed).map(|o| o.statement),
            Ok(Statement::SelfSigned { alg: -7, .. })
        ));
        let with_chain = object("packed", V::Map(vec![(V::Text("x5c".into()), V::Array(vec![]))]));
        assert_eq!(AttestationObject::parse(&with_chain), Err(PasskeyError::AttestationUnsupported));
        for fmt in ["fido-u2f", "tpm", "android-key", "apple", "android-safetynet"] {
            assert_eq!(
                AttestationObject::parse(&object(fmt, V::Map(vec![]))),
                Err(PasskeyError::AttestationUnsupported)
            );
        }
        // `none` with a statement in it, a statement that is not a map, trailing bytes.
        assert_eq!(AttestationObject::parse(&object("none", V::Map(vec![(V::Int(1), V::Int(1))]))), Err(BAD));
        assert_eq!(AttestationObject::parse(&object("none", V::Array(vec![]))), Err(BAD));
        let mut trailing = none.clone();
        trailing.push(0);
        assert_eq!(AttestationObject::parse(&trailing), Err(BAD));
        // A repeated authData (which one would be checked?).
        let repeated = cbor_map(&[
            (V::Text("fmt".into()), V::Text("none".into())),
            (V::Text("attStmt".into()), V::Map(vec![])),
            (V::Text("authData".into()), V::Bytes(vec![1])),
            (V::Text("authData".into()), V::Bytes(vec![2])),
        ]);
        assert_eq!(AttestationObject::parse(&repeated), Err(BAD));
        // Too many entries, at the top and in the statement (each costs a scan of those seen).
        let mut crowded = vec![
            (V::Text("fmt".into()), V::Text("none".into())),
            (V::Text("attStmt".into()), V::Map(vec![])),
            (V::Text("authData".into()), V::Bytes(vec![1])),
        ];
        crowded.extend((0..6).map(|i| (V::Text(format!("x{i}")), V::Int(0))));
        assert_eq!(AttestationObject::parse(&cbor_map(&crowded)), Err(BAD));
        crowded.pop();
        assert!(AttestationObject::parse(&cbor_map(&crowded)).is_ok(), "eight entries are still read");
        let crowded_statement: Vec<_> = (0..9).map(|i| (V::Text(format!("x{i}")), V::Int(0))).collect();
        assert_eq!(AttestationObject::parse(&object("packed", V::Map(crowded_statement))), Err(BAD));
    }

    #[test]
    fn an_ignored_value_of_indefinite_length_is_refused() {
        let with_extra = |extra: &[u8]| {
            // {"fmt": "none", "attStmt": {}, "authData": h'01', "x": <extra>}
            let mut bytes = vec![0xa4, 0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e'];
            bytes.extend([0x67, b'a', b't', b't', b'S', b't', b'm', b't', 0xa0]);
            bytes.extend([0x68, b'a', b'u', b't', b'h', b'D', b'a', b't', b'a', 0x41, 0x01, 0x61, b'x']);
            bytes.extend(extra);
            AttestationObject::parse(&bytes).map(|_| ())
        };
        assert_eq!(with_extra(&[0x82, 0x01, 0x02]), Ok(()), "a definite array is skipped");
        assert_eq!(with_extra(&[0x9f, 0x01, 0x02, 0xff]), Err(BAD), "an indefinite array");
        assert_eq!(with_extra(&[0x5f, 0x41, 0x01, 0xff]), Err(BAD), "an indefinite byte string");
        assert_eq!(with_extra(&[0xbf, 0x01, 0x02, 0xff]), Err(BAD), "an indefinite map");
        let deep: Vec<u8> = std::iter::repeat_n(0x81, 9).chain([0x00]).collect();
        assert_eq!(with_extra(&deep), Err(BAD), "nested deeper than eight");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = AttestationObject::parse(&bytes);
        }
    }
}
