//! What every D1 adapter shares: the binding, bound parameters and the one error conversion.

use crate::ports::Unavailable;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

/// The D1 binding of the directory.
pub const DIRECTORY_BINDING: &str = crate::deploy::names::DIRECTORY_DB;

/// The directory's database.
pub fn database(env: &Env) -> Result<D1Database, Unavailable> {
    env.d1(DIRECTORY_BINDING).map_err(failed)
}

/// A statement with its values bound (never spliced into the SQL).
pub fn statement(db: &D1Database, sql: &str, values: &[JsValue]) -> Result<D1PreparedStatement, Unavailable> {
    db.prepare(sql).bind(values).map_err(failed)
}

/// A D1 failure, as the ports say it.
pub fn failed(error: impl std::fmt::Display) -> Unavailable {
    Unavailable::because(format_args!("directory: {error}"))
}

/// How many rows a statement changed.
pub fn changed_rows(result: &D1Result) -> Result<usize, Unavailable> {
    Ok(result.meta().map_err(failed)?.and_then(|meta| meta.changes).unwrap_or(0))
}

/// A text parameter.
pub fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

/// A text parameter, or NULL.
pub fn optional(value: &Option<String>) -> JsValue {
    value.as_deref().map_or(JsValue::NULL, JsValue::from_str)
}

/// A number parameter (milliseconds since the epoch fit a double exactly).
pub fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}
