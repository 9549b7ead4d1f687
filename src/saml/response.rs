//! A SAML `Response` at the ACS (Web Browser SSO profile, HTTP-POST binding), read so that the
//! node whose signature verified is the node whose values are read:
//!
//! 1. one strict parse ([`super::xml::parse`]) serves verification and reading;
//! 2. the root is a `samlp:Response` with exactly one `saml:Assertion` anywhere in the document,
//!    a direct child of the root, and no element the profile does not define at either level
//!    (nowhere to hide a second assertion or a signed decoy);
//! 3. the only signatures are the root's own and the assertion's own; at least one is there,
//!    every one there must verify ([`super::signature::verify`]), and each must reference the
//!    element that holds it;
//! 4. every value is then read from the signed element's node: the assertion itself when it is
//!    signed, else the assertion inside the signed response (the same node, checked by identity).
//!
//! Then the profile's checks: `Destination` and `Recipient` are this ACS, the `Issuer`s are the
//! IdP's, `InResponseTo` is this browser's request (or absent, for an IdP-initiated login the
//! connection allows), the `Audience` is this SP, the times hold within the skew, the status is
//! Success and the subject is confirmed as a bearer. Replay (the assertion's ID seen before) is
//! the caller's to refuse with the ledger, until [`VerifiedAssertion::replay_until_s`].

use super::certificate::SigningCertificate;
use super::dsig::{self, DsigRefusal, DSIG_NS};
use super::encryption::{decrypt_assertion, DecryptFailure, DecryptRefusal, KeyDecryptor};
use super::signature::{self, SignedElement, VerifyFailure};
use super::time::parse_instant;
use super::xml::{attribute, is, is_xml_blank, parse, single_text, XmlRefusal};
use crate::mfa::webauthn::signature::SignatureVerifier;
use crate::ports::Unavailable;
use roxmltree::{Document, Node};

/// The SAML 2.0 protocol namespace.
pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The SAML 2.0 assertion namespace.
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// The top-level status code of a response that succeeded.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// The subject confirmation method of the Web Browser SSO profile.
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The entity NameID format (of `Issuer`s, where a format is given).
pub const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

/// The most attributes, and values of one attribute, that an assertion may carry.
pub const MAX_ATTRIBUTES: usize = 128;
/// The most values of one attribute.
pub const MAX_ATTRIBUTE_VALUES: usize = 256;

/// What a response is checked against: the connection and this browser's flow.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The IdP's entity id (every `Issuer`).
    pub idp_entity_id: &'a str,
    /// The connection's signing certificates (several during a rotation).
    pub certificates: &'a [SigningCertificate],
    /// This SP's entity id (an `Audience`).
    pub sp_entity_id: &'a str,
    /// This ACS's URL (`Destination`, `Recipient`).
    pub acs_url: &'a str,
    /// The `AuthnRequest` ID of this browser's flow; `None` for an unsolicited response, which
    /// the caller admits only where the connection allows IdP-initiated login.
    pub in_response_to: Option<&'a str>,
    /// Now, in Unix seconds.
    pub now_s: u64,
    /// The clock skew allowed either way.
    pub skew_s: u64,
    /// The connection's `insecure_allow_sha1` (SHA-1 digests; never signatures).
    pub allow_sha1: bool,
}

/// An attribute of the assertion's `AttributeStatement`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Its `Name` (a URI for Entra ID and ADFS, a short name for Okta and Google).
    pub name: String,
    /// Its values' text, in order.
    pub values: Vec<String>,
}

/// What a verified response says: proof that every check above passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion's `ID`: refuse a second use of it until [`Self::replay_until_s`].
    pub assertion_id: String,
    /// The IdP's entity id.
    pub issuer: String,
    /// The subject's `NameID`.
    pub name_id: String,
    /// Its `Format`, if given.
    pub name_id_format: Option<String>,
    /// The `NameID`'s `NameQualifier` and `SPNameQualifier`, if given (a logout names them again).
    pub name_qualifiers: (Option<String>, Option<String>),
    /// The `AuthnStatement`'s `SessionIndex`, for Single Logout.
    pub session_index: Option<String>,
    /// When the IdP authenticated the user.
    pub authn_instant_s: u64,
    /// The `AuthnContextClassRef`, if given.
    pub authn_context_class: Option<String>,
    /// The IdP's `SessionNotOnOrAfter`, if given: no session may outlive it.
    pub session_not_on_or_after_s: Option<u64>,
    /// The attributes.
    pub attributes: Vec<Attribute>,
    /// Until when the assertion could be accepted (its earliest `NotOnOrAfter`, plus the skew).
    pub replay_until_s: u64,
    /// The response's `InResponseTo`, if any.
    pub in_response_to: Option<String>,
}

