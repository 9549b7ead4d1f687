//! Local accounts in D1: passwords of directory users (`password_credentials`) and the emailed
//! links (`account_links`), as migrations/0006_local_accounts.sql lays them out.

use super::d1::{changed_rows, database, failed, number, optional, statement, text};
use super::deadline::InTime;
use crate::accounts::token::{Purpose, StoredLink};
use crate::accounts::PASSWORD_CONNECTION;
use crate::ports::Unavailable;
use serde::Deserialize;
use worker::Env;

/// A user's password, with what a sign-in needs of the user.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The directory user.
    pub user_id: String,
    /// Its email (lower case).
    pub email: String,
    /// Whether the user is active.
    pub active: bool,
    /// The PHC string.
    pub hash: String,
    /// When the password last changed.
    pub changed_at_ms: u64,
}

#[derive(Deserialize)]
struct CredentialRow {
    user_id: String,
    email: String,
    status: String,
    hash: String,
    changed_at_ms: f64,
}

impl From<CredentialRow> for Credential {
    fn from(row: CredentialRow) -> Self {
        Credential {
            user_id: row.user_id,
            email: row.email,
            active: row.status == "active",
            hash: row.hash,
            changed_at_ms: row.changed_at_ms as u64,
        }
    }
}

#[derive(Deserialize)]
struct LinkRow {
    purpose: String,
    tenant_id: String,
    email: String,
    user_id: Option<String>,
    pending_hash: Option<String>,
    credential_changed_at_ms: Option<f64>,
    expires_at_ms: f64,
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

const CREDENTIAL_SELECT: &str = "SELECT u.id AS user_id, u.email AS email, u.status AS status, c.hash AS hash, \
     c.changed_at_ms AS changed_at_ms FROM users u JOIN password_credentials c \
     ON c.tenant_id = u.tenant_id AND c.user_id = u.id";

/// How creating an account went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The user and its password exist now.
    Created,
    /// Another user of the tenant has the email (it was taken meanwhile).
    EmailTaken,
}

/// The D1 adapter.
pub struct D1Accounts<'a>(pub &'a Env);

