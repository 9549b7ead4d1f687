//! The account pages' form bodies (`application/x-www-form-urlencoded`), read strictly: the body
//! must be UTF-8 after percent-decoding, every field may appear once, the expected ones must be
//! there, and a password is bounded before anything hashes it. Emails are normalised (trimmed,
//! lower-cased) and checked for a plausible shape; nothing else about them is trusted.

use super::config::MAX_PASSWORD_BYTES;
use crate::secret::SecretString;
use percent_encoding::percent_decode;

/// Why a form was refused. Each is a 400 with a stable code and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The body is not UTF-8 (after percent-decoding).
    NotUtf8,
    /// A field appears more than once.
    Doubled(&'static str),
    /// A required field is missing or empty.
    Missing(&'static str),
    /// An unexpected field (a form is a fixed set).
    Unexpected,
    /// A password longer than [`MAX_PASSWORD_BYTES`].
    PasswordTooLarge,
    /// Not an email address.
    MalformedEmail,
}

impl FormError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            FormError::NotUtf8 => "form_not_utf8",
            FormError::Doubled(_) => "form_field_doubled",
            FormError::Missing(_) => "form_field_missing",
            FormError::Unexpected => "form_field_unexpected",
            FormError::PasswordTooLarge => "password_too_large",
            FormError::MalformedEmail => "email_malformed",
        }
    }
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormError::NotUtf8 => f.write_str("the form could not be read (it is not UTF-8)"),
            FormError::Doubled(field) => write!(f, "the form sent {field} twice"),
            FormError::Missing(field) => write!(f, "please fill in {}", field.replace('_', " ")),
            FormError::Unexpected => f.write_str("the form has a field this page does not have"),
            FormError::PasswordTooLarge => write!(f, "a password may have at most {MAX_PASSWORD_BYTES} bytes"),
            FormError::MalformedEmail => f.write_str("that is not an email address"),
        }
    }
}

/// A form's fields, each at most once.
pub struct Form {
    fields: Vec<(String, SecretString)>,
}

/// The fields a form may have besides its own: the tenant, where to go after, the CSRF token.
const COMMON_FIELDS: &[&str] = &["tenant", "return_to", "csrf_token"];

fn decode(part: &[u8]) -> Result<String, FormError> {
    let spaced: Vec<u8> = part.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_decode(&spaced).decode_utf8().map(|text| text.into_owned()).map_err(|_| FormError::NotUtf8)
}

impl Form {
    /// Reads a body whose fields are among `fields` (and the common ones).
    pub fn parse(body: &[u8], fields: &'static [&'static str]) -> Result<Self, FormError> {
        let mut parsed: Vec<(String, SecretString)> = Vec::new();
        for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            let Some(known) = fields.iter().chain(COMMON_FIELDS).find(|field| **field == name) else {
                return Err(FormError::Unexpected);
            };
            if parsed.iter().any(|(seen, _)| seen == &name) {
                return Err(FormError::Doubled(known));
            }
            if name.contains("password") && value.len() > MAX_PASSWORD_BYTES {
                return Err(FormError::PasswordTooLarge);
            }
            parsed.push((name, SecretString::new(value)));
        }
        Ok(Self { fields: parsed })
    }

    /// A field's value, if sent.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value.expose())
    }

    /// A field that must be sent and not empty.
    pub fn required(&self, name: &'static str) -> Result<&str, FormError> {
        self.optional(name).filter(|value| !value.is_empty()).ok_or(FormError::Missing(name))
    }

    /// The `email` field, normalised.
    pub fn email(&self) -> Result<String, FormError> {
        normalize_email(self.required("email")?)
    }
}

/// An email, trimmed and lower-cased, if it looks like one: one `@`, a local part of 1 to 64
/// printable characters, a domain of dot-separated labels, 254 characters in all.
pub fn normalize_email(text: &str) -> Result<String, FormError> {
    let email = text.trim().to_lowercase();
    let (local, domain) = email.split_once('@').ok_or(FormError::MalformedEmail)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:@\"".contains(c));
    let domain_ok = domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if !local_ok || !domain_ok || email.len() > 254 {
        return Err(FormError::MalformedEmail);
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIGN_IN: &[&str] = &["email", "password"];

    #[test]
    fn form_bodies_are_read_strictly() {
        let long = format!("email=a%40b.test&password={}", "x".repeat(MAX_PASSWORD_BYTES + 1));
        let cases: &[(&[u8], Result<(), FormError>)] = &[
            (b"email=ann%40acme.test&password=correct+horse", Ok(())),
            (b"email=ann%40acme.test&password=a&tenant=acme&return_to=%2F", Ok(())),
            (b"email=a%40b.test&email=c%40d.test&password=x", Err(FormError::Doubled("email"))),
            (b"email=a%40b.test&password=%FF%FE", Err(FormError::NotUtf8)),
            (b"email=a%40b.test&password=x&admin=1", Err(FormError::Unexpected)),
            (long.as_bytes(), Err(FormError::PasswordTooLarge)),
        ];
        for (body, expected) in cases {
            let outcome = Form::parse(body, SIGN_IN).map(|_| ());
            assert_eq!(&outcome, expected, "{}", String::from_utf8_lossy(body));
        }
        let form = Form::parse(b"email=+Ann%40ACME.test+&password=p%C3%A4ss+word+", SIGN_IN).expect("form");
        assert_eq!(form.email(), Ok("ann@acme.test".to_owned()));
        // Whitespace in a password is kept, inside and at the ends.
        assert_eq!(form.required("password"), Ok("päss word "));
        let missing = Form::parse(b"email=&password=x", SIGN_IN).expect("form");
        assert_eq!(missing.email(), Err(FormError::Missing("email")));
        assert_eq!(FormError::Missing("new_password").to_string(), "please fill in new password");
    }

    #[test]
    fn emails_must_look_like_emails() {
        let cases = [
            ("ann@acme.test", true),
            ("ANN@Acme.Test", true),
            ("ann.b+tag@mail.acme.test", true),
            ("ann", false),
            ("@acme.test", false),
            ("ann@", false),
            ("ann@localhost", false),
            ("ann@@acme.test", false),
            ("a nn@acme.test", false),
            ("ann@acme..test", false),
            ("ann@-acme.test", false),
            ("<ann>@acme.test", false),
            (".ann@acme.test", false),
        ];
        for (email, ok) in cases {
            assert_eq!(normalize_email(email).is_ok(), ok, "{email}");
        }
        assert!(normalize_email(&format!("{}@acme.test", "a".repeat(65))).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(form) = Form::parse(&body, SIGN_IN) {
                let _ = form.email();
                let _ = form.required("password");
            }
        }

        #[test]
        fn arbitrary_emails_normalise_idempotently(text in "\\PC{0,80}") {
            if let Ok(email) = normalize_email(&text) {
                prop_assert_eq!(normalize_email(&email), Ok(email.clone()));
                prop_assert!(email.len() <= 254);
            }
        }
    }
}