/// Why a response was refused: each has a stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseRefusal {
    /// The XML itself (see [`XmlRefusal`]).
    Xml(XmlRefusal),
    /// A signature (see [`DsigRefusal`]).
    Signature(DsigRefusal),
    /// Neither the response nor the assertion is signed.
    Unsigned,
    /// Not the profile's shape: the part is for logs.
    Shape(&'static str),
    /// Not exactly one assertion (or an encrypted one, which this connection cannot open).
    AssertionCount,
    /// The status is not Success.
    Status,
    /// `Destination` is not this ACS.
    Destination,
    /// An `Issuer` is not the IdP.
    Issuer,
    /// `InResponseTo` is not this browser's request, or present on an unsolicited response.
    InResponseTo,
    /// No `Audience` is this SP.
    Audience,
    /// No bearer confirmation for this ACS (`Recipient`) within its time.
    SubjectConfirmation,
    /// Outside `NotBefore` / `NotOnOrAfter`, with the skew.
    Expired,
    /// Not yet valid.
    NotYetValid,
    /// The assertion is not encrypted, and the connection requires it.
    NotEncrypted,
    /// The encrypted assertion did not open (see [`DecryptRefusal`]).
    Decryption(DecryptRefusal),
}

impl ResponseRefusal {
    /// A stable reason code.
    pub fn reason(self) -> &'static str {
        match self {
            ResponseRefusal::Xml(refusal) => refusal.reason(),
            ResponseRefusal::Signature(refusal) => refusal.reason(),
            ResponseRefusal::Unsigned => "saml_unsigned",
            ResponseRefusal::Shape(_) => "saml_shape",
            ResponseRefusal::AssertionCount => "saml_assertion_count",
            ResponseRefusal::Status => "saml_status",
            ResponseRefusal::Destination => "saml_destination",
            ResponseRefusal::Issuer => "saml_issuer",
            ResponseRefusal::InResponseTo => "saml_in_response_to",
            ResponseRefusal::Audience => "saml_audience",
            ResponseRefusal::SubjectConfirmation => "saml_subject_confirmation",
            ResponseRefusal::Expired => "saml_expired",
            ResponseRefusal::NotYetValid => "saml_not_yet_valid",
            ResponseRefusal::NotEncrypted => "saml_assertion_not_encrypted",
            ResponseRefusal::Decryption(refusal) => refusal.reason(),
        }
    }
}

/// A response that did not verify: refused, or the signature backend failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseFailure {
    /// Refused (a 4xx).
    Refused(ResponseRefusal),
    /// The signature backend failed (fail closed).
    Unavailable(Unavailable),
}

impl From<ResponseRefusal> for ResponseFailure {
    fn from(refusal: ResponseRefusal) -> Self {
        ResponseFailure::Refused(refusal)
    }
}

impl From<VerifyFailure> for ResponseFailure {
    fn from(failure: VerifyFailure) -> Self {
        match failure {
            VerifyFailure::Refused(refusal) => ResponseFailure::Refused(ResponseRefusal::Signature(refusal)),
            VerifyFailure::Unavailable(unavailable) => ResponseFailure::Unavailable(unavailable),
        }
    }
}

type Refused<T> = Result<T, ResponseRefusal>;

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The element children of `node`, each one of `allowed` (namespace, name); any other element,
/// or text that is not white space, refuses the shape.
fn children_of<'a, 'input>(
    node: Node<'a, 'input>,
    allowed: &[(&str, &str)],
    part: &'static str,
) -> Refused<Vec<Node<'a, 'input>>> {
    let mut children = Vec::new();
    for child in node.children() {
        if child.is_element() {
            if !allowed.iter().any(|(namespace, name)| is(child, namespace, name)) {
                return Err(ResponseRefusal::Shape(part));
            }
            children.push(child);
        } else if child.is_text() && child.text().is_some_and(|t| !is_xml_blank(t)) {
            return Err(ResponseRefusal::Shape(part));
        }
    }
    Ok(children)
}

