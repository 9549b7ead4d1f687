//! A SAML provider's settings (`providers[].saml`, with `"type": "saml"`): the IdP as its
//! metadata describes it, and how its assertions are read.

use super::certificate::{self, SigningCertificate};
use super::mapping::AttributeMapping;
use crate::deploy::Environment;
use serde::Deserialize;

/// The most signing certificates one provider may pin.
pub const MAX_CERTIFICATES: usize = 4;

/// `providers[].saml`: the IdP.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSamlSettings {
    /// The IdP's entity id (its metadata's `entityID`): every `Issuer` must be this. Required.
    pub idp_entity_id: String,
    /// The IdP's single sign-on URL for the HTTP-Redirect binding, https (http in development). Required.
    pub sso_url: String,
    /// The IdP's signing certificates, base64 DER (as in its metadata) or PEM: 1 to 4, more than one during
    /// a rotation. RSA of at least 2048 bits or EC P-256. A message's own `KeyInfo` is never used. Required.
    pub certificates: Vec<String>,
    /// This service provider's entity id, as registered at the IdP. Default: the SP metadata's URL,
    /// `{origin of login.redirect_uri}{edge_prefix}/saml/{id}/metadata`.
    pub sp_entity_id: Option<String>,
    /// The NameID format to ask for, such as `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`.
    /// None by default: the IdP's choice.
    pub name_id_format: Option<String>,
    /// Which attributes hold the email, name, groups and custom claims: a preset (`generic`, `okta`,
    /// `entra_id`, `google_workspace`, `adfs`) and overrides. Default `generic`.
    #[serde(default)]
    pub attributes: AttributeMapping,
    /// Accept responses the IdP sends unasked (IdP-initiated login, from its app dashboard). Off by default:
    /// such a response answers no request of this browser, so it cannot be bound to one (login CSRF).
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// Clock skew allowed on the assertion's times, in seconds. Default 60, at most 300.
    pub clock_skew_s: Option<u32>,
    /// Accept SHA-1 digests from an old IdP. Off by default, and refused in production.
    #[serde(default)]
    pub insecure_allow_sha1: bool,
    /// Sign each `AuthnRequest` with this SP's key (`login.saml_signing`), for an IdP that requires it (its
    /// metadata's `WantAuthnRequestsSigned`). Off by default.
    #[serde(default)]
    pub sign_requests: bool,
    /// The IdP's Single Logout URL for the HTTP-Redirect binding: signing out here then signs the user out at
    /// the IdP too (a signed `LogoutRequest`), and the IdP's own logout requests end sessions here. Needs
    /// `login.saml_signing`. None by default: no Single Logout.
    pub slo_url: Option<String>,
    /// Refuse an assertion that is not encrypted (to this SP's key, `login.saml_encryption`). Off by default:
    /// with that key, an encrypted assertion is taken either way.
    #[serde(default)]
    pub require_encryption: bool,
    /// Take the assertion's email as verified: on for an IdP whose emails its administrators set (Okta,
    /// Entra ID, Google Workspace, AD FS), never for one where users edit their own unverified address.
    /// Off by default: the email is then not kept, and `allowed_email_domains` and `directory.link_by_email`
    /// are refused.
    #[serde(default)]
    pub trust_email: bool,
}

/// A compiled SAML provider.
#[derive(Debug, Clone)]
pub struct SamlSettings {
    /// The IdP's entity id.
    pub idp_entity_id: String,
    /// Its SSO URL (HTTP-Redirect).
    pub sso_url: String,
    /// The pinned signing certificates.
    pub certificates: Vec<SigningCertificate>,
    /// This SP's entity id, if set (else the default of [`SamlSettings::sp_entity_id`]).
    pub sp_entity_id: Option<String>,
    /// The NameID format asked for.
    pub name_id_format: Option<String>,
    /// The attribute mapping.
    pub attributes: AttributeMapping,
    /// IdP-initiated login allowed.
    pub allow_idp_initiated: bool,
    /// The clock skew, in seconds.
    pub clock_skew_s: u64,
    /// SHA-1 digests allowed.
    pub insecure_allow_sha1: bool,
    /// The assertion's email is taken as verified.
    pub trust_email: bool,
    /// `AuthnRequest`s are signed.
    pub sign_requests: bool,
    /// The IdP's SLO URL (HTTP-Redirect), if Single Logout is on.
    pub slo_url: Option<String>,
    /// Assertions must be encrypted.
    pub require_encryption: bool,
}

