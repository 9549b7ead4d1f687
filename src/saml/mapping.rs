//! From a verified assertion to the profile every login method ends in: who (a stable subject),
//! the email, the name and the groups, by the connection's attribute
//! mapping. Presets carry the attribute names the big IdPs send, so a connection to Entra ID or
//! ADFS works without looking up `http://schemas.microsoft.com/...` URIs.
//!
//! The subject is the `NameID` unless the mapping names an attribute (Entra ID's object id,
//! which never changes, where its NameID may be transient or an email that can). An email from
//! the `NameID` counts only when its format says it is one.

use super::response::VerifiedAssertion;
use serde::Deserialize;

/// The email-address NameID format (SAML 1.1's, which SAML 2.0 kept).
pub const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

const CLAIMS_2005: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/";
const MICROSOFT_IDENTITY: &str = "http://schemas.microsoft.com/identity/claims/";
const MICROSOFT_2008: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/";

/// The attribute names an IdP sends, by product.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// `email`, `name`, `firstName`, `lastName`, `groups`: what Okta's attribute statements
    /// conventionally name, what samlify and most small IdPs send. The default.
    #[default]
    Generic,
    /// Okta (its attribute statements as Okta's SAML guide names them; the same as `generic`).
    Okta,
    /// Microsoft Entra ID: the `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/` and
    /// `http://schemas.microsoft.com/...` claim URIs; the subject is the user's object id.
    EntraId,
    /// Google Workspace: NameID is the primary email; attributes as mapped in its console
    /// (`email`, `firstName`, `lastName`, and a `groups` group-membership mapping).
    GoogleWorkspace,
    /// AD FS: the 2005 claim URIs, `upn`, and `http://schemas.xmlsoap.org/claims/Group`.
    Adfs,
}

/// Which attributes hold what; each list is tried in order, the first with a value wins
/// (groups: every listed attribute's values, together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeNames {
    /// The stable subject; empty: the `NameID`.
    pub subject: Vec<String>,
    /// The email.
    pub email: Vec<String>,
    /// The display name.
    pub name: Vec<String>,
    /// The given name and the family name, joined when there is no display name.
    pub given_name: Vec<String>,
    /// The family name.
    pub family_name: Vec<String>,
    /// Groups.
    pub groups: Vec<String>,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

impl Preset {
    /// The preset's attribute names.
    pub fn names(self) -> AttributeNames {
        match self {
            Preset::Generic | Preset::Okta | Preset::GoogleWorkspace => AttributeNames {
                subject: Vec::new(),
                email: names(&["email", "mail", "Email"]),
                name: names(&["name", "displayName"]),
                given_name: names(&["firstName", "givenName"]),
                family_name: names(&["lastName", "surname", "sn"]),
                groups: names(&["groups", "memberOf"]),
            },
            Preset::EntraId => AttributeNames {
                subject: vec![format!("{MICROSOFT_IDENTITY}objectidentifier")],
                email: vec![format!("{CLAIMS_2005}emailaddress"), format!("{CLAIMS_2005}name")],
                name: vec![format!("{MICROSOFT_IDENTITY}displayname")],
                given_name: vec![format!("{CLAIMS_2005}givenname")],
                family_name: vec![format!("{CLAIMS_2005}surname")],
                groups: vec![format!("{MICROSOFT_2008}groups"), format!("{MICROSOFT_2008}role")],
            },
            Preset::Adfs => AttributeNames {
                subject: Vec::new(),
                email: vec![format!("{CLAIMS_2005}emailaddress"), format!("{CLAIMS_2005}upn")],
                name: vec![format!("{CLAIMS_2005}name")],
                given_name: vec![format!("{CLAIMS_2005}givenname")],
                family_name: vec![format!("{CLAIMS_2005}surname")],
                groups: vec!["http://schemas.xmlsoap.org/claims/Group".to_owned(), format!("{MICROSOFT_2008}role")],
            },
        }
    }
}

