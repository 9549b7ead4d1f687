//! The SCIM User schema this service provider keeps (RFC 7643 §4.1, and the enterprise extension
//! of §4.3), as one table. The table validates and canonicalises every document an IdP sends,
//! and the `/Schemas` endpoint publishes it, so what is advertised is exactly what is kept.
//!
//! Attribute names are case-insensitive on the way in and canonical on the way out. An attribute
//! the table does not have is refused (400 `invalidValue`), never silently kept or dropped.

use super::error::ScimError;
use serde_json::{json, Map, Value};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// An attribute's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    String,
    /// A boolean.
    Boolean,
    /// An object of sub-attributes.
    Complex,
    /// A URI of a resource (`$ref`); kept as text.
    Reference,
}

/// Whether a client may write an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Clients write it.
    ReadWrite,
    /// Only the server sets it; a client's value is ignored.
    ReadOnly,
    /// Written once with the value it names (a member's id); a client writes it.
    Immutable,
}

/// One attribute of the schema.
#[derive(Debug)]
pub struct Attr {
    /// The canonical name.
    pub name: &'static str,
    /// The type.
    pub kind: Kind,
    /// Multi-valued.
    pub multi: bool,
    /// Required.
    pub required: bool,
    /// Who writes it.
    pub mutability: Mutability,
    /// Compared case-sensitively.
    pub case_exact: bool,
    /// `none` or `server`.
    pub uniqueness: &'static str,
    /// Sub-attributes of a complex attribute.
    pub sub: &'static [Attr],
    /// The most values of a multi-valued attribute.
    pub max_values: usize,
    /// The resource types a reference may name.
    pub reference_types: &'static [&'static str],
    /// The values a string may take, when only some may (compared case-insensitively).
    pub canonical_values: &'static [&'static str],
    /// For the `/Schemas` endpoint.
    pub description: &'static str,
}

const fn text(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind: Kind::String,
        multi: false,
        required: false,
        mutability: Mutability::ReadWrite,
        case_exact: false,
        uniqueness: "none",
        sub: &[],
        max_values: MAX_VALUES,
        reference_types: &[],
        canonical_values: &[],
        description,
    }
}

const fn flag(name: &'static str, description: &'static str) -> Attr {
    Attr { kind: Kind::Boolean, ..text(name, description) }
}

const fn complex(name: &'static str, multi: bool, sub: &'static [Attr], description: &'static str) -> Attr {
    Attr { kind: Kind::Complex, multi, sub, ..text(name, description) }
}

const NAME: &[Attr] = &[
    text("formatted", "The full name, formatted for display."),
    text("familyName", "The family name."),
    text("givenName", "The given name."),
    text("middleName", "The middle name."),
    text("honorificPrefix", "The honorific prefix."),
    text("honorificSuffix", "The honorific suffix."),
];

const MULTI_VALUE: &[Attr] = &[
    text("value", "The value."),
    text("display", "A label for display."),
    text("type", "A label such as work or home."),
    flag("primary", "Whether this is the primary value."),
];

const GROUP_REF: &[Attr] = &[
    Attr { mutability: Mutability::ReadOnly, ..text("value", "The group's id.") },
    Attr { mutability: Mutability::ReadOnly, ..text("display", "The group's name.") },
];

/// The core User attributes kept.
pub const USER_ATTRIBUTES: &[Attr] = &[
    Attr {
        required: true,
        uniqueness: "server",
        ..text("userName", "The unique name the user signs in with; unique in the tenant, case-insensitively.")
    },
    complex("name", false, NAME, "The user's name, in parts."),
    text("displayName", "The name to display."),
    text("nickName", "A casual name."),
    text("title", "The user's title."),
    text("userType", "The organisation's kind of user, such as Employee or Contractor."),
    text("preferredLanguage", "The preferred language (RFC 7231 Accept-Language)."),
    text("locale", "The locale, such as en-GB."),
    text("timezone", "The time zone, such as Europe/London."),
    flag("active", "Whether the user may sign in; false deprovisions the user and ends their sessions."),
    complex("emails", true, MULTI_VALUE, "Email addresses; the primary one (or the first) is the user's email."),
    complex("phoneNumbers", true, MULTI_VALUE, "Phone numbers."),
    Attr {
        mutability: Mutability::ReadOnly,
        ..complex("groups", true, GROUP_REF, "The groups the user is in (read-only).")
    },
];

const MANAGER: &[Attr] = &[text("value", "The manager's id."), text("displayName", "The manager's name.")];

/// The enterprise extension's attributes kept.
pub const ENTERPRISE_ATTRIBUTES: &[Attr] = &[
    text("employeeNumber", "The employee number."),
    text("costCenter", "The cost centre."),
    text("organization", "The organisation."),
    text("division", "The division."),
    text("department", "The department."),
    complex("manager", false, MANAGER, "The user's manager."),
];

