//! SCIM PATCH (RFC 7644 §3.5.2) on a canonical User document, in the dialects IdPs really send:
//! Okta's (`replace` with no path and an object value), Entra ID's (capitalised ops, `"False"`
//! for false, value-path filters such as `emails[type eq "work"].value`, extension attributes
//! as `urn:...:User:department`). The result is checked again as a whole User, so a PATCH can
//! never store what a PUT could not.

use super::error::ScimError;
use super::evaluate::matches;
use super::filter::{self, attr_path, AttrPath, CompValue, CompareOp, Filter};
use super::schema::{canonical_user, lookup, one_attribute, Attr, Mutability, ENTERPRISE_SCHEMA, USER_SCHEMA};
use serde_json::{Map, Value};

/// The schema URN of a PATCH request.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most operations one PATCH may hold.
pub const MAX_OPERATIONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Where an operation points.
struct Target {
    attr: &'static Attr,
    sub: Option<&'static Attr>,
    extension: bool,
    filter: Option<Filter>,
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

fn parse_target(path: &str) -> Result<Target, ScimError> {
    let invalid = || ScimError::invalid_path(format!("{:?} names no attribute of a User", truncate(path)));
    let (head, filter_text, tail) = match path.find('[') {
        Some(open) => {
            let close = path.rfind(']').filter(|close| *close > open).ok_or_else(invalid)?;
            (&path[..open], Some(&path[open + 1..close]), &path[close + 1..])
        }
        None => (path, None, ""),
    };
    let parsed: AttrPath = attr_path(head).map_err(|_| invalid())?;
    let extension = match parsed.schema.as_deref() {
        None => false,
        Some(urn) if urn.eq_ignore_ascii_case(USER_SCHEMA) => false,
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) => true,
        Some(_) => return Err(invalid()),
    };
    let sub_name = match (parsed.sub.as_deref(), tail.strip_prefix('.')) {
        (Some(_), Some(_)) => return Err(invalid()),
        (Some(sub), None) if tail.is_empty() => Some(sub),
        (None, Some(sub)) => Some(sub),
        (None, None) if tail.is_empty() => None,
        _ => return Err(invalid()),
    };
    let full = match sub_name {
        Some(sub) => format!("{}.{sub}", parsed.name),
        None => parsed.name.clone(),
    };
    let (attr, sub) = lookup(&full, extension).ok_or_else(invalid)?;
    let filter = match filter_text {
        None => None,
        Some(text) if attr.multi => Some(filter::parse(text).map_err(|e| ScimError::invalid_filter(e.0))?),
        Some(_) => return Err(invalid()),
    };
    if attr.mutability == Mutability::ReadOnly || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly) {
        return Err(ScimError::mutability(format!("{} is read-only", attr.name)));
    }
    Ok(Target { attr, sub, extension, filter })
}

fn truncate(text: &str) -> String {
    text.chars().take(120).collect()
}

/// The `eq` comparisons of a filter, as the fields of a value an `add` creates when none matches
/// (Entra ID adds `emails[type eq "work"].value` to a user without a work email).
fn seed(filter: &Filter, into: &mut Map<String, Value>) {
    match filter {
        Filter::Compare(path, CompareOp::Eq, CompValue::Str(text)) => {
            into.insert(path.name.clone(), Value::String(text.clone()));
        }
        Filter::Compare(path, CompareOp::Eq, CompValue::Bool(flag)) => {
            into.insert(path.name.clone(), Value::Bool(*flag));
        }
        Filter::And(a, b) => {
            seed(a, into);
            seed(b, into);
        }
        _ => {}
    }
}

fn merge(into: &mut Value, value: &Value) {
    match (into, value) {
        (Value::Object(into), Value::Object(value)) => {
            for (key, item) in value {
                into.insert(key.clone(), item.clone());
            }
        }
        (into, value) => *into = value.clone(),
    }
}

