//! XML-DSig, as SAML uses it, read strictly: one enveloped signature over the element that
//! holds it, with one `Reference` to that element's ID, the transforms enveloped-signature then
//! Exclusive C14N, and SHA-256 (SHA-1 only when a connection allows it). Anything else, such as a
//! second reference, another transform, an `Object`, a reference to another element, or an
//! empty or XPointer URI, is refused: there is nothing else to get wrong. `KeyInfo` is never
//! read; keys come from the connection's certificates.
//!
//! This module finds what was signed and checks its digest. Checking the signature over
//! `SignedInfo` belongs to the caller's signature port (WebCrypto in the worker); the bytes are
//! [`SignatureParts::signed_info_c14n`].

use super::c14n;
use super::xml::{attribute, element_by_id, is_xml_blank, single_text, without_xml_blanks};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use roxmltree::{Document, Node};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Exclusive XML Canonicalization 1.0, without comments.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The enveloped-signature transform.
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// The most nodes in a `SignedInfo`, itself and its text included.
pub const MAX_SIGNED_INFO_NODES: usize = 64;

/// How `SignedInfo` is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaSha256,
    /// ECDSA P-256 with SHA-256.
    EcdsaSha256,
    /// RSASSA-PKCS1-v1_5 with SHA-1: only where a connection says `insecure_allow_sha1`.
    RsaSha1,
}

impl SignatureAlgorithm {
    fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Some(Self::RsaSha256),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => Some(Self::EcdsaSha256),
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => Some(Self::RsaSha1),
            _ => None,
        }
    }

    /// Whether it uses SHA-1.
    pub fn is_sha1(self) -> bool {
        self == Self::RsaSha1
    }
}

/// How the referenced element is digested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-1: only where a connection says `insecure_allow_sha1`.
    Sha1,
}

impl DigestAlgorithm {
    fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            "http://www.w3.org/2001/04/xmlenc#sha256" => Some(Self::Sha256),
            "http://www.w3.org/2000/09/xmldsig#sha1" => Some(Self::Sha1),
            _ => None,
        }
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsigRefusal {
    /// Not the shape above (the reason names the part).
    Shape(&'static str),
    /// An algorithm not listed above.
    Algorithm,
    /// SHA-1, which the connection does not allow.
    Sha1NotAllowed,
    /// The reference names another element than the one holding the signature.
    WrongReference,
    /// The referenced element's digest is not the signed one.
    DigestMismatch,
    /// No certificate of the connection verifies the signature over `SignedInfo`.
    SignatureInvalid,
}

impl DsigRefusal {
    /// A stable reason code (the part of a refused shape is for logs, not for the code).
    pub fn reason(self) -> &'static str {
        match self {
            DsigRefusal::Shape(_) => "signature_shape",
            DsigRefusal::Algorithm => "signature_algorithm",
            DsigRefusal::Sha1NotAllowed => "signature_sha1",
            DsigRefusal::WrongReference => "signature_reference",
            DsigRefusal::DigestMismatch => "signature_digest",
            DsigRefusal::SignatureInvalid => "signature_invalid",
        }
    }
}

/// A signature's parts, read strictly, and the element it covers.
#[derive(Debug)]
pub struct SignatureParts<'a, 'input> {
    /// The `Signature` element.
    pub signature: Node<'a, 'input>,
    /// The element it signs: its parent, named by the one reference.
    pub signed: Node<'a, 'input>,
    /// How `SignedInfo` is signed.
    pub algorithm: SignatureAlgorithm,
    /// The signature value.
    pub signature_value: Vec<u8>,
    signed_info: Node<'a, 'input>,
    signed_info_prefixes: Vec<&'a str>,
    reference_prefixes: Vec<&'a str>,
    digest: DigestAlgorithm,
    digest_value: Vec<u8>,
}

