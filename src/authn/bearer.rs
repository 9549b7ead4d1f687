//! Reading a bearer credential from `Authorization` (RFC 6750 §2.1).

use super::AuthnError;
use crate::http::RequestHead;

/// The bearer token of a request: `Ok(None)` when there is no `Authorization` header, an error
/// when there are several, or it is not `Bearer <token68>`.
pub fn bearer_token(head: &RequestHead) -> Result<Option<&str>, AuthnError> {
    let mut values = head.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    let Some((_, value)) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthnError::MalformedAuthorization);
    }
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthnError::MalformedAuthorization)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...) is not a bearer credential at all.
        return Ok(None);
    }
    let token = token.trim_start_matches(' ');
    let token68 = !token.is_empty()
        && token.trim_end_matches('=').bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !token68 {
        return Err(AuthnError::MalformedAuthorization);
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(values: &[&str]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            url: "https://h/".into(),
            headers: values.iter().map(|v| ("Authorization".to_owned(), (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn bearer_extraction_table() {
        let cases: &[(&[&str], Result<Option<&str>, AuthnError>)] = &[
            (&[], Ok(None)),
            (&["Bearer abc.def.ghi"], Ok(Some("abc.def.ghi"))),
            (&["bearer abc"], Ok(Some("abc"))),
            (&["BEARER  abc=="], Ok(Some("abc=="))),
            (&["Basic dXNlcjpwdw=="], Ok(None)),
            (&["Bearer"], Err(AuthnError::MalformedAuthorization)),
            (&["Bearer "], Err(AuthnError::MalformedAuthorization)),
            (&["Bearer a b"], Err(AuthnError::MalformedAuthorization)),
            (&["Bearer a\"b"], Err(AuthnError::MalformedAuthorization)),
            (&["Bearer a", "Bearer b"], Err(AuthnError::MalformedAuthorization)),
        ];
        for (values, expected) in cases {
            assert_eq!(bearer_token(&head(values)), *expected, "{values:?}");
        }
    }
}

#[cfg(test)]
mod generative {
    use super::*;
    use proptest::prelude::*;

    fn head(value: &str) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            url: "https://h/".into(),
            headers: vec![("authorization".into(), value.into())],
        }
    }

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    /// Any header value is refused, taken as another scheme, or yields a token68 that is the
            /// end of the value.
            #[test]
            fn any_value_is_a_token68_or_not_a_bearer_token(value in "\\PC{0,80}|(?i:bearer) {1,3}[ -~]{0,40}") {
                if let Ok(Some(token)) = bearer_token(&head(&value)) {
                    prop_assert!(!token.is_empty());
                    prop_assert!(token.trim_end_matches('=').bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)));
                    prop_assert!(value.trim().ends_with(token));
                }
            }

            #[test]
            fn a_bearer_token68_round_trips(scheme in "(?i:bearer)", token in "[A-Za-z0-9._~+/-]{1,60}={0,2}") {
                let value = format!("{scheme} {token}");
                let head = head(&value);
                prop_assert_eq!(bearer_token(&head), Ok(Some(token.as_str())));
            }
        }
}