/// At most one child named `name` among `children`.
fn at_most_one<'a, 'input>(
    children: &[Node<'a, 'input>],
    namespace: &str,
    name: &str,
    part: &'static str,
) -> Refused<Option<Node<'a, 'input>>> {
    let mut found = children.iter().filter(|child| is(**child, namespace, name));
    let first = found.next().copied();
    if found.next().is_some() {
        return Err(ResponseRefusal::Shape(part));
    }
    Ok(first)
}

/// The one child named `name`.
fn exactly_one<'a, 'input>(
    children: &[Node<'a, 'input>],
    namespace: &str,
    name: &str,
    part: &'static str,
) -> Refused<Node<'a, 'input>> {
    at_most_one(children, namespace, name, part)?.ok_or(ResponseRefusal::Shape(part))
}

/// An element's text exactly: one text node (a comment or an element inside refuses). Values
/// that name someone (the NameID, attribute values) are read so: white space around them is
/// theirs, never trimmed into another user's name.
fn exact_text_of<'a>(node: Node<'a, '_>, part: &'static str) -> Refused<&'a str> {
    single_text(node).ok_or(ResponseRefusal::Shape(part))
}

/// An element's text, trimmed of XML white space, for values compared with the configuration
/// (an `Issuer`, an `Audience`, a context class), which IdPs may pretty-print.
fn text_of<'a>(node: Node<'a, '_>, part: &'static str) -> Refused<&'a str> {
    Ok(exact_text_of(node, part)?.trim_matches(is_xml_space))
}

fn instant(node: Node<'_, '_>, name: &str, part: &'static str) -> Refused<Option<u64>> {
    match attribute(node, name) {
        None => Ok(None),
        Some(text) => parse_instant(text).map(Some).ok_or(ResponseRefusal::Shape(part)),
    }
}

/// An `Issuer` that must be the IdP (with no format, or the entity format).
fn check_issuer(issuer: Node<'_, '_>, expected: &Expected<'_>) -> Refused<()> {
    if attribute(issuer, "Format").is_some_and(|format| format != ENTITY_FORMAT) {
        return Err(ResponseRefusal::Issuer);
    }
    if text_of(issuer, "Issuer")? != expected.idp_entity_id {
        return Err(ResponseRefusal::Issuer);
    }
    Ok(())
}

/// Reads and verifies a decoded response (the POSTed `SAMLResponse`, base64-decoded), whose
/// assertion is not encrypted.
pub async fn verify(
    xml: &str,
    expected: &Expected<'_>,
    verifier: &impl SignatureVerifier,
) -> Result<VerifiedAssertion, ResponseFailure> {
    let document = parse(xml).map_err(ResponseRefusal::Xml)?;
    verify_document(&document, expected, verifier, false).await
}

/// How a response's assertion may be encrypted.
#[derive(Debug, Clone, Copy)]
pub struct Decryption<'a, D> {
    /// This SP's decryption key, if it has one (without it an encrypted assertion is refused).
    pub decryptor: Option<&'a D>,
    /// The connection requires the assertion encrypted.
    pub required: bool,
    /// AES-CBC may be taken under a verified response signature: only where the signer is the
    /// deployment's own choice (a configured provider). A tenant's IdP signs whatever its tenant
    /// likes, so under its signature a CBC ciphertext could still be a forged probe.
    pub cbc_when_signed: bool,
}

