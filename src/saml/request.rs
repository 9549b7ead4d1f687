//! The `AuthnRequest` Portcullis sends (SAML Core §3.4.1): its ID is the flow's, bound to the
//! browser's ticket, so that the response's `InResponseTo` proves it answers this browser.

use super::time::format_instant;
use super::xml::escape;
use crate::ports::{Entropy, Unavailable};

/// The HTTP-POST binding, where responses are to be sent.
pub const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The HTTP-Redirect binding.
pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// What one `AuthnRequest` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    /// The request's ID: `_` and 32 hex digits (an `xs:ID` must not start with a digit).
    pub id: String,
    /// This SP's entity id (the `Issuer`).
    pub sp_entity_id: String,
    /// The IdP's SSO URL (the `Destination`).
    pub destination: String,
    /// Where the response goes (the ACS).
    pub acs_url: String,
    /// The NameID format asked for, if the connection names one.
    pub name_id_format: Option<String>,
    /// Ask the IdP to authenticate the user again, whatever session it has (a step-up, or a
    /// sign-in that must be fresh).
    pub force_authn: bool,
    /// The authentication context classes asked for, if any (`RequestedAuthnContext`, at least
    /// one of them).
    pub authn_context_classes: Vec<String>,
    /// When it was issued, in Unix seconds.
    pub issued_at_s: u64,
}

/// A new request ID from 16 random bytes.
pub fn new_request_id(entropy: &impl Entropy) -> Result<String, Unavailable> {
    let random: [u8; 16] = entropy.bytes()?;
    Ok(format!("_{}", random.iter().map(|byte| format!("{byte:02x}")).collect::<String>()))
}

impl AuthnRequest {
    /// The request as XML.
    pub fn to_xml(&self) -> String {
        let force = if self.force_authn { r#" ForceAuthn="true""# } else { "" };
        let name_id_policy = match &self.name_id_format {
            Some(format) => format!(r#"<samlp:NameIDPolicy Format="{}" AllowCreate="true"/>"#, escape(format)),
            None => r#"<samlp:NameIDPolicy AllowCreate="true"/>"#.to_owned(),
        };
        let requested_context = if self.authn_context_classes.is_empty() {
            String::new()
        } else {
            let classes: String = self
                .authn_context_classes
                .iter()
                .map(|class| format!("<saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef>", escape(class)))
                .collect();
            format!(r#"<samlp:RequestedAuthnContext Comparison="exact">{classes}</samlp:RequestedAuthnContext>"#)
        };
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{HTTP_POST}"{force}><saml:Issuer>{issuer}</saml:Issuer>{name_id_policy}{requested_context}</samlp:AuthnRequest>"#,
            id = escape(&self.id),
            instant = format_instant(self.issued_at_s),
            destination = escape(&self.destination),
            acs = escape(&self.acs_url),
            issuer = escape(&self.sp_entity_id),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::response::{ASSERTION_NS, PROTOCOL_NS};
    use crate::saml::xml::parse;
    use proptest::prelude::*;

    fn request() -> AuthnRequest {
        AuthnRequest {
            id: "_0123456789abcdef0123456789abcdef".into(),
            sp_entity_id: "https://app.example/auth/saml".into(),
            destination: "https://idp.example/sso?tenant=a&b".into(),
            acs_url: "https://app.example/auth/callback/conn_abc".into(),
            name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
            force_authn: false,
            authn_context_classes: Vec::new(),
            issued_at_s: 1_800_000_000,
        }
    }

    #[test]
    fn the_request_is_what_the_idp_needs_and_parses_strictly() {
        let xml = request().to_xml();
        let document = parse(&xml).expect("Portcullis's own parser reads it");
        let root = document.root_element();
        assert!(root.has_tag_name((PROTOCOL_NS, "AuthnRequest")));
        assert_eq!(root.attribute("ID"), Some("_0123456789abcdef0123456789abcdef"));
        assert_eq!(root.attribute("Destination"), Some("https://idp.example/sso?tenant=a&b"));
        assert_eq!(root.attribute("AssertionConsumerServiceURL"), Some("https://app.example/auth/callback/conn_abc"));
        assert_eq!(root.attribute("ProtocolBinding"), Some(HTTP_POST));
        assert_eq!(root.attribute("IssueInstant"), Some("2027-01-15T08:00:00Z"));
        assert_eq!(root.attribute("ForceAuthn"), None);
        let issuer = root.children().find(|n| n.has_tag_name((ASSERTION_NS, "Issuer"))).unwrap();
        assert_eq!(issuer.text(), Some("https://app.example/auth/saml"));
        assert!(!xml.contains("RequestedAuthnContext"));

        let stepped_up = AuthnRequest {
            force_authn: true,
            authn_context_classes: vec!["urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor".into()],
            ..request()
        };
        let xml = stepped_up.to_xml();
        let document = parse(&xml).unwrap();
        assert_eq!(document.root_element().attribute("ForceAuthn"), Some("true"));
        let class = document.descendants().find(|n| n.has_tag_name((ASSERTION_NS, "AuthnContextClassRef"))).unwrap();
        assert_eq!(class.text(), Some("urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor"));
    }

    #[test]
    fn request_ids_are_xml_ids_and_differ() {
        let entropy = crate::ports::SystemEntropy;
        let first = new_request_id(&entropy).unwrap();
        let second = new_request_id(&entropy).unwrap();
        assert_ne!(first, second);
        assert_eq!(first.len(), 33);
        assert!(first.starts_with('_') && first[1..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    proptest! {
        #![proptest_config(crate::testing::generative(256))]

        /// Whatever a configuration puts in the request's values, the request stays one
        /// well-formed element whose values read back as given.
        #[test]
        fn any_values_are_escaped(entity in "\\PC{0,60}", destination in "\\PC{0,60}", class in "\\PC{0,40}") {
            let sent = AuthnRequest {
                sp_entity_id: entity.clone(),
                destination: destination.clone(),
                authn_context_classes: vec![class.clone()],
                ..request()
            };
            let xml = sent.to_xml();
            let document = parse(&xml).expect("well-formed");
            prop_assert_eq!(document.root_element().attribute("Destination"), Some(destination.as_str()));
            let issuer = document.descendants().find(|n| n.has_tag_name((ASSERTION_NS, "Issuer"))).unwrap();
            prop_assert_eq!(issuer.text().unwrap_or(""), entity.as_str());
            let read = document.descendants().find(|n| n.has_tag_name((ASSERTION_NS, "AuthnContextClassRef"))).unwrap();
            prop_assert_eq!(read.text().unwrap_or(""), class.as_str());
        }
    }
}
