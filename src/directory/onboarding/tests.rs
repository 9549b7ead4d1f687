//! Setup links against the in-memory stores: once, before expiry, for one tenant.

use super::memory::MemorySetupLinks;
use super::*;
use crate::directory::store::MemoryDirectory;
use crate::directory::tenancy::{create_tenant, NewTenant, TenancyError};
use crate::ports::memory::{block_on, ManualClock};
use crate::ports::SystemEntropy;
use serde_json::json;

const NOW_MS: u64 = 1_800_000_000_000;

struct Fixture {
    tenants: MemoryDirectory,
    links: MemorySetupLinks,
    clock: ManualClock,
}

fn fixture() -> Fixture {
    let fixture = Fixture {
        tenants: MemoryDirectory::default(),
        links: MemorySetupLinks::default(),
        clock: ManualClock::at_ms(NOW_MS),
    };
    for id in ["acme", "globex"] {
        block_on(create_tenant(&fixture.tenants, &fixture.clock, NewTenant { id: id.into(), name: None })).unwrap();
    }
    fixture
}

fn issue(f: &Fixture, tenant: &str, expires_in_s: Option<u64>) -> Result<IssuedLink, TenancyError> {
    let scope = TenantScope::of(tenant);
    block_on(issue_link(
        &f.links,
        &f.tenants,
        &SystemEntropy,
        &f.clock,
        &scope,
        "ops@deploy",
        NewSetupLink { expires_in_s },
    ))
}

fn open(f: &Fixture, token: &str) -> Result<SetupSession, TenancyError> {
    block_on(open_link(&f.links, &SystemEntropy, &f.clock, token))
}

fn refused(error: DirectoryError) -> TenancyError {
    TenancyError::Directory(error)
}

#[test]
fn a_link_opens_once_and_its_session_is_the_tenants() {
    let f = fixture();
    let issued = issue(&f, "acme", None).unwrap();
    assert!(setup_link_id_ok(&issued.link.id), "{}", issued.link.id);
    assert!(crate::directory::connections::connection_id_ok(&issued.link.connection_id));
    assert_eq!(issued.link.expires_at_ms, NOW_MS + DEFAULT_LINK_LIFETIME_S * 1000);
    assert!(issued.token.expose().starts_with(LINK_TOKEN_PREFIX));
    let session = open(&f, issued.token.expose()).unwrap();
    assert_eq!(session.link.tenant, "acme");
    assert_eq!(session.link.opened_at_ms, Some(NOW_MS));
    let found = block_on(session_link(&f.links, &f.clock, Some(session.cookie.expose()))).unwrap();
    assert_eq!(found.id, issued.link.id);
    // The second opening, even a moment later, is refused: the link is spent.
    assert_eq!(open(&f, issued.token.expose()).unwrap_err(), refused(DirectoryError::SetupLinkUsed));
}

#[test]
fn a_link_expires_unopened_and_a_session_ends_on_time() {
    let f = fixture();
    let issued = issue(&f, "acme", Some(MIN_LINK_LIFETIME_S)).unwrap();
    f.clock.advance_ms(MIN_LINK_LIFETIME_S * 1000);
    assert_eq!(open(&f, issued.token.expose()).unwrap_err(), refused(DirectoryError::SetupLinkExpired));
    let fresh = issue(&f, "acme", None).unwrap();
    let session = open(&f, fresh.token.expose()).unwrap();
    f.clock.advance_ms(SESSION_LIFETIME_MS - 1);
    assert!(block_on(session_link(&f.links, &f.clock, Some(session.cookie.expose()))).is_ok());
    f.clock.advance_ms(1);
    let ended = block_on(session_link(&f.links, &f.clock, Some(session.cookie.expose())));
    assert_eq!(ended.unwrap_err(), refused(DirectoryError::SetupSessionRequired));
}

#[test]
fn an_ended_or_removed_link_has_no_session() {
    let f = fixture();
    let issued = issue(&f, "acme", None).unwrap();
    let session = open(&f, issued.token.expose()).unwrap();
    block_on(f.links.end_session(&issued.link.id)).unwrap();
    let ended = block_on(session_link(&f.links, &f.clock, Some(session.cookie.expose())));
    assert_eq!(ended.unwrap_err(), refused(DirectoryError::SetupSessionRequired));
    let other = issue(&f, "acme", None).unwrap();
    let session = open(&f, other.token.expose()).unwrap();
    // Another tenant cannot remove it; its own administrators can.
    assert!(!block_on(f.links.remove_link(&TenantScope::of("globex"), &other.link.id)).unwrap());
    assert!(block_on(f.links.remove_link(&TenantScope::of("acme"), &other.link.id)).unwrap());
    assert!(block_on(session_link(&f.links, &f.clock, Some(session.cookie.expose()))).is_err());
}

