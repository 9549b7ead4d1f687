//! Who may administer the directory, and which tenants. A deployment administrator manages every
//! tenant; a tenant administrator (a JWT from a trusted issuer with the tenant-admin scope) only
//! the tenant of its `tenant` claim. The admin API gets a [`TenantScope`] only from here.

use super::{tenant_id_ok, TenantScope};
use crate::authn::principal::{AuthMethod, Principal};

/// An authenticated administrator of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Administrator {
    /// Manages every tenant (the bootstrap admin key, or a JWT with the deployment admin scope).
    Deployment {
        /// Who, for the audit log.
        name: String,
    },
    /// Manages one tenant.
    Tenant {
        /// The tenant.
        tenant: String,
        /// Who, for the audit log.
        name: String,
    },
}

/// The administrator may not act on this tenant, or on tenants as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotYours;

impl Administrator {
    /// Who, for the audit log.
    pub fn name(&self) -> &str {
        match self {
            Administrator::Deployment { name } | Administrator::Tenant { name, .. } => name,
        }
    }

    /// The tenant, when the administrator may manage it.
    pub fn scope(&self, tenant: &str) -> Result<TenantScope, NotYours> {
        match self {
            Administrator::Deployment { .. } => Ok(TenantScope::of(tenant)),
            Administrator::Tenant { tenant: own, .. } if own == tenant => Ok(TenantScope::of(tenant)),
            Administrator::Tenant { .. } => Err(NotYours),
        }
    }

    /// Whether the administrator may create tenants.
    pub fn manages_the_deployment(&self) -> Result<(), NotYours> {
        match self {
            Administrator::Deployment { .. } => Ok(()),
            Administrator::Tenant { .. } => Err(NotYours),
        }
    }
}

/// The tenant administrator `principal` is, if it is one: a JWT (never an API key or a session)
/// from one of `issuers`, carrying `scope` and a well-formed `tenant` claim.
pub fn tenant_administrator(principal: &Principal, scope: &str, issuers: &[String]) -> Option<Administrator> {
    let identity = principal.identity();
    let trusted = principal.issuer().is_some_and(|issuer| issuers.iter().any(|i| i == issuer));
    if principal.method() != AuthMethod::Jwt || !trusted || !identity.scopes.iter().any(|s| s == scope) {
        return None;
    }
    let tenant = identity.tenant.as_deref().filter(|tenant| tenant_id_ok(tenant))?;
    Some(Administrator::Tenant { tenant: tenant.to_owned(), name: principal.subject().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_administrator_manages_its_tenant_only() {
        let admin = Administrator::Tenant { tenant: "acme".into(), name: "it@acme".into() };
        assert_eq!(admin.scope("acme"), Ok(TenantScope::of("acme")));
        assert_eq!(admin.scope("globex"), Err(NotYours));
        assert_eq!(admin.manages_the_deployment(), Err(NotYours));
        let deployment = Administrator::Deployment { name: "ops".into() };
        assert_eq!(deployment.scope("globex"), Ok(TenantScope::of("globex")));
        assert_eq!(deployment.manages_the_deployment(), Ok(()));
    }

    #[test]
    fn only_a_jwt_of_a_listed_issuer_with_the_scope_and_a_tenant_is_a_tenant_administrator() {
        use crate::authn::principal::imagined;
        use crate::identity::MappedIdentity;
        let who = |method, issuer: Option<&str>, scopes: &[&str], tenant: Option<&str>| {
            let identity = MappedIdentity {
                subject: "it@acme".into(),
                email: None,
                groups: Vec::new(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                tenant: tenant.map(str::to_owned),
            };
            imagined(identity, method, issuer.map(str::to_owned), Default::default(), None)
        };
        let issuers = vec!["https://auth.saas.test/".to_owned()];
        let scope = "portcullis:tenant-admin";
        let admin = who(AuthMethod::Jwt, Some("https://auth.saas.test/"), &[scope], Some("acme"));
        assert_eq!(
            tenant_administrator(&admin, scope, &issuers),
            Some(Administrator::Tenant { tenant: "acme".into(), name: "it@acme".into() })
        );
        let refused = [
            who(AuthMethod::Jwt, Some("https://acme-idp.test/"), &[scope], Some("globex")),
            who(AuthMethod::Jwt, Some("https://auth.saas.test/"), &["read"], Some("acme")),
            who(AuthMethod::Jwt, Some("https://auth.saas.test/"), &[scope], None),
            who(AuthMethod::Jwt, Some("https://auth.saas.test/"), &[scope], Some("Not A Tenant")),
            who(AuthMethod::ApiKey, None, &[scope], Some("acme")),
            who(AuthMethod::Session, Some("https://auth.saas.test/"), &[scope], Some("acme")),
        ];
        for principal in refused {
            assert_eq!(tenant_administrator(&principal, scope, &issuers), None, "{principal:?}");
        }
        assert_eq!(tenant_administrator(&admin, scope, &[]), None, "no listed issuer: no tenant administrators");
    }
}