/// A connection's attribute mapping: a preset, any of whose names may be replaced.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeMapping {
    /// The IdP's product; `generic` by default.
    pub preset: Preset,
    /// The attribute with the stable subject, instead of the preset's (the `NameID`, for most).
    pub subject: Option<String>,
    /// The attribute with the email, instead of the preset's.
    pub email: Option<String>,
    /// The attribute with the display name, instead of the preset's.
    pub name: Option<String>,
    /// The attribute with the groups, instead of the preset's.
    pub groups: Option<String>,
    /// Custom attributes for the origin: a name (1 to 32 of a-z, 0-9 and _) → the SAML attribute that holds
    /// it. The origin receives each as `X-Auth-Attr-<name>` (`_` as `-`; values comma-separated, encoded like
    /// the other identity headers) and in the signed assertion's `attributes`. At most 16. None by default.
    pub custom: std::collections::BTreeMap<String, String>,
}

/// The most custom attributes one mapping names.
pub const MAX_CUSTOM: usize = 16;
/// The most values one custom attribute carries.
pub const MAX_CUSTOM_VALUES: usize = 16;
/// The most bytes of all custom attribute values together (they become request headers, up to
/// three times longer encoded, and claims of the signed assertion).
pub const MAX_CUSTOM_VALUE_BYTES: usize = 1024;

/// Whether `name` may name a custom attribute.
pub fn custom_name_ok(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The most groups an assertion may carry (more refuses the sign-in: a cut list could drop the
/// very group a rule keys on).
pub const MAX_GROUPS: usize = 256;

/// The transient NameID format: a new value at every sign-in, never a subject.
pub const TRANSIENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

impl AttributeMapping {
    /// The attribute names in effect: the preset's, with the overrides.
    pub fn names(&self) -> AttributeNames {
        let mut names = self.preset.names();
        if let Some(subject) = &self.subject {
            names.subject = vec![subject.clone()];
        }
        if let Some(email) = &self.email {
            names.email = vec![email.clone()];
        }
        if let Some(name) = &self.name {
            names.name = vec![name.clone()];
            names.given_name.clear();
            names.family_name.clear();
        }
        if let Some(groups) = &self.groups {
            names.groups = vec![groups.clone()];
        }
        names
    }

    /// The mapping's problems, as (field, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (field, value) in
            [("subject", &self.subject), ("email", &self.email), ("name", &self.name), ("groups", &self.groups)]
        {
            if value.as_ref().is_some_and(|name| name.is_empty() || name.len() > 256) {
                problems.push((field.to_owned(), "an attribute name of 1 to 256 characters".into()));
            }
        }
        if self.custom.len() > MAX_CUSTOM {
            problems.push(("custom".to_owned(), format!("at most {MAX_CUSTOM} custom attributes")));
        }
        for (name, attribute) in &self.custom {
            if !custom_name_ok(name) {
                problems.push((format!("custom.{name}"), "a name of 1 to 32 characters of a-z, 0-9 and _".into()));
            }
            if attribute.is_empty() || attribute.len() > 256 {
                problems.push((format!("custom.{name}"), "an attribute name of 1 to 256 characters".into()));
            }
        }
        problems
    }
}

/// What the mapping makes of an assertion: the fields of the profile every login method gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedIdentity {
    /// The stable subject.
    pub subject: String,
    /// The email, lower-cased, if the assertion carries one.
    pub email: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// Groups, each once, at most [`MAX_GROUPS`].
    pub groups: Vec<String>,
    /// The `AuthnContextClassRef` (SAML's `acr`), if at most 256 bytes.
    pub authn_context_class: Option<String>,
    /// When the IdP authenticated the user.
    pub authn_instant_s: u64,
    /// The custom attributes the mapping names and the assertion carries: name → values.
    pub custom: std::collections::BTreeMap<String, Vec<String>>,
}

/// Why an assertion gives no identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingError {
    /// The subject attribute the mapping names is missing or empty.
    MissingSubject,
    /// The subject would be a transient NameID (another at every sign-in), and the mapping names
    /// no subject attribute.
    TransientSubject,
    /// More than [`MAX_GROUPS`] groups.
    TooManyGroups,
    /// A custom attribute with more than [`MAX_CUSTOM_VALUES`] values, or all of them longer than
    /// [`MAX_CUSTOM_VALUE_BYTES`] together (refused, not cut: a cut value is another value).
    CustomTooLarge,
}

