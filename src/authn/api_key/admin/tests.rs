//! Key management against the in-memory store and ledger; every key it mints is checked with the
//! real verifier.

use super::*;
use crate::authn::api_key::store::MemoryKeyStore;
use crate::authn::api_key::{verify, ApiKeyError};
use crate::identity::MappedIdentity;
use crate::ports::memory::{block_on, ManualClock, MemoryLedger};
use crate::ports::SystemEntropy;

const NOW_MS: u64 = 1_800_000_000_000;

struct World {
    keys: ApiKeyConfig,
    pepper: SecretBytes,
    store: MemoryKeyStore,
    ledger: MemoryLedger,
    clock: ManualClock,
}

fn world() -> World {
    World {
        keys: ApiKeyConfig::default(),
        pepper: SecretBytes::new(vec![9; 32]),
        store: MemoryKeyStore::default(),
        ledger: MemoryLedger::default(),
        clock: ManualClock::at_ms(NOW_MS),
    }
}

impl World {
    fn admin(&self) -> KeyAdmin<'_, MemoryKeyStore, MemoryLedger, SystemEntropy, ManualClock> {
        KeyAdmin {
            keys: &self.keys,
            pepper: &self.pepper,
            store: &self.store,
            ledger: &self.ledger,
            entropy: &SystemEntropy,
            clock: &self.clock,
        }
    }

    fn create(&self, owner: &str) -> Minted {
        let request: CreateRequest =
            serde_json::from_value(serde_json::json!({ "owner": owner, "scopes": ["read"] })).unwrap();
        block_on(self.admin().create(request)).expect("created")
    }

    /// What the edge would answer for `key` now: the record as stored, the ledger's time.
    fn check(&self, key: &SecretString) -> Result<String, ApiKeyError> {
        let parsed = format::parse(&self.keys.prefix, key.expose()).expect("a well-formed key");
        let record = self.store.get(&parsed.id).ok_or(ApiKeyError::UnknownKey)?;
        let revoked_at = self.ledger.revoked_at_ms(&parsed.id);
        verify(&self.pepper, &parsed, &record, revoked_at, self.clock.now_ms()).map(|p| p.subject().to_owned())
    }
}

#[test]
fn a_created_key_acts_as_its_owner_and_is_stored_only_as_a_hash() {
    let w = world();
    let minted = w.create("svc-billing");
    assert_eq!(w.check(&minted.key), Ok("svc-billing".into()));
    let stored = w.store.get(&minted.record.id).unwrap();
    assert_eq!(stored.status, KeyStatus::Active);
    assert_eq!(stored.created_at_ms, NOW_MS);
    assert!(!serde_json::to_string(&stored).unwrap().contains(minted.key.expose()));
    assert_eq!(format!("{:?}", minted.key), "[redacted]");
}

