//! Encrypted assertions as IdPs make them (xml-encryption's layout: the `EncryptedKey` in the
//! data's `KeyInfo`), opened with the test SP key; every algorithm this SP does not take, and
//! every change to the ciphertext, fails with one reason.

use super::*;
use crate::ports::memory::block_on;
use crate::saml::xml::parse;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};

const SP_KEY_PEM: &str = include_str!("../../../tests/support/saml-sp.key.pem");

fn sp_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_der(&crate::saml::config::pkcs8_der(SP_KEY_PEM).unwrap()).unwrap()
}

/// The test SP's decryption key (RustCrypto, as WebCrypto would).
pub(crate) struct TestDecryptor;

impl KeyDecryptor for TestDecryptor {
    async fn unwrap_key(&self, hash: OaepHash, wrapped: &[u8]) -> Result<Option<Vec<u8>>, Unavailable> {
        let padding = match hash {
            OaepHash::Sha1 => Oaep::new::<sha1::Sha1>(),
            OaepHash::Sha256 => Oaep::new::<sha2::Sha256>(),
        };
        Ok(sp_key().decrypt(padding, wrapped).ok())
    }
}

/// A fixed "random" source: these tests need reproducible ciphertexts, not secrecy.
struct Fixed(u8);

impl rsa::rand_core::RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes([self.0; 4])
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_le_bytes([self.0; 8])
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest.iter_mut() {
            self.0 = self.0.wrapping_mul(31).wrapping_add(7);
            *byte = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for Fixed {}

/// How to encrypt.
#[derive(Clone, Copy)]
pub(crate) struct Encrypting<'a> {
    /// The content algorithm URI.
    pub content: &'a str,
    /// The key transport URI.
    pub key_transport: &'a str,
    /// Extra children of the key's `EncryptionMethod` (a DigestMethod, an MGF).
    pub key_method_children: &'a str,
}

/// AES-GCM 256 and RSA-OAEP-MGF1P, as samlify sends by default (with GCM).
pub(crate) const DEFAULT: Encrypting<'static> = Encrypting {
    content: "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    key_transport: RSA_OAEP_MGF1P,
    key_method_children: r#"<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>"#,
};

fn aes_cbc_encrypt(key: &[u8], iv: [u8; 16], plain: &[u8]) -> Vec<u8> {
    use aes_gcm::aes::cipher::BlockEncrypt;
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut previous = iv;
    let mut out = iv.to_vec();
    for chunk in data.chunks(16) {
        let mut block = Block::from(<[u8; 16]>::try_from(chunk).unwrap());
        block.iter_mut().zip(previous).for_each(|(b, p)| *b ^= p);
        match key.len() {
            16 => Aes128::new_from_slice(key).unwrap().encrypt_block(&mut block),
            _ => Aes256::new_from_slice(key).unwrap().encrypt_block(&mut block),
        }
        previous = block.into();
        out.extend_from_slice(&block);
    }
    out
}

/// `assertion` as an `EncryptedAssertion` to the test SP key (`seed` varies the keys).
pub(crate) fn encrypt(assertion: &str, how: Encrypting<'_>, seed: u8) -> String {
    let mut rng = Fixed(seed);
    let content = Content::of(how.content).expect("a known content algorithm");
    let mut key = vec![0u8; content.key_len()];
    rsa::rand_core::RngCore::fill_bytes(&mut rng, &mut key);
    let ciphertext = match content {
        Content::Gcm128 | Content::Gcm256 => {
            let iv = [seed; 12];
            let nonce = Nonce::from(iv);
            let sealed = match content {
                Content::Gcm128 => Aes128Gcm::new_from_slice(&key).unwrap().encrypt(&nonce, assertion.as_bytes()),
                _ => Aes256Gcm::new_from_slice(&key).unwrap().encrypt(&nonce, assertion.as_bytes()),
            }
            .unwrap();
            [iv.as_slice(), &sealed].concat()
        }
        Content::Cbc128 | Content::Cbc256 => aes_cbc_encrypt(&key, [seed; 16], assertion.as_bytes()),
    };
    let public = RsaPublicKey::from(&sp_key());
    let padding = if how.key_method_children.contains("sha256") {
        Oaep::new::<sha2::Sha256>()
    } else {
        Oaep::new::<sha1::Sha1>()
    };
    let wrapped = public.encrypt(&mut rng, padding, &key).unwrap();
    format!(
        r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="{XENC_NS}" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{content}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{transport}">{children}</xenc:EncryptionMethod><ds:KeyInfo><ds:X509Data/></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{wrapped}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>
{ciphertext}
</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        content = how.content,
        transport = how.key_transport,
        children = how.key_method_children,
        wrapped = STANDARD.encode(wrapped),
        ciphertext = STANDARD.encode(ciphertext),
    )
}

