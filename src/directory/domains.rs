//! A tenant's email domains: claimed, then proven with a DNS TXT record, and only then used for
//! home-realm discovery. A domain belongs to one tenant at most, and an unverified claim routes
//! nobody.

use super::dns::{txt_records, DnsError};
use crate::ports::{HttpClient, Method, OutboundRequest, Unavailable};
use serde::Serialize;
use url::Url;

/// The label in front of a domain whose TXT record proves control of it.
pub const CHALLENGE_LABEL: &str = "_portcullis-challenge";

/// What the TXT record's value starts with, before the claim's token.
pub const CHALLENGE_PREFIX: &str = "portcullis-domain-verification=";

/// A tenant's claim on a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainClaim {
    /// The domain, lower case, without a trailing dot.
    pub domain: String,
    /// The tenant that claims it.
    pub tenant: String,
    /// The random token the TXT record must carry.
    pub token: String,
    /// When the record was found, if it was.
    pub verified_at_ms: Option<u64>,
}

/// The TXT record a tenant publishes to prove it controls a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Challenge {
    /// The record's name.
    pub name: String,
    /// Its type: always `TXT`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its value.
    pub value: String,
}

impl DomainClaim {
    /// The record that proves this claim.
    pub fn challenge(&self) -> Challenge {
        Challenge {
            name: format!("{CHALLENGE_LABEL}.{}", self.domain),
            kind: "TXT",
            // The tenant is named, so whoever publishes the record sees whose claim it proves.
            value: format!("{CHALLENGE_PREFIX}{}.{}", self.tenant, self.token),
        }
    }
}

/// The domain as stored: lower case, no trailing dot, LDH labels (internationalised names in their
/// `xn--` form), at least two labels and not an IP address. `Err` says what is wrong.
pub fn normalize_domain(text: &str) -> Result<String, &'static str> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.len() > 253 {
        return Err("a domain is 1 to 253 characters");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("a domain has at least two labels, such as example.com");
    }
    for label in &labels {
        let ldh = label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if label.is_empty() || label.len() > 63 || !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err("each label is 1 to 63 letters, digits or inner hyphens (IDNs in their xn-- form)");
        }
    }
    if labels.last().is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit())) {
        return Err("an IP address is not a domain");
    }
    Ok(domain)
}

/// What the resolver said about a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The record is there: the tenant controls the domain.
    Proven,
    /// It is not (the values found are reported, so the admin can see a typo).
    NotFound {
        /// The TXT values found under the challenge name.
        found: Vec<String>,
    },
}

/// Looks the claim's challenge record up through the DNS-over-HTTPS `resolver` (JSON API).
/// `Err` when the resolver did not answer usefully: nothing is known, and the claim stays as it is.
pub async fn verify(http: &impl HttpClient, resolver: &str, claim: &DomainClaim) -> Result<Verification, Unavailable> {
    let challenge = claim.challenge();
    let mut url = Url::parse(resolver).map_err(|_| Unavailable::because("the DNS resolver URL"))?;
    url.query_pairs_mut().append_pair("name", &challenge.name).append_pair("type", "TXT");
    let request = OutboundRequest {
        method: Method::Get,
        url: url.into(),
        headers: vec![("accept".into(), "application/dns-json".into())],
        body: None,
    };
    let response = http.send(request).await?;
    if response.status != 200 {
        return Err(Unavailable::because(format_args!("the DNS resolver answered {}", response.status)));
    }
    let found = txt_records(&response.body, &challenge.name).map_err(|error| match error {
        DnsError::Malformed => Unavailable::because("the DNS resolver's answer was not DNS JSON"),
        DnsError::ResolverFailed(code) => Unavailable::because(format_args!("the DNS resolver failed ({code})")),
    })?;
    if found.iter().any(|value| value.trim() == challenge.value) {
        Ok(Verification::Proven)
    } else {
        Ok(Verification::NotFound { found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::memory::{block_on, TablePeer};

    fn claim() -> DomainClaim {
        DomainClaim { domain: "acme.test".into(), tenant: "acme".into(), token: "tok123".into(), verified_at_ms: None }
    }

    #[test]
    fn normalises_domains_and_refuses_what_is_not_one() {
        assert_eq!(normalize_domain(" Acme.TEST. "), Ok("acme.test".into()));
        assert_eq!(normalize_domain("xn--bcher-kva.example"), Ok("xn--bcher-kva.example".into()));
        for bad in [
            "",
            "localhost",
            "acme..test",
            "-acme.test",
            "acme-.test",
            "ac_me.test",
            "bücher.test",
            "10.0.0.1",
            "a b.test",
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_domain(&format!("{}.test", "a".repeat(64))).is_err());
    }

    #[test]
    fn the_challenge_is_a_txt_record_under_the_label() {
        let challenge = claim().challenge();
        assert_eq!(challenge.name, "_portcullis-challenge.acme.test");
        assert_eq!(challenge.value, "portcullis-domain-verification=acme.tok123");
    }

    fn resolver_answering(status: u16, body: &str) -> TablePeer {
        let peer = TablePeer::default();
        peer.answer_raw("https://dns.test/dns-query", status, body.as_bytes());
        peer
    }

    #[test]
    fn the_record_proves_the_claim_and_anything_else_does_not() {
        let proven = r#"{"Status":0,"Answer":[{"name":"_portcullis-challenge.acme.test.","type":16,
            "data":"\"portcullis-domain-verification=acme.tok123\""}]}"#;
        let peer = resolver_answering(200, proven);
        assert_eq!(block_on(verify(&peer, "https://dns.test/dns-query", &claim())), Ok(Verification::Proven));
        let asked = &peer.sent()[0];
        assert_eq!(asked.url, "https://dns.test/dns-query?name=_portcullis-challenge.acme.test&type=TXT");
        assert_eq!(asked.headers, vec![("accept".to_owned(), "application/dns-json".to_owned())]);

        let wrong = r#"{"Status":0,"Answer":[{"name":"_portcullis-challenge.acme.test","type":16,
            "data":"\"portcullis-domain-verification=acme.tok1234\""}]}"#;
        let peer = resolver_answering(200, wrong);
        let found = vec!["portcullis-domain-verification=acme.tok1234".to_owned()];
        assert_eq!(
            block_on(verify(&peer, "https://dns.test/dns-query", &claim())),
            Ok(Verification::NotFound { found })
        );

        // A record for another name (a resolver confused or lying) proves nothing.
        let elsewhere = r#"{"Status":0,"Answer":[{"name":"_portcullis-challenge.evil.test","type":16,
            "data":"\"portcullis-domain-verification=acme.tok123\""}]}"#;
        let peer = resolver_answering(200, elsewhere);
        let verdict = block_on(verify(&peer, "https://dns.test/dns-query", &claim()));
        assert_eq!(verdict, Ok(Verification::NotFound { found: Vec::new() }));
    }

    #[test]
    fn a_resolver_that_fails_leaves_the_claim_unknown() {
        for (status, body) in [(200, r#"{"Status":2}"#), (200, "not json"), (503, "")] {
            let peer = resolver_answering(status, body);
            assert!(block_on(verify(&peer, "https://dns.test/dns-query", &claim())).is_err(), "{status} {body}");
        }
        let silent = TablePeer::default();
        assert!(block_on(verify(&silent, "https://dns.test/dns-query", &claim())).is_err());
    }
}
