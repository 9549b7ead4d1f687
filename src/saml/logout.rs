//! Single Logout (SAML Core §3.7, the HTTP-Redirect binding): the `LogoutRequest` this SP sends
//! when a user signs out here, the IdP's `LogoutRequest` when the user signs out there (which
//! ends the user's sessions here), and the `LogoutResponse` each side answers with.
//!
//! An IdP's message is trusted only once its query signature verified
//! ([`super::redirect_signature`]); what is read here is then checked against this connection:
//! the `Issuer` is the IdP's entity id, the `Destination` is this SP's SLO URL, and the message
//! is recent (its `IssueInstant` within the skew and a few minutes, its `NotOnOrAfter` not past).
//! Its ID is for the caller to spend once in the ledger.

use super::response::{ASSERTION_NS, PROTOCOL_NS, STATUS_SUCCESS};
use super::time::{format_instant, parse_instant};
use super::xml::{attribute, escape, is, parse, single_text, XmlRefusal};
use crate::session::SamlSubject;
use roxmltree::Node;

/// How long after its `IssueInstant` an IdP's logout message is taken (plus the skew).
pub const MESSAGE_LIFETIME_S: u64 = 300;

/// The most `SessionIndex`es one request may name.
const MAX_SESSION_INDEXES: usize = 32;

/// The `LogoutRequest` this SP sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest<'a> {
    /// Its ID (see [`super::request::new_request_id`]).
    pub id: &'a str,
    /// This SP's entity id.
    pub sp_entity_id: &'a str,
    /// The IdP's SLO URL.
    pub destination: &'a str,
    /// Who.
    pub subject: &'a SamlSubject,
    /// Now, in Unix seconds.
    pub issued_at_s: u64,
}

impl LogoutRequest<'_> {
    /// The request as XML.
    pub fn to_xml(&self) -> String {
        let subject = self.subject;
        let optional = |name: &str, value: &Option<String>| {
            value.as_ref().map(|value| format!(r#" {name}="{}""#, escape(value))).unwrap_or_default()
        };
        let session_index = subject
            .session_index
            .as_ref()
            .map(|index| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(index)))
            .unwrap_or_default();
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" NotOnOrAfter="{until}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID{format}{qualifier}{sp_qualifier}>{name_id}</saml:NameID>{session_index}</samlp:LogoutRequest>"#,
            id = escape(self.id),
            instant = format_instant(self.issued_at_s),
            until = format_instant(self.issued_at_s + MESSAGE_LIFETIME_S),
            destination = escape(self.destination),
            issuer = escape(self.sp_entity_id),
            format = optional("Format", &subject.format),
            qualifier = optional("NameQualifier", &subject.name_qualifier),
            sp_qualifier = optional("SPNameQualifier", &subject.sp_name_qualifier),
            name_id = escape(&subject.name_id),
        )
    }
}

/// The top-level status of a `LogoutResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutStatus {
    /// Every session named was ended.
    Success,
    /// This SP could not end them (its store failed): `Responder`.
    Failed,
}

/// The `LogoutResponse` this SP answers an IdP's request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse<'a> {
    /// Its ID.
    pub id: &'a str,
    /// The request's ID.
    pub in_response_to: &'a str,
    /// This SP's entity id.
    pub sp_entity_id: &'a str,
    /// The IdP's SLO URL.
    pub destination: &'a str,
    /// The outcome.
    pub status: LogoutStatus,
    /// Now, in Unix seconds.
    pub issued_at_s: u64,
}

impl LogoutResponse<'_> {
    /// The response as XML.
    pub fn to_xml(&self) -> String {
        let status = match self.status {
            LogoutStatus::Success => STATUS_SUCCESS,
            LogoutStatus::Failed => "urn:oasis:names:tc:SAML:2.0:status:Responder",
        };
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" InResponseTo="{in_response_to}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#,
            id = escape(self.id),
            instant = format_instant(self.issued_at_s),
            destination = escape(self.destination),
            in_response_to = escape(self.in_response_to),
            issuer = escape(self.sp_entity_id),
        )
    }
}

/// What an IdP's logout message must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The IdP's entity id.
    pub idp_entity_id: &'a str,
    /// This SP's SLO URL.
    pub slo_url: &'a str,
    /// Now, in Unix seconds.
    pub now_s: u64,
    /// The clock skew allowed.
    pub skew_s: u64,
}

/// Why an IdP's logout message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRefusal {
    /// The XML itself.
    Xml(XmlRefusal),
    /// Not the message's shape (the part is for logs).
    Shape(&'static str),
    /// The `Issuer` is not the IdP's.
    Issuer,
    /// The `Destination` is not this SP's SLO URL.
    Destination,
    /// Too old, or not yet issued.
    Stale,
    /// An encrypted `NameID`, which this SP cannot open.
    EncryptedId,
}

impl LogoutRefusal {
    /// A stable reason code.
    pub fn reason(self) -> &'static str {
        match self {
            LogoutRefusal::Xml(refusal) => refusal.reason(),
            LogoutRefusal::Shape(_) => "saml_logout_shape",
            LogoutRefusal::Issuer => "saml_issuer",
            LogoutRefusal::Destination => "saml_destination",
            LogoutRefusal::Stale => "saml_logout_stale",
            LogoutRefusal::EncryptedId => "saml_encrypted_id",
        }
    }
}