/// The `ds:` children of an element that are elements (any other element, or non-blank text,
/// refuses the shape).
fn dsig_children<'a, 'input>(node: Node<'a, 'input>, part: &'static str) -> Result<Vec<Node<'a, 'input>>, DsigRefusal> {
    let mut children = Vec::new();
    for child in node.children() {
        if child.is_element() {
            if child.tag_name().namespace() != Some(DSIG_NS) {
                return Err(DsigRefusal::Shape(part));
            }
            children.push(child);
        } else if child.is_text() && child.text().is_some_and(|t| !is_xml_blank(t)) {
            return Err(DsigRefusal::Shape(part));
        }
    }
    Ok(children)
}

fn named(node: Node<'_, '_>, name: &str) -> bool {
    node.tag_name().name() == name
}

fn algorithm_of<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    attribute(node, "Algorithm")
}

/// The most prefixes a `PrefixList` names.
const MAX_INCLUSIVE_PREFIXES: usize = 16;

/// The `InclusiveNamespaces PrefixList` under an exc-c14n method or transform (none: empty): at
/// most one element, with only that attribute, naming at most [`MAX_INCLUSIVE_PREFIXES`].
fn prefix_list<'a>(method: Node<'a, '_>, part: &'static str) -> Result<Vec<&'a str>, DsigRefusal> {
    let children: Vec<_> = method.children().filter(|c| c.is_element()).collect();
    let list = match children.as_slice() {
        [] => return Ok(Vec::new()),
        [only] if only.tag_name().namespace() == Some(EXC_C14N) && named(*only, "InclusiveNamespaces") => *only,
        _ => return Err(DsigRefusal::Shape(part)),
    };
    if list.attributes().any(|a| a.name() != "PrefixList" || a.namespace().is_some()) || list.has_children() {
        return Err(DsigRefusal::Shape(part));
    }
    let mut prefixes: Vec<&str> = attribute(list, "PrefixList").unwrap_or("").split_ascii_whitespace().collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    if prefixes.len() > MAX_INCLUSIVE_PREFIXES {
        return Err(DsigRefusal::Shape(part));
    }
    Ok(prefixes)
}

fn base64_of(node: Node<'_, '_>, part: &'static str) -> Result<Vec<u8>, DsigRefusal> {
    let text = single_text(node).ok_or(DsigRefusal::Shape(part))?;
    STANDARD.decode(without_xml_blanks(text)).map_err(|_| DsigRefusal::Shape(part))
}