/// [`verify`] for a response whose assertion may be (or, if `decryption.required`, must be)
/// encrypted. An `EncryptedAssertion` must be the response's one assertion. The response's own
/// signature, if any, is verified over the ciphertext first; then the assertion is decrypted and
/// put where its ciphertext was (in the same namespace scope), the verified response signature
/// taken out, and the result verified as any response is, except that the response's signature
/// over the ciphertext counts for the assertion it decrypted to. Without one, the assertion
/// must be signed itself: anyone can encrypt to this SP's public key.
pub async fn verify_with<D: KeyDecryptor>(
    xml: &str,
    expected: &Expected<'_>,
    verifier: &impl SignatureVerifier,
    decryption: Decryption<'_, D>,
) -> Result<VerifiedAssertion, ResponseFailure> {
    let document = parse(xml).map_err(ResponseRefusal::Xml)?;
    let Some(encrypted) = the_encrypted_assertion(&document)? else {
        if decryption.required {
            return Err(ResponseRefusal::NotEncrypted.into());
        }
        return verify_document(&document, expected, verifier, false).await;
    };
    let decryptor = decryption.decryptor.ok_or(ResponseRefusal::AssertionCount)?;
    let response = document.root_element();
    let response_signature = direct_signature(response)?;
    let signatures = document.descendants().filter(|n| is(*n, DSIG_NS, "Signature")).count();
    if signatures != usize::from(response_signature.is_some()) {
        return Err(ResponseRefusal::Shape("Signature").into());
    }
    if let Some(node) = response_signature {
        let signed = verified(&document, node, expected, verifier).await?;
        if signed.element().id() != response.id() {
            return Err(ResponseRefusal::Signature(DsigRefusal::WrongReference).into());
        }
    }
    // AES-CBC is malleable: where no signature covers the ciphertext, a forged one could probe
    // the padding and the parse (a decryption oracle), so only AES-GCM is taken there.
    let cbc_allowed = response_signature.is_some() && decryption.cbc_when_signed;
    let assertion = match decrypt_assertion(encrypted, decryptor, cbc_allowed).await {
        Ok(assertion) => assertion,
        Err(DecryptFailure::Refused(refusal)) => return Err(ResponseRefusal::Decryption(refusal).into()),
        Err(DecryptFailure::Unavailable(unavailable)) => return Err(ResponseFailure::Unavailable(unavailable)),
    };
    // The plaintext must stand alone: one Assertion that declares every prefix it uses (so no
    // declaration outside it, which no signature covers, can rebind one), and nothing else.
    let standalone = parse(&assertion).map_err(|_| ResponseRefusal::Decryption(DecryptRefusal::Decryption))?;
    if !is(standalone.root_element(), ASSERTION_NS, "Assertion") {
        return Err(ResponseRefusal::AssertionCount.into());
    }
    drop(standalone);
    // The text with the assertion in place of its ciphertext, and without the response's
    // signature (verified above, over bytes that are no longer there), cut from the end first.
    let mut cuts = vec![(encrypted.range(), assertion.as_str())];
    if let Some(node) = response_signature {
        cuts.push((node.range(), ""));
    }
    cuts.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut opened = xml.to_owned();
    for (range, with) in cuts {
        opened.replace_range(range, with);
    }
    let document = parse(&opened).map_err(|_| ResponseRefusal::Decryption(DecryptRefusal::Decryption))?;
    verify_document(&document, expected, verifier, response_signature.is_some()).await
}

/// Every `Assertion` and `EncryptedAssertion` anywhere in the document.
fn assertions_in<'a, 'input>(document: &'a Document<'input>) -> Vec<Node<'a, 'input>> {
    document
        .descendants()
        .filter(|n| is(*n, ASSERTION_NS, "Assertion") || is(*n, ASSERTION_NS, "EncryptedAssertion"))
        .collect()
}

/// The response's one `EncryptedAssertion`, if its one assertion is encrypted.
fn the_encrypted_assertion<'a, 'input>(document: &'a Document<'input>) -> Refused<Option<Node<'a, 'input>>> {
    let response = document.root_element();
    match assertions_in(document).as_slice() {
        [only]
            if is(*only, ASSERTION_NS, "EncryptedAssertion")
                && is(response, PROTOCOL_NS, "Response")
                && only.parent_element().is_some_and(|p| p.id() == response.id()) =>
        {
            Ok(Some(*only))
        }
        [only] if is(*only, ASSERTION_NS, "Assertion") => Ok(None),
        _ => Err(ResponseRefusal::AssertionCount),
    }
}

