//! Test-only signing of SAML documents with the keys of `certificate/` (made for these tests):
//! a template's `ds:Signature` holds the placeholders `DIGEST_VALUE` and `SIGNATURE_VALUE`, and
//! [`sign`] fills them as an IdP would: the digest over the holding element's canonical form
//! (the signature left out, the reference's `PrefixList` honoured), then the signature over the
//! canonical `SignedInfo`. Nothing here is used to verify.

use super::c14n;
use super::dsig::DSIG_NS;
use super::xml::parse;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jwt_compact::alg::{Es256, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::{Digest, Sha256};

/// Which of the test IdP's keys signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    /// RSA-2048, with `certificate/idp-rsa.pem`.
    Rsa,
    /// EC P-256, with `certificate/idp-ec.pem`.
    Ec,
}

/// The signature method URI of a key.
pub fn method_of(key: TestKey) -> &'static str {
    match key {
        TestKey::Rsa => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        TestKey::Ec => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    }
}

/// The raw signature of `message` (RSASSA-PKCS1-v1_5 or ECDSA `r || s`, as XML-DSig encodes
/// them), with SHA-256.
pub fn signature_of(key: TestKey, message: &[u8]) -> Vec<u8> {
    match key {
        TestKey::Rsa => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            let private = rsa::RsaPrivateKey::from_pkcs1_der(include_bytes!("certificate/idp-rsa.key.der")).unwrap();
            Rsa::rs256().sign(&private, message).as_bytes().to_vec()
        }
        TestKey::Ec => {
            let hex = include_str!("certificate/idp-ec.key.hex").trim();
            let scalar: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            let private = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
            Es256.sign(&private, message).as_bytes().to_vec()
        }
    }
}

/// Fills the signature template of the element with `id` (the template's reference is `#id`):
/// its digest over that element, then its signature value with `key`. Sign the inner element
/// first when one signed element holds another.
pub fn sign(text: &str, id: &str, key: TestKey) -> String {
    let document = parse(text).expect("the template parses");
    let reference = format!("#{id}");
    let signature = document
        .descendants()
        .filter(|n| n.has_tag_name((DSIG_NS, "Signature")))
        .find(|n| {
            n.descendants().any(|d| d.has_tag_name((DSIG_NS, "Reference")) && d.attribute("URI") == Some(&reference))
        })
        .expect("a signature template");
    let placeholder = |name: &str, value: &str| {
        signature.descendants().find(|d| d.has_tag_name((DSIG_NS, name))).and_then(|d| d.text()) == Some(value)
    };
    assert!(placeholder("DigestValue", "DIGEST_VALUE") && placeholder("SignatureValue", "SIGNATURE_VALUE"));
    // The placeholders' byte offsets, so that only this template is filled.
    let digest_at = signature.descendants().find(|d| d.has_tag_name((DSIG_NS, "DigestValue"))).unwrap().range().start;
    let value_at = signature.descendants().find(|d| d.has_tag_name((DSIG_NS, "SignatureValue"))).unwrap().range().start;
    let prefixes_of = |parent: &str| -> Vec<&str> {
        signature
            .descendants()
            .find(|n| n.has_tag_name((DSIG_NS, parent)))
            .and_then(|n| n.descendants().find(|d| d.tag_name().name() == "InclusiveNamespaces"))
            .and_then(|n| n.attribute("PrefixList"))
            .map(|list| list.split_ascii_whitespace().collect())
            .unwrap_or_default()
    };
    let signed = signature.parent_element().expect("an enveloped signature");
    let canonical = c14n::exclusive(signed, &prefixes_of("Reference"), Some(signature.id())).expect("canonical");
    let digest = STANDARD.encode(Sha256::digest(canonical.as_bytes()));
    let digested = format!("{}{}", &text[..digest_at], text[digest_at..].replacen("DIGEST_VALUE", &digest, 1));
    let value_at = value_at + digest.len() - "DIGEST_VALUE".len();

    let document = parse(&digested).expect("the digested template parses");
    let signed_info = document
        .descendants()
        .filter(|n| n.has_tag_name((DSIG_NS, "SignedInfo")))
        .find(|n| {
            n.parent_element().is_some_and(|sig| {
                sig.children().any(|c| c.has_tag_name((DSIG_NS, "SignatureValue")) && c.range().start == value_at)
            })
        })
        .expect("the template's SignedInfo");
    let inclusive: Vec<&str> = signed_info
        .children()
        .find(|n| n.has_tag_name((DSIG_NS, "CanonicalizationMethod")))
        .and_then(|n| n.children().find(|c| c.tag_name().name() == "InclusiveNamespaces"))
        .and_then(|n| n.attribute("PrefixList"))
        .map(|list| list.split_ascii_whitespace().collect())
        .unwrap_or_default();
    let canonical_info = c14n::exclusive(signed_info, &inclusive, None).expect("canonical SignedInfo");
    let value = STANDARD.encode(signature_of(key, canonical_info.as_bytes()));
    format!("{}{}", &digested[..value_at], digested[value_at..].replacen("SIGNATURE_VALUE", &value, 1))
}

