//! The HTTP-Redirect binding's signature (SAML Bindings §3.4.4.1): not inside the XML but over
//! the query string's own bytes, `SAMLRequest=…[&RelayState=…]&SigAlg=…` (or `SAMLResponse=…`),
//! with each value exactly as it was sent, URL-encoded. Portcullis signs its `AuthnRequest`s and
//! logout messages this way ([`signed_redirect_url`], with the SP key through [`MessageSigner`]),
//! and checks an IdP's logout messages ([`read_redirect`], then [`verify`]) with the IdP's pinned
//! certificates: RSA-SHA256 or ECDSA-SHA256 (raw `r || s`, as XML-DSig 1.1 has it), the algorithm
//! tied to the key's type. SHA-1 is refused by name.

use super::binding::{self, BindingRefusal, MessageKind};
use super::certificate::SigningCertificate;
use crate::authn::jwt::alg::Alg;
use crate::authn::jwt::signature::precheck;
use crate::mfa::webauthn::signature::SignatureVerifier;
use crate::ports::Unavailable;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use url::form_urlencoded;

/// RSA-SHA256 (PKCS #1 v1.5).
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// ECDSA-SHA256.
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
/// RSA-SHA1, refused.
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

/// The most bytes of a query string read.
pub const MAX_QUERY_BYTES: usize = binding::MAX_ENCODED_BYTES * 3 + 1024;

/// Signs as this service provider (the SP key: WebCrypto in the worker, RustCrypto in tests).
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait MessageSigner {
    /// The `SigAlg` URI of its key ([`RSA_SHA256`] or [`ECDSA_SHA256`]).
    fn sig_alg(&self) -> &'static str;
    /// The signature over `octets` (raw `r || s` for ECDSA).
    async fn sign(&self, octets: &[u8]) -> Result<Vec<u8>, Unavailable>;
}

/// Why a message received over HTTP-Redirect was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectRefusal {
    /// The message itself (see [`BindingRefusal`]).
    Binding(BindingRefusal),
    /// Not exactly one of `SAMLRequest` and `SAMLResponse`, or a parameter given twice.
    Parameters,
    /// No signature (or a `SigAlg` without one, or one without a `SigAlg`).
    Unsigned,
    /// A `SigAlg` other than RSA-SHA256 and ECDSA-SHA256.
    Algorithm,
    /// SHA-1.
    Sha1,
    /// The signature is not base64.
    SignatureEncoding,
    /// No pinned certificate verifies it.
    SignatureInvalid,
}

impl RedirectRefusal {
    /// A stable reason code.
    pub fn reason(self) -> &'static str {
        match self {
            RedirectRefusal::Binding(refusal) => refusal.reason(),
            RedirectRefusal::Parameters => "saml_redirect_parameters",
            RedirectRefusal::Unsigned => "saml_redirect_unsigned",
            RedirectRefusal::Algorithm => "signature_algorithm",
            RedirectRefusal::Sha1 => "signature_sha1",
            RedirectRefusal::SignatureEncoding => "signature_encoding",
            RedirectRefusal::SignatureInvalid => "signature_invalid",
        }
    }
}

impl From<BindingRefusal> for RedirectRefusal {
    fn from(refusal: BindingRefusal) -> Self {
        RedirectRefusal::Binding(refusal)
    }
}

/// A message received over HTTP-Redirect, before its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectMessage {
    /// A request or a response.
    pub kind: MessageKind,
    /// The inflated XML.
    pub xml: String,
    /// `RelayState`, decoded, if any.
    pub relay_state: Option<String>,
    /// The signature, if any.
    pub signature: Option<QuerySignature>,
}

/// A query string's signature: what it signs, with which algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySignature {
    /// The octets signed, rebuilt from the values as they were sent.
    pub octets: String,
    /// The algorithm.
    pub alg: Alg,
    /// The signature's bytes.
    pub signature: Vec<u8>,
}

