//! SAML metadata (SAML Metadata §2): the IdP's, imported into a connection, and this SP's own,
//! published per connection.
//!
//! An IdP's metadata is read with the same strict parser as messages. When the operator gives a
//! certificate for it, the metadata must carry an enveloped signature over its root that verifies
//! with that certificate (metadata fetched from a URL is otherwise whatever the network said);
//! without one it is taken as uploaded, at the operator's word. Either way only the one
//! `IDPSSODescriptor` is read: the entity id, the SSO and SLO endpoints by binding, the NameID
//! formats and the signing certificates (`KeyDescriptor`s for signing, or for no stated use).

use super::certificate::{self, SigningCertificate};
use super::dsig::{self, DSIG_NS};
use super::encryption::{CONTENT_ALGORITHMS, RSA_OAEP_MGF1P};
use super::request::{HTTP_POST, HTTP_REDIRECT};
use super::response::PROTOCOL_NS;
use super::signature::{self, VerifyFailure};
use super::time::parse_instant;
use super::xml::{attribute, escape, is, parse, single_text, without_xml_blanks, XmlRefusal};
use crate::mfa::webauthn::signature::SignatureVerifier;
use crate::ports::Unavailable;
use roxmltree::Node;

/// The SAML 2.0 metadata namespace.
pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

/// The most signing certificates read from one IdP's metadata.
pub const MAX_SIGNING_CERTIFICATES: usize = 8;

/// What an IdP's metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP's entity id.
    pub entity_id: String,
    /// The SSO endpoint of the HTTP-Redirect binding, if any.
    pub sso_redirect: Option<String>,
    /// The SSO endpoint of the HTTP-POST binding, if any.
    pub sso_post: Option<String>,
    /// The SLO endpoint of the HTTP-Redirect binding, if any.
    pub slo_redirect: Option<String>,
    /// The signing certificates, base64 DER as published.
    pub signing_certificates: Vec<String>,
    /// The NameID formats it supports.
    pub name_id_formats: Vec<String>,
    /// Whether it wants signed `AuthnRequest`s.
    pub wants_signed_requests: bool,
}

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRefusal {
    /// The XML itself.
    Xml(XmlRefusal),
    /// Not an `EntityDescriptor` with exactly one SAML 2.0 `IDPSSODescriptor` (the part says
    /// what is wrong).
    Shape(&'static str),
    /// A certificate was given, and the metadata is not signed by it.
    Signature(dsig::DsigRefusal),
    /// A signing certificate in it is refused (see [`certificate::CertificateError`]).
    Certificate(certificate::CertificateError),
    /// Its `validUntil` has passed.
    Expired,
}

impl MetadataRefusal {
    /// A stable reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            MetadataRefusal::Xml(refusal) => refusal.reason(),
            MetadataRefusal::Shape(_) => "metadata_shape",
            MetadataRefusal::Signature(refusal) => refusal.reason(),
            MetadataRefusal::Certificate(error) => error.reason(),
            MetadataRefusal::Expired => "metadata_expired",
        }
    }
}

/// Metadata that did not import: refused, or the signature backend failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataFailure {
    /// Refused.
    Refused(MetadataRefusal),
    /// The signature backend failed.
    Unavailable(Unavailable),
}

impl From<MetadataRefusal> for MetadataFailure {
    fn from(refusal: MetadataRefusal) -> Self {
        MetadataFailure::Refused(refusal)
    }
}

/// Reads an IdP's metadata; with `trusted`, only if signed by one of those certificates.
pub async fn read_idp(
    xml: &str,
    trusted: Option<&[SigningCertificate]>,
    now_s: u64,
    verifier: &impl SignatureVerifier,
) -> Result<IdpMetadata, MetadataFailure> {
    let document = parse(xml).map_err(MetadataRefusal::Xml)?;
    let root = document.root_element();
    if !is(root, METADATA_NS, "EntityDescriptor") {
        return Err(MetadataRefusal::Shape("EntityDescriptor").into());
    }
    if let Some(certificates) = trusted {
        let mut signatures = root.children().filter(|n| is(*n, DSIG_NS, "Signature"));
        let (Some(signature_node), None) = (signatures.next(), signatures.next()) else {
            return Err(MetadataRefusal::Signature(dsig::DsigRefusal::Shape("Signature")).into());
        };
        let parts = dsig::read(&document, signature_node, false).map_err(MetadataRefusal::Signature)?;
        match signature::verify(&parts, certificates, verifier).await {
            // Verified over the root: everything read below is what was signed.
            Ok(signed) if signed.element().id() == root.id() => {}
            Ok(_) => return Err(MetadataRefusal::Signature(dsig::DsigRefusal::WrongReference).into()),
            Err(VerifyFailure::Refused(refusal)) => return Err(MetadataRefusal::Signature(refusal).into()),
            Err(VerifyFailure::Unavailable(unavailable)) => return Err(MetadataFailure::Unavailable(unavailable)),
        }
    }
    if let Some(valid_until) = attribute(root, "validUntil") {
        let until = parse_instant(valid_until).ok_or(MetadataRefusal::Shape("validUntil"))?;
        if now_s >= until {
            return Err(MetadataRefusal::Expired.into());
        }
    }
    let entity_id = attribute(root, "entityID").filter(|id| !id.is_empty() && id.len() <= 1024);
    let entity_id = entity_id.ok_or(MetadataRefusal::Shape("entityID"))?.to_owned();
    let descriptors: Vec<Node<'_, '_>> = root
        .children()
        .filter(|n| is(*n, METADATA_NS, "IDPSSODescriptor"))
        .filter(|n| {
            attribute(*n, "protocolSupportEnumeration")
                .is_some_and(|list| list.split_ascii_whitespace().any(|p| p == PROTOCOL_NS))
        })
        .collect();
    let [descriptor] = descriptors.as_slice() else {
        return Err(MetadataRefusal::Shape("IDPSSODescriptor").into());
    };
    read_descriptor(*descriptor, entity_id).map_err(MetadataFailure::Refused)
}

