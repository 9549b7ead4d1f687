//! The configuration, parsed once per isolate from the `PORTCULLIS_CONFIG` binding.

use crate::config::{Config, ConfigProblem};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{console_error, Env};

/// The name of the variable that holds the configuration.
pub const CONFIG_VAR: &str = "PORTCULLIS_CONFIG";

type Loaded = Rc<Result<Config, Vec<ConfigProblem>>>;

thread_local! {
    static LOADED: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

/// The raw configuration: a JSON string, or a table from `[vars]` (turned back into JSON).
fn raw_config(env: &Env) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(CONFIG_VAR)).ok()?;
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    if value.is_object() {
        return js_sys::JSON::stringify(&value).ok()?.as_string();
    }
    None
}

/// The isolate's configuration. Problems are logged once, when it is first parsed.
pub fn get(env: &Env) -> Loaded {
    LOADED.with(|cell| {
        if let Some(loaded) = cell.borrow().as_ref() {
            return Rc::clone(loaded);
        }
        let loaded = Rc::new(Config::load(raw_config(env).as_deref()));
        if let Err(problems) = loaded.as_ref() {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            console_error!("{}", serde_json::json!({ "event": "config_invalid", "problems": problems }));
        }
        *cell.borrow_mut() = Some(Rc::clone(&loaded));
        loaded
    })
}