#[test]
fn an_invalid_create_request_writes_nothing() {
    let w = world();
    let request: CreateRequest =
        serde_json::from_value(serde_json::json!({ "owner": "", "scopes": ["not a scope"], "expires_in_s": 0 }))
            .unwrap();
    match block_on(w.admin().create(request)) {
        Err(AdminError::Invalid(problems)) => assert_eq!(problems.len(), 3, "{problems:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rotated_key_works_through_its_grace_period_and_never_after() {
    let w = world();
    let old = w.create("svc");
    let rotated = block_on(w.admin().rotate(&old.record.id, RotateRequest { grace_s: Some(60) })).expect("rotated");
    assert_eq!(rotated.previous_valid_until_ms, NOW_MS + 60_000);
    assert_eq!(w.ledger.revoked_at_ms(&old.record.id), Some(NOW_MS + 60_000), "the ledger knows first");
    let retired = w.store.get(&old.record.id).unwrap();
    assert_eq!(
        (retired.status, retired.rotated_to.as_deref()),
        (KeyStatus::Rotated, Some(rotated.minted.record.id.as_str()))
    );
    assert_eq!(rotated.minted.record.scopes, old.record.scopes, "the new key has the same grants");
    assert_eq!(w.check(&old.key), Ok("svc".into()));
    assert_eq!(w.check(&rotated.minted.key), Ok("svc".into()));
    w.clock.advance_ms(60_000);
    assert_eq!(w.check(&old.key), Err(ApiKeyError::RotatedOut));
    assert_eq!(w.check(&rotated.minted.key), Ok("svc".into()));
}

#[test]
fn a_rotation_without_a_grace_uses_the_deployment_default() {
    let w = world();
    let old = w.create("svc");
    let rotated = block_on(w.admin().rotate(&old.record.id, RotateRequest::default())).unwrap();
    assert_eq!(rotated.previous_valid_until_ms, NOW_MS + w.keys.rotation_grace_s * 1000);
}

/// Each row: a rotation that must be refused, and how.
#[test]
fn refused_rotations_change_nothing() {
    let cases: &[(&str, fn(&World, &str) -> (String, RotateRequest), fn(&AdminError) -> bool)] = &[
        (
            "a grace over 30 days",
            |_, id| (id.into(), RotateRequest { grace_s: Some(MAX_ROTATION_GRACE_S + 1) }),
            |e| matches!(e, AdminError::Invalid(p) if p == &["grace_s: at most 30 days"]),
        ),
        ("an unknown key", |_, _| ("nope".into(), RotateRequest::default()), |e| *e == AdminError::NotFound),
        (
            "a revoked key",
            |w, id| {
                block_on(w.admin().revoke(id)).unwrap();
                (id.into(), RotateRequest::default())
            },
            |e| matches!(e, AdminError::Invalid(p) if p == &["id: the key is revoked, not active"]),
        ),
        (
            "a rotated key",
            |w, id| {
                block_on(w.admin().rotate(id, RotateRequest::default())).unwrap();
                (id.into(), RotateRequest::default())
            },
            |e| matches!(e, AdminError::Invalid(p) if p == &["id: the key is rotated, not active"]),
        ),
        (
            "the ledger down",
            |w, id| {
                w.ledger.set_available(false);
                (id.into(), RotateRequest::default())
            },
            |e| matches!(e, AdminError::Unavailable(_)),
        ),
    ];
    for (name, setup, expected) in cases {
        let w = world();
        let key = w.create("svc");
        let (id, request) = setup(&w, &key.record.id);
        let before = (w.store.get(&key.record.id), w.ledger.revocations());
        let result = block_on(w.admin().rotate(&id, request));
        assert!(result.as_ref().is_err_and(expected), "{name}: {:?}", result.map(|r| r.previous_id));
        assert_eq!((w.store.get(&key.record.id), w.ledger.revocations()), before, "{name}: nothing changed");
    }
}

#[test]
fn a_revoked_key_dies_at_once_and_an_outage_revokes_nothing() {
    let w = world();
    let key = w.create("svc");
    w.ledger.set_available(false);
    assert!(matches!(block_on(w.admin().revoke(&key.record.id)), Err(AdminError::Unavailable(_))));
    assert_eq!(w.check(&key.key), Ok("svc".into()), "a failed revoke promised nothing and changed nothing");
    w.ledger.set_available(true);
    let revoked = block_on(w.admin().revoke(&key.record.id)).unwrap();
    assert_eq!((revoked.status, revoked.valid_until_ms), (KeyStatus::Revoked, Some(NOW_MS)));
    assert_eq!(w.check(&key.key), Err(ApiKeyError::Revoked));
    // Even where the record write is lost, the ledger ends the key.
    let other = w.create("svc2");
    w.store.set_writes_fail(true);
    assert!(block_on(w.admin().revoke(&other.record.id)).is_err());
    assert_eq!(w.check(&other.key), Err(ApiKeyError::Revoked));
}

#[test]
fn only_jwts_with_the_admin_scope_administer_keys() {
    let principal = |method: AuthMethod, scopes: &[&str]| {
        let identity = MappedIdentity {
            subject: "who".into(),
            email: None,
            groups: Vec::new(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            tenant: None,
        };
        Principal::new(identity, method, None)
    };
    let keys = ApiKeyConfig::default();
    let admin = keys.admin_scope.as_str();
    let cases: &[(AuthMethod, &[&str], Option<&ApiKeyConfig>, bool)] = &[
        (AuthMethod::Jwt, &[admin], Some(&keys), true),
        (AuthMethod::Jwt, &["read", admin], Some(&keys), true),
        (AuthMethod::Jwt, &["read"], Some(&keys), false),
        (AuthMethod::Jwt, &["portcullis:admin2"], Some(&keys), false),
        (AuthMethod::ApiKey, &[admin], Some(&keys), false),
        (AuthMethod::Session, &[admin], Some(&keys), false),
        (AuthMethod::Jwt, &[admin], None, false),
    ];
    for (method, scopes, config, expected) in cases {
        assert_eq!(may_administer(&principal(*method, scopes), *config), *expected, "{method:?} {scopes:?}");
    }
}

#[test]
fn a_revoked_key_whose_record_write_was_lost_stays_dead_through_a_rotation() {
    let w = world();
    let key = w.create("svc");
    w.store.set_writes_fail(true);
    assert!(block_on(w.admin().revoke(&key.record.id)).is_err(), "the ledger answered, the store did not");
    w.store.set_writes_fail(false);
    // KV still says active, so a rotation goes ahead; the ledger keeps the earlier revocation.
    let rotated = block_on(w.admin().rotate(&key.record.id, RotateRequest { grace_s: Some(3600) })).unwrap();
    assert_eq!(w.check(&key.key), Err(ApiKeyError::RotatedOut));
    assert_eq!(w.check(&rotated.minted.key), Ok("svc".into()));
}
