//! A SAML response whose assertion carries an enveloped signature, its digest computed here over
//! the canonical form (the signature value is not checked in this module), then every way of
//! bending it that XML signature wrapping and downgrade attacks use.

use super::*;
use crate::saml::xml::parse;
use proptest::prelude::*;

const TEMPLATE: &str = r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0">
  <saml:Issuer>https://idp.example</saml:Issuer>
  <saml:Assertion ID="_a1" Version="2.0">
    <saml:Issuer>https://idp.example</saml:Issuer>
    <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="SIGNATURE_METHOD"/>
        <ds:Reference URI="REFERENCE_URI">
          <ds:Transforms>
            <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
            <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="samlp"/></ds:Transform>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="DIGEST_METHOD"/>
          <ds:DigestValue>DIGEST_VALUE</ds:DigestValue>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue>c2lnbmF0dXJl</ds:SignatureValue>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>never read</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </ds:Signature>
    <saml:Subject><saml:NameID>ann@corp.example</saml:NameID></saml:Subject>
  </saml:Assertion>
</samlp:Response>"##;

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// The template with its digest filled in over its own canonical form.
fn signed(method: &str, digest: &str, uri: &str, edit: impl Fn(String) -> String) -> String {
    let text = edit(
        TEMPLATE.replace("SIGNATURE_METHOD", method).replace("DIGEST_METHOD", digest).replace("REFERENCE_URI", uri),
    );
    let document = parse(&text).expect("the template parses");
    let assertion =
        document.descendants().find(|n| n.has_tag_name(("urn:oasis:names:tc:SAML:2.0:assertion", "Assertion")));
    let signature = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "Signature"))).unwrap();
    let canonical = c14n::exclusive(assertion.unwrap(), &["samlp"], Some(signature.id())).unwrap();
    let value = match digest {
        SHA256 => STANDARD.encode(Sha256::digest(canonical.as_bytes())),
        _ => STANDARD.encode(sha1::Sha1::digest(canonical.as_bytes())),
    };
    text.replace("DIGEST_VALUE", &value)
}

fn good() -> String {
    signed(RSA_SHA256, SHA256, "#_a1", |t| t)
}

/// Reads the (first) signature of `text` and checks its digest.
fn outcome(text: &str, allow_sha1: bool) -> Result<(String, bool), DsigRefusal> {
    let document = parse(text).map_err(|_| DsigRefusal::Shape("xml"))?;
    let signature = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "Signature"))).unwrap();
    let parts = read(&document, signature, allow_sha1)?;
    let id = parts.signed.attribute("ID").unwrap_or("").to_owned();
    Ok((id, parts.digest_matches()))
}

#[test]
fn a_well_formed_enveloped_signature_names_its_assertion_and_its_digest_matches() {
    let text = good();
    assert_eq!(outcome(&text, false), Ok(("_a1".to_owned(), true)));
    let document = parse(&text).unwrap();
    let signature = document.descendants().find(|n| n.has_tag_name((DSIG_NS, "Signature"))).unwrap();
    let parts = read(&document, signature, false).unwrap();
    assert_eq!(parts.algorithm, SignatureAlgorithm::RsaSha256);
    assert_eq!(parts.signature_value, b"signature");
    let info = parts.signed_info_c14n().unwrap();
    assert!(info.starts_with("<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"), "{info}");
    assert!(info.contains(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod>"
    ));
    let canonical = parts.signed_c14n().unwrap();
    assert!(canonical.starts_with("<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_a1\""), "{canonical}");
    assert!(!canonical.contains("Signature"), "the enveloped signature is left out");
}

