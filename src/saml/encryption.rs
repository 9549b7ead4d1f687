//! An `EncryptedAssertion` opened (XML Encryption 1.1): the content key unwrapped with this SP's
//! decryption key through the [`KeyDecryptor`] port (RSA-OAEP, with SHA-1 or SHA-256, in
//! WebCrypto in the worker), then the assertion decrypted with it (AES-GCM or AES-CBC, 128 or
//! 256 bits).
//!
//! Encryption gives secrecy, never authenticity: the SP's encryption certificate is public, so
//! anyone can encrypt an assertion to it. What is decrypted is read only as
//! [`super::response::verify_encrypted`] says: signed by the IdP itself, or inside a response whose
//! signature covers the ciphertext. RSA PKCS #1 v1.5 key transport (Bleichenbacher) is refused;
//! AES-CBC, whose malleability makes padding and parsing an oracle for forged ciphertexts (Jager
//! and Somorovsky), is taken only where a verified signature covers the ciphertext, else AES-GCM
//! only; and every failure of the cryptography is the one reason `saml_decryption`.

use super::dsig::DSIG_NS;
use super::xml::{attribute, is, single_text, without_xml_blanks};
use crate::ports::Unavailable;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::cipher::BlockDecrypt;
use aes_gcm::aes::{Aes128, Aes256, Block};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use roxmltree::Node;

/// The XML Encryption namespace.
pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Encryption 1.1's namespace.
pub const XENC11_NS: &str = "http://www.w3.org/2009/xmlenc11#";

/// The content algorithms accepted, as SP metadata lists them (strongest first).
pub const CONTENT_ALGORITHMS: [&str; 4] = [
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
];
/// RSA-OAEP with MGF1-SHA-1 (XML Encryption 1.0).
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// RSA-OAEP (XML Encryption 1.1), with its digest and MGF named.
pub const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";

const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const MGF1_SHA1: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha1";
const MGF1_SHA256: &str = "http://www.w3.org/2009/xmlenc11#mgf1sha256";
const ELEMENT_TYPE: &str = "http://www.w3.org/2001/04/xmlenc#Element";

/// The largest wrapped key read (a 4096-bit RSA block).
const MAX_WRAPPED_KEY_BYTES: usize = 512;

/// The OAEP hash (the same for the label digest and MGF1, as WebCrypto has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-1 (`rsa-oaep-mgf1p`, the common case).
    Sha1,
    /// SHA-256.
    Sha256,
}

/// Unwraps content keys with this SP's decryption key.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait KeyDecryptor {
    /// The content key wrapped in `wrapped`; `None` when it does not decrypt with this key.
    async fn unwrap_key(&self, hash: OaepHash, wrapped: &[u8]) -> Result<Option<Vec<u8>>, Unavailable>;
}

/// No decryption key: nothing unwraps.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDecryption;

impl KeyDecryptor for NoDecryption {
    async fn unwrap_key(&self, _: OaepHash, _: &[u8]) -> Result<Option<Vec<u8>>, Unavailable> {
        Ok(None)
    }
}

/// Why an encrypted assertion did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptRefusal {
    /// Not the shape of an encrypted assertion (the part is for logs).
    Shape(&'static str),
    /// An algorithm this SP does not take (RSA 1.5, 3DES, OAEP with a label or mixed hashes).
    Algorithm,
    /// The cryptography failed: the key, the tag, the padding, or UTF-8 (one reason for all).
    Decryption,
}

impl DecryptRefusal {
    /// A stable reason code.
    pub fn reason(self) -> &'static str {
        match self {
            DecryptRefusal::Shape(_) => "saml_encrypted_shape",
            DecryptRefusal::Algorithm => "saml_encryption_algorithm",
            DecryptRefusal::Decryption => "saml_decryption",
        }
    }
}

/// Why opening failed: refused, or the key backend did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptFailure {
    /// Refused.
    Refused(DecryptRefusal),
    /// The decryption backend failed (fail closed).
    Unavailable(Unavailable),
}

impl From<DecryptRefusal> for DecryptFailure {
    fn from(refusal: DecryptRefusal) -> Self {
        DecryptFailure::Refused(refusal)
    }
}

fn elements<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

