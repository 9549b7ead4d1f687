//! Tenants, domain claims and role mappings against the in-memory directory and a table DNS
//! resolver.

use super::*;
use crate::authz::RoleDefinition;
use crate::directory::store::{Directory, MemoryDirectory};
use crate::directory::tenants::TenantStore;
use crate::ports::memory::{block_on, ManualClock, TablePeer};
use crate::ports::SystemEntropy;

const NOW_MS: u64 = 1_800_000_000_000;
const RESOLVER: &str = "https://dns.test/dns-query";

fn tenant(store: &MemoryDirectory, id: &str) -> TenantScope {
    let clock = ManualClock::at_ms(NOW_MS);
    block_on(create_tenant(store, &clock, NewTenant { id: id.into(), name: None })).unwrap();
    TenantScope::of(id)
}

fn claim(store: &MemoryDirectory, scope: &TenantScope, domain: &str) -> Result<DomainClaim, TenancyError> {
    block_on(claim_domain(store, &SystemEntropy, scope, NewDomain { domain: domain.into() }))
}

/// A resolver that publishes `value` under the challenge name of `domain`.
fn resolver_publishing(domain: &str, value: &str) -> TablePeer {
    let peer = TablePeer::default();
    let answer = serde_json::json!({ "Status": 0, "Answer": [
        { "name": format!("_portcullis-challenge.{domain}."), "type": 16, "data": format!("\"{value}\"") }
    ]});
    peer.answer(RESOLVER, 200, &answer);
    peer
}

fn verify_with(
    store: &MemoryDirectory,
    peer: &TablePeer,
    scope: &TenantScope,
    domain: &str,
) -> Result<DomainClaim, TenancyError> {
    block_on(verify_domain(store, peer, &ManualClock::at_ms(NOW_MS + 5), RESOLVER, scope, domain))
}

#[test]
fn a_tenant_is_created_once_and_its_id_and_name_are_checked() {
    let store = MemoryDirectory::default();
    let clock = ManualClock::at_ms(NOW_MS);
    let made = block_on(create_tenant(&store, &clock, NewTenant { id: "acme".into(), name: Some("Acme".into()) }));
    assert_eq!(made.unwrap(), Tenant { id: "acme".into(), name: "Acme".into(), created_at_ms: NOW_MS });
    let again = block_on(create_tenant(&store, &clock, NewTenant { id: "acme".into(), name: None }));
    assert_eq!(again, Err(TenancyError::Directory(DirectoryError::TenantExists)));
    let bad = block_on(create_tenant(&store, &clock, NewTenant { id: "Acme Corp".into(), name: Some(" ".into()) }));
    let Err(TenancyError::Invalid(problems)) = bad else { panic!("{bad:?}") };
    assert_eq!(problems.len(), 2, "both problems at once: {problems:?}");
}

#[test]
fn a_domain_is_verified_by_its_txt_record_and_only_then_routes() {
    let store = MemoryDirectory::default();
    let acme = tenant(&store, "acme");
    let held = claim(&store, &acme, "Acme.Test").unwrap();
    assert_eq!(held.domain, "acme.test");
    assert_eq!(held.token.len(), 32);
    assert_eq!(claim(&store, &acme, "acme.test").unwrap(), held, "claiming again keeps the token");
    assert_eq!(block_on(store.verified_owner("acme.test")).unwrap(), None, "a claim routes nobody");

    let typo = resolver_publishing("acme.test", "portcullis-domain-verification=wrong");
    let refused = verify_with(&store, &typo, &acme, "acme.test");
    let found = vec!["portcullis-domain-verification=wrong".to_owned()];
    assert_eq!(refused, Err(TenancyError::Directory(DirectoryError::DomainNotVerified { found })));
    assert_eq!(block_on(store.verified_owner("acme.test")).unwrap(), None);

    let published = resolver_publishing("acme.test", &held.challenge().value);
    let verified = verify_with(&store, &published, &acme, "acme.test").unwrap();
    assert_eq!(verified.verified_at_ms, Some(NOW_MS + 5));
    assert_eq!(block_on(store.verified_owner("acme.test")).unwrap(), Some(acme));
}

#[test]
fn a_squatters_claim_cannot_keep_the_owner_out_and_a_verified_domain_is_taken() {
    let store = MemoryDirectory::default();
    let (squatter, owner) = (tenant(&store, "squatter"), tenant(&store, "owner"));
    let squat = claim(&store, &squatter, "owner.test").unwrap();
    let owned = claim(&store, &owner, "owner.test").unwrap();
    assert_ne!(squat.token, owned.token);
    // The squatter's record is not the one published, so its claim is not proven by the owner's.
    let published = resolver_publishing("owner.test", &owned.challenge().value);
    assert!(matches!(verify_with(&store, &published, &squatter, "owner.test"), Err(TenancyError::Directory(_))));
    verify_with(&store, &published, &owner, "owner.test").unwrap();
    assert_eq!(block_on(store.domains(&squatter)).unwrap(), vec![], "the squatter's claim is dropped");
    assert_eq!(claim(&store, &squatter, "owner.test"), Err(TenancyError::Directory(DirectoryError::DomainClaimed)));
    assert_eq!(block_on(store.verified_owner("owner.test")).unwrap(), Some(owner));
}

