//! SAML 2.0, in the core: the one strict parser that signature verification and reading share
//! ([`xml`]), Exclusive XML Canonicalization ([`c14n`]), over which XML-DSig digests and signs,
//! the strict reading of an enveloped signature ([`dsig`]), the IdP's pinned certificates
//! ([`certificate`]), signature verification through the signature port ([`signature`]), SAML's
//! times ([`time`]), and the ACS's reading of a `Response` ([`response`]), which reads values
//! only from the node whose signature verified.

pub mod binding;
pub mod c14n;
pub mod certificate;
pub mod config;
pub mod dsig;
pub mod encryption;
pub mod logout;
pub mod mapping;
pub mod metadata;
pub mod redirect_signature;
pub mod request;
pub mod response;
pub mod signature;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod test_signing;
pub mod time;
pub mod xml;