#[test]
fn tokens_and_cookies_that_cannot_be_ours_are_refused_without_a_lookup() {
    let f = fixture();
    let issued = issue(&f, "acme", None).unwrap();
    let token = issued.token.expose();
    let mut altered = token.to_owned();
    altered.replace_range(token.len() - 1.., if token.ends_with('A') { "B" } else { "A" });
    let cases = [
        "",
        "setup_",
        &token[LINK_TOKEN_PREFIX.len()..],
        &format!("{token}A"),
        &token[..token.len() - 1],
        &format!("scim_{}", &token[LINK_TOKEN_PREFIX.len()..]),
        &altered,
        &format!("setup_{}", "%".repeat(43)),
    ];
    for case in cases {
        assert_eq!(open(&f, case).unwrap_err(), refused(DirectoryError::SetupLinkUnknown), "{case:?}");
    }
    for cookie in [None, Some(""), Some("x"), Some(token)] {
        let found = block_on(session_link(&f.links, &f.clock, cookie));
        assert_eq!(found.unwrap_err(), refused(DirectoryError::SetupSessionRequired), "{cookie:?}");
    }
    // None of that spent the link.
    assert!(open(&f, token).is_ok());
}

#[test]
fn issuing_checks_the_lifetime_the_tenant_and_the_number_waiting() {
    let f = fixture();
    for bad in [0, MIN_LINK_LIFETIME_S - 1, MAX_LINK_LIFETIME_S + 1] {
        assert!(matches!(issue(&f, "acme", Some(bad)), Err(TenancyError::Invalid(_))), "{bad}");
    }
    assert_eq!(issue(&f, "initech", None).unwrap_err(), refused(DirectoryError::TenantNotFound));
    let issued: Vec<IssuedLink> = (0..MAX_OPEN_LINKS).map(|_| issue(&f, "acme", None).unwrap()).collect();
    assert!(matches!(issue(&f, "acme", None), Err(TenancyError::Invalid(_))));
    // Another tenant has its own allowance; an opened link no longer counts.
    assert!(issue(&f, "globex", None).is_ok());
    open(&f, issued[0].token.expose()).unwrap();
    assert!(issue(&f, "acme", None).is_ok());
}

#[test]
fn a_setup_connection_is_an_oidc_issuer_and_client_only() {
    let good = json!({ "issuer": " https://acme.okta.test ", "client_id": "0oa1", "client_secret": "s3cret" });
    let settings = connection_request(&good).unwrap();
    assert_eq!(settings["type"], "oidc");
    assert_eq!(settings["issuer"], "https://acme.okta.test");
    assert_eq!(settings["scopes"], json!(["openid", "email", "profile"]));
    let cases: &[(serde_json::Value, usize)] = &[
        (json!("text"), 1),
        (json!({}), 3),
        (json!({ "issuer": "https://i.test", "client_id": "c", "client_secret": "" }), 1),
        (json!({ "issuer": "https://i.test", "client_id": 7, "client_secret": "s" }), 1),
        // Provisioning options and endpoints are the administrators' to set.
        (
            json!({ "issuer": "https://i.test", "client_id": "c", "client_secret": "s",
                 "directory": { "link_by_email": true }, "token_endpoint": "https://x.test" }),
            2,
        ),
        (json!({ "issuer": "https://i.test", "client_id": "c", "client_secret": "s", "type": "oauth2" }), 1),
    ];
    for (body, problems) in cases {
        let found = connection_request(body).unwrap_err();
        assert_eq!(found.len(), *problems, "{body}: {found:?}");
    }
}

#[test]
fn a_test_shows_an_email_as_kept_only_in_the_tenants_verified_domains() {
    let groups: Vec<String> = (0..80).map(|n| format!("g{n}")).collect();
    let kept = TestIdentity::new("sub", Some("ann@acme.test"), true, Some("Ann"), &groups);
    assert!(kept.email_domain_verified);
    assert_eq!(kept.groups.len(), MAX_TEST_GROUPS);
    assert!(!TestIdentity::new("sub", Some("ann@acme.test"), false, None, &[]).email_domain_verified);
    assert!(!TestIdentity::new("sub", None, true, None, &[]).email_domain_verified);
}