/// Verifies a parsed response; `response_signed_before` when the response's signature was
/// verified over its encrypted assertion (and taken out of this, the decrypted, document).
async fn verify_document(
    document: &Document<'_>,
    expected: &Expected<'_>,
    verifier: &impl SignatureVerifier,
    response_signed_before: bool,
) -> Result<VerifiedAssertion, ResponseFailure> {
    let (response, assertion) = locate(document)?;

    // The signatures: the response's own and the assertion's own, and no other anywhere.
    let response_signature = direct_signature(response)?;
    let assertion_signature = direct_signature(assertion)?;
    let signatures = document.descendants().filter(|n| is(*n, DSIG_NS, "Signature")).count();
    let expected_signatures = usize::from(response_signature.is_some()) + usize::from(assertion_signature.is_some());
    if signatures != expected_signatures {
        return Err(ResponseRefusal::Shape("Signature").into());
    }
    let signed_response = match response_signature {
        Some(node) => Some(verified(document, node, expected, verifier).await?),
        None => None,
    };
    let signed_assertion = match assertion_signature {
        Some(node) => Some(verified(document, node, expected, verifier).await?),
        None => None,
    };
    // Read from the signed node: the assertion itself, else the one inside the signed response
    // (or the one a signed response's ciphertext decrypted to).
    let assertion = match (signed_assertion, signed_response) {
        (Some(signed), _) => signed.element(),
        (None, Some(signed)) => {
            let inside = signed.element().children().find(|n| is(*n, ASSERTION_NS, "Assertion"));
            inside.filter(|node| node.id() == assertion.id()).ok_or(ResponseRefusal::AssertionCount)?
        }
        (None, None) if response_signed_before => assertion,
        (None, None) => return Err(ResponseRefusal::Unsigned.into()),
    };
    let response = assertion
        .parent_element()
        .filter(|node| node.id() == response.id())
        .ok_or(ResponseRefusal::Shape("Response"))?;
    Ok(read(response, assertion, expected)?)
}

/// The root `Response` and its one `Assertion`.
fn locate<'a, 'input>(document: &'a Document<'input>) -> Refused<(Node<'a, 'input>, Node<'a, 'input>)> {
    let response = document.root_element();
    if !is(response, PROTOCOL_NS, "Response") {
        return Err(ResponseRefusal::Shape("Response"));
    }
    match assertions_in(document).as_slice() {
        [only]
            if is(*only, ASSERTION_NS, "Assertion")
                && only.parent_element().is_some_and(|p| p.id() == response.id()) =>
        {
            Ok((response, *only))
        }
        _ => Err(ResponseRefusal::AssertionCount),
    }
}

/// An element's own `ds:Signature` child, if it has one (two refuse).
fn direct_signature<'a, 'input>(node: Node<'a, 'input>) -> Refused<Option<Node<'a, 'input>>> {
    let mut found = node.children().filter(|child| is(*child, DSIG_NS, "Signature"));
    let first = found.next();
    if found.next().is_some() {
        return Err(ResponseRefusal::Shape("Signature"));
    }
    Ok(first)
}

async fn verified<'a, 'input>(
    document: &'a Document<'input>,
    signature_node: Node<'a, 'input>,
    expected: &Expected<'_>,
    verifier: &impl SignatureVerifier,
) -> Result<SignedElement<'a, 'input>, ResponseFailure> {
    let parts = dsig::read(document, signature_node, expected.allow_sha1)
        .map_err(|refusal| ResponseFailure::Refused(ResponseRefusal::Signature(refusal)))?;
    Ok(signature::verify(&parts, expected.certificates, verifier).await?)
}

/// The profile's checks and the values, from the signed nodes.
fn read(response: Node<'_, '_>, assertion: Node<'_, '_>, expected: &Expected<'_>) -> Refused<VerifiedAssertion> {
    let children = children_of(
        response,
        &[
            (ASSERTION_NS, "Issuer"),
            (DSIG_NS, "Signature"),
            (PROTOCOL_NS, "Extensions"),
            (PROTOCOL_NS, "Status"),
            (ASSERTION_NS, "Assertion"),
        ],
        "Response",
    )?;
    if attribute(response, "Version") != Some("2.0") {
        return Err(ResponseRefusal::Shape("Response Version"));
    }
    if attribute(response, "ID").is_none_or(str::is_empty) {
        return Err(ResponseRefusal::Shape("Response ID"));
    }
    let issued_s = instant(response, "IssueInstant", "Response IssueInstant")?
        .ok_or(ResponseRefusal::Shape("Response IssueInstant"))?;
    within(Some(issued_s), None, expected)?;
    check_status(exactly_one(&children, PROTOCOL_NS, "Status", "Status")?)?;
    if attribute(response, "Destination") != Some(expected.acs_url) {
        return Err(ResponseRefusal::Destination);
    }
    if let Some(issuer) = at_most_one(&children, ASSERTION_NS, "Issuer", "Response Issuer")? {
        check_issuer(issuer, expected)?;
    }
    let in_response_to = attribute(response, "InResponseTo");
    check_in_response_to(in_response_to, expected)?;
    read_assertion(assertion, expected, in_response_to)
}