fn apply(document: &mut Map<String, Value>, op: Op, target: &Target, value: Option<&Value>) -> Result<(), ScimError> {
    let container = if target.extension {
        let entry = document.entry(ENTERPRISE_SCHEMA).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        entry.as_object_mut().ok_or_else(|| ScimError::invalid_value("extension"))?
    } else {
        document
    };
    let name = target.attr.name;
    let needs_value = || value.ok_or_else(|| ScimError::invalid_value(format!("{name}: a value is required")));
    match (&target.filter, target.sub) {
        (None, None) => match op {
            Op::Remove => {
                container.remove(name);
            }
            Op::Add if target.attr.multi => {
                let value = needs_value()?;
                let added = match value {
                    Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                let present = container.get(name).and_then(Value::as_array).map_or(0, Vec::len);
                if present + added.len() > target.attr.max_values {
                    return Err(ScimError::invalid_value(format!("{name}: at most {} values", target.attr.max_values)));
                }
                let list = container.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    for item in added {
                        if !list.contains(&item) {
                            list.push(item);
                        }
                    }
                } else {
                    *list = Value::Array(added);
                }
            }
            Op::Add | Op::Replace => {
                let value = needs_value()?;
                match container.get_mut(name) {
                    Some(existing) if !target.attr.multi => merge(existing, value),
                    _ => {
                        container.insert(name.to_owned(), value.clone());
                    }
                }
            }
        },
        (None, Some(sub)) => {
            let parent = container.entry(name).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(parent) = parent else {
                return Err(ScimError::invalid_path(format!("{name}.{} is not an object's", sub.name)));
            };
            match op {
                Op::Remove => {
                    parent.remove(sub.name);
                }
                Op::Add | Op::Replace => {
                    parent.insert(sub.name.to_owned(), needs_value()?.clone());
                }
            }
        }
        (Some(filter), sub) => {
            let list = container.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            let Value::Array(items) = list else { return Ok(()) };
            let hits: Vec<usize> = (0..items.len()).filter(|&i| matches(filter, &items[i])).collect();
            match (op, sub) {
                (Op::Remove, None) => items.retain(|item| !matches(filter, item)),
                (Op::Remove, Some(sub)) => {
                    for &i in &hits {
                        if let Value::Object(item) = &mut items[i] {
                            item.remove(sub.name);
                        }
                    }
                }
                (Op::Add | Op::Replace, _) => {
                    let value = needs_value()?;
                    if hits.is_empty() {
                        let mut created = Map::new();
                        seed(filter, &mut created);
                        let mut created = Value::Object(created);
                        match sub {
                            Some(sub) => merge(
                                &mut created,
                                &Value::Object(Map::from_iter([(sub.name.to_owned(), value.clone())])),
                            ),
                            None => merge(&mut created, value),
                        }
                        items.push(created);
                    }
                    for &i in &hits {
                        match sub {
                            Some(sub) => {
                                if let Value::Object(item) = &mut items[i] {
                                    item.insert(sub.name.to_owned(), value.clone());
                                }
                            }
                            None => merge(&mut items[i], value),
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A path-less `add` or `replace`: each key of the object is an attribute (Okta), possibly
/// dotted (`name.givenName`) or qualified by a schema URN (Entra ID).
fn apply_object(document: &mut Map<String, Value>, op: Op, value: &Value) -> Result<(), ScimError> {
    let Value::Object(object) = value else {
        return Err(ScimError::invalid_value("an operation without a path needs an object value"));
    };
    for (key, item) in object {
        if key.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
            let Value::Object(inner) = item else {
                return Err(ScimError::invalid_value(format!("{ENTERPRISE_SCHEMA}: an object is required")));
            };
            for (sub_key, sub_item) in inner.iter().filter(|(key, _)| !key.eq_ignore_ascii_case("schemas")) {
                let target = parse_target(&format!("{ENTERPRISE_SCHEMA}:{sub_key}"))?;
                apply(document, op, &target, Some(sub_item))?;
            }
            continue;
        }
        if ["schemas", "id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.eq_ignore_ascii_case("externalId") {
            document.insert("externalId".into(), item.clone());
            continue;
        }
        let target = parse_target(key)?;
        apply(document, op, &target, Some(item))?;
    }
    Ok(())
}

/// Applies a PATCH request's operations to a canonical User, and checks the result as a whole.
pub fn patch_user(document: &Map<String, Value>, request: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(request) = request else {
        return Err(ScimError::invalid_syntax("a PATCH body is a JSON object"));
    };
    let schemas_ok = field(request, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!("schemas must list {PATCH_SCHEMA}")));
    }
    let Some(Value::Array(operations)) = field(request, "Operations") else {
        return Err(ScimError::invalid_syntax("Operations: a list is required"));
    };
    if operations.is_empty() || operations.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!("Operations: 1 to {MAX_OPERATIONS}")));
    }
    let mut document = document.clone();
    for operation in operations {
        let Value::Object(operation) = operation else {
            return Err(ScimError::invalid_syntax("an operation is a JSON object"));
        };
        let op = match field(operation, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("add") => Op::Add,
            Some("replace") => Op::Replace,
            Some("remove") => Op::Remove,
            _ => return Err(ScimError::invalid_syntax("op: add, replace or remove")),
        };
        let value = field(operation, "value");
        match field(operation, "path") {
            None | Some(Value::Null) => match op {
                Op::Remove => return Err(ScimError::no_target("remove needs a path")),
                Op::Add | Op::Replace => apply_object(&mut document, op, value.unwrap_or(&Value::Null))?,
            },
            Some(Value::String(path)) if path.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) => match op {
                Op::Remove => {
                    document.remove(ENTERPRISE_SCHEMA);
                }
                Op::Add | Op::Replace => {
                    let wrapped = Value::Object(Map::from_iter([(
                        ENTERPRISE_SCHEMA.to_owned(),
                        value.cloned().unwrap_or(Value::Null),
                    )]));
                    apply_object(&mut document, op, &wrapped)?;
                }
            },
            Some(Value::String(path)) if path.eq_ignore_ascii_case("externalId") => match op {
                Op::Remove => {
                    document.remove("externalId");
                }
                Op::Add | Op::Replace => {
                    document.insert("externalId".into(), value.cloned().unwrap_or(Value::Null));
                }
            },
            Some(Value::String(path)) => {
                let target = parse_target(path)?;
                if let (Some(value), None, None, false) = (value, &target.filter, target.sub, target.attr.multi) {
                    // Checked now, so that the error names the operation's attribute.
                    one_attribute(target.attr, target.attr.name, value)?;
                }
                apply(&mut document, op, &target, value)?;
            }
            Some(_) => return Err(ScimError::invalid_path("path: a string is required")),
        }
    }
    canonical_user(&Value::Object(document))
}

#[cfg(test)]
mod tests;