/// A user of acme signed in with the connection (as a login provisions one).
fn link_identity(f: &Fixture, connection: &str, subject: &str) {
    let identity = crate::directory::provision::FederatedIdentity {
        connection: connection.into(),
        subject: subject.into(),
        email: None,
        email_verified: false,
        name: None,
        groups: vec![],
        attributes: serde_json::Map::new(),
    };
    let policy = crate::directory::provision::ProvisioningPolicy { link_by_email: false, groups_from_scim: false };
    let scope = TenantScope::of("acme");
    block_on(crate::directory::provision::provision(&f.tenants, &SystemEntropy, &f.clock, &scope, policy, &identity))
        .unwrap();
}

fn connection_of(link: &SetupLink, issuer: &str) -> Connection {
    Connection {
        id: link.connection_id.clone(),
        tenant: link.tenant.clone(),
        kind: "oidc".into(),
        settings: json!({ "issuer": issuer }),
        sealed_secret: vec![1, 2, 3],
        created_at_ms: NOW_MS,
        active: false,
    }
}

#[test]
fn a_setup_saves_its_own_connection_and_replaces_it_until_someone_signs_in() {
    use crate::directory::store::Directory;
    use crate::directory::tenants::TenantStore;
    let f = fixture();
    let link = issue(&f, "acme", None).unwrap().link;
    let save = |connection: &Connection| block_on(save_connection(&f.tenants, &f.tenants, &link, connection));
    assert_eq!(save(&connection_of(&link, "https://one.test")), Ok(Saved::Created));
    assert_eq!(save(&connection_of(&link, "https://two.test")), Ok(Saved::Replaced));
    let stored = block_on(f.tenants.connection(&link.connection_id)).unwrap().unwrap();
    assert_eq!(stored.settings["issuer"], "https://two.test");
    assert_eq!(block_on(f.tenants.connections(&TenantScope::of("acme"))).unwrap().len(), 1);

    // Not another connection of the tenant, nor one for another tenant.
    let other = Connection { id: "con_aaaaaaaaaaaaaaaa".into(), ..connection_of(&link, "https://x.test") };
    assert!(matches!(save(&other), Err(TenancyError::Invalid(_))));
    let elsewhere = Connection { tenant: "globex".into(), ..connection_of(&link, "https://x.test") };
    assert!(matches!(save(&elsewhere), Err(TenancyError::Invalid(_))));

    // Once an identity is linked to it, the setup may not point it at another IdP.
    let scope = TenantScope::of("acme");
    link_identity(&f, &link.connection_id, "user-1");
    assert_eq!(block_on(f.tenants.identities_of_connection(&scope, &link.connection_id, 1)).unwrap().len(), 1);
    assert_eq!(save(&connection_of(&link, "https://evil.test")), Err(refused(DirectoryError::ConnectionInUse)));
    let kept = block_on(f.tenants.connection(&link.connection_id)).unwrap().unwrap();
    assert_eq!(kept.settings["issuer"], "https://two.test", "unchanged");
}

#[test]
fn a_connection_id_another_tenant_holds_is_never_overwritten() {
    use crate::directory::tenants::TenantStore;
    let f = fixture();
    let link = issue(&f, "acme", None).unwrap().link;
    let theirs = Connection { tenant: "globex".into(), ..connection_of(&link, "https://globex.test") };
    assert!(block_on(f.tenants.save_connection(&TenantScope::of("globex"), &theirs)).unwrap());
    assert_eq!(
        block_on(save_connection(&f.tenants, &f.tenants, &link, &connection_of(&link, "https://evil.test"))),
        Err(refused(DirectoryError::ConnectionInUse))
    );
    let kept = block_on(f.tenants.connection(&link.connection_id)).unwrap().unwrap();
    assert_eq!((kept.tenant.as_str(), &kept.settings["issuer"]), ("globex", &json!("https://globex.test")));
}