fn check_status(status: Node<'_, '_>) -> Refused<()> {
    let children = children_of(
        status,
        &[(PROTOCOL_NS, "StatusCode"), (PROTOCOL_NS, "StatusMessage"), (PROTOCOL_NS, "StatusDetail")],
        "Status",
    )?;
    let code = exactly_one(&children, PROTOCOL_NS, "StatusCode", "StatusCode")?;
    // A second-level code under Success still means Success; the top level is what counts.
    if attribute(code, "Value") != Some(STATUS_SUCCESS) {
        return Err(ResponseRefusal::Status);
    }
    Ok(())
}

fn check_in_response_to(value: Option<&str>, expected: &Expected<'_>) -> Refused<()> {
    match (value, expected.in_response_to) {
        (None, None) => Ok(()),
        (Some(value), Some(wanted)) if value == wanted => Ok(()),
        _ => Err(ResponseRefusal::InResponseTo),
    }
}

fn read_assertion(
    assertion: Node<'_, '_>,
    expected: &Expected<'_>,
    response_in_response_to: Option<&str>,
) -> Refused<VerifiedAssertion> {
    let children = children_of(
        assertion,
        &[
            (ASSERTION_NS, "Issuer"),
            (DSIG_NS, "Signature"),
            (ASSERTION_NS, "Subject"),
            (ASSERTION_NS, "Conditions"),
            (ASSERTION_NS, "AuthnStatement"),
            (ASSERTION_NS, "AttributeStatement"),
        ],
        "Assertion",
    )?;
    if attribute(assertion, "Version") != Some("2.0") {
        return Err(ResponseRefusal::Shape("Assertion Version"));
    }
    let assertion_id =
        attribute(assertion, "ID").filter(|id| !id.is_empty()).ok_or(ResponseRefusal::Shape("Assertion ID"))?;
    let issued_s = instant(assertion, "IssueInstant", "Assertion IssueInstant")?
        .ok_or(ResponseRefusal::Shape("Assertion IssueInstant"))?;
    within(Some(issued_s), None, expected)?;
    check_issuer(exactly_one(&children, ASSERTION_NS, "Issuer", "Assertion Issuer")?, expected)?;

    let conditions = exactly_one(&children, ASSERTION_NS, "Conditions", "Conditions")?;
    let conditions_until_s = check_conditions(conditions, expected)?;
    let subject = exactly_one(&children, ASSERTION_NS, "Subject", "Subject")?;
    let (name, confirmation_until_s) = read_subject(subject, expected, response_in_response_to)?;

    let authn = exactly_one(&children, ASSERTION_NS, "AuthnStatement", "AuthnStatement")?;
    let (authn_instant_s, session_index, session_not_on_or_after_s, authn_context_class) = read_authn(authn, expected)?;
    let mut attributes = Vec::new();
    for statement in children.iter().filter(|n| is(**n, ASSERTION_NS, "AttributeStatement")) {
        read_attributes(*statement, &mut attributes)?;
    }
    let not_on_or_after_s = conditions_until_s.map_or(confirmation_until_s, |until| until.min(confirmation_until_s));
    Ok(VerifiedAssertion {
        assertion_id: assertion_id.to_owned(),
        issuer: expected.idp_entity_id.to_owned(),
        name_id: name.value,
        name_id_format: name.format,
        name_qualifiers: name.qualifiers,
        session_index,
        authn_instant_s,
        authn_context_class,
        session_not_on_or_after_s,
        attributes,
        replay_until_s: not_on_or_after_s.saturating_add(expected.skew_s),
        in_response_to: response_in_response_to.map(str::to_owned),
    })
}