fn endpoint(descriptor: Node<'_, '_>, element: &str, binding: &str) -> Option<String> {
    descriptor
        .children()
        .filter(|n| is(*n, METADATA_NS, element))
        .find(|n| attribute(*n, "Binding") == Some(binding))
        .and_then(|n| attribute(n, "Location"))
        .filter(|location| location.starts_with("https://") || location.starts_with("http://"))
        .map(str::to_owned)
}

fn read_descriptor(descriptor: Node<'_, '_>, entity_id: String) -> Result<IdpMetadata, MetadataRefusal> {
    let mut signing_certificates = Vec::new();
    for key in descriptor.children().filter(|n| is(*n, METADATA_NS, "KeyDescriptor")) {
        if attribute(key, "use").is_some_and(|usage| usage != "signing") {
            continue;
        }
        let texts = key
            .descendants()
            .filter(|n| is(*n, DSIG_NS, "X509Certificate"))
            .map(|n| single_text(n).ok_or(MetadataRefusal::Shape("X509Certificate")));
        for text in texts {
            let text = text?;
            let compact = without_xml_blanks(text);
            certificate::parse(&compact).map_err(MetadataRefusal::Certificate)?;
            if !signing_certificates.contains(&compact) {
                signing_certificates.push(compact);
            }
        }
    }
    if signing_certificates.is_empty() || signing_certificates.len() > MAX_SIGNING_CERTIFICATES {
        return Err(MetadataRefusal::Shape("KeyDescriptor"));
    }
    let name_id_formats = descriptor
        .children()
        .filter(|n| is(*n, METADATA_NS, "NameIDFormat"))
        .filter_map(|n| single_text(n).map(|t| t.trim().to_owned()))
        .filter(|t| !t.is_empty())
        .collect();
    let metadata = IdpMetadata {
        entity_id,
        sso_redirect: endpoint(descriptor, "SingleSignOnService", HTTP_REDIRECT),
        sso_post: endpoint(descriptor, "SingleSignOnService", HTTP_POST),
        slo_redirect: endpoint(descriptor, "SingleLogoutService", HTTP_REDIRECT),
        signing_certificates,
        name_id_formats,
        wants_signed_requests: attribute(descriptor, "WantAuthnRequestsSigned") == Some("true"),
    };
    if metadata.sso_redirect.is_none() && metadata.sso_post.is_none() {
        return Err(MetadataRefusal::Shape("SingleSignOnService"));
    }
    Ok(metadata)
}

/// This SP's metadata for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    /// The SP's entity id.
    pub entity_id: String,
    /// The ACS (HTTP-POST).
    pub acs_url: String,
    /// The SLO endpoint (HTTP-Redirect), if there is one.
    pub slo_url: Option<String>,
    /// The NameID format asked for, if any.
    pub name_id_format: Option<String>,
    /// This SP's signing certificate (base64 DER), if it has a key.
    pub signing_certificate: Option<String>,
    /// Whether its `AuthnRequest`s are signed.
    pub authn_requests_signed: bool,
    /// This SP's encryption certificate (base64 DER), if it decrypts assertions.
    pub encryption_certificate: Option<String>,
}

impl SpMetadata {
    /// The metadata document.
    pub fn to_xml(&self) -> String {
        let format = self
            .name_id_format
            .as_ref()
            .map(|format| format!("<md:NameIDFormat>{}</md:NameIDFormat>", escape(format)))
            .unwrap_or_default();
        let slo = self
            .slo_url
            .as_ref()
            .map(|url| format!(r#"<md:SingleLogoutService Binding="{HTTP_REDIRECT}" Location="{}"/>"#, escape(url)))
            .unwrap_or_default();
        let descriptor = |usage: &str, certificate: &str, methods: &str| {
            format!(
                r#"<md:KeyDescriptor use="{usage}"><ds:KeyInfo xmlns:ds="{DSIG_NS}"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}</md:KeyDescriptor>"#,
                escape(certificate)
            )
        };
        let signing = self.signing_certificate.as_ref().map(|c| descriptor("signing", c, "")).unwrap_or_default();
        let methods: String = CONTENT_ALGORITHMS
            .iter()
            .chain([RSA_OAEP_MGF1P].iter())
            .map(|algorithm| format!(r#"<md:EncryptionMethod Algorithm="{algorithm}"/>"#))
            .collect();
        let encryption =
            self.encryption_certificate.as_ref().map(|c| descriptor("encryption", c, &methods)).unwrap_or_default();
        let key = format!("{signing}{encryption}");
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{METADATA_NS}" entityID="{entity}"><md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" protocolSupportEnumeration="{PROTOCOL_NS}">{key}{slo}{format}<md:AssertionConsumerService Binding="{HTTP_POST}" Location="{acs}" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>
"#,
            entity = escape(&self.entity_id),
            acs = escape(&self.acs_url),
            signed = self.authn_requests_signed,
        )
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests;
