//! A credential's public key as a COSE_Key (RFC 9052 §7, RFC 9053), turned into the JWK that
//! the signature backends import. Three algorithms: ES256 (EC2, P-256), EdDSA (OKP, Ed25519) and
//! RS256 (RSA, at least 2048 bits). The key's `alg` must be one of them and fit its type.

use super::PasskeyError;
use crate::authn::jwt::alg::Alg;
use crate::authn::jwt::keys::VerificationKey;
use minicbor::data::Type;
use serde_json::{json, Value};

/// COSE algorithm identifiers (IANA "COSE Algorithms") of the three supported algorithms, in the
/// order the browser is offered them.
pub const SUPPORTED_ALGORITHMS: [i64; 3] = [-8, -7, -257];

/// A credential public key.
#[derive(Debug, Clone, PartialEq)]
pub struct CoseKey {
    /// The one algorithm the key verifies.
    pub alg: Alg,
    /// The public key as a JWK (`kty`, `crv`, `x`, `y` or `n`, `e`).
    pub jwk: Value,
}

impl CoseKey {
    /// The key, ready for a signature backend.
    pub fn verification_key(&self) -> Result<VerificationKey, PasskeyError> {
        VerificationKey::from_jwk(&self.jwk).map_err(|_| PasskeyError::AlgorithmUnsupported)
    }

    /// The COSE algorithm identifier.
    pub fn cose_alg(&self) -> i64 {
        match self.alg {
            Alg::Es256 => -7,
            Alg::EdDsa => -8,
            _ => -257,
        }
    }
}

/// The algorithm a COSE identifier names, if supported.
pub fn alg_of(cose_alg: i64) -> Option<Alg> {
    match cose_alg {
        -7 => Some(Alg::Es256),
        -8 => Some(Alg::EdDsa),
        -257 => Some(Alg::Rs256),
        _ => None,
    }
}

/// One map value the key needs: an integer or a byte string.
#[derive(Debug, Clone, PartialEq)]
enum Param<'b> {
    Int(i64),
    Bytes(&'b [u8]),
}

/// The y coordinates (sign bit cleared, little-endian) of Ed25519's points of small order: 0, 1,
/// p − 1 and the two of order 8. Against such a key a signature can verify for many messages.
const ED25519_SMALL_ORDER_Y: [[u8; 32]; 5] = {
    let zero = [0u8; 32];
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_one = [0xff; 32];
    p_minus_one[0] = 0xec;
    p_minus_one[31] = 0x7f;
    [
        zero,
        one,
        p_minus_one,
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
            0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
            0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
        ],
    ]
};

/// Whether an Ed25519 public key is of small order or not canonically encoded (y ≥ p): refused
/// at registration, whatever the signature backend would make of it.
fn ed25519_key_is_weak(x: &[u8]) -> bool {
    let mut y = [0u8; 32];
    y.copy_from_slice(x);
    y[31] &= 0x7f;
    // y ≥ p = 2^255 − 19: the top 30 bytes all 0xff (0x7f at the top) and the lowest ≥ 0xed.
    let not_canonical = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    not_canonical || ED25519_SMALL_ORDER_Y.contains(&y)
}

fn is_int(datatype: Type) -> bool {
    matches!(datatype, Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64)
}