/// Checks `NotBefore` / `NotOnOrAfter` with the skew.
fn within(not_before_s: Option<u64>, not_on_or_after_s: Option<u64>, expected: &Expected<'_>) -> Refused<()> {
    if not_before_s.is_some_and(|from| expected.now_s.saturating_add(expected.skew_s) < from) {
        return Err(ResponseRefusal::NotYetValid);
    }
    if not_on_or_after_s.is_some_and(|until| expected.now_s >= until.saturating_add(expected.skew_s)) {
        return Err(ResponseRefusal::Expired);
    }
    Ok(())
}

/// The conditions: the times, and every `AudienceRestriction` naming this SP (each must hold,
/// SAML Core §2.5.1.4). `OneTimeUse` holds by the replay check; `ProxyRestriction` restricts
/// only what an SP that re-issues assertions may do. Any other condition is not understood, so
/// the assertion is not valid (§2.5.1).
fn check_conditions(conditions: Node<'_, '_>, expected: &Expected<'_>) -> Refused<Option<u64>> {
    let children = children_of(
        conditions,
        &[(ASSERTION_NS, "AudienceRestriction"), (ASSERTION_NS, "OneTimeUse"), (ASSERTION_NS, "ProxyRestriction")],
        "Conditions",
    )?;
    let not_before_s = instant(conditions, "NotBefore", "Conditions NotBefore")?;
    let not_on_or_after_s = instant(conditions, "NotOnOrAfter", "Conditions NotOnOrAfter")?;
    within(not_before_s, not_on_or_after_s, expected)?;
    let restrictions: Vec<_> = children.iter().filter(|n| is(**n, ASSERTION_NS, "AudienceRestriction")).collect();
    if restrictions.is_empty() {
        return Err(ResponseRefusal::Audience);
    }
    for restriction in restrictions {
        let audiences = children_of(*restriction, &[(ASSERTION_NS, "Audience")], "AudienceRestriction")?;
        let mut named = false;
        for audience in audiences {
            named |= text_of(audience, "Audience")? == expected.sp_entity_id;
        }
        if !named {
            return Err(ResponseRefusal::Audience);
        }
    }
    Ok(not_on_or_after_s)
}

/// The subject: its `NameID` (an `EncryptedID` or `BaseID` is not read), and a bearer
/// confirmation for this ACS, within its time, for this request. Returns the confirmation's
/// `NotOnOrAfter` (required by the profile).
/// A `NameID` as read: its value, `Format` and qualifiers.
struct NameIdentifier {
    value: String,
    format: Option<String>,
    qualifiers: (Option<String>, Option<String>),
}

fn read_subject(
    subject: Node<'_, '_>,
    expected: &Expected<'_>,
    response_in_response_to: Option<&str>,
) -> Refused<(NameIdentifier, u64)> {
    let children = children_of(subject, &[(ASSERTION_NS, "NameID"), (ASSERTION_NS, "SubjectConfirmation")], "Subject")?;
    let name_id = exactly_one(&children, ASSERTION_NS, "NameID", "NameID")?;
    let value = exact_text_of(name_id, "NameID")?;
    if value.is_empty() || value.starts_with(is_xml_space) || value.ends_with(is_xml_space) {
        return Err(ResponseRefusal::Shape("NameID"));
    }
    // The latest end of the confirmations that hold: the assertion is accepted until then, so the
    // replay record must last as long.
    let mut confirmed_until = None;
    let mut refusal = ResponseRefusal::SubjectConfirmation;
    for confirmation in children.iter().filter(|n| is(**n, ASSERTION_NS, "SubjectConfirmation")) {
        match check_confirmation(*confirmation, expected, response_in_response_to) {
            Ok(until) => confirmed_until = confirmed_until.max(Some(until)),
            // The most telling reason, when no confirmation holds.
            Err(reason) => refusal = reason,
        }
    }
    let until = confirmed_until.ok_or(refusal)?;
    let qualifier = |name: &str| attribute(name_id, name).map(str::to_owned);
    let name = NameIdentifier {
        value: value.to_owned(),
        format: qualifier("Format"),
        qualifiers: (qualifier("NameQualifier"), qualifier("SPNameQualifier")),
    };
    Ok((name, until))
}