const ASSERTION: &str = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1"><saml:Issuer>https://idp.example</saml:Issuer></saml:Assertion>"#;

fn open(encrypted: &str) -> Result<String, &'static str> {
    let document = parse(encrypted).expect("well-formed");
    block_on(decrypt_assertion(document.root_element(), &TestDecryptor, true)).map_err(|failure| match failure {
        DecryptFailure::Refused(refusal) => refusal.reason(),
        DecryptFailure::Unavailable(_) => "unavailable",
    })
}

#[test]
fn every_content_algorithm_and_oaep_hash_opens() {
    let sha256 = r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/>"#;
    for content in CONTENT_ALGORITHMS {
        for (transport, children) in
            [(RSA_OAEP_MGF1P, DEFAULT.key_method_children), (RSA_OAEP_MGF1P, ""), (RSA_OAEP, sha256)]
        {
            let how = Encrypting { content, key_transport: transport, key_method_children: children };
            assert_eq!(open(&encrypt(ASSERTION, how, 3)).as_deref(), Ok(ASSERTION), "{content} {transport} {children}");
        }
    }
}

#[test]
fn aes_cbc_is_taken_only_under_a_signature_over_the_ciphertext() {
    for content in &CONTENT_ALGORITHMS[2..] {
        let text = encrypt(ASSERTION, Encrypting { content, ..DEFAULT }, 8);
        let document = parse(&text).unwrap();
        let unsigned = block_on(decrypt_assertion(document.root_element(), &TestDecryptor, false));
        assert_eq!(unsigned, Err(DecryptFailure::Refused(DecryptRefusal::Algorithm)), "{content}");
    }
    let gcm = encrypt(ASSERTION, DEFAULT, 8);
    let document = parse(&gcm).unwrap();
    assert!(block_on(decrypt_assertion(document.root_element(), &TestDecryptor, false)).is_ok());
}

