//! Authenticator data (WebAuthn §6.1): `rpIdHash (32) || flags (1) || signCount (4, big-endian)`,
//! then the attested credential data when `AT` is set (`aaguid (16) || credentialIdLength (2) ||
//! credentialId || credentialPublicKey (COSE)`), then the extensions map when `ED` is set.
//! Nothing may follow.

use super::cose::{self, CoseKey};
use super::PasskeyError;

/// The longest credential id WebAuthn allows.
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// The flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    /// User present.
    pub fn user_present(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// User verified (a PIN or biometrics).
    pub fn user_verified(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// Backup eligible: a synced passkey (it may live on several devices).
    pub fn backup_eligible(self) -> bool {
        self.0 & 0x08 != 0
    }
    /// Backed up now.
    pub fn backed_up(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// Attested credential data follows.
    fn attested(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// Extensions follow.
    fn extensions(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// The credential a registration creates.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestedCredential {
    /// The authenticator model's AAGUID (all zeros under `none` attestation).
    pub aaguid: [u8; 16],
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// Its public key.
    pub public_key: CoseKey,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP ID the authenticator used.
    pub rp_id_hash: [u8; 32],
    /// The flags.
    pub flags: Flags,
    /// The signature counter (0 when the authenticator keeps none).
    pub sign_count: u32,
    /// The attested credential data (registrations only).
    pub attested: Option<AttestedCredential>,
}

impl AuthenticatorData {
    /// Parses authenticator data; every byte must be accounted for.
    pub fn parse(bytes: &[u8]) -> Result<Self, PasskeyError> {
        let truncated = PasskeyError::Malformed("authenticatorData");
        if bytes.len() < 37 {
            return Err(truncated);
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = Flags(bytes[32]);
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        // A credential that is not backup eligible cannot be backed up (§6.1.3).
        if flags.backed_up() && !flags.backup_eligible() {
            return Err(PasskeyError::Malformed("authenticatorData flags"));
        }
        let mut rest = &bytes[37..];
        let attested = if flags.attested() {
            if rest.len() < 18 {
                return Err(truncated);
            }
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&rest[..16]);
            let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            rest = &rest[18..];
            if id_len == 0 || id_len > MAX_CREDENTIAL_ID_LEN || rest.len() < id_len {
                return Err(truncated);
            }
            let credential_id = rest[..id_len].to_vec();
            rest = &rest[id_len..];
            let (public_key, used) = cose::parse_prefix(rest)?;
            rest = &rest[used..];
            Some(AttestedCredential { aaguid, credential_id, public_key })
        } else {
            None
        };
        if flags.extensions() {
            let mut decoder = minicbor::Decoder::new(rest);
            if !matches!(decoder.datatype(), Ok(minicbor::data::Type::Map))
                || super::skip_definite(&mut decoder).is_err()
            {
                return Err(PasskeyError::Malformed("authenticatorData extensions"));
            }
            rest = &rest[decoder.position()..];
        }
        if !rest.is_empty() {
            return Err(PasskeyError::Malformed("authenticatorData trailing bytes"));
        }
        Ok(Self { rp_id_hash, flags, sign_count, attested })
    }
}

// The tests' software authenticator signs with the host-only pure-Rust algorithms.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(flags: u8, count: u32) -> Vec<u8> {
        let mut bytes = vec![7u8; 32];
        bytes.push(flags);
        bytes.extend_from_slice(&count.to_be_bytes());
        bytes
    }

    #[test]
    fn an_assertion_header_parses_and_nothing_may_follow_it() {
        let data = AuthenticatorData::parse(&header(0x05, 9)).unwrap();
        assert!(data.flags.user_present() && data.flags.user_verified() && !data.flags.backup_eligible());
        assert_eq!((data.sign_count, data.attested), (9, None));
        let mut longer = header(0x01, 0);
        longer.push(0);
        assert_eq!(AuthenticatorData::parse(&longer), Err(PasskeyError::Malformed("authenticatorData trailing bytes")));
        for cut in 0..37 {
            assert!(AuthenticatorData::parse(&header(0x01, 0)[..cut]).is_err(), "truncated to {cut}");
        }
        // Backed up without being backup eligible is contradictory.
        assert!(AuthenticatorData::parse(&header(0x11, 0)).is_err());
        // AT set with no credential data, ED set with no map.
        assert!(AuthenticatorData::parse(&header(0x41, 0)).is_err());
        assert!(AuthenticatorData::parse(&header(0x81, 0)).is_err());
        let mut with_extensions = header(0x81, 0);
        with_extensions.extend_from_slice(&[0xa1, 0x63, b'f', b'o', b'o', 0xf5]);
        assert!(AuthenticatorData::parse(&with_extensions).is_ok());
    }

    #[test]
    fn every_truncation_of_a_registration_is_refused() {
        let registration = super::super::test_authenticator::Authenticator::es256().registration_auth_data(0x45);
        assert!(AuthenticatorData::parse(&registration).unwrap().attested.is_some());
        for cut in 0..registration.len() {
            assert!(AuthenticatorData::parse(&registration[..cut]).is_err(), "truncated to {cut}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = AuthenticatorData::parse(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_an_attested_header_never_panic(
            flags in any::<u8>(),
            tail in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut bytes = header(flags | 0x40, 0);
            bytes.extend_from_slice(&tail);
            let _ = AuthenticatorData::parse(&bytes);
        }
    }
}