fn one<'a, 'input>(
    node: Node<'a, 'input>,
    namespace: &str,
    name: &'static str,
) -> Result<Node<'a, 'input>, DecryptRefusal> {
    let mut found = elements(node).filter(|n| is(*n, namespace, name));
    match (found.next(), found.next()) {
        (Some(only), None) => Ok(only),
        _ => Err(DecryptRefusal::Shape(name)),
    }
}

fn cipher_value(holder: Node<'_, '_>) -> Result<Vec<u8>, DecryptRefusal> {
    let data = one(holder, XENC_NS, "CipherData")?;
    let value = one(data, XENC_NS, "CipherValue")?;
    let text = single_text(value).ok_or(DecryptRefusal::Shape("CipherValue"))?;
    STANDARD.decode(without_xml_blanks(text)).map_err(|_| DecryptRefusal::Shape("CipherValue"))
}

/// The OAEP hash an `EncryptedKey`'s method names, if it is one this SP takes.
fn oaep_hash(method: Node<'_, '_>) -> Result<OaepHash, DecryptRefusal> {
    let algorithm = attribute(method, "Algorithm").ok_or(DecryptRefusal::Shape("EncryptionMethod"))?;
    let mut digest = None;
    let mut mgf = None;
    for child in elements(method) {
        if is(child, DSIG_NS, "DigestMethod") && digest.is_none() {
            digest = Some(attribute(child, "Algorithm").ok_or(DecryptRefusal::Shape("DigestMethod"))?);
        } else if is(child, XENC11_NS, "MGF") && mgf.is_none() {
            mgf = Some(attribute(child, "Algorithm").ok_or(DecryptRefusal::Shape("MGF"))?);
        } else {
            // OAEPparams (a label) and anything else: not taken.
            return Err(DecryptRefusal::Algorithm);
        }
    }
    match (algorithm, digest.unwrap_or(SHA1), mgf) {
        (RSA_OAEP_MGF1P, SHA1, None) => Ok(OaepHash::Sha1),
        (RSA_OAEP, SHA1, None | Some(MGF1_SHA1)) => Ok(OaepHash::Sha1),
        (RSA_OAEP, SHA256, Some(MGF1_SHA256)) => Ok(OaepHash::Sha256),
        _ => Err(DecryptRefusal::Algorithm),
    }
}

/// The `EncryptedKey` of an `EncryptedData`: in its `KeyInfo`, else the encrypted assertion's own
/// (exactly one either way).
fn encrypted_key<'a, 'input>(
    encrypted_assertion: Node<'a, 'input>,
    data: Node<'a, 'input>,
) -> Result<Node<'a, 'input>, DecryptRefusal> {
    let in_key_info: Vec<Node<'_, '_>> = elements(data)
        .filter(|n| is(*n, DSIG_NS, "KeyInfo"))
        .flat_map(|info| elements(info).filter(|n| is(*n, XENC_NS, "EncryptedKey")))
        .collect();
    let beside: Vec<Node<'_, '_>> = elements(encrypted_assertion).filter(|n| is(*n, XENC_NS, "EncryptedKey")).collect();
    match (in_key_info.as_slice(), beside.as_slice()) {
        ([only], []) | ([], [only]) => Ok(*only),
        _ => Err(DecryptRefusal::Shape("EncryptedKey")),
    }
}