#[test]
fn signature_wrapping_and_downgrades_are_refused() {
    let text = good();
    let cases: Vec<(&str, String, Result<(String, bool), DsigRefusal>)> = vec![
        ("the signed text changed", text.replace("ann@corp.example", "admin@corp.example"), Ok(("_a1".into(), false))),
        (
            "an attribute added",
            text.replace("ID=\"_a1\" Version", "ID=\"_a1\" Admin=\"1\" Version"),
            Ok(("_a1".into(), false)),
        ),
        (
            "a reference to the response, from the assertion",
            signed(RSA_SHA256, SHA256, "#_r1", |t| t),
            Err(DsigRefusal::WrongReference),
        ),
        ("the whole document", signed(RSA_SHA256, SHA256, "", |t| t), Err(DsigRefusal::WrongReference)),
        ("an XPointer", signed(RSA_SHA256, SHA256, "#xpointer(id('_a1'))", |t| t), Err(DsigRefusal::WrongReference)),
        ("an ID nobody has", signed(RSA_SHA256, SHA256, "#_nobody", |t| t), Err(DsigRefusal::WrongReference)),
        (
            "SHA-1 signature",
            signed("http://www.w3.org/2000/09/xmldsig#rsa-sha1", SHA256, "#_a1", |t| t),
            Err(DsigRefusal::Sha1NotAllowed),
        ),
        (
            "SHA-1 digest",
            signed(RSA_SHA256, "http://www.w3.org/2000/09/xmldsig#sha1", "#_a1", |t| t),
            Err(DsigRefusal::Sha1NotAllowed),
        ),
        (
            "HMAC",
            signed("http://www.w3.org/2000/09/xmldsig#hmac-sha1", SHA256, "#_a1", |t| t),
            Err(DsigRefusal::Algorithm),
        ),
        ("no SignatureMethod algorithm", signed("", SHA256, "#_a1", |t| t), Err(DsigRefusal::Algorithm)),
        (
            "inclusive canonicalisation",
            text.replace(
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>",
            ),
            Err(DsigRefusal::Algorithm),
        ),
        (
            "a second reference",
            text.replace("</ds:Reference>", "</ds:Reference><ds:Reference URI=\"#_r1\"/>"),
            Err(DsigRefusal::Shape("SignedInfo: one Reference")),
        ),
        (
            "an XPath transform",
            text.replace(
                "</ds:Transforms>",
                "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/></ds:Transforms>",
            ),
            Err(DsigRefusal::Shape("Transforms: enveloped-signature, then exc-c14n")),
        ),
        (
            "an Object",
            text.replace("</ds:KeyInfo>", "</ds:KeyInfo><ds:Object><saml:Assertion ID=\"_o\"/></ds:Object>"),
            Err(DsigRefusal::Shape("Signature")),
        ),
        (
            "two InclusiveNamespaces",
            text.replace("PrefixList=\"samlp\"/>", "PrefixList=\"samlp\"/><ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"saml\"/>"),
            Err(DsigRefusal::Shape("Transform")),
        ),
        (
            "an InclusiveNamespaces with another attribute",
            text.replace("PrefixList=\"samlp\"/>", "PrefixList=\"samlp\" saml:x=\"\"/>"),
            Err(DsigRefusal::Shape("Transform")),
        ),
        (
            "a DigestValue split by an element",
            text.replacen("<ds:DigestValue>", "<ds:DigestValue><ds:X/>", 1),
            Err(DsigRefusal::Shape("DigestValue")),
        ),
        (
            "a foreign element in SignedInfo",
            text.replace("<ds:SignedInfo>", "<ds:SignedInfo><saml:Extra/>"),
            Err(DsigRefusal::Shape("SignedInfo")),
        ),
    ];
    for (what, mutated, expected) in cases {
        assert_eq!(outcome(&mutated, false), expected, "{what}");
    }
    assert_eq!(
        outcome(
            &signed(
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                "http://www.w3.org/2000/09/xmldsig#sha1",
                "#_a1",
                |t| t
            ),
            true
        ),
        Ok(("_a1".into(), true)),
        "SHA-1 where the connection allows it"
    );
}

#[test]
fn a_signature_moved_into_a_forged_assertion_covers_nothing_it_holds() {
    // XSW: the attacker's assertion holds the IdP's signature, whose reference still names the
    // original (kept elsewhere, unread), so that a verifier reading "the signed assertion" by ID
    // and a reader taking "the assertion that holds a signature" disagree.
    let text = good();
    let start = text.find("<saml:Assertion").unwrap();
    let end = text.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let original = &text[start..end];
    let signature_start = original.find("<ds:Signature").unwrap();
    let signature_end = original.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &original[signature_start..signature_end];
    let unsigned_original = format!("{}{}", &original[..signature_start], &original[signature_end..]);
    let forged = format!(
        "<saml:Assertion ID=\"_evil\" Version=\"2.0\">{signature}<saml:Subject><saml:NameID>admin@corp.example</saml:NameID></saml:Subject></saml:Assertion>"
    );
    let wrapped =
        format!("{}{forged}<samlp:Extensions>{unsigned_original}</samlp:Extensions>{}", &text[..start], &text[end..]);
    assert_eq!(outcome(&wrapped, false), Err(DsigRefusal::WrongReference));
}

proptest! {
    #![proptest_config(crate::testing::generative(256))]

    /// Any one character of the signed assertion changed (outside its signature, which the
    /// signature value covers instead) is refused somewhere: parse, shape, reference or digest.
    #[test]
    fn no_single_character_change_to_the_signed_assertion_keeps_its_digest(
        position in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9]",
    ) {
        let text = good();
        let start = text.find("<saml:Assertion").unwrap();
        let end = text.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
        let (signature_start, signature_end) = (text.find("<ds:Signature").unwrap(), text.find("</ds:Signature>").unwrap() + "</ds:Signature>".len());
        let outside: Vec<usize> = (start..end).filter(|i| *i < signature_start || *i >= signature_end).collect();
        let at = outside[position.index(outside.len())];
        prop_assume!(&text[at..at + 1] != replacement.as_str());
        let mut mutated = text.clone();
        mutated.replace_range(at..at + 1, &replacement);
        let accepted = matches!(outcome(&mutated, false), Ok((_, true)));
        prop_assert!(!accepted, "accepted with {:?} at {}", replacement, at);
    }

    #[test]
    fn arbitrary_signature_elements_are_refused_or_read_never_a_panic(inner in "[ -~]{0,200}") {
        let text = format!("<r ID=\"x\"><ds:Signature xmlns:ds=\"{DSIG_NS}\">{}</ds:Signature></r>", inner.replace('&', "&amp;"));
        if let Ok(document) = parse(&text) {
            let signature = document.root_element().first_element_child().unwrap();
            let _ = read(&document, signature, true);
        }
    }
}
