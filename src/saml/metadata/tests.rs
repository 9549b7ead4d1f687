//! IdP metadata as Okta, Entra ID and samlify publish it (trimmed), signed with the test IdP's
//! keys where the import asks for a signature.

use super::*;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::block_on;
use crate::saml::certificate::tests::{EC_PEM, RSA_PEM};
use crate::saml::test_signing::{sign, signature_template, TestKey};

fn body(pem: &str) -> String {
    pem.lines().filter(|line| !line.starts_with("-----")).collect()
}

/// Metadata for the RSA signing certificate; `signature` goes first in the root (as the schema
/// orders it), `extra` inside the descriptor.
pub(crate) fn idp_metadata(signature: &str, extra: &str) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="{METADATA_NS}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_m1" entityID="https://idp.example/saml" validUntil="2030-01-01T00:00:00Z">{signature}<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{PROTOCOL_NS}"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{rsa}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{ec}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="{HTTP_REDIRECT}" Location="https://idp.example/slo"/><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="{HTTP_POST}" Location="https://idp.example/sso/post"/><md:SingleSignOnService Binding="{HTTP_REDIRECT}" Location="https://idp.example/sso"/>{extra}</md:IDPSSODescriptor><md:ContactPerson contactType="technical"/></md:EntityDescriptor>"#,
        rsa = body(RSA_PEM),
        ec = body(EC_PEM),
    )
}

fn read(xml: &str, trusted: Option<&[&str]>) -> Result<IdpMetadata, MetadataFailure> {
    let certificates: Option<Vec<SigningCertificate>> =
        trusted.map(|pems| pems.iter().map(|pem| certificate::parse(pem).unwrap()).collect());
    block_on(read_idp(xml, certificates.as_deref(), 1_800_000_000, &RustSignatures))
}

fn reason(result: Result<IdpMetadata, MetadataFailure>) -> &'static str {
    match result {
        Ok(_) => "accepted",
        Err(MetadataFailure::Refused(refusal)) => refusal.reason(),
        Err(MetadataFailure::Unavailable(_)) => "unavailable",
    }
}

#[test]
fn metadata_gives_the_entity_its_endpoints_formats_and_only_signing_certificates() {
    let metadata = read(&idp_metadata("", ""), None).expect("read");
    assert_eq!(metadata.entity_id, "https://idp.example/saml");
    assert_eq!(metadata.sso_redirect.as_deref(), Some("https://idp.example/sso"));
    assert_eq!(metadata.sso_post.as_deref(), Some("https://idp.example/sso/post"));
    assert_eq!(metadata.slo_redirect.as_deref(), Some("https://idp.example/slo"));
    assert_eq!(metadata.signing_certificates, vec![body(RSA_PEM)], "the encryption key is not a signing key");
    assert_eq!(metadata.name_id_formats, vec!["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"]);
    assert!(!metadata.wants_signed_requests);
}

#[test]
fn with_a_certificate_given_the_metadata_must_be_signed_by_it() {
    let template = idp_metadata(&signature_template("_m1", TestKey::Rsa, None), "");
    let signed = sign(&template, "_m1", TestKey::Rsa);
    assert!(read(&signed, Some(&[RSA_PEM])).is_ok());
    assert_eq!(reason(read(&signed, Some(&[EC_PEM]))), "signature_invalid", "signed by another key");
    assert_eq!(reason(read(&idp_metadata("", ""), Some(&[RSA_PEM]))), "signature_shape", "unsigned");
    let swapped = signed.replace("https://idp.example/sso\"", "https://evil.example/sso\"");
    assert_eq!(reason(read(&swapped, Some(&[RSA_PEM]))), "signature_digest", "an endpoint changed after signing");
    // Without a certificate it is taken as uploaded.
    assert!(read(&swapped, None).is_ok());
}

#[test]
fn metadata_that_cannot_be_used_is_refused_with_its_reason() {
    let expired = idp_metadata("", "").replace("2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z");
    assert_eq!(reason(read(&expired, None)), "metadata_expired");
    let no_sso = idp_metadata("", "").replace("SingleSignOnService", "ArtifactResolutionService");
    assert_eq!(reason(read(&no_sso, None)), "metadata_shape");
    let two = idp_metadata("", "").replace(
        "<md:ContactPerson",
        &format!("<md:IDPSSODescriptor protocolSupportEnumeration=\"{PROTOCOL_NS}\"/><md:ContactPerson"),
    );
    assert_eq!(reason(read(&two, None)), "metadata_shape");
    let bad_certificate = idp_metadata("", "").replacen(&body(RSA_PEM)[..40], "AAAA", 1);
    assert!(reason(read(&bad_certificate, None)).starts_with("certificate_"));
    assert_eq!(
        reason(read("<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>", None)),
        "metadata_shape"
    );
    assert_eq!(reason(read("<!DOCTYPE x><x/>", None)), "xml_doctype");
}

#[test]
fn sp_metadata_names_the_entity_its_acs_and_slo_and_reads_back() {
    let sp = SpMetadata {
        entity_id: "https://app.example/auth/saml/conn_abc".into(),
        acs_url: "https://app.example/auth/callback/conn_abc".into(),
        slo_url: Some("https://app.example/auth/saml/conn_abc/slo".into()),
        name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
        signing_certificate: Some(body(EC_PEM)),
        authn_requests_signed: true,
        encryption_certificate: Some(body(RSA_PEM)),
    };
    let xml = sp.to_xml();
    let document = parse(xml.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")).unwrap();
    let root = document.root_element();
    assert_eq!(attribute(root, "entityID"), Some("https://app.example/auth/saml/conn_abc"));
    let acs = document.descendants().find(|n| is(*n, METADATA_NS, "AssertionConsumerService")).unwrap();
    assert_eq!(
        (attribute(acs, "Binding"), attribute(acs, "Location")),
        (Some(HTTP_POST), Some("https://app.example/auth/callback/conn_abc"))
    );
    let slo = document.descendants().find(|n| is(*n, METADATA_NS, "SingleLogoutService")).unwrap();
    assert_eq!(attribute(slo, "Location"), Some("https://app.example/auth/saml/conn_abc/slo"));
    let descriptor = document.descendants().find(|n| is(*n, METADATA_NS, "SPSSODescriptor")).unwrap();
    assert_eq!(attribute(descriptor, "AuthnRequestsSigned"), Some("true"));
    let certificate = document.descendants().find(|n| is(*n, DSIG_NS, "X509Certificate")).unwrap();
    assert_eq!(single_text(certificate), Some(body(EC_PEM).as_str()), "the SP key's certificate, for the IdP");
    let encryption = document
        .descendants()
        .find(|n| is(*n, METADATA_NS, "KeyDescriptor") && attribute(*n, "use") == Some("encryption"))
        .expect("an encryption key");
    let methods: Vec<&str> = encryption.children().filter_map(|n| attribute(n, "Algorithm")).collect();
    assert_eq!(methods.first(), Some(&"http://www.w3.org/2009/xmlenc11#aes256-gcm"), "the strongest first");
}
