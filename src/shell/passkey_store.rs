//! Passkeys in D1 (`passkeys`, migrations/0008_passkeys.sql). The counter only moves forward, in
//! one conditional statement, so two assertions racing with the same counter cannot both pass.

use super::d1::{changed_rows, database, failed, number, statement, text};
use super::deadline::InTime;
use crate::authn::jwt::alg::Alg;
use crate::mfa::webauthn::ceremony::{CredentialDescriptor, NewPasskey, StoredPasskey};
use crate::mfa::webauthn::cose::CoseKey;
use crate::ports::Unavailable;
use serde::Deserialize;
use worker::Env;

/// A stored passkey, as the security page and the ceremonies read it.
#[derive(Debug, Clone, Deserialize)]
pub struct PasskeyRow {
    /// The credential id (base64url).
    pub credential_id: String,
    /// Its owner.
    pub user_id: String,
    /// Its name.
    pub name: String,
    alg: String,
    public_jwk: String,
    sign_count: f64,
    /// A synced passkey.
    pub backup_eligible: f64,
    transports: String,
    /// When it was registered.
    pub created_at_ms: f64,
    /// When it last signed in.
    pub last_used_at_ms: Option<f64>,
}

impl PasskeyRow {
    /// The row as the verifier needs it; `None` if the row does not read (fail closed).
    pub fn stored(&self) -> Option<StoredPasskey> {
        let alg = Alg::parse(&self.alg)?;
        let jwk = serde_json::from_str(&self.public_jwk).ok()?;
        Some(StoredPasskey {
            credential_id: self.credential_id.clone(),
            user_id: self.user_id.clone(),
            key: CoseKey { alg, jwk },
            sign_count: self.sign_count as u32,
            backup_eligible: self.backup_eligible != 0.0,
        })
    }

    /// Its id and transports, for the browser.
    pub fn descriptor(&self) -> CredentialDescriptor {
        CredentialDescriptor {
            id: self.credential_id.clone(),
            transports: serde_json::from_str(&self.transports).unwrap_or_default(),
        }
    }
}

const COLUMNS: &str = "credential_id, user_id, name, alg, public_jwk, sign_count, backup_eligible, transports, \
                       created_at_ms, last_used_at_ms";

/// The statement that deletes a user's recovery codes once no factor is left (an app or a passkey).
pub fn forget_orphaned_recovery_codes(
    db: &worker::D1Database,
    tenant: &str,
    user_id: &str,
) -> Result<worker::D1PreparedStatement, Unavailable> {
    statement(
        db,
        "DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND NOT EXISTS \
         (SELECT 1 FROM mfa_factors WHERE tenant_id = ? AND user_id = ?) AND NOT EXISTS \
         (SELECT 1 FROM passkeys WHERE tenant_id = ? AND user_id = ?)",
        &[text(tenant), text(user_id), text(tenant), text(user_id), text(tenant), text(user_id)],
    )
}

/// The D1 adapter.
pub struct D1Passkeys<'a>(pub &'a Env);

impl D1Passkeys<'_> {
    /// The user's passkeys, oldest first.
    pub async fn of_user(&self, tenant: &str, user_id: &str) -> Result<Vec<PasskeyRow>, Unavailable> {
        let db = database(self.0)?;
        let rows = statement(
            &db,
            &format!("SELECT {COLUMNS} FROM passkeys WHERE tenant_id = ? AND user_id = ? ORDER BY created_at_ms"),
            &[text(tenant), text(user_id)],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?;
        rows.results::<PasskeyRow>().map_err(failed)
    }

    /// The passkey with this credential id in the tenant.
    pub async fn find(&self, tenant: &str, credential_id: &str) -> Result<Option<PasskeyRow>, Unavailable> {
        let db = database(self.0)?;
        statement(
            &db,
            &format!("SELECT {COLUMNS} FROM passkeys WHERE tenant_id = ? AND credential_id = ?"),
            &[text(tenant), text(credential_id)],
        )?
        .first::<PasskeyRow>(None)
        .in_time()
        .await
        .map_err(failed)
    }

    /// Stores a new passkey; `false` when the tenant has that credential id already.
    pub async fn add(
        &self,
        tenant: &str,
        user_id: &str,
        name: &str,
        passkey: &NewPasskey,
        now_ms: u64,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let transports = serde_json::to_string(&passkey.transports).unwrap_or_else(|_| "[]".into());
        let result = statement(
            &db,
            "INSERT INTO passkeys (tenant_id, credential_id, user_id, name, alg, public_jwk, sign_count, \
             backup_eligible, backed_up, transports, aaguid, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (tenant_id, credential_id) DO NOTHING",
            &[
                text(tenant),
                text(&passkey.credential_id),
                text(user_id),
                text(name),
                text(passkey.key.alg.name()),
                text(&passkey.key.jwk.to_string()),
                number(u64::from(passkey.sign_count)),
                number(u64::from(passkey.backup_eligible)),
                number(u64::from(passkey.backed_up)),
                text(&transports),
                text(&passkey.aaguid),
                number(now_ms),
            ],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    /// Records a sign-in: the new counter, if the stored one is still what the assertion was
    /// checked against (`false` when another sign-in moved it meanwhile).
    pub async fn record_use(
        &self,
        tenant: &str,
        credential_id: &str,
        checked_against: u32,
        new_count: u32,
        backed_up: bool,
        now_ms: u64,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "UPDATE passkeys SET sign_count = ?, backed_up = ?, last_used_at_ms = ? WHERE tenant_id = ? \
             AND credential_id = ? AND sign_count = ?",
            &[
                number(u64::from(new_count)),
                number(u64::from(backed_up)),
                number(now_ms),
                text(tenant),
                text(credential_id),
                number(u64::from(checked_against)),
            ],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    /// Renames one of the user's passkeys.
    pub async fn rename(
        &self,
        tenant: &str,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "UPDATE passkeys SET name = ? WHERE tenant_id = ? AND user_id = ? AND credential_id = ?",
            &[text(name), text(tenant), text(user_id), text(credential_id)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    /// Removes one of the user's passkeys, and the recovery codes with it when no factor is left.
    pub async fn remove(&self, tenant: &str, user_id: &str, credential_id: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let statements = vec![
            statement(
                &db,
                "DELETE FROM passkeys WHERE tenant_id = ? AND user_id = ? AND credential_id = ?",
                &[text(tenant), text(user_id), text(credential_id)],
            )?,
            forget_orphaned_recovery_codes(&db, tenant, user_id)?,
        ];
        let results = db.batch(statements).in_time().await.map_err(failed)?;
        match results.first() {
            Some(result) => Ok(changed_rows(result)? == 1),
            None => Ok(false),
        }
    }
}
