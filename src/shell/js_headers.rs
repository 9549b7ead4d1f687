//! Header lists across the JavaScript boundary in one call each way. A profile of the proxy path
//! showed the per-header calls (`Headers.append`, and the iterator's `next` with its entries) at
//! 8–10 % of the CPU: the lists now cross as one string, `name\nvalue\n...`, which no valid
//! header can break (neither names nor values may hold a line break).

use crate::http::headers::HeaderList;
use wasm_bindgen::JsValue;
use worker::Result;

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export function headersFromLines(lines) {
  const headers = new Headers();
  if (lines === '') return headers;
  const parts = lines.split('\\n');
  for (let i = 0; i + 1 < parts.length; i += 2) headers.append(parts[i], parts[i + 1]);
  return headers;
}
export function headersToLines(headers) {
  let lines = '';
  for (const [name, value] of headers) lines += (lines === '' ? '' : '\\n') + name + '\\n' + value;
  return lines;
}")]
extern "C" {
    #[wasm_bindgen::prelude::wasm_bindgen(js_name = headersFromLines, catch)]
    fn headers_from_lines(lines: &str) -> std::result::Result<web_sys::Headers, JsValue>;
    #[wasm_bindgen::prelude::wasm_bindgen(js_name = headersToLines)]
    fn headers_to_lines(headers: &web_sys::Headers) -> String;
}

/// A header list as the runtime's `Headers`. A name or value with a line break (which no valid
/// header has) takes the per-header path, whose `append` refuses it, so the joined form can
/// never be split differently than it was built.
pub fn to_js_headers(list: &HeaderList) -> Result<web_sys::Headers> {
    if list.iter().any(|(name, value)| name.contains('\n') || value.contains('\n')) {
        let headers = web_sys::Headers::new()?;
        for (name, value) in list {
            headers.append(name, value)?;
        }
        return Ok(headers);
    }
    Ok(headers_from_lines(&crate::http::headers::joined_lines(list))?)
}

/// The runtime's `Headers` as a list (names lower-case, as `Headers` iterates them; `Set-Cookie`
/// lines one by one).
pub fn list_of(headers: &web_sys::Headers) -> HeaderList {
    crate::http::headers::split_lines(&headers_to_lines(headers))
}
