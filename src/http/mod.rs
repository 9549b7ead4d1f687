//! The request as decisions see it, parsed once: method, URL and headers, and the helpers that
//! read them (header lists, query and form pairs). A leaf: it imports nothing from the crate above.

pub mod headers;

use headers::{get, HeaderList};

/// The parts of a request that decisions are made on. The body stays in the runtime.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method, as received.
    pub method: String,
    /// The absolute URL, as the runtime parsed it.
    pub url: String,
    /// The headers, as received.
    pub headers: HeaderList,
}

impl RequestHead {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        get(&self.headers, name)
    }

    /// The query's decoded name-value pairs, in order (none when the URL does not parse).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::Url::parse(&self.url)
            .map(|url| url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
            .unwrap_or_default()
    }

    /// Whether the client is a browser navigating (and so wants an HTML page, not JSON).
    pub fn is_navigation(&self) -> bool {
        match self.header("sec-fetch-mode") {
            Some(mode) => mode.eq_ignore_ascii_case("navigate"),
            None => self.header("accept").is_some_and(|accept| accept.contains("text/html")),
        }
    }

    /// Whether the request may be a top-level navigation to a page: its Fetch Metadata says so
    /// (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`), or it sends none (a browser
    /// without it). An image, a script or a fetch that another site's page makes is not.
    pub fn may_be_page_navigation(&self) -> bool {
        self.header("sec-fetch-mode").is_none_or(|mode| mode == "navigate")
            && self.header("sec-fetch-dest").is_none_or(|dest| dest == "document")
    }
}

/// The first value named `name` among decoded pairs (a query, or a form body); names are
/// case-sensitive.
pub fn pair_value<'p>(pairs: &'p [(String, String)], name: &str) -> Option<&'p str> {
    pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, url: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: method.into(),
            url: url.into(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn page_navigations_are_told_from_subresources() {
        let page = head(
            "GET",
            "https://app.test/auth/login",
            &[("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document")],
        );
        assert!(page.may_be_page_navigation());
        assert!(head("GET", "https://app.test/auth/login", &[]).may_be_page_navigation(), "no Fetch Metadata at all");
        for (mode, dest) in [("no-cors", "image"), ("cors", "empty"), ("navigate", "iframe"), ("no-cors", "document")] {
            let other =
                head("GET", "https://app.test/auth/login", &[("sec-fetch-mode", mode), ("sec-fetch-dest", dest)]);
            assert!(!other.may_be_page_navigation(), "{mode} {dest}");
        }
    }

    #[test]
    fn navigations_are_recognised() {
        let pairs = head("GET", "https://h/p?a=1&b=x%20y&a=2&A=3", &[]).query_pairs();
        assert_eq!(
            (pair_value(&pairs, "a"), pair_value(&pairs, "b"), pair_value(&pairs, "c")),
            (Some("1"), Some("x y"), None)
        );
        assert_eq!(pair_value(&pairs, "A"), Some("3"), "names are case-sensitive");
        assert!(head("GET", "not a url", &[]).query_pairs().is_empty());
        assert!(head("GET", "https://h/", &[("sec-fetch-mode", "navigate")]).is_navigation());
        assert!(!head("GET", "https://h/", &[("sec-fetch-mode", "cors"), ("accept", "text/html")]).is_navigation());
        assert!(head("GET", "https://h/", &[("accept", "text/html,application/xhtml+xml")]).is_navigation());
        assert!(!head("GET", "https://h/", &[("accept", "application/json")]).is_navigation());
    }
}