const MEMBER: &[Attr] = &[
    Attr { mutability: Mutability::Immutable, case_exact: true, ..text("value", "The member's id.") },
    Attr {
        kind: Kind::Reference,
        mutability: Mutability::Immutable,
        reference_types: &["User"],
        ..text("$ref", "The member's URI.")
    },
    Attr { mutability: Mutability::ReadOnly, ..text("display", "The member's userName.") },
    Attr {
        mutability: Mutability::Immutable,
        canonical_values: &["User"],
        ..text("type", "User: the only kind of member.")
    },
];

/// The most members one Group document or PATCH operation names.
pub const MAX_MEMBERS: usize = 1000;

/// The Group attributes kept.
pub const GROUP_ATTRIBUTES: &[Attr] = &[
    Attr {
        required: true,
        uniqueness: "server",
        ..text("displayName", "The group's name, as role mappings name it; unique in the tenant, case-insensitively.")
    },
    Attr { max_values: MAX_MEMBERS, ..complex("members", true, MEMBER, "The users in the group.") },
];

/// The longest string value kept.
pub const MAX_STRING: usize = 1024;
/// The most values of a multi-valued attribute.
pub const MAX_VALUES: usize = 20;

fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|attr| attr.name.eq_ignore_ascii_case(name))
}

/// The attribute at `name` (`a` or `a.b`, case-insensitive) of the core schema, or of the
/// extension when `extension` is set.
pub fn lookup(name: &str, extension: bool) -> Option<(&'static Attr, Option<&'static Attr>)> {
    let (head, sub) = match name.split_once('.') {
        Some((head, sub)) => (head, Some(sub)),
        None => (name, None),
    };
    let attrs = if extension { ENTERPRISE_ATTRIBUTES } else { USER_ATTRIBUTES };
    let attr = find(attrs, head)?;
    match sub {
        None => Some((attr, None)),
        Some(sub) => find(attr.sub, sub).map(|sub| (attr, Some(sub))),
    }
}

fn scalar(attr: &Attr, path: &str, value: &Value) -> Result<Value, ScimError> {
    match (attr.kind, value) {
        (Kind::String, Value::String(text))
            if !attr.canonical_values.is_empty()
                && !attr.canonical_values.iter().any(|c| c.eq_ignore_ascii_case(text)) =>
        {
            Err(ScimError::invalid_value(format!("{path}: one of {}", attr.canonical_values.join(", "))))
        }
        (Kind::String | Kind::Reference, Value::String(text))
            if text.len() <= MAX_STRING && !text.chars().any(char::is_control) =>
        {
            Ok(value.clone())
        }
        (Kind::String | Kind::Reference, Value::String(_)) => {
            Err(ScimError::invalid_value(format!("{path}: at most {MAX_STRING} bytes, no control characters")))
        }
        // Entra ID sends booleans as "True" and "False".
        (Kind::Boolean, Value::String(text)) if text.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        (Kind::Boolean, Value::String(text)) if text.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        (Kind::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (Kind::String | Kind::Reference, _) => Err(ScimError::invalid_value(format!("{path}: a string is required"))),
        (Kind::Boolean, _) => Err(ScimError::invalid_value(format!("{path}: a boolean is required"))),
        (Kind::Complex, _) => Err(ScimError::invalid_value(format!("{path}: an object is required"))),
    }
}

fn object(attrs: &[Attr], path: &str, input: &Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in input {
        let qualified = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        let Some(attr) = find(attrs, key) else {
            return Err(ScimError::invalid_value(format!("{qualified}: not an attribute of this schema")));
        };
        if attr.mutability == Mutability::ReadOnly || value.is_null() {
            continue;
        }
        let kept = one_attribute(attr, &qualified, value)?;
        if !kept.as_array().is_some_and(Vec::is_empty) {
            out.insert(attr.name.to_owned(), kept);
        }
    }
    Ok(out)
}

fn single(attr: &Attr, path: &str, value: &Value) -> Result<Value, ScimError> {
    match (attr.kind, value) {
        (Kind::Complex, Value::Object(inner)) => Ok(Value::Object(object(attr.sub, path, inner)?)),
        _ => scalar(attr, path, value),
    }
}

/// One attribute's value, checked against the table and canonicalised.
pub fn one_attribute(attr: &Attr, path: &str, value: &Value) -> Result<Value, ScimError> {
    if !attr.multi {
        return single(attr, path, value);
    }
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_value(format!("{path}: a list is required")));
    };
    if items.len() > attr.max_values {
        return Err(ScimError::invalid_value(format!("{path}: at most {} values", attr.max_values)));
    }
    items.iter().map(|item| single(attr, path, item)).collect::<Result<Vec<_>, _>>().map(Value::Array)
}