#[test]
fn bad_domains_unknown_tenants_and_an_absent_resolver_are_refused() {
    let store = MemoryDirectory::default();
    let acme = tenant(&store, "acme");
    assert!(matches!(claim(&store, &acme, "localhost"), Err(TenancyError::Invalid(_))));
    assert!(matches!(claim(&store, &acme, "a'; DROP TABLE domains; --.test"), Err(TenancyError::Invalid(_))));
    let nobody = TenantScope::of("nobody");
    assert_eq!(claim(&store, &nobody, "x.test"), Err(TenancyError::Directory(DirectoryError::TenantNotFound)));
    let silent = TablePeer::default();
    assert_eq!(
        verify_with(&store, &silent, &acme, "acme.test"),
        Err(TenancyError::Directory(DirectoryError::DomainNotFound))
    );
    claim(&store, &acme, "acme.test").unwrap();
    assert!(matches!(
        verify_with(&store, &silent, &acme, "acme.test"),
        Err(TenancyError::Directory(DirectoryError::ResolverUnavailable(_)))
    ));
}

#[test]
fn role_mappings_name_only_the_deployments_roles_and_replace_the_old_ones() {
    let store = MemoryDirectory::default();
    let acme = tenant(&store, "acme");
    let assignable = RoleDefinition { tenant_assignable: true, ..RoleDefinition::default() };
    let catalogue: Roles =
        [("admin".to_owned(), assignable), ("root".to_owned(), RoleDefinition::default())].into_iter().collect();
    let entry = |group: &str, role: &str| MappingEntry { group: group.into(), role: role.into() };
    let bad = RoleMappings { mappings: vec![entry("admins", "nope"), entry("", "admin"), entry("ops", "root")] };
    let Err(TenancyError::Invalid(problems)) = block_on(plan_role_mappings(&store, &store, &catalogue, &acme, bad))
    else {
        panic!("refused")
    };
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[2].contains("not tenant_assignable"), "{problems:?}");
    let good =
        RoleMappings { mappings: vec![entry("admins", "admin"), entry("admins", "admin"), entry("ops", "admin")] };
    let set = block_on(plan_role_mappings(&store, &store, &catalogue, &acme, good)).unwrap();
    assert_eq!(set.mappings.len(), 2, "repeats dropped");
    assert!(set.groups_losing_roles.is_empty());
    assert!(block_on(store.role_mappings(&acme)).unwrap().is_empty(), "a plan writes nothing");
    block_on(apply_role_mappings(&store, &acme, &set)).unwrap();
    assert_eq!(block_on(store.role_mappings(&acme)).unwrap(), set.mappings);
    let fewer = RoleMappings { mappings: vec![entry("ops", "admin")] };
    let change = block_on(plan_role_mappings(&store, &store, &catalogue, &acme, fewer)).unwrap();
    assert_eq!(change.groups_losing_roles, vec!["admins".to_owned()], "admins lost admin: their sessions end");
    let again = RoleMappings { mappings: vec![entry("ops", "admin")] };
    let retried = block_on(plan_role_mappings(&store, &store, &catalogue, &acme, again)).unwrap();
    assert_eq!(retried, change, "until the write lands, a retry finds the same losers");
    block_on(apply_role_mappings(&store, &acme, &change)).unwrap();
    assert_eq!(
        block_on(store.role_mappings(&acme)).unwrap(),
        vec![RoleMapping { group: "ops".into(), role: "admin".into() }]
    );
}

#[test]
fn a_scim_token_names_its_tenant_and_only_its_hash_is_kept() {
    let store = MemoryDirectory::default();
    let acme = tenant(&store, "acme");
    let clock = ManualClock::at_ms(NOW_MS);
    let issued = block_on(issue_scim_token(&store, &SystemEntropy, &clock, &acme)).unwrap();
    let hash = crate::directory::scim::token::lookup_hash(issued.token.expose()).unwrap();
    assert_eq!(block_on(store.scim_token_tenant(&hash)).unwrap(), Some((acme.clone(), issued.id.clone())));
    let listed = block_on(store.scim_tokens(&acme)).unwrap();
    assert_eq!(listed, vec![crate::directory::tenants::ScimTokenInfo { id: issued.id.clone(), created_at_ms: NOW_MS }]);
    assert!(block_on(store.remove_scim_token(&acme, &issued.id)).unwrap());
    assert_eq!(block_on(store.scim_token_tenant(&hash)).unwrap(), None);
    let nobody = block_on(issue_scim_token(&store, &SystemEntropy, &clock, &TenantScope::of("nobody")));
    assert_eq!(nobody.unwrap_err(), TenancyError::Directory(DirectoryError::TenantNotFound));
}

#[test]
fn a_subdomain_of_another_tenants_domain_is_theirs_and_claims_are_bounded() {
    let store = MemoryDirectory::default();
    let (acme, evil) = (tenant(&store, "acme"), tenant(&store, "evil"));
    let held = claim(&store, &acme, "acme.test").unwrap();
    assert_eq!(held.challenge().value, format!("portcullis-domain-verification=acme.{}", held.token));
    verify_with(&store, &resolver_publishing("acme.test", &held.challenge().value), &acme, "acme.test").unwrap();
    for under in ["dev.acme.test", "a.b.acme.test"] {
        assert_eq!(claim(&store, &evil, under), Err(TenancyError::Directory(DirectoryError::DomainClaimed)), "{under}");
    }
    assert!(claim(&store, &acme, "dev.acme.test").is_ok(), "the owner may claim its own subdomains");
    assert!(claim(&store, &evil, "notacme.test").is_ok());
    for i in 0..(MAX_DOMAINS - 1) {
        claim(&store, &evil, &format!("d{i}.evil.test")).unwrap();
    }
    assert!(matches!(claim(&store, &evil, "one-too-many.test"), Err(TenancyError::Invalid(_))));
    assert!(claim(&store, &evil, "d0.evil.test").is_ok(), "an existing claim is still answered");
}