fn decoded(raw: &str) -> String {
    form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// Reads the query string of a message sent over HTTP-Redirect: one `SAMLRequest` or
/// `SAMLResponse`, its `RelayState`, and its signature (`SigAlg`, `Signature`), if any. Other
/// parameters are ignored; none of these may appear twice.
pub fn read_redirect(raw_query: &str) -> Result<RedirectMessage, RedirectRefusal> {
    if raw_query.len() > MAX_QUERY_BYTES {
        return Err(BindingRefusal::TooLarge.into());
    }
    let mut found: [Option<&str>; 5] = [None; 5];
    const NAMES: [&str; 5] = ["SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature"];
    for pair in raw_query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(index) = NAMES.iter().position(|known| *known == name) {
            if found[index].replace(value).is_some() {
                return Err(RedirectRefusal::Parameters);
            }
        }
    }
    let [request, response, relay_state, sig_alg, signature] = found;
    let (kind, message) = match (request, response) {
        (Some(message), None) => (MessageKind::Request, message),
        (None, Some(message)) => (MessageKind::Response, message),
        _ => return Err(RedirectRefusal::Parameters),
    };
    let xml = binding::decode_redirect(&decoded(message))?;
    let relay = relay_state.map(decoded);
    if let Some(relay) = &relay {
        binding::relay_state(relay)?;
    }
    let signature = match (sig_alg, signature) {
        (None, None) => None,
        (Some(raw_alg), Some(raw_signature)) => {
            let alg = match decoded(raw_alg).as_str() {
                RSA_SHA256 => Alg::Rs256,
                ECDSA_SHA256 => Alg::Es256,
                RSA_SHA1 => return Err(RedirectRefusal::Sha1),
                _ => return Err(RedirectRefusal::Algorithm),
            };
            let signature = STANDARD.decode(decoded(raw_signature)).map_err(|_| RedirectRefusal::SignatureEncoding)?;
            let mut octets = format!("{}={message}", kind.parameter());
            if let Some(raw_relay) = relay_state {
                octets.push_str(&format!("&RelayState={raw_relay}"));
            }
            octets.push_str(&format!("&SigAlg={raw_alg}"));
            Some(QuerySignature { octets, alg, signature })
        }
        _ => return Err(RedirectRefusal::Unsigned),
    };
    Ok(RedirectMessage { kind, xml, relay_state: relay, signature })
}

/// Why a query signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureFailure {
    /// Refused.
    Refused(RedirectRefusal),
    /// The signature backend failed (fail closed).
    Unavailable(Unavailable),
}

/// Checks a message's signature with the connection's certificates: it must be signed, and some
/// certificate of the algorithm's key type must verify it.
pub async fn verify(
    message: &RedirectMessage,
    certificates: &[SigningCertificate],
    verifier: &impl SignatureVerifier,
) -> Result<(), SignatureFailure> {
    let signed = message.signature.as_ref().ok_or(SignatureFailure::Refused(RedirectRefusal::Unsigned))?;
    for certificate in certificates {
        if precheck(signed.alg, &certificate.key, &signed.signature).is_err() {
            continue;
        }
        match verifier.verify(signed.alg, &certificate.key, signed.octets.as_bytes(), &signed.signature).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(unavailable) => return Err(SignatureFailure::Unavailable(unavailable)),
        }
    }
    Err(SignatureFailure::Refused(RedirectRefusal::SignatureInvalid))
}

/// The URL that carries `message` to `endpoint` over HTTP-Redirect with `relay_state`, signed by
/// `signer` (or unsigned without one).
pub async fn signed_redirect_url(
    endpoint: &str,
    kind: MessageKind,
    message: &str,
    relay_state: Option<&str>,
    signer: Option<&impl MessageSigner>,
) -> Result<String, Unavailable> {
    let unsigned = binding::redirect_url(endpoint, kind, message, relay_state);
    let Some(signer) = signer else { return Ok(unsigned) };
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("SigAlg", signer.sig_alg());
    // The octets are this message's own parameters, as they are sent (not the endpoint's own).
    let start = unsigned.rfind(&format!("{}=", kind.parameter())).unwrap_or_default();
    let octets = format!("{}&{}", &unsigned[start..], query.finish());
    let signature = signer.sign(octets.as_bytes()).await?;
    let mut signature_pair = form_urlencoded::Serializer::new(String::new());
    signature_pair.append_pair("Signature", &STANDARD.encode(signature));
    Ok(format!("{}{}&{}", &unsigned[..start], octets, signature_pair.finish()))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests;
