//! The `directory` section of the configuration: who administers a tenant, and where domain
//! verification asks DNS.

use crate::deploy::Environment;
use crate::identity::is_scope_token;
use serde::Deserialize;

/// Cloudflare's DNS-over-HTTPS resolver (JSON API).
pub const DEFAULT_DNS_RESOLVER: &str = "https://cloudflare-dns.com/dns-query";

/// The scope that makes a JWT from a trusted issuer its tenant's administrator.
pub const DEFAULT_TENANT_ADMIN_SCOPE: &str = "portcullis:tenant-admin";

/// The directory's settings.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// A JWT with this scope, from one of `tenant_admin_issuers`, administers the tenant of its `tenant`
    /// claim, and only that one. Default `portcullis:tenant-admin`.
    pub tenant_admin_scope: String,
    /// The issuers (each one of `jwt.issuers`) whose JWTs may carry `tenant_admin_scope`. Empty (the default):
    /// there are no tenant administrators. List only issuers the deployment controls (its own authorisation
    /// server), never a tenant's IdP: any listed issuer can name any tenant.
    pub tenant_admin_issuers: Vec<String>,
    /// The DNS-over-HTTPS resolver (JSON API) that domain verification asks: https (http in development),
    /// no query. Default `https://cloudflare-dns.com/dns-query`.
    pub dns_resolver: String,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            tenant_admin_scope: DEFAULT_TENANT_ADMIN_SCOPE.into(),
            tenant_admin_issuers: Vec::new(),
            dns_resolver: DEFAULT_DNS_RESOLVER.into(),
        }
    }
}

impl DirectoryConfig {
    /// What is wrong with the section, as (field, message) pairs.
    pub fn problems(&self, environment: Environment) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !is_scope_token(&self.tenant_admin_scope) {
            problems.push(("tenant_admin_scope".into(), "a scope is a token without spaces or quotes".into()));
        }
        match url::Url::parse(&self.dns_resolver) {
            Ok(url) if url.scheme() == "https" && url.query().is_none() => {}
            Ok(url) if url.scheme() == "http" && environment == Environment::Development && url.query().is_none() => {}
            _ => problems
                .push(("dns_resolver".into(), format!("{:?} must be an https URL without a query", self.dns_resolver))),
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_a_resolver_must_be_https_outside_development() {
        assert!(DirectoryConfig::default().problems(Environment::Production).is_empty());
        let local = DirectoryConfig { dns_resolver: "http://127.0.0.1:5353/dns-query".into(), ..Default::default() };
        assert!(local.problems(Environment::Development).is_empty());
        assert_eq!(local.problems(Environment::Production).len(), 1);
        let bad = DirectoryConfig {
            tenant_admin_scope: "two words".into(),
            dns_resolver: "dns.test".into(),
            tenant_admin_issuers: Vec::new(),
        };
        assert_eq!(bad.problems(Environment::Development).len(), 2);
    }
}