/// Parses the COSE_Key at the start of `bytes`: the key, and how many bytes it took.
pub fn parse_prefix(bytes: &[u8]) -> Result<(CoseKey, usize), PasskeyError> {
    let bad = PasskeyError::Malformed("credentialPublicKey");
    let mut decoder = minicbor::Decoder::new(bytes);
    let entries = decoder.map().map_err(|_| bad)?.ok_or(bad)?;
    if entries > 16 {
        return Err(bad);
    }
    let mut params: Vec<(i64, Param<'_>)> = Vec::new();
    let mut int_labels: Vec<i64> = Vec::new();
    let mut text_labels: Vec<&str> = Vec::new();
    for _ in 0..entries {
        let label_type = decoder.datatype().map_err(|_| bad)?;
        if label_type == Type::String {
            // Labels of text are private-use; each once, and ignored.
            let label = decoder.str().map_err(|_| bad)?;
            if text_labels.contains(&label) {
                return Err(bad);
            }
            text_labels.push(label);
            super::skip_definite(&mut decoder).map_err(|_| bad)?;
            continue;
        }
        if !is_int(label_type) {
            return Err(bad);
        }
        // Every label once, also those whose values are skipped (else a skipped value could
        // hide a second copy of a label that is read).
        let label = decoder.i64().map_err(|_| bad)?;
        if int_labels.contains(&label) {
            return Err(bad);
        }
        int_labels.push(label);
        let value = match decoder.datatype().map_err(|_| bad)? {
            datatype if is_int(datatype) => Param::Int(decoder.i64().map_err(|_| bad)?),
            Type::Bytes => Param::Bytes(decoder.bytes().map_err(|_| bad)?),
            _ => {
                super::skip_definite(&mut decoder).map_err(|_| bad)?;
                continue;
            }
        };
        params.push((label, value));
    }
    let get = |label: i64| params.iter().find(|(seen, _)| *seen == label).map(|(_, value)| value);
    let int = |label| match get(label) {
        Some(Param::Int(value)) => Some(*value),
        _ => None,
    };
    let bytes_of = |label| match get(label) {
        Some(Param::Bytes(value)) => Some(*value),
        _ => None,
    };
    let b64 = super::b64url;
    let unsupported = PasskeyError::AlgorithmUnsupported;
    let alg = int(3).and_then(alg_of).ok_or(unsupported)?;
    let jwk = match (alg, int(1)) {
        (Alg::Es256, Some(2)) => {
            let (x, y) = (bytes_of(-2).ok_or(bad)?, bytes_of(-3).ok_or(bad)?);
            if int(-1) != Some(1) || x.len() != 32 || y.len() != 32 {
                return Err(unsupported);
            }
            json!({ "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y) })
        }
        (Alg::EdDsa, Some(1)) => {
            let x = bytes_of(-2).ok_or(bad)?;
            if int(-1) != Some(6) || x.len() != 32 || ed25519_key_is_weak(x) {
                return Err(unsupported);
            }
            json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(x) })
        }
        (Alg::Rs256, Some(3)) => {
            let (n, e) = (bytes_of(-1).ok_or(bad)?, bytes_of(-2).ok_or(bad)?);
            if e.is_empty() || e.len() > 8 || n.first() == Some(&0) {
                return Err(unsupported);
            }
            json!({ "kty": "RSA", "n": b64(n), "e": b64(e) })
        }
        _ => return Err(unsupported),
    };
    let key = CoseKey { alg, jwk };
    // The backends' own checks (on the curve, the modulus size, ROCA).
    key.verification_key()?;
    Ok((key, decoder.position()))
}

// The tests' software authenticator signs with the host-only pure-Rust algorithms.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::super::test_authenticator::{cbor_map, CborValue as V};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_three_algorithms_parse_into_their_jwks() {
        for authenticator in super::super::test_authenticator::Authenticator::all() {
            let cose = authenticator.cose_key();
            let (key, used) = parse_prefix(&cose).unwrap();
            assert_eq!(used, cose.len());
            assert_eq!(key.alg, authenticator.alg());
            assert_eq!(key.jwk, authenticator.jwk());
        }
    }

    #[test]
    fn keys_that_do_not_fit_their_algorithm_are_refused() {
        let x = vec![9u8; 32];
        let es256 = |kty: i64, crv: i64, alg: i64, y_len: usize| {
            cbor_map(&[
                (V::Int(1), V::Int(kty)),
                (V::Int(3), V::Int(alg)),
                (V::Int(-1), V::Int(crv)),
                (V::Int(-2), V::Bytes(x.clone())),
                (V::Int(-3), V::Bytes(vec![1; y_len])),
            ])
        };
        // P-384, an unknown algorithm, a wrong key type, a short coordinate, a point off the curve.
        for bytes in [es256(2, 2, -7, 32), es256(2, 1, -35, 32), es256(1, 1, -7, 32), es256(2, 1, -7, 31)] {
            assert!(parse_prefix(&bytes).is_err());
        }
        assert_eq!(parse_prefix(&es256(2, 1, -7, 32)).map(|_| ()), Err(PasskeyError::AlgorithmUnsupported));
        // A repeated label, also when one of the two has a value that is skipped.
        let repeated = cbor_map(&[(V::Int(3), V::Int(-7)), (V::Int(3), V::Int(-8))]);
        assert_eq!(parse_prefix(&repeated).map(|_| ()), Err(PasskeyError::Malformed("credentialPublicKey")));
        let hidden = cbor_map(&[(V::Int(-2), V::Array(vec![])), (V::Int(-2), V::Bytes(x.clone()))]);
        assert_eq!(parse_prefix(&hidden).map(|_| ()), Err(PasskeyError::Malformed("credentialPublicKey")));
        // Ed25519 keys of small order, and encodings of y ≥ p.
        let ed25519 = |x: Vec<u8>| {
            cbor_map(&[
                (V::Int(1), V::Int(1)),
                (V::Int(3), V::Int(-8)),
                (V::Int(-1), V::Int(6)),
                (V::Int(-2), V::Bytes(x)),
            ])
        };
        let mut weak: Vec<Vec<u8>> = ED25519_SMALL_ORDER_Y.iter().map(|y| y.to_vec()).collect();
        weak.extend(ED25519_SMALL_ORDER_Y.iter().map(|y| [&y[..31], &[y[31] | 0x80]].concat()));
        for low in [0xed, 0xee, 0xff] {
            weak.push([&[low][..], &[0xff; 30], &[0x7f]].concat());
        }
        for x in weak {
            assert_eq!(
                parse_prefix(&ed25519(x.clone())).map(|_| ()),
                Err(PasskeyError::AlgorithmUnsupported),
                "{x:02x?}"
            );
        }
        // An indefinite-length map, and a key that is not a map.
        assert!(parse_prefix(&[0xbf, 0x01, 0x02, 0xff]).is_err());
        assert!(parse_prefix(&[0x80]).is_err());
        // A 1024-bit RSA key.
        let weak_rsa = cbor_map(&[
            (V::Int(1), V::Int(3)),
            (V::Int(3), V::Int(-257)),
            (V::Int(-1), V::Bytes(vec![0xc5; 128])),
            (V::Int(-2), V::Bytes(vec![1, 0, 1])),
        ]);
        assert_eq!(parse_prefix(&weak_rsa).map(|_| ()), Err(PasskeyError::AlgorithmUnsupported));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_prefix(&bytes);
        }

        #[test]
        fn a_changed_byte_never_yields_the_same_key(position in any::<prop::sample::Index>(), xor in 1u8..) {
            let authenticator = super::super::test_authenticator::Authenticator::es256();
            let mut cose = authenticator.cose_key();
            let index = position.index(cose.len());
            cose[index] ^= xor;
            if let Ok((key, _)) = parse_prefix(&cose) {
                prop_assert_ne!(key.jwk, authenticator.jwk());
            }
        }
    }
}
