//! JSON objects with duplicate member names refused, at every depth.
//!
//! RFC 7515 §4 and RFC 7519 §4 let a parser either reject duplicate names or keep the last one.
//! Keeping one silently is how two parsers come to disagree about the same token (one checks the
//! first `iss`, another uses the last), so Portcullis rejects them.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses a JSON document that must be an object, rejecting duplicate names anywhere.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut deserializer)?;
    deserializer.end()?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(serde_json::Error::custom("expected a JSON object")),
    }
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate member {key:?}")));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_table() {
        let cases: &[(&str, bool)] = &[
            (r#"{"a":1,"b":[1,{"c":true}],"d":null,"e":1.5,"f":"x"}"#, true),
            (r#"{}"#, true),
            (r#"{"iss":"a","iss":"b"}"#, false),
            (r#"{"a":{"x":1,"x":2}}"#, false),
            (r#"{"a":[{"x":1,"x":2}]}"#, false),
            (r#"[]"#, false),
            (r#""string""#, false),
            (r#"{"a":1} trailing"#, false),
            (r#"{"a":1"#, false),
        ];
        for (json, ok) in cases {
            assert_eq!(parse_object(json.as_bytes()).is_ok(), *ok, "{json}");
        }
    }
}
