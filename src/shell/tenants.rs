//! Tenants, domain claims and role mappings over D1. The schema's unique index on verified
//! domains makes "one tenant per domain" hold even when two verifications race.

use super::d1::{changed_rows, database, failed, number, statement, text};
use super::deadline::InTime;
use crate::directory::connections::Connection;
use crate::directory::domains::DomainClaim;
use crate::directory::tenants::{Claim, ScimTokenInfo, Tenant, TenantStore};
use crate::directory::{RoleMapping, TenantScope};
use crate::ports::Unavailable;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::Env;

/// Tenants in D1.
pub struct D1Tenants<'a>(pub &'a Env);

#[derive(Deserialize)]
struct TenantRow {
    id: String,
    name: String,
    created_at_ms: f64,
}

#[derive(Deserialize)]
struct ClaimRow {
    tenant_id: String,
    domain: String,
    verification_token: String,
    verified_at_ms: Option<f64>,
}

impl From<ClaimRow> for DomainClaim {
    fn from(row: ClaimRow) -> Self {
        DomainClaim {
            domain: row.domain,
            tenant: row.tenant_id,
            token: row.verification_token,
            verified_at_ms: row.verified_at_ms.map(|ms| ms as u64),
        }
    }
}

const CLAIM_COLUMNS: &str = "tenant_id, domain, verification_token, verified_at_ms";

