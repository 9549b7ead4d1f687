//! The shipped schema is the derived one, every field is described, and the schema and the parser
//! agree: on a corpus of valid and invalid configurations, on every recipe in `docs/recipes/`, and
//! on structural mutations of each valid one (an unknown field in any object, a value of the wrong
//! type anywhere).

use super::{json_schema, json_schema_text};
use crate::config::Config;
use crate::testing::{files_in, recipe_configs};
use serde_json::Value;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&json_schema()).expect("the derived schema compiles")
}

/// The JSON documents of a corpus directory, by file name.
fn documents_in(dir: &str) -> Vec<(String, Value)> {
    files_in(dir, "json")
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap_or_default().to_string_lossy().into_owned(), value)
        })
        .collect()
}

fn parser_accepts(document: &Value) -> Result<(), String> {
    Config::parse(&document.to_string()).map(|_| ()).map_err(|problems| format!("{problems:?}"))
}

fn schema_accepts(validator: &jsonschema::Validator, document: &Value) -> Result<(), String> {
    let errors: Vec<String> =
        validator.iter_errors(document).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The JSON pointers the parser's problems name (`routes[0].policy` is `/routes/0/policy`).
fn parser_pointers(document: &Value) -> Vec<String> {
    let problems = Config::parse(&document.to_string()).err().unwrap_or_default();
    problems
        .iter()
        .map(|problem| {
            let path = problem.path.trim_start_matches('$').replace('[', ".").replace(']', "");
            path.split('.').filter(|part| !part.is_empty()).map(|part| format!("/{part}")).collect()
        })
        .collect()
}

/// Whether the parser and the schema put a refusal at related places: one's pointer contains the
/// other's (a missing field is reported at its object by one and at the field by the other).
fn same_place(validator: &jsonschema::Validator, document: &Value) -> bool {
    let schema: Vec<String> = validator.iter_errors(document).map(|e| e.instance_path().to_string()).collect();
    parser_pointers(document).iter().any(|parser| {
        schema.iter().any(|schema| parser.starts_with(schema.as_str()) || schema.starts_with(parser.as_str()))
    })
}

#[test]
fn the_shipped_schema_is_the_derived_one() {
    let path = repo().join("config.schema.json");
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == json_schema_text(),
        "config.schema.json is not the schema the config types derive: run `npm run schema` and commit it"
    );
}

/// Every property of every object in the schema has a description (a doc comment on the field).
#[test]
fn every_field_is_described() {
    fn walk(schema: &Value, at: &str, missing: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    for (name, property) in properties {
                        let described =
                            property.get("description").and_then(Value::as_str).is_some_and(|d| !d.is_empty());
                        if !described {
                            missing.push(format!("{at}.{name}"));
                        }
                    }
                }
                for (key, value) in map {
                    walk(value, &format!("{at}/{key}"), missing);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, at, missing)),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&json_schema(), "#", &mut missing);
    assert!(missing.is_empty(), "fields without a description:\n  {}", missing.join("\n  "));
}

#[test]
fn the_schema_and_the_parser_agree_on_the_corpus_and_the_recipes() {
    let validator = validator();
    let mut valid = documents_in("tests/config-corpus/valid");
    valid.extend(recipe_configs());
    valid.push(("embedded default".into(), serde_json::from_str(crate::config::EMBEDDED_DEFAULT).unwrap_or_default()));
    assert!(valid.len() >= 12, "a corpus, not a token: {} valid documents", valid.len());
    for (name, document) in &valid {
        if let Err(why) = parser_accepts(document) {
            panic!("{name}: the parser refuses a valid configuration: {why}");
        }
        if let Err(why) = schema_accepts(&validator, document) {
            panic!("{name}: the schema refuses a valid configuration: {why}");
        }
    }
    let invalid = documents_in("tests/config-corpus/invalid");
    assert!(invalid.len() >= 10, "{} invalid documents", invalid.len());
    for (name, document) in &invalid {
        assert!(parser_accepts(document).is_err(), "{name}: the parser accepts a structurally invalid configuration");
        assert!(schema_accepts(&validator, document).is_err(), "{name}: the schema accepts it");
        assert!(
            same_place(&validator, document),
            "{name}: the parser ({:?}) and the schema ({:?}) refuse it at unrelated places",
            parser_pointers(document),
            schema_accepts(&validator, document)
        );
    }
    // What only the parser can know: the schema accepts these, the parser does not.
    let semantic = documents_in("tests/config-corpus/semantic");
    assert!(semantic.len() >= 4, "{} semantic documents", semantic.len());
    for (name, document) in &semantic {
        assert!(parser_accepts(document).is_err(), "{name}: the parser accepts it");
        if let Err(why) = schema_accepts(&validator, document) {
            panic!("{name}: belongs in invalid/, since the schema refuses it too: {why}");
        }
    }
}

