//! SAML 2.0, in the core. So far its XML layer: the one strict parser that signature verification
//! and reading will share ([`xml`]), Exclusive XML Canonicalization ([`c14n`]), over which
//! XML-DSig digests and signs, and the strict reading of an enveloped signature ([`dsig`]).

pub mod c14n;
pub mod dsig;
pub mod xml;
