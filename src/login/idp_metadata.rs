//! A SAML connection's settings filled from its IdP's metadata: uploaded with the request
//! (`saml.metadata_xml`) or fetched from where the IdP publishes it (`saml.metadata_url`), and
//! then signed by `saml.metadata_certificate` when one is given (metadata fetched over the
//! network is otherwise whatever the network said; without a certificate it is taken at the
//! administrator's word, as an upload is).
//!
//! The metadata gives the IdP's entity id, its HTTP-Redirect SSO URL and its signing
//! certificates. A field the body states itself is kept, so an administrator can pin fewer
//! certificates or another URL than the metadata lists. The import fields themselves are
//! removed: what is stored is a plain connection, checked like any other
//! ([`super::connection::settings_for`]).

use super::connection::outside_url;
use crate::deploy::Environment;
use crate::mfa::webauthn::signature::SignatureVerifier;
use crate::ports::{HttpClient, Method, OutboundRequest, Unavailable};
use crate::saml::certificate;
use crate::saml::config::MAX_CERTIFICATES;
use crate::saml::metadata::{read_idp, IdpMetadata, MetadataFailure};
use serde_json::{Map, Value};

/// The fields of a body's `saml` that name metadata to import.
const IMPORT_FIELDS: [&str; 3] = ["metadata_xml", "metadata_url", "metadata_certificate"];

/// Why metadata did not import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportFailure {
    /// The body or the metadata is refused: every problem, for a 400.
    Invalid(Vec<String>),
    /// The signature backend failed.
    Unavailable(Unavailable),
}

/// What the import needs besides the body.
pub struct Importing<'a, H, V> {
    /// The deployment's environment (production: the metadata URL is https on a public host).
    pub environment: Environment,
    /// The deployment's own hosts, which the metadata URL may not name.
    pub own_hosts: &'a [String],
    /// Fetches a metadata URL.
    pub http: &'a H,
    /// Checks the metadata's signature.
    pub verifier: &'a V,
    /// Now, for the metadata's `validUntil`.
    pub now_s: u64,
    /// Whether this SP has a signing key (`login.saml_signing`): only then are the IdP's Single
    /// Logout URL and its wish for signed requests taken from its metadata.
    pub sp_signs: bool,
}

/// `body` with its SAML settings filled from the metadata it names; unchanged when it names
/// none (or is not a SAML connection).
pub async fn with_idp_metadata<H: HttpClient, V: SignatureVerifier>(
    body: &Value,
    importing: Importing<'_, H, V>,
) -> Result<Value, ImportFailure> {
    let mut body = body.clone();
    let is_saml = body.get("type").and_then(Value::as_str) == Some("saml");
    let Some(Value::Object(saml)) = body.get_mut("saml").filter(|_| is_saml) else { return Ok(body) };
    let taken: Vec<Option<Value>> = IMPORT_FIELDS.iter().map(|field| saml.remove(*field)).collect();
    let invalid = |problem: String| ImportFailure::Invalid(vec![problem]);
    let text = |value: &Option<Value>, field: &str| match value {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
        Some(_) => Err(invalid(format!("saml.{field}: a non-empty string"))),
    };
    let (xml, url, trusted) =
        (text(&taken[0], "metadata_xml")?, text(&taken[1], "metadata_url")?, text(&taken[2], "metadata_certificate")?);
    let document = match (xml, url) {
        (None, None) if trusted.is_some() => {
            return Err(invalid("saml.metadata_certificate: only with metadata_xml or metadata_url".into()))
        }
        (None, None) => return Ok(body),
        (Some(_), Some(_)) => return Err(invalid("saml.metadata_xml: or metadata_url, not both".into())),
        (Some(xml), None) => xml,
        (None, Some(url)) => fetched(&url, &importing).await?,
    };
    let trusted = match trusted {
        Some(text) => Some(
            certificate::parse(&text)
                .map_err(|error| invalid(format!("saml.metadata_certificate: {}", error.reason().replace('_', " "))))?,
        ),
        None => None,
    };
    let trusted = trusted.as_ref().map(std::slice::from_ref);
    let metadata = match read_idp(&document, trusted, importing.now_s, importing.verifier).await {
        Ok(metadata) => metadata,
        Err(MetadataFailure::Refused(refusal)) => {
            return Err(invalid(format!("saml.metadata: refused ({})", refusal.reason())))
        }
        Err(MetadataFailure::Unavailable(unavailable)) => return Err(ImportFailure::Unavailable(unavailable)),
    };
    fill(saml, &metadata, importing.sp_signs).map_err(invalid)?;
    Ok(body)
}

/// The metadata at `url`, which must be a URL a tenant's connection may use.
async fn fetched<H: HttpClient, V>(url: &str, importing: &Importing<'_, H, V>) -> Result<String, ImportFailure> {
    let invalid = |why: &str| ImportFailure::Invalid(vec![format!("saml.metadata_url: {why}")]);
    outside_url(url, importing.environment, importing.own_hosts).map_err(invalid)?;
    let scheme_ok = match importing.environment {
        Environment::Production => url.starts_with("https://"),
        _ => url.starts_with("https://") || url.starts_with("http://"),
    };
    if !scheme_ok {
        return Err(invalid("an https URL is required"));
    }
    let request = OutboundRequest {
        method: Method::Get,
        url: url.to_owned(),
        headers: vec![("accept".into(), "application/samlmetadata+xml, application/xml, text/xml".into())],
        body: None,
    };
    // The tenant's IdP not answering is the request's problem, not the gateway's.
    let answer = importing.http.send(request).await.map_err(|_| invalid("no answer (or too large) from that URL"))?;
    if answer.status != 200 {
        return Err(invalid(&format!("that URL answered {}", answer.status)));
    }
    String::from_utf8(answer.body).map_err(|_| invalid("the answer is not UTF-8 XML"))
}

/// Fills what `saml` does not state from `metadata` (and, where this SP signs, its Single Logout
/// URL and whether it wants signed requests).
fn fill(saml: &mut Map<String, Value>, metadata: &IdpMetadata, sp_signs: bool) -> Result<(), String> {
    if sp_signs {
        if let Some(slo) = &metadata.slo_redirect {
            saml.entry("slo_url").or_insert_with(|| Value::String(slo.clone()));
        }
        if metadata.wants_signed_requests {
            saml.entry("sign_requests").or_insert(Value::Bool(true));
        }
    }
    saml.entry("idp_entity_id").or_insert_with(|| Value::String(metadata.entity_id.clone()));
    if !saml.contains_key("sso_url") {
        let sso = metadata.sso_redirect.clone().ok_or("saml.metadata: the IdP has no HTTP-Redirect SSO endpoint")?;
        saml.insert("sso_url".into(), Value::String(sso));
    }
    if !saml.contains_key("certificates") {
        if metadata.signing_certificates.len() > MAX_CERTIFICATES {
            return Err(format!(
                "saml.metadata: {} signing certificates; pin at most {MAX_CERTIFICATES} in saml.certificates",
                metadata.signing_certificates.len()
            ));
        }
        let pinned = metadata.signing_certificates.iter().cloned().map(Value::String).collect();
        saml.insert("certificates".into(), Value::Array(pinned));
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