/// A User document as kept: canonical names, only the table's attributes, read-only ones
/// dropped, `userName` required. `schemas`, `id` and `meta` are the server's and are ignored.
pub fn canonical_user(document: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(input) = document else {
        return Err(ScimError::invalid_syntax("a User is a JSON object"));
    };
    let mut core = Map::new();
    let mut extension = None;
    for (key, value) in input {
        if ["schemas", "id", "meta", "externalId"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
            let Value::Object(inner) = value else {
                return Err(ScimError::invalid_value(format!("{ENTERPRISE_SCHEMA}: an object is required")));
            };
            let mut inner = inner.clone();
            inner.retain(|key, _| !key.eq_ignore_ascii_case("schemas"));
            extension = Some(object(ENTERPRISE_ATTRIBUTES, ENTERPRISE_SCHEMA, &inner)?);
            continue;
        }
        if key.eq_ignore_ascii_case("password") {
            return Err(ScimError::invalid_value("password: this directory keeps no passwords"));
        }
        let single = Map::from_iter([(key.clone(), value.clone())]);
        core.extend(object(USER_ATTRIBUTES, "", &single)?);
    }
    let user_name = core.get("userName").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if user_name.is_empty() {
        return Err(ScimError::invalid_value("userName: required"));
    }
    if let Some(external_id) = input.iter().find(|(k, _)| k.eq_ignore_ascii_case("externalId")).map(|(_, v)| v) {
        match external_id {
            Value::String(text) if text.len() <= MAX_STRING => {
                core.insert("externalId".into(), Value::String(text.clone()));
            }
            Value::Null => {}
            _ => return Err(ScimError::invalid_value("externalId: a string of at most 1024 bytes")),
        }
    }
    if let Some(extension) = extension.filter(|e| !e.is_empty()) {
        core.insert(ENTERPRISE_SCHEMA.into(), Value::Object(extension));
    }
    Ok(core)
}

/// A Group document as kept: `displayName` (required) and `externalId`, and the members' ids.
pub fn canonical_group(document: &Value) -> Result<(Map<String, Value>, Vec<String>), ScimError> {
    let Value::Object(input) = document else {
        return Err(ScimError::invalid_syntax("a Group is a JSON object"));
    };
    let mut core = Map::new();
    let mut external_id = None;
    for (key, value) in input {
        if ["schemas", "id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.eq_ignore_ascii_case("externalId") {
            external_id = Some(value.clone());
            continue;
        }
        core.extend(object(GROUP_ATTRIBUTES, "", &Map::from_iter([(key.clone(), value.clone())]))?);
    }
    let name = core.get("displayName").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if name.is_empty() || name.len() > 256 {
        return Err(ScimError::invalid_value("displayName: required, at most 256 bytes"));
    }
    match external_id {
        Some(Value::String(text)) if text.len() <= MAX_STRING => {
            core.insert("externalId".into(), Value::String(text));
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(ScimError::invalid_value("externalId: a string of at most 1024 bytes")),
    }
    let members = member_ids(core.remove("members").as_ref())?;
    Ok((core, members))
}

/// The ids of a `members` value (absent: none), each once.
pub fn member_ids(members: Option<&Value>) -> Result<Vec<String>, ScimError> {
    let mut ids = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for member in members.and_then(Value::as_array).into_iter().flatten() {
        let by_ref = || member.get("$ref").and_then(Value::as_str).and_then(|uri| uri.rsplit('/').next());
        let id = member.get("value").and_then(Value::as_str).or_else(by_ref).map(str::trim).unwrap_or("");
        if id.is_empty() {
            return Err(ScimError::invalid_value("members: each member needs a value"));
        }
        if seen.insert(id.to_owned()) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// The primary email of a canonical User (else the first), lower-cased.
pub fn primary_email(user: &Map<String, Value>) -> Option<String> {
    let emails = user.get("emails")?.as_array()?;
    let primary = emails.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or_else(|| emails.first())?;
    primary.get("value")?.as_str().map(|email| email.trim().to_ascii_lowercase()).filter(|email| !email.is_empty())
}

fn describe(attr: &Attr) -> Value {
    let kind = match attr.kind {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Complex => "complex",
        Kind::Reference => "reference",
    };
    let mutability = match attr.mutability {
        Mutability::ReadWrite => "readWrite",
        Mutability::ReadOnly => "readOnly",
        Mutability::Immutable => "immutable",
    };
    let mut described = json!({
        "name": attr.name, "type": kind, "multiValued": attr.multi, "description": attr.description,
        "required": attr.required, "caseExact": attr.case_exact, "mutability": mutability,
        "returned": "default", "uniqueness": attr.uniqueness,
    });
    if attr.kind == Kind::Complex {
        described["subAttributes"] = Value::Array(attr.sub.iter().map(describe).collect());
    }
    if attr.kind == Kind::Reference {
        described["referenceTypes"] = json!(attr.reference_types);
    }
    if !attr.canonical_values.is_empty() {
        described["canonicalValues"] = json!(attr.canonical_values);
    }
    described
}

/// The `/Schemas` resources.
pub fn schemas(base_url: &str) -> Vec<Value> {
    let schema = |id: &str, name: &str, description: &str, attrs: &[Attr]| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id, "name": name, "description": description,
            "attributes": attrs.iter().map(describe).collect::<Vec<_>>(),
            "meta": { "resourceType": "Schema", "location": format!("{base_url}/Schemas/{id}") },
        })
    };
    vec![
        schema(USER_SCHEMA, "User", "User Account", USER_ATTRIBUTES),
        schema(ENTERPRISE_SCHEMA, "EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES),
        schema(GROUP_SCHEMA, "Group", "Group", GROUP_ATTRIBUTES),
    ]
}

#[cfg(test)]
mod tests;
