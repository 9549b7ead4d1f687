//! Second factors in D1: `mfa_factors` and `recovery_codes`, as migrations/0007_mfa.sql lays them
//! out. Every write that must happen once (a TOTP step, a recovery code) is one conditional
//! statement, so that two requests racing for it cannot both win.

use super::d1::{changed_rows, database, failed, number, statement, text};
use super::deadline::InTime;
use crate::mfa::factors::Enrolled;
use crate::ports::Unavailable;
use serde::Deserialize;
use worker::Env;

/// A stored authenticator app.
#[derive(Debug, Clone, Deserialize)]
pub struct TotpFactor {
    /// Its id.
    pub id: String,
    /// Its name, as the security page shows it.
    pub name: String,
    /// The secret, sealed for this row.
    pub sealed_secret: String,
    /// When it was enrolled.
    pub created_at_ms: f64,
    /// When a code last passed.
    pub last_used_at_ms: Option<f64>,
}

#[derive(Deserialize)]
struct Digest {
    digest: String,
}

/// The D1 adapter.
pub struct D1Factors<'a>(pub &'a Env);

impl D1Factors<'_> {
    /// What the user has enrolled.
    pub async fn enrolled(&self, tenant: &str, user_id: &str) -> Result<Enrolled, Unavailable> {
        let totp = self.totp(tenant, user_id).await?.is_some();
        let recovery_codes = self.unused_recovery_codes(tenant, user_id).await?.len();
        let passkeys = super::passkey_store::D1Passkeys(self.0).of_user(tenant, user_id).await?.len();
        Ok(Enrolled { totp, passkeys, recovery_codes })
    }

    /// The user's authenticator app.
    pub async fn totp(&self, tenant: &str, user_id: &str) -> Result<Option<TotpFactor>, Unavailable> {
        let db = database(self.0)?;
        statement(
            &db,
            "SELECT id, name, sealed_secret, created_at_ms, last_used_at_ms FROM mfa_factors \
             WHERE tenant_id = ? AND user_id = ? AND kind = 'totp'",
            &[text(tenant), text(user_id)],
        )?
        .first::<TotpFactor>(None)
        .in_time()
        .await
        .map_err(failed)
    }

    /// Stores the user's authenticator app; `false` when it already has one.
    pub async fn add_totp(
        &self,
        tenant: &str,
        user_id: &str,
        factor: &TotpFactor,
        first_step: u64,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "INSERT INTO mfa_factors (tenant_id, user_id, id, kind, name, sealed_secret, last_step, created_at_ms, \
             last_used_at_ms) SELECT ?, ?, ?, 'totp', ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM mfa_factors \
             WHERE tenant_id = ? AND user_id = ? AND kind = 'totp')",
            &[
                text(tenant),
                text(user_id),
                text(&factor.id),
                text(&factor.name),
                text(&factor.sealed_secret),
                number(first_step),
                number(factor.created_at_ms as u64),
                number(factor.created_at_ms as u64),
                text(tenant),
                text(user_id),
            ],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    /// Spends a TOTP step: `true` when it is later than every step this factor accepted before
    /// (RFC 6238 §5.2), `false` when it is not (a replay, or an older code).
    pub async fn spend_step(
        &self,
        tenant: &str,
        user_id: &str,
        factor_id: &str,
        step: u64,
        now_ms: u64,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "UPDATE mfa_factors SET last_step = ?, last_used_at_ms = ? WHERE tenant_id = ? AND user_id = ? \
             AND id = ? AND (last_step IS NULL OR last_step < ?)",
            &[number(step), number(now_ms), text(tenant), text(user_id), text(factor_id), number(step)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    /// Removes the user's authenticator app, and its recovery codes with it when no factor is left.
    pub async fn remove_totp(&self, tenant: &str, user_id: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let statements = vec![
            statement(
                &db,
                "DELETE FROM mfa_factors WHERE tenant_id = ? AND user_id = ? AND kind = 'totp'",
                &[text(tenant), text(user_id)],
            )?,
            super::passkey_store::forget_orphaned_recovery_codes(&db, tenant, user_id)?,
        ];
        let results = db.batch(statements).in_time().await.map_err(failed)?;
        match results.first() {
            Some(result) => Ok(changed_rows(result)? == 1),
            None => Ok(false),
        }
    }

    /// The digests of the user's unused recovery codes.
    pub async fn unused_recovery_codes(&self, tenant: &str, user_id: &str) -> Result<Vec<String>, Unavailable> {
        let db = database(self.0)?;
        let rows = statement(
            &db,
            "SELECT digest FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at_ms IS NULL \
             ORDER BY digest",
            &[text(tenant), text(user_id)],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(rows.results::<Digest>().map_err(failed)?.into_iter().map(|row| row.digest).collect())
    }

    /// Replaces the user's recovery codes with a new set (one batch: the old set is gone exactly
    /// when the new one exists).
    pub async fn replace_recovery_codes(
        &self,
        tenant: &str,
        user_id: &str,
        digests: &[String],
    ) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        let mut statements = vec![statement(
            &db,
            "DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?",
            &[text(tenant), text(user_id)],
        )?];
        for digest in digests {
            statements.push(statement(
                &db,
                "INSERT INTO recovery_codes (tenant_id, user_id, digest) VALUES (?, ?, ?)",
                &[text(tenant), text(user_id), text(digest)],
            )?);
        }
        db.batch(statements).in_time().await.map_err(failed)?;
        Ok(())
    }

    /// Spends a recovery code: `true` when this request used it (it was unused).
    pub async fn spend_recovery_code(
        &self,
        tenant: &str,
        user_id: &str,
        digest: &str,
        now_ms: u64,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "UPDATE recovery_codes SET used_at_ms = ? WHERE tenant_id = ? AND user_id = ? AND digest = ? \
             AND used_at_ms IS NULL",
            &[number(now_ms), text(tenant), text(user_id), text(digest)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }
}
