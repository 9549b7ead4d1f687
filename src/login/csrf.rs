//! CSRF protection for state-changing edge routes (ASVS 5.0 V3.5): the request must come from
//! one of the app's own origins (`Origin`, or `Sec-Fetch-Site` when a browser sends no `Origin`),
//! and carry a token bound to the session.

use crate::http::RequestHead;
use crate::secret::SecretBytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The token for a session, by its KV key: `base64url(HMAC-SHA256(key, "csrf." || kv_key))`.
pub fn token(key: &SecretBytes, session_kv_key: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).unwrap_or_else(|_| unreachable!());
    mac.update(b"portcullis-csrf.");
    mac.update(session_kv_key.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the session's token, in constant time.
pub fn token_matches(key: &SecretBytes, session_kv_key: &str, presented: &str) -> bool {
    bool::from(token(key, session_kv_key).as_bytes().ct_eq(presented.as_bytes()))
}

/// The CSRF token of a form body (`csrf_token=`): `None` when there is none, or more than one (a
/// body that says two things is not guessed at).
pub fn token_from_form(body: &[u8]) -> Option<String> {
    let mut tokens = url::form_urlencoded::parse(body).filter(|(name, _)| name == "csrf_token").map(|(_, value)| value);
    let token = tokens.next()?;
    tokens.next().is_none().then(|| token.into_owned())
}

/// Whether the request comes from one of `origins` (`scheme://host[:port]`): by its `Origin`
/// header, or, when that is absent or `null`, by `Sec-Fetch-Site: same-origin`. (Edge pages are
/// served with `Referrer-Policy: no-referrer`, so a browser sends `Origin: null` even for a form
/// posted from the page to its own origin.) A request with neither is refused.
pub fn from_own_origin(head: &RequestHead, origins: &[String]) -> bool {
    match head.header("origin") {
        Some(origin) if origin != "null" => origins.iter().any(|o| o == origin),
        _ => head.header("sec-fetch-site") == Some("same-origin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "POST".into(),
            url: "https://app.test/auth/logout".into(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn only_own_origins_pass() {
        let origins = vec!["https://app.test".to_owned()];
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("origin", "https://app.test")], true),
            (&[("origin", "https://evil.test")], false),
            (&[("origin", "null")], false),
            (&[("origin", "null"), ("sec-fetch-site", "same-origin")], true),
            (&[("origin", "null"), ("sec-fetch-site", "cross-site")], false),
            (&[("origin", "https://app.test.evil.test")], false),
            (&[("sec-fetch-site", "same-origin")], true),
            (&[("sec-fetch-site", "cross-site")], false),
            (&[("sec-fetch-site", "same-site")], false),
            (&[("origin", "https://evil.test"), ("sec-fetch-site", "same-origin")], false),
            (&[], false),
        ];
        for (headers, expected) in cases {
            assert_eq!(from_own_origin(&head(headers), &origins), *expected, "{headers:?}");
        }
    }

    #[test]
    fn tokens_are_bound_to_the_session_and_key() {
        let key = SecretBytes::new(b"k".repeat(32));
        let other_key = SecretBytes::new(b"j".repeat(32));
        let t = token(&key, "session:abc");
        assert!(token_matches(&key, "session:abc", &t));
        assert!(!token_matches(&key, "session:abd", &t));
        assert!(!token_matches(&other_key, "session:abc", &t));
        assert!(!token_matches(&key, "session:abc", ""));
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::generative(256))]

        /// Any bytes are read without a panic.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = token_from_form(&body);
        }

        /// Fields whose names are `csrf_token` in any spelling (any of its characters
        /// percent-encoded, in either case of hex) among other fields: exactly one such field
        /// reads back as its value, and none or two of them read as no token at all.
        #[test]
        fn every_spelling_of_the_name_counts(
            fields in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), proptest::collection::vec(proptest::prelude::any::<(bool, bool)>(), 10), "[a-z]{0,6}", "\\PC{0,12}"),
                0..5,
            ),
        ) {
            let mut body = Vec::new();
            let mut tokens = Vec::new();
            for (is_token, spelling, other_name, value) in &fields {
                let name: String = if *is_token {
                    tokens.push(value.clone());
                    "csrf_token".chars().zip(spelling).map(|(c, (encode, upper))| match (encode, upper) {
                        (false, _) => c.to_string(),
                        (true, false) => format!("%{:02x}", c as u32),
                        (true, true) => format!("%{:02X}", c as u32),
                    }).collect()
                } else {
                    format!("x{other_name}")
                };
                let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                body.push(format!("{name}={value}"));
            }
            let expected = if tokens.len() == 1 { tokens.pop() } else { None };
            proptest::prop_assert_eq!(token_from_form(body.join("&").as_bytes()), expected);
        }

        /// A token among any other fields, in any order and encoding, reads back as itself; a
        /// second `csrf_token` field makes the body refused.
        #[test]
        fn the_token_reads_back_among_other_fields(
            token in "[A-Za-z0-9_-]{1,43}",
            others in proptest::collection::vec(("[a-z_]{1,8}", "\\PC{0,12}"), 0..5),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            second in proptest::option::of("\\PC{0,12}"),
        ) {
            let mut fields: Vec<(String, String)> = others.into_iter().filter(|(name, _)| name != "csrf_token").collect();
            fields.insert(at.index(fields.len() + 1), ("csrf_token".into(), token.clone()));
            if let Some(value) = &second {
                fields.push(("csrf_token".into(), value.clone()));
            }
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
            let expected = if second.is_some() { None } else { Some(token) };
            proptest::prop_assert_eq!(token_from_form(body.as_bytes()), expected);
        }
    }
}
