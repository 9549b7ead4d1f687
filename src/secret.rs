//! Secrets as newtypes: never printed, compared in constant time.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The lower-case hex SHA-256 of a text: what is stored in place of a high-entropy secret (a
/// token, a code), or a key that must not hold the text itself.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Secret bytes (an HMAC key, a pepper). `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes, for the one place that needs them (a MAC or cipher).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for SecretBytes {
    /// Constant-time in the contents (the length is not secret).
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

/// A secret text (a client secret, a token, a PKCE verifier). `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret text.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The text, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// AES-256-GCM under a key of its own, derived from a secret and a label naming its purpose, so
/// that one secret seals several kinds of values and none opens as another. Sealed text is
/// `base64url(nonce).base64url(ciphertext)`; the associated data binds a value to its place.
pub struct Sealer(Aes256Gcm);

impl Sealer {
    /// The sealer of `label`'s values under `secret`: the key is SHA-256(label || secret).
    pub fn new(label: &[u8], secret: &SecretBytes) -> Self {
        let derived = Sha256::new().chain_update(label).chain_update(secret.expose()).finalize();
        Self(Aes256Gcm::new(&derived))
    }

    /// Seals `plaintext`, bound to `aad`, with a nonce never used before under this key.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8], nonce: &[u8; 12]) -> String {
        let sealed = self.0.encrypt(&Nonce::from(*nonce), Payload { msg: plaintext, aad }).unwrap_or_default();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(nonce), URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Opens a sealed text; `None` when it is malformed, tampered with, sealed under another key
    /// or label, or bound to other associated data.
    pub fn open(&self, aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_once('.')?;
        let nonce: [u8; 12] = URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?;
        let ciphertext = URL_SAFE_NO_PAD.decode(ciphertext).ok()?;
        self.0.decrypt(&Nonce::from(nonce), Payload { msg: &ciphertext, aad }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_label_and_binding() {
        let key = SecretBytes::new(vec![7; 32]);
        let sealer = Sealer::new(b"purpose a", &key);
        let sealed = sealer.seal(b"bound", b"value", &[1; 12]);
        assert_eq!(sealer.open(b"bound", &sealed).as_deref(), Some(&b"value"[..]));
        assert_eq!(sealer.open(b"other", &sealed), None);
        assert_eq!(Sealer::new(b"purpose b", &key).open(b"bound", &sealed), None);
        assert_eq!(Sealer::new(b"purpose a", &SecretBytes::new(vec![8; 32])).open(b"bound", &sealed), None);
        let (nonce, body) = sealed.split_once('.').unwrap();
        let mut flipped = URL_SAFE_NO_PAD.decode(body).unwrap();
        flipped[0] ^= 1;
        assert_eq!(sealer.open(b"bound", &format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(flipped))), None);
        for garbage in ["", ".", "a.b", "no-dot", &format!("{nonce}.")] {
            assert_eq!(sealer.open(b"bound", garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let secret = SecretBytes::new(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(format!("{:?}", SecretString::new("hunter2".into())), "[redacted]");
    }

    #[test]
    fn secrets_compare_by_content() {
        assert_eq!(SecretBytes::new(b"a".to_vec()), SecretBytes::new(b"a".to_vec()));
        assert_ne!(SecretBytes::new(b"a".to_vec()), SecretBytes::new(b"b".to_vec()));
        assert_ne!(SecretBytes::new(b"a".to_vec()), SecretBytes::new(b"ab".to_vec()));
    }
}
