//! SAML's bindings, as bytes: HTTP-Redirect (raw DEFLATE, then base64, then the query string;
//! SAML Bindings §3.4.4.1) and HTTP-POST (base64 in a form field, §3.5.4). Decoding is bounded
//! before it starts: the encoded text by [`MAX_ENCODED_BYTES`], the inflated message by
//! [`super::xml::MAX_MESSAGE_BYTES`] (so a deflate bomb stops at the bound, not in memory), and
//! the message must be UTF-8.

use super::xml::{without_xml_blanks, MAX_MESSAGE_BYTES};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use url::form_urlencoded;

/// The longest encoded message accepted (base64 of the largest message, with line breaks).
pub const MAX_ENCODED_BYTES: usize = MAX_MESSAGE_BYTES / 3 * 4 + MAX_MESSAGE_BYTES / 32;

/// The longest `RelayState` (SAML Bindings §3.4.3: at most 80 bytes).
pub const MAX_RELAY_STATE_BYTES: usize = 80;

/// Why an encoded message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingRefusal {
    /// Longer than the bounds, encoded or decoded (a deflate bomb ends here).
    TooLarge,
    /// Not base64.
    Base64,
    /// Not a DEFLATE stream.
    Deflate,
    /// Not UTF-8.
    Encoding,
    /// A `RelayState` longer than [`MAX_RELAY_STATE_BYTES`].
    RelayState,
}

impl BindingRefusal {
    /// A stable reason code.
    pub fn reason(self) -> &'static str {
        match self {
            BindingRefusal::TooLarge => "saml_message_too_large",
            BindingRefusal::Base64 => "saml_base64",
            BindingRefusal::Deflate => "saml_deflate",
            BindingRefusal::Encoding => "saml_encoding",
            BindingRefusal::RelayState => "saml_relay_state",
        }
    }
}

/// The base64 of the HTTP-POST binding: white space (IdPs wrap lines) is dropped first.
fn base64_of(encoded: &str) -> Result<Vec<u8>, BindingRefusal> {
    if encoded.len() > MAX_ENCODED_BYTES {
        return Err(BindingRefusal::TooLarge);
    }
    STANDARD.decode(without_xml_blanks(encoded)).map_err(|_| BindingRefusal::Base64)
}

/// A message of the HTTP-POST binding (`SAMLResponse` or `SAMLRequest`, form-decoded).
pub fn decode_post(encoded: &str) -> Result<String, BindingRefusal> {
    let bytes = base64_of(encoded)?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(BindingRefusal::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| BindingRefusal::Encoding)
}

/// A message of the HTTP-Redirect binding (the query parameter, form-decoded): inflated up to
/// [`MAX_MESSAGE_BYTES`], never further.
pub fn decode_redirect(encoded: &str) -> Result<String, BindingRefusal> {
    let deflated = base64_of(encoded)?;
    let inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, MAX_MESSAGE_BYTES).map_err(
        |error| match error.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => BindingRefusal::TooLarge,
            _ => BindingRefusal::Deflate,
        },
    )?;
    String::from_utf8(inflated).map_err(|_| BindingRefusal::Encoding)
}

/// A `RelayState`, checked for length.
pub fn relay_state(value: &str) -> Result<&str, BindingRefusal> {
    if value.len() > MAX_RELAY_STATE_BYTES {
        return Err(BindingRefusal::RelayState);
    }
    Ok(value)
}

/// Whether a message is a request or a response (its query parameter's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `SAMLRequest` (an `AuthnRequest`, a `LogoutRequest`).
    Request,
    /// `SAMLResponse` (a `LogoutResponse`).
    Response,
}

impl MessageKind {
    /// The parameter's name.
    pub fn parameter(self) -> &'static str {
        match self {
            MessageKind::Request => "SAMLRequest",
            MessageKind::Response => "SAMLResponse",
        }
    }
}