/// Every place a mutation can go: a JSON pointer to each object that is a config section (not a
/// free-form map such as `roles` or `required_claims`), and to each scalar.
fn places(value: &Value, at: String, objects: &mut Vec<String>, scalars: &mut Vec<String>) {
    const FREE_FORM: &[&str] = &["roles", "authorization_params", "required_claims", "jwks", "claims", "tiers", "vars"];
    match value {
        Value::Object(map) => {
            let last = at.rsplit('/').next().unwrap_or_default();
            if !FREE_FORM.contains(&last) {
                objects.push(at.clone());
            }
            for (key, inner) in map {
                if FREE_FORM.contains(&last) && inner.is_object() {
                    // A map's values are sections again (a role's definition).
                    places(inner, format!("{at}/{key}"), objects, scalars);
                } else if !FREE_FORM.contains(&last) {
                    places(inner, format!("{at}/{key}"), objects, scalars);
                }
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                places(inner, format!("{at}/{index}"), objects, scalars);
            }
        }
        _ => scalars.push(at),
    }
}

#[test]
fn structural_mutations_of_valid_configurations_get_one_verdict_from_both() {
    let validator = validator();
    let mut valid = documents_in("tests/config-corpus/valid");
    valid.extend(recipe_configs());
    let agree = |name: &str, what: &str, pointer: &str, mutated: &Value| -> bool {
        let (parser, schema) = (parser_accepts(mutated).is_ok(), schema_accepts(&validator, mutated).is_ok());
        assert_eq!(parser, schema, "{name}: {what} at {pointer:?}: the parser says {parser} and the schema {schema}");
        parser
    };
    let (mut checked, mut refused) = (0, 0);
    for (name, document) in &valid {
        let (mut objects, mut scalars) = (Vec::new(), Vec::new());
        places(document, String::new(), &mut objects, &mut scalars);
        for pointer in &objects {
            // An unknown field: refused everywhere.
            let mut mutated = document.clone();
            if let Some(Value::Object(map)) = mutated.pointer_mut(pointer) {
                map.insert("not_a_field".into(), Value::from(1));
            }
            assert!(
                !agree(name, "an unknown field", pointer, &mutated),
                "{name}: an unknown field at {pointer:?} is accepted"
            );
            // Each field removed in turn: a field the schema requires, the parser requires too.
            // (The parser may refuse more: a route without an origin when there is no top-level
            // one is a rule about the whole document.)
            let keys: Vec<String> = document
                .pointer(pointer)
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            for key in keys {
                let mut mutated = document.clone();
                if let Some(Value::Object(map)) = mutated.pointer_mut(pointer) {
                    map.remove(&key);
                }
                let (parser, schema) = (parser_accepts(&mutated).is_ok(), schema_accepts(&validator, &mutated).is_ok());
                assert!(schema || !parser, "{name}: the schema requires {pointer}/{key} and the parser does not");
                refused += usize::from(!parser);
                checked += 1;
            }
            // A section replaced by a string.
            if !pointer.is_empty() {
                let mut mutated = document.clone();
                if let Some(slot) = mutated.pointer_mut(pointer) {
                    *slot = Value::from("x");
                }
                assert!(
                    !agree(name, "a string for an object", pointer, &mutated),
                    "{name}: a string for the object at {pointer:?}"
                );
            }
            checked += 2;
            refused += 1 + usize::from(!pointer.is_empty());
        }
        for pointer in &scalars {
            let mut mutated = document.clone();
            let Some(slot) = mutated.pointer_mut(pointer) else { continue };
            // A value of another JSON type: an object stands in for any scalar.
            *slot = serde_json::json!({ "wrong": "type" });
            let accepted = agree(name, "an object for a scalar", pointer, &mutated);
            // Only a claim condition's value may be any JSON value, an object too.
            let any_value = pointer.ends_with("/equals") || pointer.ends_with("/contains");
            assert!(!accepted || any_value, "{name}: an object in place of the scalar at {pointer:?} is accepted");
            refused += usize::from(!accepted);
            checked += 1;
        }
    }
    eprintln!("{checked} structural mutations checked ({refused} refused by the parser)");
    assert!(checked >= 500, "{checked} mutations");
}
