//! The API key management API's decisions: who may administer keys, and creating, rotating and
//! revoking them over the [`KeyStore`] and the [`Ledger`].
//!
//! Order matters for revocation: the ledger (strongly consistent, seen by every location) is
//! written first, so once a rotate or revoke answers, the old key's end is certain everywhere;
//! the KV record follows.

use super::store::KeyStore;
use super::{format, hash_secret, ApiKeyConfig, CreateRequest, KeyRecord, KeyStatus, RotateRequest};
use crate::authn::principal::{AuthMethod, Principal};
use crate::ports::{Clock, Entropy, Ledger, Unavailable};
use crate::secret::{SecretBytes, SecretString};

/// The longest grace period a rotation may give the old key.
pub const MAX_ROTATION_GRACE_S: u64 = 30 * 86_400;

/// Why a management operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No key has that id.
    NotFound,
    /// The request is invalid: one message per problem, `field: message`.
    Invalid(Vec<String>),
    /// The store, the ledger or the CSPRNG did not answer: nothing was promised.
    Unavailable(Unavailable),
}

impl From<Unavailable> for AdminError {
    fn from(unavailable: Unavailable) -> Self {
        AdminError::Unavailable(unavailable)
    }
}

/// Whether an authenticated caller may administer keys: a JWT carrying the admin scope. API keys
/// are never administrators, whatever scopes they carry: a key must not mint keys.
pub fn may_administer(principal: &Principal, keys: Option<&ApiKeyConfig>) -> bool {
    let Some(keys) = keys else { return false };
    principal.method() == AuthMethod::Jwt && principal.identity().scopes.contains(&keys.admin_scope)
}

/// A key just made: the only time the full key exists outside the caller.
#[derive(Debug)]
pub struct Minted {
    /// The full key, shown once.
    pub key: SecretString,
    /// Its stored record.
    pub record: KeyRecord,
}

/// Everything the management operations need.
pub struct KeyAdmin<'a, S: KeyStore, L: Ledger, E: Entropy, C: Clock> {
    /// The deployment's key settings.
    pub keys: &'a ApiKeyConfig,
    /// The pepper of stored hashes.
    pub pepper: &'a SecretBytes,
    /// Key records.
    pub store: &'a S,
    /// Revocation times.
    pub ledger: &'a L,
    /// Randomness for new keys.
    pub entropy: &'a E,
    /// The time.
    pub clock: &'a C,
}

/// A rotation: the new key, and until when the old one works.
#[derive(Debug)]
pub struct Rotated {
    /// The new key.
    pub minted: Minted,
    /// The old key's id.
    pub previous_id: String,
    /// When the old key stops working.
    pub previous_valid_until_ms: u64,
}

impl<S: KeyStore, L: Ledger, E: Entropy, C: Clock> KeyAdmin<'_, S, L, E, C> {
    /// A new key for `template` (whose id and hash are ignored): fresh random id and secret, an id
    /// no stored record has.
    async fn mint(&self, template: KeyRecord) -> Result<Minted, AdminError> {
        for _ in 0..3 {
            let random = self.entropy.bytes::<96>()?;
            let (key, id) = format::compose(&self.keys.prefix, &random)
                .ok_or_else(|| Unavailable("a key could not be composed".into()))?;
            if self.store.read(&id).await?.is_some() {
                continue; // an id collision: draw again
            }
            let parsed = format::parse(&self.keys.prefix, &key)
                .map_err(|_| Unavailable("a composed key did not parse".into()))?;
            let record = KeyRecord { hash: hash_secret(self.pepper, &id, &parsed.secret), id, ..template };
            return Ok(Minted { key: SecretString::new(key), record });
        }
        Err(Unavailable("three id collisions in a row".into()).into())
    }

    /// Creates a key: the request is checked, the record written, the key returned once.
    pub async fn create(&self, request: CreateRequest) -> Result<Minted, AdminError> {
        let problems: Vec<String> =
            request.problems(self.keys.max_lifetime_s).into_iter().map(|(f, m)| format!("{f}: {m}")).collect();
        if !problems.is_empty() {
            return Err(AdminError::Invalid(problems));
        }
        let now = self.clock.now_ms();
        let template = KeyRecord {
            id: String::new(),
            hash: String::new(),
            name: request.name,
            owner: request.owner,
            tenant: request.tenant,
            scopes: request.scopes,
            tier: request.tier,
            created_at_ms: now,
            expires_at_ms: request.expires_in_s.map(|s| now + s * 1000),
            status: KeyStatus::Active,
            valid_until_ms: None,
            rotated_to: None,
        };
        let minted = self.mint(template).await?;
        self.store.write(&minted.record).await?;
        Ok(minted)
    }

    /// Rotates an active key: a new key with the same grants; the old one works for the grace
    /// period (the request's, or the deployment's), then never again.
    pub async fn rotate(&self, id: &str, request: RotateRequest) -> Result<Rotated, AdminError> {
        let grace_s = request.grace_s.unwrap_or(self.keys.rotation_grace_s);
        if grace_s > MAX_ROTATION_GRACE_S {
            return Err(AdminError::Invalid(vec!["grace_s: at most 30 days".into()]));
        }
        let old = self.store.read(id).await?.ok_or(AdminError::NotFound)?;
        if old.status != KeyStatus::Active {
            return Err(AdminError::Invalid(vec![
                format!("id: the key is {:?}, not active", old.status).to_lowercase()
            ]));
        }
        let now = self.clock.now_ms();
        let valid_until = now + grace_s * 1000;
        let template = KeyRecord { created_at_ms: now, valid_until_ms: None, rotated_to: None, ..old.clone() };
        let minted = self.mint(template).await?;
        self.ledger.revoke(id, valid_until, None).await?;
        self.store.write(&minted.record).await?;
        let retired = KeyRecord {
            status: KeyStatus::Rotated,
            valid_until_ms: Some(valid_until),
            rotated_to: Some(minted.record.id.clone()),
            ..old
        };
        self.store.write(&retired).await?;
        Ok(Rotated { minted, previous_id: id.to_owned(), previous_valid_until_ms: valid_until })
    }

    /// Revokes a key at once, whatever its state.
    pub async fn revoke(&self, id: &str) -> Result<KeyRecord, AdminError> {
        let old = self.store.read(id).await?.ok_or(AdminError::NotFound)?;
        let now = self.clock.now_ms();
        // The ledger first: once it has answered, the key is dead everywhere.
        self.ledger.revoke(id, now, None).await?;
        let revoked = KeyRecord { status: KeyStatus::Revoked, valid_until_ms: Some(now), ..old };
        self.store.write(&revoked).await?;
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests;