/// Two settings are the same when they pin the same certificates (by fingerprint) and say the
/// same otherwise.
impl PartialEq for SamlSettings {
    fn eq(&self, other: &Self) -> bool {
        let fingerprints =
            |settings: &Self| settings.certificates.iter().map(|c| c.fingerprint_sha256).collect::<Vec<_>>();
        self.idp_entity_id == other.idp_entity_id
            && self.sso_url == other.sso_url
            && fingerprints(self) == fingerprints(other)
            && self.sp_entity_id == other.sp_entity_id
            && self.name_id_format == other.name_id_format
            && self.attributes == other.attributes
            && self.allow_idp_initiated == other.allow_idp_initiated
            && self.clock_skew_s == other.clock_skew_s
            && self.insecure_allow_sha1 == other.insecure_allow_sha1
            && self.trust_email == other.trust_email
            && self.sign_requests == other.sign_requests
            && self.slo_url == other.slo_url
            && self.require_encryption == other.require_encryption
    }
}

impl Eq for SamlSettings {}

impl SamlSettings {
    /// This SP's entity id for provider `id`: the configured one, or the metadata URL under
    /// `origin` (the gateway's, from `login.redirect_uri`) and `edge_prefix`.
    pub fn sp_entity_id(&self, origin: &str, edge_prefix: &str, id: &str) -> String {
        self.sp_entity_id.clone().unwrap_or_else(|| metadata_url(origin, edge_prefix, id))
    }

    /// Reads the settings, reporting problems as (field under `path`, message).
    pub fn compile(
        raw: RawSamlSettings,
        path: &str,
        environment: Environment,
        problems: &mut Vec<(String, String)>,
        check_url: impl Fn(&mut Vec<(String, String)>, &str, &str),
    ) -> Option<Self> {
        let before = problems.len();
        if raw.idp_entity_id.is_empty() || raw.idp_entity_id.len() > 1024 {
            problems.push((format!("{path}.idp_entity_id"), "the IdP's entity id, 1 to 1024 characters".into()));
        }
        check_url(problems, &format!("{path}.sso_url"), &raw.sso_url);
        if let Some(slo_url) = &raw.slo_url {
            check_url(problems, &format!("{path}.slo_url"), slo_url);
        }
        if raw.certificates.is_empty() || raw.certificates.len() > MAX_CERTIFICATES {
            problems.push((format!("{path}.certificates"), format!("1 to {MAX_CERTIFICATES} signing certificates")));
        }
        let mut certificates = Vec::new();
        for (index, text) in raw.certificates.iter().enumerate() {
            match certificate::parse(text) {
                Ok(certificate) => certificates.push(certificate),
                Err(error) => {
                    problems.push((format!("{path}.certificates[{index}]"), error.reason().replace('_', " ")))
                }
            }
        }
        if raw.sp_entity_id.as_ref().is_some_and(|id| id.is_empty() || id.len() > 1024) {
            problems.push((format!("{path}.sp_entity_id"), "1 to 1024 characters".into()));
        }
        if raw.name_id_format.as_ref().is_some_and(|format| !format.starts_with("urn:")) {
            problems.push((format!("{path}.name_id_format"), "a NameID format URN".into()));
        }
        for (field, problem) in raw.attributes.problems() {
            problems.push((format!("{path}.attributes.{field}"), problem));
        }
        let clock_skew_s = raw.clock_skew_s.unwrap_or(60);
        if clock_skew_s > 300 {
            problems.push((format!("{path}.clock_skew_s"), "at most 300 seconds".into()));
        }
        if raw.insecure_allow_sha1 && environment == Environment::Production {
            problems.push((format!("{path}.insecure_allow_sha1"), "SHA-1 is refused in production".into()));
        }
        for (field, url) in [("sso_url", Some(&raw.sso_url)), ("slo_url", raw.slo_url.as_ref())] {
            if url.is_some_and(|url| url::Url::parse(url).is_ok_and(|url| url.fragment().is_some())) {
                problems.push((format!("{path}.{field}"), "no #fragment: the message goes in the query".into()));
            }
        }
        if problems.len() != before {
            return None;
        }
        Some(SamlSettings {
            idp_entity_id: raw.idp_entity_id,
            sso_url: raw.sso_url,
            certificates,
            sp_entity_id: raw.sp_entity_id,
            name_id_format: raw.name_id_format,
            attributes: raw.attributes,
            allow_idp_initiated: raw.allow_idp_initiated,
            clock_skew_s: u64::from(clock_skew_s),
            insecure_allow_sha1: raw.insecure_allow_sha1,
            trust_email: raw.trust_email,
            sign_requests: raw.sign_requests,
            slo_url: raw.slo_url,
            require_encryption: raw.require_encryption,
        })
    }
}