#[test]
fn identities_a_removed_connection_left_behind_keep_its_id_from_being_made_again() {
    use crate::directory::tenants::TenantStore;
    let f = fixture();
    let link = issue(&f, "acme", None).unwrap().link;
    let scope = TenantScope::of("acme");
    let save = |connection: &Connection| block_on(save_connection(&f.tenants, &f.tenants, &link, connection));
    assert_eq!(save(&connection_of(&link, "https://one.test")), Ok(Saved::Created));
    link_identity(&f, &link.connection_id, "victim");
    assert!(block_on(f.tenants.remove_connection(&scope, &link.connection_id)).unwrap());
    assert_eq!(
        save(&connection_of(&link, "https://attacker.test")),
        Err(refused(DirectoryError::ConnectionInUse)),
        "made again, it would sign in as the victim"
    );
    assert_eq!(block_on(f.tenants.connection(&link.connection_id)).unwrap(), None);
}

#[test]
fn a_setup_finishes_only_after_a_test_worked_and_then_its_connection_signs_users_in() {
    use crate::directory::tenants::TenantStore;
    let f = fixture();
    let link = issue(&f, "acme", None).unwrap().link;
    assert_eq!(block_on(finish(&f.tenants, &f.clock, &link)), Ok(Finished::NothingSaved));
    let active = Connection { active: true, ..connection_of(&link, "https://one.test") };
    assert!(matches!(block_on(save_connection(&f.tenants, &f.tenants, &link, &active)), Err(TenancyError::Invalid(_))));
    block_on(save_connection(&f.tenants, &f.tenants, &link, &connection_of(&link, "https://one.test"))).unwrap();
    let stored = || block_on(f.tenants.connection(&link.connection_id)).unwrap().unwrap();
    assert!(!stored().active, "a setup's connection waits");

    let revision = connection_revision(&stored());
    let wes = TestIdentity::new("wes", None, false, None, &[]);
    let result = |identity: Option<TestIdentity>, revision: &str| SetupLink {
        test_result: Some(TestResult { at_ms: 1, revision: revision.into(), identity, error: None }),
        ..link.clone()
    };
    let failed = SetupLink {
        test_result: Some(TestResult {
            at_ms: 1,
            revision: revision.clone(),
            identity: None,
            error: Some(TestFailure { code: "x".into(), message: "x".into() }),
        }),
        ..link.clone()
    };
    let earlier = result(Some(wes.clone()), "a revision saved over since");
    for untested in [&link, &failed, &earlier] {
        assert!(matches!(block_on(finish(&f.tenants, &f.clock, untested)), Err(TenancyError::Invalid(_))));
        assert!(!stored().active);
    }
    let tested = result(Some(wes), &revision);
    assert_eq!(block_on(finish(&f.tenants, &f.clock, &tested)), Ok(Finished::Activated));
    assert!(stored().active);
    assert_eq!(
        block_on(save_connection(&f.tenants, &f.tenants, &link, &connection_of(&link, "https://two.test"))),
        Err(refused(DirectoryError::ConnectionInUse)),
        "an active connection is the administrators' to change"
    );
}

#[test]
fn peeking_names_the_tenant_and_spends_nothing() {
    let f = fixture();
    let issued = issue(&f, "acme", None).unwrap();
    let token = issued.token.expose();
    let (link, tenant) = block_on(peek_link(&f.links, &f.tenants, &f.clock, token)).unwrap();
    assert_eq!((link.id.as_str(), tenant.id.as_str()), (issued.link.id.as_str(), "acme"));
    assert!(open(&f, token).is_ok(), "a peek spends nothing");
    let peek = |token: &str| block_on(peek_link(&f.links, &f.tenants, &f.clock, token)).map(|_| ());
    assert_eq!(peek(token), Err(refused(DirectoryError::SetupLinkUsed)));
    assert_eq!(peek("setup_nope"), Err(refused(DirectoryError::SetupLinkUnknown)));
    let later = issue(&f, "acme", Some(60)).unwrap();
    f.clock.advance_ms(60_000);
    assert_eq!(peek(later.token.expose()), Err(refused(DirectoryError::SetupLinkExpired)));
}

#[test]
fn a_link_is_waiting_then_in_use_then_used_or_it_expires() {
    let f = fixture();
    let issued = issue(&f, "acme", Some(60)).unwrap();
    assert_eq!(issued.link.status(NOW_MS), "waiting");
    assert_eq!(issued.link.status(NOW_MS + 60_000), "expired");
    let opened = open(&f, issued.token.expose()).unwrap().link;
    assert_eq!(opened.status(NOW_MS), "in_use");
    assert_eq!(opened.status(NOW_MS + SESSION_LIFETIME_MS), "used");
}
