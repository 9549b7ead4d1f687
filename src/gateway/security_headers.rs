//! Security response headers: configurable defaults for proxied responses, and a fixed strict set
//! for Portcullis's own pages.

use crate::http::headers::{set, set_if_absent, HeaderList};
use serde::Deserialize;

/// The strict Content Security Policy of Portcullis's own pages: only same-origin scripts, styles
/// and images, no framing, no plugins, forms only to itself.
pub const EDGE_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers for proxied responses, as written in the configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityHeaders {
    /// `Strict-Transport-Security`, with a `max-age=<seconds>` directive; `null` to send none. Default
    /// `max-age=63072000; includeSubDomains`.
    pub hsts: Option<String>,
    /// Send `X-Content-Type-Options: nosniff`; true by default.
    pub content_type_options: bool,
    /// `Referrer-Policy`, one of the standard policy values; `null` to send none. Default
    /// `strict-origin-when-cross-origin`.
    pub referrer_policy: Option<String>,
    /// `X-Frame-Options` (`DENY` or `SAMEORIGIN`); `null` to send none. Default `DENY`.
    pub frame_options: Option<String>,
    /// `Cross-Origin-Opener-Policy` (`same-origin`, `same-origin-allow-popups`, `unsafe-none` or
    /// `noopener-allow-popups`); `null` to send none. Default `same-origin`.
    pub cross_origin_opener_policy: Option<String>,
    /// When true, these values replace the origin's own; by default the origin's win.
    pub override_origin: bool,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self {
            hsts: Some("max-age=63072000; includeSubDomains".into()),
            content_type_options: true,
            referrer_policy: Some("strict-origin-when-cross-origin".into()),
            frame_options: Some("DENY".into()),
            cross_origin_opener_policy: Some("same-origin".into()),
            override_origin: false,
        }
    }
}

const REFERRER_POLICIES: &[&str] = &[
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];
const OPENER_POLICIES: &[&str] = &["same-origin", "same-origin-allow-popups", "unsafe-none", "noopener-allow-popups"];

impl SecurityHeaders {
    /// Every problem with the values, as (field, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(hsts) = &self.hsts {
            let max_age_ok = hsts
                .split(';')
                .map(str::trim)
                .any(|d| d.strip_prefix("max-age=").is_some_and(|n| n.parse::<u64>().is_ok()));
            if !max_age_ok || hsts.contains(['\r', '\n']) {
                problems.push(("hsts".into(), format!("{hsts:?} needs a max-age=<seconds> directive")));
            }
        }
        let mut one_of = |field: &str, value: &Option<String>, allowed: &[&str]| {
            if let Some(value) = value {
                if !allowed.contains(&value.as_str()) {
                    problems.push((field.into(), format!("{value:?} is not one of {}", allowed.join(", "))));
                }
            }
        };
        one_of("referrer_policy", &self.referrer_policy, REFERRER_POLICIES);
        one_of("frame_options", &self.frame_options, &["DENY", "SAMEORIGIN"]);
        one_of("cross_origin_opener_policy", &self.cross_origin_opener_policy, OPENER_POLICIES);
        problems
    }

    /// Adds the configured headers to a proxied response.
    pub fn apply_to_proxied(&self, headers: &mut HeaderList) {
        let put = if self.override_origin { set } else { set_if_absent };
        let mut put = |name: &str, value: &Option<String>| {
            if let Some(value) = value {
                put(headers, name, value.clone());
            }
        };
        put("strict-transport-security", &self.hsts);
        put("referrer-policy", &self.referrer_policy);
        put("x-frame-options", &self.frame_options);
        put("cross-origin-opener-policy", &self.cross_origin_opener_policy);
        if self.content_type_options {
            put("x-content-type-options", &Some("nosniff".into()));
        }
    }

    /// Adds the strict set to a response that Portcullis generated itself (errors, pages, JSON).
    /// `no-referrer` keeps authorisation codes in edge URLs from leaking to other sites.
    pub fn apply_to_edge(&self, headers: &mut HeaderList) {
        if let Some(hsts) = &self.hsts {
            set(headers, "strict-transport-security", hsts.clone());
        }
        set(headers, "content-security-policy", EDGE_PAGE_CSP);
        set(headers, "x-content-type-options", "nosniff");
        set(headers, "referrer-policy", "no-referrer");
        set(headers, "x-frame-options", "DENY");
        set(headers, "cross-origin-opener-policy", "same-origin");
        set(headers, "cross-origin-resource-policy", "same-origin");
        set_if_absent(headers, "cache-control", "no-store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::headers::get;

    #[test]
    fn proxied_defaults_yield_to_the_origin_unless_overridden() {
        let origin_headers = || vec![("x-frame-options".to_owned(), "SAMEORIGIN".to_owned())];
        let mut headers = origin_headers();
        SecurityHeaders::default().apply_to_proxied(&mut headers);
        assert_eq!(get(&headers, "x-frame-options"), Some("SAMEORIGIN"));
        assert_eq!(get(&headers, "x-content-type-options"), Some("nosniff"));
        assert_eq!(get(&headers, "strict-transport-security"), Some("max-age=63072000; includeSubDomains"));
        assert_eq!(get(&headers, "cross-origin-opener-policy"), Some("same-origin"));

        let mut headers = origin_headers();
        SecurityHeaders { override_origin: true, ..Default::default() }.apply_to_proxied(&mut headers);
        assert_eq!(get(&headers, "x-frame-options"), Some("DENY"));
    }

    #[test]
    fn edge_responses_get_the_strict_set() {
        let mut headers = Vec::new();
        SecurityHeaders::default().apply_to_edge(&mut headers);
        assert_eq!(get(&headers, "content-security-policy"), Some(EDGE_PAGE_CSP));
        assert_eq!(get(&headers, "referrer-policy"), Some("no-referrer"));
        assert_eq!(get(&headers, "cache-control"), Some("no-store"));
    }

    #[test]
    fn bad_values_are_reported() {
        let bad = SecurityHeaders {
            hsts: Some("includeSubDomains".into()),
            referrer_policy: Some("everything".into()),
            frame_options: Some("ALLOW-FROM x".into()),
            cross_origin_opener_policy: Some("open".into()),
            ..Default::default()
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["hsts", "referrer_policy", "frame_options", "cross_origin_opener_policy"]);
        assert!(SecurityHeaders::default().problems().is_empty());
    }
}