impl TenantStore for D1Tenants<'_> {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "INSERT INTO tenants (id, name, created_at_ms) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            &[text(&tenant.id), text(&tenant.name), number(tenant.created_at_ms)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    async fn tenant(&self, scope: &TenantScope) -> Result<Option<Tenant>, Unavailable> {
        let db = database(self.0)?;
        let row = statement(&db, "SELECT id, name, created_at_ms FROM tenants WHERE id = ?", &[text(scope.id())])?
            .first::<TenantRow>(None)
            .in_time()
            .await
            .map_err(failed)?;
        Ok(row.map(|row| Tenant { id: row.id, name: row.name, created_at_ms: row.created_at_ms as u64 }))
    }

    async fn claim_domain(&self, scope: &TenantScope, domain: &str, token: &str) -> Result<Claim, Unavailable> {
        let db = database(self.0)?;
        let insert = statement(
            &db,
            "INSERT INTO domain_claims (tenant_id, domain, verification_token) \
             SELECT ?1, ?2, ?3 WHERE NOT EXISTS \
               (SELECT 1 FROM domain_claims WHERE domain = ?2 AND verified_at_ms IS NOT NULL AND tenant_id != ?1) \
             ON CONFLICT (tenant_id, domain) DO NOTHING",
            &[text(scope.id()), text(domain), text(token)],
        )?;
        let read = statement(
            &db,
            &format!("SELECT {CLAIM_COLUMNS} FROM domain_claims WHERE tenant_id = ? AND domain = ?"),
            &[text(scope.id()), text(domain)],
        )?;
        let results = db.batch(vec![insert, read]).in_time().await.map_err(failed)?;
        let held = match results.get(1) {
            Some(result) => result.results::<ClaimRow>().map_err(failed)?.into_iter().next(),
            None => None,
        };
        Ok(held.map_or(Claim::TakenByAnother, |row| Claim::Held(row.into())))
    }

    async fn domains(&self, scope: &TenantScope) -> Result<Vec<DomainClaim>, Unavailable> {
        let db = database(self.0)?;
        let rows = statement(
            &db,
            &format!("SELECT {CLAIM_COLUMNS} FROM domain_claims WHERE tenant_id = ? ORDER BY domain"),
            &[text(scope.id())],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?
        .results::<ClaimRow>()
        .map_err(failed)?;
        Ok(rows.into_iter().map(DomainClaim::from).collect())
    }

    async fn mark_verified(&self, scope: &TenantScope, domain: &str, now_ms: u64) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        // The unique index on verified domains fails the batch if another tenant won a race.
        let verify = statement(
            &db,
            "UPDATE domain_claims SET verified_at_ms = ? WHERE tenant_id = ? AND domain = ? AND verified_at_ms IS NULL",
            &[number(now_ms), text(scope.id()), text(domain)],
        )?;
        let drop_others = statement(
            &db,
            "DELETE FROM domain_claims WHERE domain = ?1 AND tenant_id != ?2 \
             AND EXISTS (SELECT 1 FROM domain_claims WHERE domain = ?1 AND tenant_id = ?2 AND verified_at_ms IS NOT NULL)",
            &[text(domain), text(scope.id())],
        )?;
        let owner = statement(
            &db,
            "SELECT tenant_id FROM domain_claims WHERE domain = ? AND verified_at_ms IS NOT NULL",
            &[text(domain)],
        )?;
        let results = match db.batch(vec![verify, drop_others, owner]).in_time().await {
            Ok(results) => results,
            Err(error) if error.to_string().contains("UNIQUE") => return Ok(false),
            Err(error) => return Err(failed(error)),
        };
        #[derive(Deserialize)]
        struct Owner {
            tenant_id: String,
        }
        let owners = match results.get(2) {
            Some(result) => result.results::<Owner>().map_err(failed)?,
            None => Vec::new(),
        };
        Ok(owners.iter().any(|owner| owner.tenant_id == scope.id()))
    }

    async fn release_domain(&self, scope: &TenantScope, domain: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "DELETE FROM domain_claims WHERE tenant_id = ? AND domain = ?",
            &[text(scope.id()), text(domain)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? > 0)
    }

    async fn verified_owner(&self, domain: &str) -> Result<Option<TenantScope>, Unavailable> {
        #[derive(Deserialize)]
        struct Owner {
            tenant_id: String,
        }
        let db = database(self.0)?;
        let owner = statement(
            &db,
            "SELECT tenant_id FROM domain_claims WHERE domain = ? AND verified_at_ms IS NOT NULL",
            &[text(domain)],
        )?
        .first::<Owner>(None)
        .in_time()
        .await
        .map_err(failed)?;
        Ok(owner.map(|owner| TenantScope::of(&owner.tenant_id)))
    }

    async fn set_role_mappings(&self, scope: &TenantScope, mappings: &[RoleMapping]) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        let pairs: Vec<[&str; 2]> = mappings.iter().map(|m| [m.group.as_str(), m.role.as_str()]).collect();
        let pairs = serde_json::to_string(&pairs).map_err(failed)?;
        let clear = statement(&db, "DELETE FROM role_mappings WHERE tenant_id = ?", &[text(scope.id())])?;
        let insert = statement(
            &db,
            "INSERT OR IGNORE INTO role_mappings (tenant_id, group_name, role) \
             SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
            &[text(scope.id()), text(&pairs)],
        )?;
        db.batch(vec![clear, insert]).in_time().await.map_err(failed)?;
        Ok(())
    }

    async fn add_scim_token(&self, scope: &TenantScope, id: &str, hash: &str, now_ms: u64) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        statement(
            &db,
            "INSERT INTO scim_tokens (id, tenant_id, token_hash, created_at_ms) VALUES (?, ?, ?, ?)",
            &[text(id), text(scope.id()), text(hash), number(now_ms)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn scim_token_tenant(&self, hash: &str) -> Result<Option<(TenantScope, String)>, Unavailable> {
        #[derive(Deserialize)]
        struct Owner {
            tenant_id: String,
            id: String,
        }
        let db = database(self.0)?;
        let owner = statement(&db, "SELECT tenant_id, id FROM scim_tokens WHERE token_hash = ?", &[text(hash)])?
            .first::<Owner>(None)
            .in_time()
            .await
            .map_err(failed)?;
        Ok(owner.map(|owner| (TenantScope::of(&owner.tenant_id), owner.id)))
    }

    async fn scim_tokens(&self, scope: &TenantScope) -> Result<Vec<ScimTokenInfo>, Unavailable> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            created_at_ms: f64,
        }
        let db = database(self.0)?;
        let rows = statement(
            &db,
            "SELECT id, created_at_ms FROM scim_tokens WHERE tenant_id = ? ORDER BY created_at_ms, id",
            &[text(scope.id())],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?
        .results::<Row>()
        .map_err(failed)?;
        Ok(rows.into_iter().map(|row| ScimTokenInfo { id: row.id, created_at_ms: row.created_at_ms as u64 }).collect())
    }

    async fn remove_scim_token(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result =
            statement(&db, "DELETE FROM scim_tokens WHERE tenant_id = ? AND id = ?", &[text(scope.id()), text(id)])?
                .run()
                .in_time()
                .await
                .map_err(failed)?;
        Ok(changed_rows(&result)? > 0)
    }

    async fn save_connection(&self, scope: &TenantScope, connection: &Connection) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let settings = serde_json::to_string(&connection.settings).map_err(failed)?;
        let sealed = URL_SAFE_NO_PAD.encode(&connection.sealed_secret);
        let result = statement(
            &db,
            // Refused in the same statement when an identity is linked to the id (a removed
            // connection's users among them), and a replacement also once the connection is
            // active: no sign-in slips in between a check and the write.
            "INSERT INTO connections (id, tenant_id, kind, settings, sealed_secret, created_at_ms, activated_at_ms) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
             WHERE NOT EXISTS (SELECT 1 FROM identities WHERE identities.connection_id = ?1) \
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, settings = excluded.settings, \
             sealed_secret = excluded.sealed_secret \
             WHERE connections.tenant_id = excluded.tenant_id AND connections.activated_at_ms IS NULL \
             AND NOT EXISTS (SELECT 1 FROM identities WHERE identities.connection_id = excluded.id)",
            &[
                text(&connection.id),
                text(scope.id()),
                text(&connection.kind),
                text(&settings),
                text(&sealed),
                number(connection.created_at_ms),
                if connection.active { number(connection.created_at_ms) } else { JsValue::NULL },
            ],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    async fn connections(&self, scope: &TenantScope) -> Result<Vec<Connection>, Unavailable> {
        let db = database(self.0)?;
        let rows = statement(
            &db,
            &format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE tenant_id = ? ORDER BY created_at_ms, id"),
            &[text(scope.id())],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?
        .results::<ConnectionRow>()
        .map_err(failed)?;
        rows.into_iter().map(ConnectionRow::into_connection).collect()
    }

    async fn connection(&self, id: &str) -> Result<Option<Connection>, Unavailable> {
        let db = database(self.0)?;
        let row = statement(&db, &format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?"), &[text(id)])?
            .first::<ConnectionRow>(None)
            .in_time()
            .await
            .map_err(failed)?;
        row.map(ConnectionRow::into_connection).transpose()
    }

    async fn activate_connection(&self, scope: &TenantScope, id: &str, now_ms: u64) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result = statement(
            &db,
            "UPDATE connections SET activated_at_ms = COALESCE(activated_at_ms, ?) WHERE tenant_id = ? AND id = ?",
            &[number(now_ms), text(scope.id()), text(id)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(changed_rows(&result)? == 1)
    }

    async fn remove_connection(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result =
            statement(&db, "DELETE FROM connections WHERE tenant_id = ? AND id = ?", &[text(scope.id()), text(id)])?
                .run()
                .in_time()
                .await
                .map_err(failed)?;
        Ok(changed_rows(&result)? > 0)
    }
}

const CONNECTION_COLUMNS: &str = "id, tenant_id, kind, settings, sealed_secret, created_at_ms, activated_at_ms";

#[derive(Deserialize)]
struct ConnectionRow {
    id: String,
    tenant_id: String,
    kind: String,
    settings: String,
    sealed_secret: Option<String>,
    created_at_ms: f64,
    activated_at_ms: Option<f64>,
}

impl ConnectionRow {
    fn into_connection(self) -> Result<Connection, Unavailable> {
        let sealed_secret = URL_SAFE_NO_PAD.decode(self.sealed_secret.unwrap_or_default()).map_err(failed)?;
        Ok(Connection {
            id: self.id,
            tenant: self.tenant_id,
            kind: self.kind,
            settings: serde_json::from_str(&self.settings).map_err(failed)?,
            sealed_secret,
            created_at_ms: self.created_at_ms as u64,
            active: self.activated_at_ms.is_some(),
        })
    }
}