/// The URL that carries `message` to `endpoint` over HTTP-Redirect, with `relay_state`. The
/// endpoint's own query (some IdPs put a tenant there) is kept.
pub fn redirect_url(endpoint: &str, kind: MessageKind, message: &str, relay_state: Option<&str>) -> String {
    let deflated = miniz_oxide::deflate::compress_to_vec(message.as_bytes(), 6);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair(kind.parameter(), &STANDARD.encode(deflated));
    if let Some(relay_state) = relay_state {
        query.append_pair("RelayState", relay_state);
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn query_value(url: &str, name: &str) -> Option<String> {
        let query = url.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
    }

    #[test]
    fn a_redirect_carries_the_message_deflated_and_its_relay_state() {
        let message = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"/>"#;
        let url = redirect_url("https://idp.example/sso?tenant=acme", MessageKind::Request, message, Some("r3f"));
        assert!(url.starts_with("https://idp.example/sso?tenant=acme&SAMLRequest="), "{url}");
        assert_eq!(query_value(&url, "RelayState").as_deref(), Some("r3f"));
        let encoded = query_value(&url, "SAMLRequest").unwrap();
        assert_eq!(decode_redirect(&encoded).as_deref(), Ok(message));
        // Raw DEFLATE, as the binding says (no zlib header): miniz's raw inflater reads it.
        let raw = STANDARD.decode(&encoded).unwrap();
        assert_eq!(miniz_oxide::inflate::decompress_to_vec(&raw).unwrap(), message.as_bytes());
        let plain = redirect_url("https://idp.example/sso", MessageKind::Response, message, None);
        assert!(plain.starts_with("https://idp.example/sso?SAMLResponse="));
        assert_eq!(query_value(&plain, "RelayState"), None);
    }

    #[test]
    fn post_messages_decode_with_line_breaks_and_refuse_what_is_not_base64_or_utf8() {
        let message = "<samlp:Response/>";
        let wrapped: String = STANDARD
            .encode(message)
            .chars()
            .enumerate()
            .flat_map(|(i, c)| if i % 4 == 3 { vec![c, '\r', '\n'] } else { vec![c] })
            .collect();
        assert_eq!(decode_post(&wrapped).as_deref(), Ok(message));
        assert_eq!(decode_post("not base64!"), Err(BindingRefusal::Base64));
        assert_eq!(decode_post(&STANDARD.encode([0xff, 0xfe])), Err(BindingRefusal::Encoding));
        assert_eq!(decode_post(&"A".repeat(MAX_ENCODED_BYTES + 1)), Err(BindingRefusal::TooLarge));
        assert_eq!(decode_redirect(&STANDARD.encode(b"not deflate at all")), Err(BindingRefusal::Deflate));
        assert_eq!(relay_state(&"r".repeat(81)), Err(BindingRefusal::RelayState));
        assert_eq!(relay_state("ok"), Ok("ok"));
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_message_bound() {
        // 64 MiB of one byte deflates to about 64 KiB; it is refused once 256 KiB are out.
        let bomb = miniz_oxide::deflate::compress_to_vec(&vec![b'a'; 64 * 1024 * 1024], 10);
        let encoded = STANDARD.encode(&bomb);
        assert!(encoded.len() < MAX_ENCODED_BYTES, "the bomb itself is small: {}", encoded.len());
        assert_eq!(decode_redirect(&encoded), Err(BindingRefusal::TooLarge));
        // Just at the bound still decodes.
        let full = miniz_oxide::deflate::compress_to_vec(&vec![b'a'; MAX_MESSAGE_BYTES], 6);
        assert_eq!(decode_redirect(&STANDARD.encode(full)).map(|m| m.len()), Ok(MAX_MESSAGE_BYTES));
    }

    proptest! {
        #![proptest_config(crate::testing::generative(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let encoded = STANDARD.encode(&bytes);
            let _ = decode_redirect(&encoded);
            let _ = decode_post(&encoded);
            let _ = decode_post(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn any_message_survives_the_redirect_binding(message in "\\PC{0,2000}") {
            let url = redirect_url("https://idp.example/sso", MessageKind::Request, &message, Some("x"));
            let encoded = query_value(&url, "SAMLRequest").unwrap();
            prop_assert_eq!(decode_redirect(&encoded), Ok(message));
        }
    }
}