/// The IdP's `LogoutRequest`: whom to sign out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpLogoutRequest {
    /// Its ID, to spend once and to answer.
    pub id: String,
    /// The `NameID`.
    pub name_id: String,
    /// The `SessionIndex`es, if it names any (none: every session of the subject).
    pub session_indexes: Vec<String>,
    /// Until when it could be taken (for the ledger).
    pub replay_until_s: u64,
}

/// The IdP's `LogoutResponse` to this SP's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpLogoutResponse {
    /// The request it answers.
    pub in_response_to: Option<String>,
    /// Whether the IdP says it signed the user out everywhere it could.
    pub success: bool,
}

fn element_children<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

/// The checks both messages share: the root's name and version, its `Issuer`, `Destination`
/// and times. Returns until when it could be taken.
fn check_common(root: Node<'_, '_>, name: &'static str, expected: &Expected<'_>) -> Result<u64, LogoutRefusal> {
    if !is(root, PROTOCOL_NS, name) || attribute(root, "Version") != Some("2.0") {
        return Err(LogoutRefusal::Shape(name));
    }
    attribute(root, "ID").filter(|id| !id.is_empty() && id.len() <= 256).ok_or(LogoutRefusal::Shape("ID"))?;
    let issuers: Vec<Node<'_, '_>> = element_children(root).filter(|n| is(*n, ASSERTION_NS, "Issuer")).collect();
    let [issuer] = issuers.as_slice() else { return Err(LogoutRefusal::Issuer) };
    if single_text(*issuer) != Some(expected.idp_entity_id) {
        return Err(LogoutRefusal::Issuer);
    }
    if attribute(root, "Destination") != Some(expected.slo_url) {
        return Err(LogoutRefusal::Destination);
    }
    let issued = attribute(root, "IssueInstant").and_then(parse_instant).ok_or(LogoutRefusal::Shape("IssueInstant"))?;
    let oldest = expected.now_s.saturating_sub(MESSAGE_LIFETIME_S + expected.skew_s);
    if issued > expected.now_s + expected.skew_s || issued < oldest {
        return Err(LogoutRefusal::Stale);
    }
    let mut until = issued + MESSAGE_LIFETIME_S + expected.skew_s;
    if let Some(text) = attribute(root, "NotOnOrAfter") {
        let not_on_or_after = parse_instant(text).ok_or(LogoutRefusal::Shape("NotOnOrAfter"))?;
        if expected.now_s >= not_on_or_after + expected.skew_s {
            return Err(LogoutRefusal::Stale);
        }
        until = until.min(not_on_or_after + expected.skew_s);
    }
    Ok(until)
}

/// Reads an IdP's `LogoutRequest` (whose signature the caller verified).
pub fn read_request(xml: &str, expected: &Expected<'_>) -> Result<IdpLogoutRequest, LogoutRefusal> {
    let document = parse(xml).map_err(LogoutRefusal::Xml)?;
    let root = document.root_element();
    let replay_until_s = check_common(root, "LogoutRequest", expected)?;
    if element_children(root).any(|n| is(n, ASSERTION_NS, "EncryptedID")) {
        return Err(LogoutRefusal::EncryptedId);
    }
    let names: Vec<Node<'_, '_>> = element_children(root).filter(|n| is(*n, ASSERTION_NS, "NameID")).collect();
    let [name] = names.as_slice() else { return Err(LogoutRefusal::Shape("NameID")) };
    let name_id = single_text(*name).filter(|text| !text.is_empty()).ok_or(LogoutRefusal::Shape("NameID"))?;
    let mut session_indexes = Vec::new();
    for index in element_children(root).filter(|n| is(*n, PROTOCOL_NS, "SessionIndex")) {
        session_indexes.push(single_text(index).ok_or(LogoutRefusal::Shape("SessionIndex"))?.to_owned());
    }
    if session_indexes.len() > MAX_SESSION_INDEXES {
        return Err(LogoutRefusal::Shape("SessionIndex"));
    }
    Ok(IdpLogoutRequest {
        id: attribute(root, "ID").unwrap_or_default().to_owned(),
        name_id: name_id.to_owned(),
        session_indexes,
        replay_until_s,
    })
}

/// Reads an IdP's `LogoutResponse` (whose signature the caller verified).
pub fn read_response(xml: &str, expected: &Expected<'_>) -> Result<IdpLogoutResponse, LogoutRefusal> {
    let document = parse(xml).map_err(LogoutRefusal::Xml)?;
    let root = document.root_element();
    check_common(root, "LogoutResponse", expected)?;
    let status =
        element_children(root).find(|n| is(*n, PROTOCOL_NS, "Status")).ok_or(LogoutRefusal::Shape("Status"))?;
    let code = element_children(status).find(|n| is(*n, PROTOCOL_NS, "StatusCode"));
    let code = code.and_then(|n| attribute(n, "Value")).ok_or(LogoutRefusal::Shape("StatusCode"))?;
    Ok(IdpLogoutResponse {
        in_response_to: attribute(root, "InResponseTo").map(str::to_owned),
        success: code == STATUS_SUCCESS,
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
