//! The emails local accounts send, from templates in `www/mail/`: `<kind>.txt` (its first line is
//! `Subject: ...`) and `<kind>.html`, with `{{placeholders}}` filled in (HTML-escaped in the HTML
//! part). Every message carries the branding (its name, and its main colour on a button); none
//! names anything the recipient did not already know.

use crate::login::pages::{fill, html_escape};
use crate::ports::OutboundMail;

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Confirm the address of a new sign-up (`{{link}}`).
    Verify,
    /// Someone tried to sign up with an address that already has an account (`{{sign_in}}`,
    /// `{{forgot}}`).
    AccountExists,
    /// A password reset link (`{{link}}`).
    Reset,
    /// The password was changed or reset (`{{forgot}}`).
    PasswordChanged,
    /// Too many failed sign-ins locked the account for a while (`{{minutes}}`, `{{forgot}}`).
    Locked,
    /// A successful sign-in (`{{ip}}`, `{{user_agent}}`).
    NewSignIn,
    /// The account's second factors changed, or a recovery code was used (`{{change}}`: one
    /// sentence saying what happened; `{{forgot}}`).
    SecurityChanged,
}

impl MailKind {
    /// The template's name in `www/mail/`.
    pub fn template(self) -> &'static str {
        match self {
            MailKind::Verify => "verify",
            MailKind::AccountExists => "account-exists",
            MailKind::Reset => "reset",
            MailKind::PasswordChanged => "password-changed",
            MailKind::Locked => "locked",
            MailKind::NewSignIn => "new-sign-in",
            MailKind::SecurityChanged => "security-changed",
        }
    }
}

/// Why a template could not make a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateBroken(pub &'static str);

/// Makes a message from its two templates. `values` are raw text; `brand_name` is always one.
pub fn render(
    kind: MailKind,
    to: &str,
    text_template: &str,
    html_template: &str,
    values: &[(&str, String)],
) -> Result<OutboundMail, TemplateBroken> {
    let (subject_line, body) = text_template.split_once('\n').ok_or(TemplateBroken(kind.template()))?;
    let subject = subject_line.strip_prefix("Subject: ").ok_or(TemplateBroken(kind.template()))?;
    // Header injection: a subject is one line, whatever the values hold.
    let one_line: Vec<(&str, String)> =
        values.iter().map(|(name, value)| (*name, value.replace(['\r', '\n'], " "))).collect();
    let escaped: Vec<(&str, String)> = values.iter().map(|(name, value)| (*name, html_escape(value))).collect();
    Ok(OutboundMail {
        to: to.to_owned(),
        subject: fill(subject.trim_end(), &one_line),
        text: fill(body.trim_start_matches('\n'), values),
        html: fill(html_template, &escaped),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::repository_file;

    const KINDS: [MailKind; 7] = [
        MailKind::Verify,
        MailKind::AccountExists,
        MailKind::Reset,
        MailKind::PasswordChanged,
        MailKind::Locked,
        MailKind::NewSignIn,
        MailKind::SecurityChanged,
    ];

    #[test]
    fn every_shipped_template_renders_with_its_values() {
        let values = [
            ("brand_name", "Acme <Cloud>".to_owned()),
            ("brand_color", "#1f3a5f".to_owned()),
            ("link", "https://app.test/auth/accounts/verify?token=T&x=1".to_owned()),
            ("sign_in", "https://app.test/auth/accounts/sign-in".to_owned()),
            ("forgot", "https://app.test/auth/accounts/forgot".to_owned()),
            ("minutes", "15".to_owned()),
            ("ip", "203.0.113.7".to_owned()),
            ("user_agent", "Firefox\r\nBcc: x".to_owned()),
            ("change", "Two-step verification was turned off.".to_owned()),
        ];
        for kind in KINDS {
            let text = repository_file(&format!("www/mail/{}.txt", kind.template()));
            let html = repository_file(&format!("www/mail/{}.html", kind.template()));
            let mail = render(kind, "ann@acme.test", &text, &html, &values).expect("renders");
            assert!(!mail.subject.is_empty() && !mail.subject.contains(['\r', '\n']), "{kind:?}");
            for part in [&mail.subject, &mail.text, &mail.html] {
                assert!(!part.contains("{{"), "{kind:?} leaves a placeholder: {part}");
            }
            assert!(mail.text.contains("Acme <Cloud>") && mail.html.contains("Acme &lt;Cloud&gt;"), "{kind:?}");
            assert!(!mail.html.contains("<Cloud>"), "{kind:?} escapes values in HTML");
            if matches!(kind, MailKind::Verify | MailKind::Reset) {
                assert!(mail.text.contains("token=T&x=1") && mail.html.contains("token=T&amp;x=1"), "{kind:?}");
            }
        }
        assert_eq!(render(MailKind::Verify, "a@b.test", "no subject", "", &[]), Err(TemplateBroken("verify")));
        let injected =
            render(MailKind::Verify, "a@b.test", "Subject: Hi {{name}}\nbody", "", &[("name", "x\r\nBcc: y".into())])
                .expect("renders");
        assert_eq!(injected.subject, "Hi x  Bcc: y");
    }
}