/// Decrypts an `EncryptedAssertion` element (the caller found it: the response's one) to the
/// text of the assertion it holds. AES-CBC only where `cbc_allowed` (a signature covers the
/// ciphertext, so it cannot be a forged probe).
pub async fn decrypt_assertion(
    encrypted_assertion: Node<'_, '_>,
    decryptor: &impl KeyDecryptor,
    cbc_allowed: bool,
) -> Result<String, DecryptFailure> {
    for child in elements(encrypted_assertion) {
        if !is(child, XENC_NS, "EncryptedData") && !is(child, XENC_NS, "EncryptedKey") {
            return Err(DecryptRefusal::Shape("EncryptedAssertion").into());
        }
    }
    let data = one(encrypted_assertion, XENC_NS, "EncryptedData")?;
    if attribute(data, "Type").is_some_and(|kind| kind != ELEMENT_TYPE) {
        return Err(DecryptRefusal::Shape("Type").into());
    }
    let method = one(data, XENC_NS, "EncryptionMethod")?;
    let content_algorithm = attribute(method, "Algorithm").ok_or(DecryptRefusal::Shape("EncryptionMethod"))?;
    let content = Content::of(content_algorithm).ok_or(DecryptRefusal::Algorithm)?;
    if matches!(content, Content::Cbc128 | Content::Cbc256) && !cbc_allowed {
        return Err(DecryptRefusal::Algorithm.into());
    }
    let key = encrypted_key(encrypted_assertion, data)?;
    let hash = oaep_hash(one(key, XENC_NS, "EncryptionMethod")?)?;
    let wrapped = cipher_value(key)?;
    let ciphertext = cipher_value(data)?;
    if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_KEY_BYTES {
        return Err(DecryptRefusal::Decryption.into());
    }
    let content_key = match decryptor.unwrap_key(hash, &wrapped).await {
        Ok(Some(key)) => key,
        Ok(None) => return Err(DecryptRefusal::Decryption.into()),
        Err(unavailable) => return Err(DecryptFailure::Unavailable(unavailable)),
    };
    let plaintext = content.decrypt(&content_key, &ciphertext).ok_or(DecryptRefusal::Decryption)?;
    String::from_utf8(plaintext).map_err(|_| DecryptRefusal::Decryption.into())
}

/// A content algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Gcm128,
    Gcm256,
    Cbc128,
    Cbc256,
}

impl Content {
    fn of(algorithm: &str) -> Option<Self> {
        Some(match algorithm {
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Content::Gcm128,
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Content::Gcm256,
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Content::Cbc128,
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Content::Cbc256,
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            Content::Gcm128 | Content::Cbc128 => 16,
            Content::Gcm256 | Content::Cbc256 => 32,
        }
    }

    /// `iv || ciphertext [|| tag]` decrypted; `None` for any failure.
    fn decrypt(self, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        if key.len() != self.key_len() {
            return None;
        }
        match self {
            Content::Gcm128 | Content::Gcm256 => {
                // A 12-byte IV, then the ciphertext and its 16-byte tag.
                if data.len() < 12 + 16 {
                    return None;
                }
                let (iv, sealed) = data.split_at(12);
                let iv: [u8; 12] = iv.try_into().ok()?;
                let nonce = Nonce::from(iv);
                match self {
                    Content::Gcm128 => Aes128Gcm::new_from_slice(key).ok()?.decrypt(&nonce, sealed).ok(),
                    _ => Aes256Gcm::new_from_slice(key).ok()?.decrypt(&nonce, sealed).ok(),
                }
            }
            Content::Cbc128 | Content::Cbc256 => {
                // A 16-byte IV, then whole blocks; XML Encryption's padding is any bytes ending in
                // their count (1 to 16).
                if data.len() < 32 || !data.len().is_multiple_of(16) {
                    return None;
                }
                let mut plain = data[16..].to_vec();
                // One key schedule for the whole message.
                enum Cipher {
                    Aes128(Box<Aes128>),
                    Aes256(Box<Aes256>),
                }
                let cipher = match self {
                    Content::Cbc128 => Cipher::Aes128(Box::new(Aes128::new_from_slice(key).ok()?)),
                    _ => Cipher::Aes256(Box::new(Aes256::new_from_slice(key).ok()?)),
                };
                let decrypt_block = |bytes: &mut [u8]| -> Option<()> {
                    let mut block = Block::from(<[u8; 16]>::try_from(&*bytes).ok()?);
                    match &cipher {
                        Cipher::Aes128(aes) => aes.decrypt_block(&mut block),
                        Cipher::Aes256(aes) => aes.decrypt_block(&mut block),
                    }
                    bytes.copy_from_slice(&block);
                    Some(())
                };
                for (index, block) in plain.chunks_mut(16).enumerate() {
                    decrypt_block(block)?;
                    let previous = &data[index * 16..index * 16 + 16];
                    block.iter_mut().zip(previous).for_each(|(byte, mask)| *byte ^= mask);
                }
                let pad = usize::from(*plain.last()?);
                if pad == 0 || pad > 16 {
                    return None;
                }
                plain.truncate(plain.len() - pad);
                Some(plain)
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests;
