//! The login, logout and logged-out pages: templates from `www/` with `{{placeholders}}` filled
//! in. Every value is HTML-escaped here; the templates hold no script and no inline style, so
//! they work under the strict CSP of edge pages.

use super::config::LoginConfig;
use super::provider::Provider;
use url::form_urlencoded;

/// Escapes text for HTML content and attribute values.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The generic icon for providers that configure none.
pub const DEFAULT_PROVIDER_ICON: &str = "/auth/static/provider.svg";

fn provider_item(prefix: &str, provider: &Provider, return_to: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("provider", &provider.id)
        .append_pair("return_to", return_to)
        .finish();
    let icon = provider.icon.as_deref().unwrap_or(DEFAULT_PROVIDER_ICON);
    format!(
        "<li><a class=\"provider\" id=\"provider-{id}\" href=\"{href}\"><img class=\"provider-icon\" src=\"{icon}\" \
         alt=\"\" width=\"20\" height=\"20\">Continue with {name}</a></li>",
        id = html_escape(&provider.id),
        href = html_escape(&format!("{prefix}/login?{query}")),
        icon = html_escape(icon),
        name = html_escape(&provider.display_name),
    )
}

/// A notice for the login page: why the user is (back) here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Nothing to say.
    None,
    /// Home-realm discovery found no provider for the email's domain.
    UnknownDomain,
    /// The session ended (idle, expired, revoked or logged out elsewhere).
    SessionEnded,
}

impl Notice {
    fn html(self) -> &'static str {
        match self {
            Notice::None => "",
            Notice::UnknownDomain => {
                "<p class=\"notice\" role=\"alert\">No sign-in is set up for that email domain. Choose a provider \
                 instead.</p>"
            }
            Notice::SessionEnded => "<p class=\"notice\" role=\"alert\">Your session ended. Please sign in again.</p>",
        }
    }
}

/// Fills a template's `{{name}}` placeholders in one pass: a value is never scanned again, so
/// text that looks like a placeholder inside a value stays text. Unknown names stay as they are.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").map(|end| (&after[..end], &after[end + 2..])) {
            Some((name, tail)) => {
                match values.iter().find(|(key, _)| *key == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push_str("{{");
                        out.push_str(name);
                        out.push_str("}}");
                    }
                }
                rest = tail;
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn brand(config: &LoginConfig) -> Vec<(&'static str, String)> {
    vec![("brand_name", html_escape(&config.branding.name)), ("brand_logo", html_escape(&config.branding.logo))]
}

/// Fills `www/login.html`.
pub fn login_page(
    template: &str,
    config: &LoginConfig,
    prefix: &str,
    return_to: &str,
    notice: Notice,
    email: &str,
    accounts_sign_in: Option<&str>,
) -> String {
    let providers: String = config.providers.iter().map(|p| provider_item(prefix, p, return_to)).collect();
    // Local accounts: a link to the email-and-password sign-in, keeping where to go after.
    let password_sign_in = accounts_sign_in.map_or_else(String::new, |href| {
        let query = form_urlencoded::Serializer::new(String::new()).append_pair("return_to", return_to).finish();
        format!(
            "<p class=\"hint\"><a id=\"password-sign-in\" href=\"{}\">Sign in with email and password</a></p>",
            html_escape(&format!("{href}?{query}"))
        )
    });
    let mut values = brand(config);
    values.extend([
        ("providers", providers),
        ("return_to", html_escape(return_to)),
        ("notice", notice.html().to_owned()),
        ("email_value", html_escape(email)),
        ("password_sign_in", password_sign_in),
    ]);
    fill(template, &values)
}

/// Fills `www/logout.html`.
pub fn logout_page(template: &str, config: &LoginConfig, csrf_token: &str, user: &str, return_to: &str) -> String {
    let mut values = brand(config);
    values.extend([
        ("csrf_token", html_escape(csrf_token)),
        ("user", html_escape(user)),
        ("return_to", html_escape(return_to)),
    ]);
    fill(template, &values)
}

/// Fills `www/logged-out.html`.
pub fn logged_out_page(template: &str, config: &LoginConfig) -> String {
    fill(template, &brand(config))
}

/// The page that sends the browser on to `location` (a provider's authorisation request) without
/// script: a `meta` refresh, and a link for a browser that does not follow it.
pub fn continue_page(location: &str, provider_name: &str) -> String {
    let location = html_escape(location);
    let name = html_escape(provider_name);
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={location}\">\
         <title>Continuing to {name}</title></head><body><p>Continuing to <a id=\"continue\" href=\"{location}\">{name}</a>\u{2026}</p>\
         </body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::Environment;
    use serde_json::json;

    fn config() -> LoginConfig {
        LoginConfig::from_value(
            &json!({
                "redirect_uri": "https://app.test/auth/callback",
                "branding": { "name": "Acme <Corp>" },
                "providers": [
                    { "id": "corp", "type": "oidc", "issuer": "https://idp.test", "client_id": "c",
                      "client_secret": "S", "display_name": "Corp \"SSO\"" }
                ]
            }),
            Environment::Production,
            "/auth",
        )
        .unwrap()
    }

    #[test]
    fn pages_escape_everything_they_fill_in() {
        let template = "{{brand_name}}|{{providers}}|{{return_to}}|{{notice}}|{{email_value}}";
        let page =
            login_page(template, &config(), "/auth", "/x?a=1&b=\"><script>", Notice::UnknownDomain, "<b>@x", None);
        assert!(page.starts_with("Acme &lt;Corp&gt;|"), "{page}");
        assert!(page.contains("Continue with Corp &quot;SSO&quot;"), "{page}");
        assert!(page.contains("href=\"/auth/login?provider=corp&amp;return_to=%2Fx%3Fa%3D1%26b%3D%22%3E%3Cscript%3E\""));
        assert!(page.contains("|/x?a=1&amp;b=&quot;&gt;&lt;script&gt;|"), "{page}");
        assert!(page.contains("role=\"alert\"") && page.ends_with("|&lt;b&gt;@x"));
        assert!(!page.contains("<script>"));
        let logout = logout_page("{{csrf_token}} {{user}} {{return_to}}", &config(), "t\"", "<a>", "/");
        assert_eq!(logout, "t&quot; &lt;a&gt; /");
    }

    #[test]
    fn placeholders_inside_values_stay_text() {
        let template = "<input value=\"{{return_to}}\">{{notice}}|{{email_value}}";
        let page = login_page(
            template,
            &config(),
            "/auth",
            "/{{notice}}{{email_value}}",
            Notice::UnknownDomain,
            "a{{return_to}}@x",
            None,
        );
        assert!(page.starts_with("<input value=\"/{{notice}}{{email_value}}\"><p class=\"notice\""), "{page}");
        assert!(page.ends_with("|a{{return_to}}@x"), "{page}");
        let cases = [("a {{x}} b {{y}}", "a 1 b {{y}}"), ("{{x", "{{x"), ("}}{{x}}{{", "}}1{{"), ("", "")];
        for (template, expected) in cases {
            assert_eq!(fill(template, &[("x", "1".into())]), expected, "{template}");
        }
    }
}
