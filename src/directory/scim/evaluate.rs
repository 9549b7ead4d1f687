//! A SCIM filter evaluated on a JSON resource (RFC 7644 §3.4.2.2): the meaning the SQL of
//! [`super::sql`] must agree with, used by PATCH value paths and by the in-memory directory.
//!
//! Attribute names are case-insensitive; string comparisons are too (every attribute kept is
//! `caseExact: false` but `id`, which is compared exactly). A multi-valued attribute matches when
//! any of its values does.

use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use serde_json::Value;

fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_object()?.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The values at `path` in `resource`, flattened over multi-valued attributes.
fn values<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(top) = field(resource, &path.name) else { return Vec::new() };
    let items: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match &path.sub {
        None => items,
        Some(sub) => items.into_iter().filter_map(|item| field(item, sub)).collect(),
    }
}

fn compare(op: CompareOp, have: &Value, want: &CompValue, exact: bool) -> bool {
    match (have, want) {
        (Value::String(have), CompValue::Str(want)) => {
            let (have, want) =
                if exact { (have.clone(), want.clone()) } else { (have.to_lowercase(), want.to_lowercase()) };
            match op {
                CompareOp::Eq => have == want,
                CompareOp::Ne => have != want,
                CompareOp::Co => have.contains(&want),
                CompareOp::Sw => have.starts_with(&want),
                CompareOp::Ew => have.ends_with(&want),
                CompareOp::Gt => have > want,
                CompareOp::Ge => have >= want,
                CompareOp::Lt => have < want,
                CompareOp::Le => have <= want,
            }
        }
        (Value::Bool(have), CompValue::Bool(want)) => match op {
            CompareOp::Eq => have == want,
            CompareOp::Ne => have != want,
            _ => false,
        },
        (Value::Number(have), CompValue::Number(want)) => {
            let have = have.as_f64().unwrap_or(f64::NAN);
            match op {
                CompareOp::Eq => have == *want,
                CompareOp::Ne => have != *want,
                CompareOp::Gt => have > *want,
                CompareOp::Ge => have >= *want,
                CompareOp::Lt => have < *want,
                CompareOp::Le => have <= *want,
                _ => false,
            }
        }
        (Value::Null, CompValue::Null) => op == CompareOp::Eq,
        _ => op == CompareOp::Ne,
    }
}

/// Whether `resource` matches `filter`.
pub fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::Compare(path, op, want) => {
            let exact = path.name == "id" && path.sub.is_none();
            let found = values(resource, path);
            if found.is_empty() {
                return match want {
                    CompValue::Null => *op == CompareOp::Eq,
                    _ => *op == CompareOp::Ne,
                };
            }
            if *op == CompareOp::Ne {
                found.iter().all(|have| compare(CompareOp::Ne, have, want, exact))
            } else {
                found.iter().any(|have| compare(*op, have, want, exact))
            }
        }
        Filter::Present(path) => values(resource, path).iter().any(|v| match v {
            Value::Null => false,
            Value::String(text) => !text.is_empty(),
            Value::Array(items) => !items.is_empty(),
            _ => true,
        }),
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::ValuePath(path, inner) => match field(resource, &path.name) {
            Some(Value::Array(items)) => items.iter().any(|item| matches(inner, item)),
            Some(item @ Value::Object(_)) => matches(inner, item),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse;
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_mean_what_rfc_7644_says() {
        let ann = json!({ "id": "usr_A", "userName": "Ann@Acme.test", "active": true, "externalId": "00u1",
                          "emails": [{ "value": "ann@acme.test", "type": "work" }, { "value": "a@home.test", "type": "home" }],
                          "name": { "givenName": "Ann" } });
        let cases = [
            ("userName eq \"ann@acme.test\"", true),
            ("USERNAME sw \"ANN\"", true),
            ("emails.value co \"home\"", true),
            ("emails[type eq \"work\" and value ew \"acme.test\"]", true),
            ("emails[type eq \"work\" and value ew \"home.test\"]", false),
            ("name.givenName pr", true),
            ("title pr", false),
            ("active eq false", false),
            ("not (active eq false)", true),
            ("externalId eq \"00u1\" or userName eq \"x\"", true),
            ("id eq \"usr_a\"", false),
            ("id eq \"usr_A\"", true),
            ("title ne \"x\"", true),
        ];
        for (text, expected) in cases {
            assert_eq!(matches(&parse(text).unwrap(), &ann), expected, "{text}");
        }
    }
}
