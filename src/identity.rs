//! Who a caller is, as every layer may read it: the identity an authenticator mapped from a
//! verified credential, and the syntax of the scope and role names it carries. A leaf.

/// The identity a verified credential asserts, read through its issuer's claim names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedIdentity {
    /// The subject.
    pub subject: String,
    /// The email, if any.
    pub email: Option<String>,
    /// Groups or roles.
    pub groups: Vec<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// The tenant, if any.
    pub tenant: Option<String>,
}

/// Whether a value is an OAuth scope token (RFC 6749 §3.3): printable ASCII except space, `"`
/// and `\`. Role names follow the same rule.
pub fn is_scope_token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}