/// The first non-empty value of the first listed attribute that has one, exactly as signed
/// (never trimmed: `" admin@corp.example"` is not `admin@corp.example`).
fn first_value<'a>(assertion: &'a VerifiedAssertion, list: &[String]) -> Option<&'a str> {
    list.iter().find_map(|name| {
        assertion
            .attributes
            .iter()
            .filter(|attribute| &attribute.name == name)
            .flat_map(|attribute| attribute.values.iter())
            .map(String::as_str)
            .find(|value| !value.is_empty())
    })
}

/// An email as a profile holds it: ASCII lower-cased, if it looks like one (one `@`, both sides
/// non-empty, printable ASCII only, at most 254 bytes). Unicode case mapping is not used: it
/// folds look-alikes (the Kelvin sign to `k`) into another user's address.
fn email_of(text: &str) -> Option<String> {
    let (local, domain) = text.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && text.len() <= 254
        && text.bytes().all(|b| b.is_ascii_graphic());
    plausible.then(|| text.to_ascii_lowercase())
}

/// Maps a verified assertion to a profile.
pub fn map(assertion: &VerifiedAssertion, mapping: &AttributeMapping) -> Result<MappedIdentity, MappingError> {
    let names = mapping.names();
    let subject = if names.subject.is_empty() {
        if assertion.name_id_format.as_deref() == Some(TRANSIENT_FORMAT) {
            return Err(MappingError::TransientSubject);
        }
        assertion.name_id.clone()
    } else {
        first_value(assertion, &names.subject).ok_or(MappingError::MissingSubject)?.to_owned()
    };
    let name_id_email =
        (assertion.name_id_format.as_deref() == Some(EMAIL_FORMAT)).then(|| email_of(&assertion.name_id)).flatten();
    let email = first_value(assertion, &names.email).and_then(email_of).or(name_id_email);
    let name = first_value(assertion, &names.name).map(|name| name.trim().to_owned()).or_else(|| {
        let parts: Vec<&str> = [first_value(assertion, &names.given_name), first_value(assertion, &names.family_name)]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let mut groups: Vec<String> = Vec::new();
    for attribute in assertion.attributes.iter().filter(|attribute| names.groups.contains(&attribute.name)) {
        for value in attribute.values.iter().filter(|v| !v.is_empty()) {
            if !groups.iter().any(|known| known == value) {
                if groups.len() == MAX_GROUPS {
                    return Err(MappingError::TooManyGroups);
                }
                groups.push(value.clone());
            }
        }
    }
    let mut custom = std::collections::BTreeMap::new();
    let mut custom_bytes = 0usize;
    for (claim, attribute_name) in &mapping.custom {
        let values: Vec<String> = assertion
            .attributes
            .iter()
            .filter(|attribute| &attribute.name == attribute_name)
            .flat_map(|attribute| attribute.values.iter().cloned())
            .collect();
        custom_bytes += values.iter().map(String::len).sum::<usize>();
        if values.len() > MAX_CUSTOM_VALUES || custom_bytes > MAX_CUSTOM_VALUE_BYTES {
            return Err(MappingError::CustomTooLarge);
        }
        if !values.is_empty() {
            custom.insert(claim.clone(), values);
        }
    }
    Ok(MappedIdentity {
        subject,
        email,
        name,
        groups,
        authn_context_class: assertion.authn_context_class.clone().filter(|class| class.len() <= 256),
        authn_instant_s: assertion.authn_instant_s,
        custom,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::response::Attribute;
    use proptest::prelude::*;

    fn assertion(name_id: &str, format: Option<&str>, attributes: &[(&str, &[&str])]) -> VerifiedAssertion {
        VerifiedAssertion {
            assertion_id: "_a1".into(),
            issuer: "https://idp.example".into(),
            name_id: name_id.into(),
            name_id_format: format.map(str::to_owned),
            name_qualifiers: (None, None),
            session_index: Some("_s1".into()),
            authn_instant_s: 1_800_000_000,
            authn_context_class: Some("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into()),
            session_not_on_or_after_s: None,
            attributes: attributes
                .iter()
                .map(|(name, values)| Attribute {
                    name: (*name).into(),
                    values: values.iter().map(|v| (*v).into()).collect(),
                })
                .collect(),
            replay_until_s: 1_800_000_300,
            in_response_to: Some("_r".into()),
        }
    }

    #[test]
    fn custom_attributes_are_mapped_by_name_exactly_and_bounded() {
        let mapping = AttributeMapping {
            custom: [("department", "dept"), ("cost_center", "http://corp.example/claims/cc"), ("absent", "nope")]
                .into_iter()
                .map(|(name, attribute)| (name.to_owned(), attribute.to_owned()))
                .collect(),
            ..AttributeMapping::default()
        };
        assert!(mapping.problems().is_empty(), "{:?}", mapping.problems());
        let signed =
            assertion("ann", None, &[("dept", &["R&D", " ops "]), ("http://corp.example/claims/cc", &["4711"])]);
        let mapped = map(&signed, &mapping).unwrap();
        assert_eq!(
            mapped.custom.get("department"),
            Some(&vec!["R&D".to_owned(), " ops ".to_owned()]),
            "values exactly as signed"
        );
        assert_eq!(mapped.custom.get("cost_center"), Some(&vec!["4711".to_owned()]));
        assert!(!mapped.custom.contains_key("absent"), "an attribute the assertion lacks is left out");
        let many: Vec<String> = (0..=MAX_CUSTOM_VALUES).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(map(&assertion("ann", None, &[("dept", &many)]), &mapping), Err(MappingError::CustomTooLarge));
        let long = "x".repeat(MAX_CUSTOM_VALUE_BYTES + 1);
        assert_eq!(
            map(&assertion("ann", None, &[("dept", &[long.as_str()])]), &mapping),
            Err(MappingError::CustomTooLarge)
        );
        for bad in ["Department", "dept-x", "", &"a".repeat(33)] {
            let wrong = AttributeMapping {
                custom: [(bad.to_owned(), "dept".to_owned())].into_iter().collect(),
                ..AttributeMapping::default()
            };
            assert!(!wrong.problems().is_empty(), "{bad:?} is no header-safe name");
        }
        let too_many = AttributeMapping {
            custom: (0..=MAX_CUSTOM).map(|i| (format!("a{i}"), "dept".to_owned())).collect(),
            ..AttributeMapping::default()
        };
        assert!(too_many.problems().iter().any(|(field, _)| field == "custom"));
    }

    #[test]
    fn an_entra_id_assertion_maps_by_its_claim_uris_with_the_object_id_as_subject() {
        let entra = assertion(
            "t8nsient-id",
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient"),
            &[
                ("http://schemas.microsoft.com/identity/claims/objectidentifier", &["5b3c-object-id"]),
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", &["Ann@Corp.Example"]),
                ("http://schemas.microsoft.com/identity/claims/displayname", &["Ann Lee"]),
                ("http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", &["g-1", "g-2"]),
                ("http://schemas.microsoft.com/ws/2008/06/identity/claims/role", &["Admin", "g-1"]),
            ],
        );
        let mapped = map(&entra, &AttributeMapping { preset: Preset::EntraId, ..Default::default() }).unwrap();
        assert_eq!(mapped.subject, "5b3c-object-id");
        assert_eq!(mapped.email.as_deref(), Some("ann@corp.example"));
        assert_eq!(mapped.name.as_deref(), Some("Ann Lee"));
        assert_eq!(mapped.groups, vec!["g-1", "g-2", "Admin"]);
        assert_eq!(mapped.authn_instant_s, 1_800_000_000);
        assert_eq!(
            mapped.authn_context_class.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
        );
        // Without the object id, Entra's preset refuses rather than fall back to a transient id.
        let without = assertion("t8nsient-id", None, &[]);
        assert_eq!(
            map(&without, &AttributeMapping { preset: Preset::EntraId, ..Default::default() }),
            Err(MappingError::MissingSubject)
        );
    }

    #[test]
    fn adfs_okta_and_google_map_by_their_names() {
        let adfs = assertion(
            "CORP\\ann",
            None,
            &[
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", &["ann@corp.example"]),
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", &["Ann"]),
                ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", &["Lee"]),
                ("http://schemas.xmlsoap.org/claims/Group", &["Domain Users"]),
            ],
        );
        let mapped = map(&adfs, &AttributeMapping { preset: Preset::Adfs, ..Default::default() }).unwrap();
        assert_eq!(mapped.subject, "CORP\\ann");
        assert_eq!(mapped.email.as_deref(), Some("ann@corp.example"));
        assert_eq!(mapped.name.as_deref(), Some("Ann Lee"), "given and family names joined");
        assert_eq!(mapped.groups, vec!["Domain Users"]);

        let okta = assertion(
            "00u1abcd",
            Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
            &[("email", &["ann@corp.example"]), ("firstName", &["Ann"]), ("groups", &["eng", "ops"])],
        );
        let mapped = map(&okta, &AttributeMapping { preset: Preset::Okta, ..Default::default() }).unwrap();
        assert_eq!((mapped.subject.as_str(), mapped.email.as_deref()), ("00u1abcd", Some("ann@corp.example")));
        assert_eq!(mapped.name.as_deref(), Some("Ann"));
        assert_eq!(mapped.groups, vec!["eng", "ops"]);

        // Google: NameID is the email, in the email format; no attributes needed.
        let google = assertion("Ann@corp.example", Some(EMAIL_FORMAT), &[]);
        let mapped = map(&google, &AttributeMapping { preset: Preset::GoogleWorkspace, ..Default::default() }).unwrap();
        assert_eq!(mapped.email.as_deref(), Some("ann@corp.example"));
        assert_eq!(mapped.subject, "Ann@corp.example");
    }

    #[test]
    fn overrides_a_name_id_that_is_not_an_email_and_what_cannot_be_a_subject() {
        let sent = assertion(
            "ann@corp.example",
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
            &[("uid", &["u-42"]), ("mail", &["not an email"])],
        );
        let mapping = AttributeMapping { subject: Some("uid".into()), ..Default::default() };
        let mapped = map(&sent, &mapping).unwrap();
        assert_eq!(mapped.subject, "u-42");
        assert_eq!(mapped.email, None, "a persistent NameID is not an email, and `mail` holds none");
        assert!(mapping.problems().is_empty());
        let bad = AttributeMapping { email: Some(String::new()), ..Default::default() };
        let fields: Vec<String> = bad.problems().into_iter().map(|(field, _)| field).collect();
        assert_eq!(fields, vec!["email"]);

        // A transient NameID changes at every sign-in: no subject, unless an attribute is named.
        let transient = assertion("_8f3a", Some(TRANSIENT_FORMAT), &[("uid", &["u-42"])]);
        assert_eq!(map(&transient, &AttributeMapping::default()), Err(MappingError::TransientSubject));
        assert_eq!(map(&transient, &mapping).map(|m| m.subject), Ok("u-42".to_owned()));

        // Emails are ASCII: the Kelvin sign is not `k`, white space is not trimmed away.
        let kelvin = assertion("x", None, &[("email", &["\u{212A}im@corp.example"])]);
        assert_eq!(map(&kelvin, &AttributeMapping::default()).unwrap().email, None);
        let padded = assertion("x", None, &[("email", &[" admin@corp.example"])]);
        assert_eq!(map(&padded, &AttributeMapping::default()).unwrap().email, None);

        // Too many groups refuse the sign-in rather than drop some.
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let mut crowded = assertion("x", None, &[]);
        crowded.attributes.push(Attribute { name: "groups".into(), values: many });
        assert_eq!(map(&crowded, &AttributeMapping::default()), Err(MappingError::TooManyGroups));
    }

    proptest! {
        #![proptest_config(crate::testing::generative(256))]

        #[test]
        fn any_attributes_map_without_panic_and_within_bounds(
            name_id in "\\PC{1,40}",
            values in proptest::collection::vec("\\PC{0,20}", 0..400),
        ) {
            let attributes: Vec<(&str, &[&str])> = Vec::new();
            let mut sent = assertion(&name_id, Some(EMAIL_FORMAT), &attributes);
            sent.attributes.push(Attribute { name: "groups".into(), values });
            match map(&sent, &AttributeMapping::default()) {
                Ok(mapped) => {
                    prop_assert!(mapped.groups.len() <= MAX_GROUPS);
                    if let Some(email) = mapped.email {
                        prop_assert_eq!(email.matches('@').count(), 1);
                    }
                }
                Err(error) => prop_assert_eq!(error, MappingError::TooManyGroups),
            }
        }
    }
}
