//! The account pages, from templates in `www/accounts/` with `{{placeholders}}` filled in, every
//! value HTML-escaped. Each page is its form alone, below two comment lines that name its title
//! and heading; `layout.html` is the rest of every page ([`assemble`]). A refused form comes back with the reason in a notice that carries its
//! stable code (`data-error`), and with what the person typed, except passwords.

use crate::login::pages::{fill, html_escape};

/// What the page says above its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    /// Nothing.
    None,
    /// A refusal: its code and its messages.
    Error(&'a str, &'a [String]),
    /// A neutral message.
    Info(&'a str),
}

impl Notice<'_> {
    /// The notice as HTML.
    pub fn html(&self) -> String {
        match self {
            Notice::None => String::new(),
            Notice::Error(code, messages) => {
                let items: String = messages.iter().map(|m| format!("<li>{}</li>", html_escape(m))).collect();
                format!(
                    "<div class=\"notice notice-error\" role=\"alert\" data-error=\"{}\"><ul class=\"notice-list\">{items}</ul></div>",
                    html_escape(code)
                )
            }
            Notice::Info(message) => {
                format!("<div class=\"notice\" role=\"status\"><p>{}</p></div>", html_escape(message))
            }
        }
    }
}

/// The values every account page template may use.
#[derive(Debug, Clone, Default)]
pub struct PageValues<'a> {
    /// The product's name.
    pub brand_name: &'a str,
    /// Its logo.
    pub brand_logo: &'a str,
    /// The edge prefix (`/auth`).
    pub prefix: &'a str,
    /// The notice, as HTML (see [`Notice::html`]).
    pub notice: String,
    /// The email typed, shown again.
    pub email: &'a str,
    /// The tenant the page is for.
    pub tenant: &'a str,
    /// Where to go after signing in.
    pub return_to: &'a str,
    /// A link's token (verify, reset).
    pub token: &'a str,
    /// The session's CSRF token (change password).
    pub csrf_token: &'a str,
    /// The fewest characters a new password needs.
    pub min_length: usize,
    /// The most it may have.
    pub max_length: usize,
}

/// A page's template inside the layout: its `<!-- title: ... -->` and `<!-- heading: ... -->`
/// lines name the page's title and heading, and the rest is its body. `None` when the page does
/// not start with those lines.
pub fn assemble(layout: &str, page: &str) -> Option<String> {
    let (title_line, rest) = page.split_once('\n')?;
    let (heading_line, body) = rest.split_once('\n')?;
    let title = title_line.strip_prefix("<!-- title: ")?.strip_suffix(" -->")?;
    let heading = heading_line.strip_prefix("<!-- heading: ")?.strip_suffix(" -->")?;
    // The pieces are templates themselves (not values): their placeholders are filled next.
    Some(fill(
        layout,
        &[("page_title", title.to_owned()), ("page_heading", heading.to_owned()), ("page_body", body.to_owned())],
    ))
}

/// Fills an account page's (assembled) template.
pub fn render(template: &str, values: &PageValues<'_>) -> String {
    render_with(template, values, &[])
}

/// The placeholders that only some pages have (the second-factor pages' and the message's); a page
/// that is not given them shows them empty.
pub const PAGE_PLACEHOLDERS: &[&str] = &[
    "qr_svg",
    "totp_secret",
    "enrolment",
    "recovery_codes",
    "totp_status",
    "recovery_status",
    "next_href",
    "next_label",
    "passkeys_status",
    "passkey_hidden",
    "totp_hidden",
];

/// Fills a page's template with the common values and the page's own (`extra`: HTML the caller
/// has already escaped or made), in one pass: a value is never read as a template, so a typed
/// `{{totp_secret}}` stays text and copies nothing into the page.
pub fn render_with(template: &str, values: &PageValues<'_>, extra: &[(&str, String)]) -> String {
    let mut all = vec![
        ("brand_name", html_escape(values.brand_name)),
        ("brand_logo", html_escape(values.brand_logo)),
        ("prefix", html_escape(values.prefix)),
        ("notice", values.notice.clone()),
        ("email_value", html_escape(values.email)),
        ("tenant", html_escape(values.tenant)),
        ("return_to", html_escape(values.return_to)),
        ("token", html_escape(values.token)),
        ("csrf_token", html_escape(values.csrf_token)),
        ("min_length", values.min_length.to_string()),
        ("max_length", values.max_length.to_string()),
    ];
    all.extend(extra.iter().cloned());
    fill(template, &all)
}