fn check_confirmation(
    confirmation: Node<'_, '_>,
    expected: &Expected<'_>,
    response_in_response_to: Option<&str>,
) -> Refused<u64> {
    if attribute(confirmation, "Method") != Some(BEARER) {
        return Err(ResponseRefusal::SubjectConfirmation);
    }
    let children = children_of(
        confirmation,
        &[(ASSERTION_NS, "NameID"), (ASSERTION_NS, "SubjectConfirmationData")],
        "SubjectConfirmation",
    )?;
    let data = exactly_one(&children, ASSERTION_NS, "SubjectConfirmationData", "SubjectConfirmationData")?;
    if attribute(data, "Recipient") != Some(expected.acs_url) {
        return Err(ResponseRefusal::SubjectConfirmation);
    }
    let in_response_to = attribute(data, "InResponseTo");
    check_in_response_to(in_response_to, expected)?;
    if in_response_to != response_in_response_to {
        return Err(ResponseRefusal::InResponseTo);
    }
    // The bearer profile: a NotOnOrAfter, and no NotBefore (SAML Profiles §4.1.4.2).
    if attribute(data, "NotBefore").is_some() {
        return Err(ResponseRefusal::SubjectConfirmation);
    }
    let until = instant(data, "NotOnOrAfter", "SubjectConfirmationData NotOnOrAfter")?
        .ok_or(ResponseRefusal::SubjectConfirmation)?;
    within(None, Some(until), expected)?;
    Ok(until)
}

type AuthnFacts = (u64, Option<String>, Option<u64>, Option<String>);

fn read_authn(authn: Node<'_, '_>, expected: &Expected<'_>) -> Refused<AuthnFacts> {
    let children =
        children_of(authn, &[(ASSERTION_NS, "SubjectLocality"), (ASSERTION_NS, "AuthnContext")], "AuthnStatement")?;
    let authn_instant_s =
        instant(authn, "AuthnInstant", "AuthnInstant")?.ok_or(ResponseRefusal::Shape("AuthnInstant"))?;
    if authn_instant_s > expected.now_s.saturating_add(expected.skew_s) {
        return Err(ResponseRefusal::NotYetValid);
    }
    let session_not_on_or_after_s = instant(authn, "SessionNotOnOrAfter", "SessionNotOnOrAfter")?;
    within(None, session_not_on_or_after_s, expected)?;
    let context = exactly_one(&children, ASSERTION_NS, "AuthnContext", "AuthnContext")?;
    let context_children = children_of(
        context,
        &[
            (ASSERTION_NS, "AuthnContextClassRef"),
            (ASSERTION_NS, "AuthnContextDeclRef"),
            (ASSERTION_NS, "AuthenticatingAuthority"),
        ],
        "AuthnContext",
    )?;
    let class = match at_most_one(&context_children, ASSERTION_NS, "AuthnContextClassRef", "AuthnContextClassRef")? {
        Some(node) => Some(text_of(node, "AuthnContextClassRef")?.to_owned()),
        None => None,
    };
    Ok((authn_instant_s, attribute(authn, "SessionIndex").map(str::to_owned), session_not_on_or_after_s, class))
}

fn read_attributes(statement: Node<'_, '_>, attributes: &mut Vec<Attribute>) -> Refused<()> {
    for element in children_of(statement, &[(ASSERTION_NS, "Attribute")], "AttributeStatement")? {
        let name = attribute(element, "Name")
            .filter(|name| !name.is_empty())
            .ok_or(ResponseRefusal::Shape("Attribute Name"))?;
        let mut values = Vec::new();
        for value in children_of(element, &[(ASSERTION_NS, "AttributeValue")], "Attribute")? {
            values.push(exact_text_of(value, "AttributeValue")?.to_owned());
        }
        let index = match attributes.iter().position(|known| known.name == name) {
            Some(index) => index,
            None if attributes.len() < MAX_ATTRIBUTES => {
                attributes.push(Attribute { name: name.to_owned(), values: Vec::new() });
                attributes.len() - 1
            }
            None => return Err(ResponseRefusal::Shape("Attribute count")),
        };
        // One attribute's values, across every statement that names it, are bounded together.
        let known = &mut attributes[index];
        if known.values.len() + values.len() > MAX_ATTRIBUTE_VALUES {
            return Err(ResponseRefusal::Shape("AttributeValue count"));
        }
        known.values.extend(values);
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