/// An enveloped signature template for the element with `id` (placeholders to [`sign`]), with
/// exclusive C14N, SHA-256 and `key`'s method, and, if given, a `KeyInfo` holding
/// `key_info_certificate` (which a verifier must never read).
pub fn signature_template(id: &str, key: TestKey, key_info_certificate: Option<&str>) -> String {
    let key_info = key_info_certificate
        .map(|certificate| format!("<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"))
        .unwrap_or_default();
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>DIGEST_VALUE</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>SIGNATURE_VALUE</ds:SignatureValue>{key_info}</ds:Signature>"##,
        method = method_of(key),
    )
}

/// A response as a typical IdP sends it (the assertion signed with `key`), for tests outside
/// `saml::response` (whose own tests bend every part).
#[derive(Debug, Clone)]
pub struct TestResponse<'a> {
    /// The IdP's entity id.
    pub idp: &'a str,
    /// The SP's entity id (the audience).
    pub sp: &'a str,
    /// The ACS (destination and recipient).
    pub acs: &'a str,
    /// The request answered, if any.
    pub in_response_to: Option<&'a str>,
    /// The assertion's ID.
    pub assertion_id: &'a str,
    /// The subject.
    pub name_id: &'a str,
    /// Attributes, one value each.
    pub attributes: &'a [(&'a str, &'a str)],
    /// Now, in Unix seconds (the assertion is valid for 5 minutes from now).
    pub now_s: u64,
}

impl TestResponse<'_> {
    /// The signed response's XML.
    pub fn signed(&self, key: TestKey) -> String {
        use super::time::format_instant;
        let irt = self.in_response_to.map(|id| format!(r#" InResponseTo="{id}""#)).unwrap_or_default();
        let attributes: String = self
            .attributes
            .iter()
            .map(|(name, value)| {
                format!(r#"<saml:Attribute Name="{name}"><saml:AttributeValue>{value}</saml:AttributeValue></saml:Attribute>"#)
            })
            .collect();
        let template = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_resp{id}" Version="2.0" IssueInstant="{now}" Destination="{acs}"{irt}><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{idp}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{idp}</saml:Issuer>{signature}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} NotOnOrAfter="{until}" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{now}" NotOnOrAfter="{until}"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{now}" SessionIndex="_session1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attributes}</saml:AttributeStatement></saml:Assertion></samlp:Response>"#,
            id = self.assertion_id,
            now = format_instant(self.now_s),
            until = format_instant(self.now_s + 300),
            acs = self.acs,
            idp = self.idp,
            sp = self.sp,
            name_id = self.name_id,
            signature = signature_template(self.assertion_id, key, None),
        );
        sign(&template, self.assertion_id, key)
    }
}