/// The secret holding this SP's signing key, by default.
pub const DEFAULT_SP_KEY_SECRET: &str = "PORTCULLIS_SAML_SP_KEY";
/// The secret holding this SP's decryption key, by default.
pub const DEFAULT_SP_DECRYPTION_KEY_SECRET: &str = "PORTCULLIS_SAML_SP_DECRYPTION_KEY";

/// `login.saml_signing` or `login.saml_encryption`: one of this service provider's keys, shared by every SAML
/// provider.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpKey {
    /// The key's X.509 certificate (PEM or base64 DER), published in each SAML provider's SP metadata: for its IdP
    /// to verify this SP's requests with (signing: RSA of at least 2048 bits or EC P-256) or to encrypt assertions
    /// to (encryption: RSA only). Required.
    pub certificate: String,
    /// The NAME of the Worker secret holding the private key, PKCS #8 PEM (`-----BEGIN PRIVATE KEY-----`), not
    /// the key itself. Default `PORTCULLIS_SAML_SP_KEY` for signing, `PORTCULLIS_SAML_SP_DECRYPTION_KEY` for
    /// encryption.
    pub private_key_secret: Option<String>,
}

/// One of this SP's keys, as configured: its certificate, and where its private key is.
#[derive(Debug, Clone)]
pub struct SpKey {
    /// The certificate's public key (the private key must match it: checked when it is loaded).
    pub certificate: SigningCertificate,
    /// The certificate as metadata publishes it (base64 DER on one line).
    pub certificate_base64: String,
    /// The secret binding with the private key.
    pub private_key_secret: String,
}

impl SpKey {
    /// Reads `login.{field}` (its private key in `default_secret` unless it names another),
    /// reporting problems as (field, message). An encryption key must be RSA.
    pub fn compile(
        raw: RawSpKey,
        field: &str,
        default_secret: &str,
        problems: &mut Vec<(String, String)>,
    ) -> Option<Self> {
        let certificate = match certificate::parse(&raw.certificate) {
            Ok(certificate) => certificate,
            Err(error) => {
                problems.push((format!("{field}.certificate"), error.reason().replace('_', " ")));
                return None;
            }
        };
        let for_encryption = default_secret == DEFAULT_SP_DECRYPTION_KEY_SECRET;
        let rsa = matches!(certificate.key.material, crate::authn::jwt::keys::KeyMaterial::Rsa(..));
        if for_encryption && !rsa {
            problems.push((
                format!("{field}.certificate"),
                "an RSA key: assertions are encrypted to it with RSA-OAEP".into(),
            ));
            return None;
        }
        let secret = raw.private_key_secret.unwrap_or_else(|| default_secret.into());
        if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            problems.push((format!("{field}.private_key_secret"), "the NAME of a secret binding".into()));
            return None;
        }
        Some(SpKey {
            certificate,
            certificate_base64: certificate::der_base64(&raw.certificate),
            private_key_secret: secret,
        })
    }
}

/// The DER of a PKCS #8 private key in PEM (`-----BEGIN PRIVATE KEY-----`); `None` for anything
/// else (an RSA `BEGIN RSA PRIVATE KEY` is PKCS #1: convert it with `openssl pkcs8 -topk8 -nocrypt`).
pub fn pkcs8_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = pem.find(BEGIN)? + BEGIN.len();
    let end = pem[start..].find(END)? + start;
    let body: String = pem[start..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok().filter(|der| !der.is_empty())
}

/// Whether `settings` pin one of this SP's own certificates as the IdP's: then what this SP signs
/// could pass for the IdP's word.
/// (The public key is compared, not the certificate: another certificate can wrap the same key.)
pub fn pins_an_sp_key(settings: &SamlSettings, sp_keys: &[Option<&SpKey>]) -> bool {
    settings
        .certificates
        .iter()
        .any(|pinned| sp_keys.iter().flatten().any(|key| key.certificate.key.public_jwk == pinned.key.public_jwk))
}

/// Where this SP's metadata for provider `id` is published.
pub fn metadata_url(origin: &str, edge_prefix: &str, id: &str) -> String {
    format!("{origin}{edge_prefix}/saml/{id}/metadata")
}