/// Reads `signature`, an enveloped `ds:Signature`, strictly; `allow_sha1` is the connection's
/// `insecure_allow_sha1`.
pub fn read<'a, 'input>(
    document: &'a Document<'input>,
    signature: Node<'a, 'input>,
    allow_sha1: bool,
) -> Result<SignatureParts<'a, 'input>, DsigRefusal> {
    if signature.tag_name().namespace() != Some(DSIG_NS) || !named(signature, "Signature") {
        return Err(DsigRefusal::Shape("Signature"));
    }
    let parts = dsig_children(signature, "Signature")?;
    let (signed_info, signature_value) = match parts.as_slice() {
        [info, value] | [info, value, _] if named(*info, "SignedInfo") && named(*value, "SignatureValue") => {
            (*info, *value)
        }
        _ => return Err(DsigRefusal::Shape("Signature")),
    };
    // A third child may only be KeyInfo (never read): no Object, no Manifest.
    if parts.get(2).is_some_and(|third| !named(*third, "KeyInfo")) {
        return Err(DsigRefusal::Shape("Signature"));
    }
    // SignedInfo is canonicalised before any key is tried: bound it first (a real one has under
    // 20 nodes, 40 pretty-printed).
    if signed_info.descendants().nth(MAX_SIGNED_INFO_NODES).is_some() {
        return Err(DsigRefusal::Shape("SignedInfo size"));
    }
    let info = dsig_children(signed_info, "SignedInfo")?;
    let [method, signature_method, reference] = info.as_slice() else {
        return Err(DsigRefusal::Shape("SignedInfo: one Reference"));
    };
    if !named(*method, "CanonicalizationMethod")
        || !named(*signature_method, "SignatureMethod")
        || !named(*reference, "Reference")
    {
        return Err(DsigRefusal::Shape("SignedInfo"));
    }
    if algorithm_of(*method) != Some(EXC_C14N) {
        return Err(DsigRefusal::Algorithm);
    }
    let signed_info_prefixes = prefix_list(*method, "CanonicalizationMethod")?;
    let algorithm =
        algorithm_of(*signature_method).and_then(SignatureAlgorithm::from_uri).ok_or(DsigRefusal::Algorithm)?;
    if !dsig_children(*signature_method, "SignatureMethod")?.is_empty() {
        return Err(DsigRefusal::Shape("SignatureMethod"));
    }
    let reference_parts = dsig_children(*reference, "Reference")?;
    let [transforms, digest_method, digest_value] = reference_parts.as_slice() else {
        return Err(DsigRefusal::Shape("Reference"));
    };
    if !named(*transforms, "Transforms")
        || !named(*digest_method, "DigestMethod")
        || !named(*digest_value, "DigestValue")
    {
        return Err(DsigRefusal::Shape("Reference"));
    }
    let transform_list = dsig_children(*transforms, "Transforms")?;
    let [enveloped, exclusive] = transform_list.as_slice() else {
        return Err(DsigRefusal::Shape("Transforms: enveloped-signature, then exc-c14n"));
    };
    if !named(*enveloped, "Transform") || !named(*exclusive, "Transform") {
        return Err(DsigRefusal::Shape("Transforms"));
    }
    if algorithm_of(*enveloped) != Some(ENVELOPED) || algorithm_of(*exclusive) != Some(EXC_C14N) {
        return Err(DsigRefusal::Algorithm);
    }
    if enveloped.children().any(|c| c.is_element()) {
        return Err(DsigRefusal::Shape("Transform"));
    }
    let reference_prefixes = prefix_list(*exclusive, "Transform")?;
    let digest = algorithm_of(*digest_method).and_then(DigestAlgorithm::from_uri).ok_or(DsigRefusal::Algorithm)?;
    if !dsig_children(*digest_method, "DigestMethod")?.is_empty() {
        return Err(DsigRefusal::Shape("DigestMethod"));
    }
    if !allow_sha1 && (digest == DigestAlgorithm::Sha1 || algorithm.is_sha1()) {
        return Err(DsigRefusal::Sha1NotAllowed);
    }
    // The one reference names the element holding the signature, by its ID: `#id` only.
    let id = attribute(*reference, "URI")
        .and_then(|uri| uri.strip_prefix('#'))
        .filter(|id| !id.is_empty() && !id.contains('('));
    let id = id.ok_or(DsigRefusal::WrongReference)?;
    let signed = element_by_id(document, id).ok_or(DsigRefusal::WrongReference)?;
    if signature.parent_element() != Some(signed) {
        return Err(DsigRefusal::WrongReference);
    }
    Ok(SignatureParts {
        signature,
        signed,
        algorithm,
        signature_value: base64_of(signature_value, "SignatureValue")?,
        signed_info,
        signed_info_prefixes,
        reference_prefixes,
        digest,
        digest_value: base64_of(*digest_value, "DigestValue")?,
    })
}

impl SignatureParts<'_, '_> {
    /// The signed element's canonical form, the signature left out (what the digest covers).
    pub fn signed_c14n(&self) -> Option<String> {
        c14n::exclusive(self.signed, &self.reference_prefixes, Some(self.signature.id()))
    }

    /// Whether the signed element's digest is the one `SignedInfo` carries.
    pub fn digest_matches(&self) -> bool {
        let Some(canonical) = self.signed_c14n() else { return false };
        let computed: Vec<u8> = match self.digest {
            DigestAlgorithm::Sha256 => Sha256::digest(canonical.as_bytes()).to_vec(),
            DigestAlgorithm::Sha1 => sha1::Sha1::digest(canonical.as_bytes()).to_vec(),
        };
        bool::from(computed.ct_eq(&self.digest_value))
    }

    /// The bytes the signature value signs: `SignedInfo`, canonicalised (`None`: too large to
    /// be one). Verify the signature over it before computing the signed element's digest.
    pub fn signed_info_c14n(&self) -> Option<String> {
        c14n::exclusive(self.signed_info, &self.signed_info_prefixes, None)
    }
}

#[cfg(test)]
mod tests;