#[test]
fn algorithms_this_sp_does_not_take_are_refused_by_name() {
    let cases = [
        ("http://www.w3.org/2001/04/xmlenc#tripledes-cbc", RSA_OAEP_MGF1P, ""),
        (CONTENT_ALGORITHMS[0], "http://www.w3.org/2001/04/xmlenc#rsa-1_5", ""),
        // SHA-256 digest with MGF1-SHA-1: WebCrypto cannot mix them.
        (
            CONTENT_ALGORITHMS[0],
            RSA_OAEP,
            r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
        ),
        (CONTENT_ALGORITHMS[0], RSA_OAEP_MGF1P, r#"<xenc:OAEPparams>bGFiZWw=</xenc:OAEPparams>"#),
    ];
    for (content, transport, children) in cases {
        let mut text =
            encrypt(ASSERTION, DEFAULT, 5).replace(DEFAULT.content, content).replace(DEFAULT.key_transport, transport);
        text = text.replace(DEFAULT.key_method_children, children);
        assert_eq!(open(&text), Err("saml_encryption_algorithm"), "{content} {transport} {children}");
    }
}

#[test]
fn a_changed_ciphertext_key_or_padding_is_one_failure() {
    for content in CONTENT_ALGORITHMS {
        let how = Encrypting { content, ..DEFAULT };
        let text = encrypt(ASSERTION, how, 9);
        let document = parse(&text).unwrap();
        let values: Vec<_> = document.descendants().filter(|n| n.has_tag_name((XENC_NS, "CipherValue"))).collect();
        let (key_value, data_value) = (values[0].text().unwrap().trim(), values[1].text().unwrap().trim());
        for which in [key_value, data_value] {
            let mut bytes = STANDARD.decode(which).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            let changed = text.replace(which, &STANDARD.encode(&bytes));
            // AES-CBC can decrypt a changed last block to other bytes; then its padding fails, or
            // it decrypts to text that is not this assertion (its signature fails later).
            match open(&changed) {
                Err(reason) => assert_eq!(reason, "saml_decryption", "{content}"),
                Ok(plain) => assert!(content.contains("cbc") && plain != ASSERTION, "{content}"),
            }
        }
    }
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let other_key = RsaPrivateKey::from_pkcs1_der(include_bytes!("../certificate/idp-rsa.key.der")).unwrap();
    let wrapped = RsaPublicKey::from(&other_key).encrypt(&mut Fixed(2), Oaep::new::<sha1::Sha1>(), &[7; 32]).unwrap();
    let text = encrypt(ASSERTION, DEFAULT, 4);
    let document = parse(&text).unwrap();
    let key_value =
        document.descendants().find(|n| n.has_tag_name((XENC_NS, "CipherValue"))).unwrap().text().unwrap().to_owned();
    assert_eq!(
        open(&text.replace(&key_value, &STANDARD.encode(wrapped))),
        Err("saml_decryption"),
        "wrapped for another key"
    );
}

#[test]
fn the_shape_is_one_encrypted_data_with_one_encrypted_key() {
    let text = encrypt(ASSERTION, DEFAULT, 6);
    let two_data = text.replace(
        "</saml:EncryptedAssertion>",
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>"#,
    );
    assert_eq!(open(&two_data), Err("saml_encrypted_shape"));
    let other_child = text.replace("</saml:EncryptedAssertion>", "<saml:Assertion/></saml:EncryptedAssertion>");
    assert_eq!(open(&other_child), Err("saml_encrypted_shape"));
    let content_type = text.replace("xmlenc#Element", "xmlenc#Content");
    assert_eq!(open(&content_type), Err("saml_encrypted_shape"));
    // The EncryptedKey beside the data (as some IdPs place it, with a RetrievalMethod).
    let start = text.find("<ds:KeyInfo xmlns:ds").unwrap();
    let end = text.find("</xenc:EncryptedKey></ds:KeyInfo>").unwrap() + "</xenc:EncryptedKey></ds:KeyInfo>".len();
    let key = text[start..end].replace("<ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><xenc:EncryptedKey>", "<xenc:EncryptedKey xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">").replace("</xenc:EncryptedKey></ds:KeyInfo>", "</xenc:EncryptedKey>");
    let beside = format!("{}{}", &text[..start], &text[end..])
        .replace("</xenc:EncryptedData>", &format!("</xenc:EncryptedData>{key}"));
    assert!(beside.contains("</xenc:EncryptedData><xenc:EncryptedKey"), "{beside}");
    assert_eq!(open(&beside).as_deref(), Ok(ASSERTION));
    let both = text.replace("</xenc:EncryptedData>", &format!("</xenc:EncryptedData>{key}"));
    assert_eq!(open(&both), Err("saml_encrypted_shape"), "two keys: which one?");
}

proptest::proptest! {
    #![proptest_config(crate::testing::generative(64))]
    #[test]
    fn a_flipped_byte_of_a_gcm_ciphertext_never_opens(index in 0usize..4096, flip in 1u8..=255) {
        let text = encrypt(ASSERTION, DEFAULT, 11);
        let document = parse(&text).unwrap();
        let data_value = document.descendants().filter(|n| n.has_tag_name((XENC_NS, "CipherValue"))).nth(1).unwrap().text().unwrap().trim().to_owned();
        let mut bytes = STANDARD.decode(&data_value).unwrap();
        let index = index % bytes.len();
        bytes[index] ^= flip;
        proptest::prop_assert_eq!(open(&text.replace(&data_value, &STANDARD.encode(&bytes))), Err("saml_decryption"));
    }
}