impl D1Accounts<'_> {
    /// The password of the tenant's user with this email.
    pub async fn credential_by_email(&self, tenant: &str, email: &str) -> Result<Option<Credential>, Unavailable> {
        self.first_credential("u.email", tenant, email).await
    }

    /// The password of a user.
    pub async fn credential_of(&self, tenant: &str, user_id: &str) -> Result<Option<Credential>, Unavailable> {
        self.first_credential("u.id", tenant, user_id).await
    }

    /// The password of the tenant's user whose `column` (a fixed name, never input) is `value`.
    async fn first_credential(
        &self,
        column: &str,
        tenant: &str,
        value: &str,
    ) -> Result<Option<Credential>, Unavailable> {
        let db = database(self.0)?;
        let sql = format!("{CREDENTIAL_SELECT} WHERE u.tenant_id = ? AND {column} = ?");
        let row = statement(&db, &sql, &[text(tenant), text(value)])?
            .first::<CredentialRow>(None)
            .in_time()
            .await
            .map_err(failed)?;
        Ok(row.map(Credential::from))
    }

    /// Whether any user of the tenant (a local account or not) has the email, or it as user name.
    pub async fn email_taken(&self, tenant: &str, email: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        // The user name too: a SCIM user whose userName is the address holds it (users_by_user_name).
        let sql = "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ? AND (email = ? OR user_name = ? COLLATE NOCASE)";
        let row = statement(&db, sql, &[text(tenant), text(email), text(email)])?
            .first::<Count>(None)
            .in_time()
            .await
            .map_err(failed)?;
        Ok(row.is_some_and(|count| count.n > 0.0))
    }

    /// Stores a link under its token's digest (and sweeps the expired ones).
    pub async fn save_link(&self, digest: &str, link: &StoredLink, now_ms: u64) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        let statements = vec![
            statement(&db, "DELETE FROM account_links WHERE expires_at_ms <= ?", &[number(now_ms)])?,
            // An address keeps at most five pending links of a purpose: the oldest go.
            statement(
                &db,
                "DELETE FROM account_links WHERE digest IN (SELECT digest FROM account_links WHERE tenant_id = ? \
                 AND email = ? AND purpose = ? ORDER BY expires_at_ms DESC LIMIT -1 OFFSET 4)",
                &[text(&link.tenant), text(&link.email), text(link.purpose.as_str())],
            )?,
            statement(
                &db,
                "INSERT INTO account_links (digest, purpose, tenant_id, email, user_id, pending_hash, \
                 credential_changed_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    text(digest),
                    text(link.purpose.as_str()),
                    text(&link.tenant),
                    text(&link.email),
                    optional(&link.user_id),
                    optional(&link.pending_hash),
                    link.credential_changed_at_ms.map_or(wasm_bindgen::JsValue::NULL, number),
                    number(link.expires_at_ms),
                ],
            )?,
        ];
        db.batch(statements).in_time().await.map_err(failed)?;
        Ok(())
    }

    /// The password hashes of an address's pending sign-ups, newest first (at most five).
    pub async fn pending_hashes(&self, tenant: &str, email: &str, now_ms: u64) -> Result<Vec<String>, Unavailable> {
        #[derive(Deserialize)]
        struct Pending {
            pending_hash: String,
        }
        let db = database(self.0)?;
        let rows = statement(
            &db,
            "SELECT pending_hash FROM account_links WHERE tenant_id = ? AND email = ? AND purpose = 'verify' \
             AND pending_hash IS NOT NULL AND expires_at_ms > ? ORDER BY expires_at_ms DESC LIMIT 5",
            &[text(tenant), text(email), number(now_ms)],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(rows.results::<Pending>().map_err(failed)?.into_iter().map(|row| row.pending_hash).collect())
    }

    /// Forgets every pending sign-up of an address (once one is confirmed).
    pub async fn drop_pending(&self, tenant: &str, email: &str) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        statement(
            &db,
            "DELETE FROM account_links WHERE tenant_id = ? AND email = ? AND purpose = 'verify'",
            &[text(tenant), text(email)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(())
    }

    /// The store work of a sign-up that keeps nothing (a taken address): the same sweep and a
    /// write that changes nothing, so that both sign-ups cost the same round trips.
    pub async fn touch_links(&self, now_ms: u64) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        let statements = vec![
            statement(&db, "DELETE FROM account_links WHERE expires_at_ms <= ?", &[number(now_ms)])?,
            statement(&db, "DELETE FROM account_links WHERE digest = ''", &[])?,
        ];
        db.batch(statements).in_time().await.map_err(failed)?;
        Ok(())
    }

    /// The link stored under a digest.
    pub async fn link(&self, digest: &str) -> Result<Option<StoredLink>, Unavailable> {
        let db = database(self.0)?;
        let row = statement(
            &db,
            "SELECT purpose, tenant_id, email, user_id, pending_hash, credential_changed_at_ms, expires_at_ms \
             FROM account_links WHERE digest = ?",
            &[text(digest)],
        )?
        .first::<LinkRow>(None)
        .in_time()
        .await
        .map_err(failed)?;
        let Some(row) = row else { return Ok(None) };
        let purpose = Purpose::parse(&row.purpose).ok_or_else(|| failed("a link's purpose"))?;
        Ok(Some(StoredLink {
            purpose,
            tenant: row.tenant_id,
            email: row.email,
            user_id: row.user_id,
            pending_hash: row.pending_hash,
            credential_changed_at_ms: row.credential_changed_at_ms.map(|ms| ms as u64),
            expires_at_ms: row.expires_at_ms as u64,
        }))
    }

    /// Forgets a link.
    pub async fn drop_link(&self, digest: &str) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        statement(&db, "DELETE FROM account_links WHERE digest = ?", &[text(digest)])?
            .run()
            .in_time()
            .await
            .map_err(failed)?;
        Ok(())
    }

    /// Creates a verified account in one transaction: the tenant if new, the user, its password
    /// identity and its password.
    pub async fn create(
        &self,
        tenant: &str,
        user_id: &str,
        email: &str,
        hash: &str,
        now_ms: u64,
    ) -> Result<Created, Unavailable> {
        if self.email_taken(tenant, email).await? {
            return Ok(Created::EmailTaken);
        }
        let db = database(self.0)?;
        let statements = vec![
            statement(
                &db,
                "INSERT OR IGNORE INTO tenants (id, name, created_at_ms) VALUES (?, ?, ?)",
                &[text(tenant), text(tenant), number(now_ms)],
            )?,
            statement(
                &db,
                "INSERT INTO users (id, tenant_id, user_name, email, name, status, attributes, created_at_ms, \
                 updated_at_ms) VALUES (?, ?, ?, ?, NULL, 'active', '{}', ?, ?)",
                &[text(user_id), text(tenant), text(email), text(email), number(now_ms), number(now_ms)],
            )?,
            statement(
                &db,
                "INSERT INTO identities (tenant_id, connection_id, subject, user_id) VALUES (?, ?, ?, ?)",
                &[text(tenant), text(PASSWORD_CONNECTION), text(user_id), text(user_id)],
            )?,
            statement(
                &db,
                "INSERT INTO password_credentials (tenant_id, user_id, hash, changed_at_ms) VALUES (?, ?, ?, ?)",
                &[text(tenant), text(user_id), text(hash), number(now_ms)],
            )?,
        ];
        match db.batch(statements).in_time().await {
            Ok(_) => Ok(Created::Created),
            // The unique email index: another sign-up or a login took it since the check.
            Err(error) if error.to_string().contains("UNIQUE") => Ok(Created::EmailTaken),
            Err(error) => Err(failed(error)),
        }
    }

    /// Sets a user's password (a reset, a change, a rehash); `false` when the user has none.
    pub async fn set_password(
        &self,
        tenant: &str,
        user_id: &str,
        hash: &str,
        changed_at_ms: u64,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "UPDATE password_credentials SET hash = ?, changed_at_ms = ? WHERE tenant_id = ? AND user_id = ?",
            &[text(hash), number(changed_at_ms), text(tenant), text(user_id)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    /// Replaces a hash with a rehash of the same password, unless the password changed meanwhile.
    pub async fn rehash(&self, tenant: &str, user_id: &str, old: &str, new: &str) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        statement(
            &db,
            "UPDATE password_credentials SET hash = ? WHERE tenant_id = ? AND user_id = ? AND hash = ?",
            &[text(new), text(tenant), text(user_id), text(old)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(())
    }
}