/// The message page (`www/accounts/message.html`): a title, a message and a link on.
pub fn render_message(
    template: &str,
    values: &PageValues<'_>,
    title: &str,
    message: &str,
    next: (&str, &str),
) -> String {
    render_with(
        template,
        values,
        &[
            ("title", html_escape(title)),
            ("message", html_escape(message)),
            ("next_href", html_escape(next.0)),
            ("next_label", html_escape(next.1)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::repository_file;

    const PAGES: [&str; 11] = [
        "sign-up",
        "sign-in",
        "verify",
        "forgot",
        "reset",
        "password",
        "message",
        "mfa",
        "totp",
        "recovery-codes",
        "security",
    ];
    /// The pages whose forms (or none) the caller fills in.
    const WITHOUT_OWN_FORM: [&str; 3] = ["message", "recovery-codes", "security"];

    #[test]
    fn every_page_fills_its_placeholders_and_escapes_what_it_shows() {
        let messages = vec!["Use at least 15 characters <b>.".to_owned()];
        let values = PageValues {
            brand_name: "Acme",
            brand_logo: "/auth/static/portcullis.svg",
            prefix: "/auth",
            notice: Notice::Error("password_policy", &messages).html(),
            email: "ann\"><script>@acme.test",
            tenant: "acme",
            return_to: "/app?x=1&y=2",
            token: "T",
            csrf_token: "C",
            min_length: 15,
            max_length: 64,
        };
        let layout = repository_file("www/accounts/layout.html");
        for page in PAGES {
            let template = assemble(&layout, &repository_file(&format!("www/accounts/{page}.html"))).expect(page);
            assert!(
                template.contains("<title>") && template.contains("<form") || WITHOUT_OWN_FORM.contains(&page),
                "{page}"
            );
            let extra = [
                ("title", "Done".to_owned()),
                ("message", "All good".to_owned()),
                ("next_href", "/".to_owned()),
                ("next_label", "Continue".to_owned()),
                ("qr_svg", "<svg></svg>".to_owned()),
                ("totp_secret", "ABCD".to_owned()),
                ("enrolment", "E".to_owned()),
                ("recovery_codes", "<li>x</li>".to_owned()),
                ("totp_status", "<p>On</p>".to_owned()),
                ("recovery_status", "<p>10 left</p>".to_owned()),
                ("passkeys_status", "<section></section>".to_owned()),
                ("passkey_hidden", "hidden".to_owned()),
                ("totp_hidden", String::new()),
                ("password_hidden", "hidden".to_owned()),
            ];
            let html = render_with(&template, &values, &extra);
            assert!(!html.contains("{{"), "{page} leaves a placeholder");
            assert!(!html.contains("<script>"), "{page} escapes");
            assert!(!html.contains("style=") && !html.contains("onclick"), "{page}: no inline style or script");
        }
        assert!(values.notice.contains("data-error=\"password_policy\"") && values.notice.contains("&lt;b&gt;"));
        assert_eq!(assemble(&layout, "no title line"), None);
        assert_eq!(Notice::None.html(), "");
    }

    #[test]
    fn a_value_that_looks_like_a_placeholder_is_never_filled() {
        let values = PageValues { return_to: "/search?q={{totp_secret}}", ..PageValues::default() };
        let html =
            render_with("<a href=\"{{return_to}}\">{{totp_secret}}</a>", &values, &[("totp_secret", "SECRET".into())]);
        assert_eq!(html, "<a href=\"/search?q={{totp_secret}}\">SECRET</a>");
    }

    #[test]
    fn password_fields_carry_what_password_managers_need() {
        let expect = [
            ("sign-up", &["autocomplete=\"username\"", "autocomplete=\"new-password\""][..]),
            // The sign-in email also offers the device's passkeys (WebAuthn conditional UI).
            ("sign-in", &["autocomplete=\"username webauthn\"", "autocomplete=\"current-password\""]),
            ("reset", &["autocomplete=\"new-password\""]),
            ("verify", &["autocomplete=\"current-password\""]),
            ("password", &["autocomplete=\"current-password\"", "autocomplete=\"new-password\""]),
        ];
        let layout = repository_file("www/accounts/layout.html");
        for (page, wanted) in expect {
            let template = assemble(&layout, &repository_file(&format!("www/accounts/{page}.html"))).expect(page);
            for attribute in wanted {
                assert!(template.contains(attribute), "{page} has {attribute}");
            }
            assert!(template.contains("data-password-toggle"), "{page} has a show-password toggle");
            assert!(template.contains("/static/password-toggle.js"), "{page} loads the toggle's module");
        }
    }
}
