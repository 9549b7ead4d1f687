//! The directory over D1 (`PORTCULLIS_DB`): every statement names its tenant, every value is a
//! bound parameter, and a user's row, identity and memberships are written in one batch (D1 runs a
//! batch as one transaction).

use crate::directory::store::Directory;
use crate::directory::{RoleMapping, TenantScope, User, UserStatus};
use crate::ports::Unavailable;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

/// The D1 binding.
pub const DIRECTORY_BINDING: &str = "PORTCULLIS_DB";

/// The directory in D1.
pub struct D1Directory<'a>(pub &'a Env);

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email: Option<String>,
    name: Option<String>,
    status: String,
    attributes: String,
    created_at_ms: f64,
    updated_at_ms: f64,
}

#[derive(Deserialize)]
struct GroupRow {
    group_name: String,
}

#[derive(Deserialize)]
struct MappingRow {
    group_name: String,
    role: String,
}

fn failed(error: impl std::fmt::Display) -> Unavailable {
    Unavailable(format!("directory: {error}"))
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn optional(value: &Option<String>) -> JsValue {
    value.as_deref().map_or(JsValue::NULL, JsValue::from_str)
}

fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

const USER_COLUMNS: &str = "u.id, u.email, u.name, u.status, u.attributes, u.created_at_ms, u.updated_at_ms";

impl D1Directory<'_> {
    fn db(&self) -> Result<D1Database, Unavailable> {
        self.0.d1(DIRECTORY_BINDING).map_err(failed)
    }

    fn statement(&self, db: &D1Database, sql: &str, values: &[JsValue]) -> Result<D1PreparedStatement, Unavailable> {
        db.prepare(sql).bind(values).map_err(failed)
    }

    async fn user_from(&self, db: &D1Database, scope: &TenantScope, row: UserRow) -> Result<User, Unavailable> {
        let groups = self
            .statement(
                db,
                "SELECT group_name FROM memberships WHERE tenant_id = ? AND user_id = ? ORDER BY group_name",
                &[text(scope.id()), text(&row.id)],
            )?
            .all()
            .await
            .map_err(failed)?
            .results::<GroupRow>()
            .map_err(failed)?;
        let status: UserStatus = serde_json::from_value(serde_json::Value::String(row.status)).map_err(failed)?;
        Ok(User {
            id: row.id,
            email: row.email,
            name: row.name,
            status,
            groups: groups.into_iter().map(|g| g.group_name).collect(),
            attributes: serde_json::from_str(&row.attributes).map_err(failed)?,
            created_at_ms: row.created_at_ms as u64,
            updated_at_ms: row.updated_at_ms as u64,
        })
    }

    async fn first_user(
        &self,
        scope: &TenantScope,
        sql: &str,
        values: &[JsValue],
    ) -> Result<Option<User>, Unavailable> {
        let db = self.db()?;
        let row = self.statement(&db, sql, values)?.first::<UserRow>(None).await.map_err(failed)?;
        match row {
            Some(row) => Ok(Some(self.user_from(&db, scope, row).await?)),
            None => Ok(None),
        }
    }

    fn membership_statements(
        &self,
        db: &D1Database,
        scope: &TenantScope,
        user: &User,
    ) -> Result<Vec<D1PreparedStatement>, Unavailable> {
        let mut statements = vec![self.statement(
            db,
            "DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?",
            &[text(scope.id()), text(&user.id)],
        )?];
        for group in &user.groups {
            statements.push(self.statement(
                db,
                "INSERT OR IGNORE INTO memberships (tenant_id, user_id, group_name) VALUES (?, ?, ?)",
                &[text(scope.id()), text(&user.id), text(group)],
            )?);
        }
        Ok(statements)
    }

    fn identity_statement(
        &self,
        db: &D1Database,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<D1PreparedStatement, Unavailable> {
        self.statement(
            db,
            "INSERT INTO identities (tenant_id, connection_id, subject, user_id) VALUES (?, ?, ?, ?)",
            &[text(scope.id()), text(connection), text(subject), text(user_id)],
        )
    }

    fn status_text(user: &User) -> Result<String, Unavailable> {
        match serde_json::to_value(user.status).map_err(failed)? {
            serde_json::Value::String(status) => Ok(status),
            _ => Err(failed("a status is text")),
        }
    }
}

impl Directory for D1Directory<'_> {
    async fn linked_user(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
    ) -> Result<Option<User>, Unavailable> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM identities i JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id \
             WHERE i.tenant_id = ? AND i.connection_id = ? AND i.subject = ?"
        );
        self.first_user(scope, &sql, &[text(scope.id()), text(connection), text(subject)]).await
    }

    async fn user_by_email(&self, scope: &TenantScope, email: &str) -> Result<Option<User>, Unavailable> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = ? AND u.email = ?");
        self.first_user(scope, &sql, &[text(scope.id()), text(email)]).await
    }

    async fn create_linked(
        &self,
        scope: &TenantScope,
        user: &User,
        connection: &str,
        subject: &str,
    ) -> Result<(), Unavailable> {
        let db = self.db()?;
        let attributes = serde_json::to_string(&user.attributes).map_err(failed)?;
        let mut statements = vec![
            // A tenant named by a configured provider exists once a user is provisioned into it.
            self.statement(
                &db,
                "INSERT OR IGNORE INTO tenants (id, name, created_at_ms) VALUES (?, ?, ?)",
                &[text(scope.id()), text(scope.id()), number(user.created_at_ms)],
            )?,
            self.statement(
                &db,
                "INSERT INTO users (id, tenant_id, email, name, status, attributes, created_at_ms, updated_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    text(&user.id),
                    text(scope.id()),
                    optional(&user.email),
                    optional(&user.name),
                    text(&Self::status_text(user)?),
                    text(&attributes),
                    number(user.created_at_ms),
                    number(user.updated_at_ms),
                ],
            )?,
            self.identity_statement(&db, scope, connection, subject, &user.id)?,
        ];
        statements.extend(self.membership_statements(&db, scope, user)?);
        db.batch(statements).await.map_err(failed)?;
        Ok(())
    }

    async fn save_user(&self, scope: &TenantScope, user: &User) -> Result<(), Unavailable> {
        let db = self.db()?;
        let attributes = serde_json::to_string(&user.attributes).map_err(failed)?;
        let mut statements = vec![self.statement(
            &db,
            "UPDATE users SET email = ?, name = ?, status = ?, attributes = ?, updated_at_ms = ? \
             WHERE tenant_id = ? AND id = ?",
            &[
                optional(&user.email),
                optional(&user.name),
                text(&Self::status_text(user)?),
                text(&attributes),
                number(user.updated_at_ms),
                text(scope.id()),
                text(&user.id),
            ],
        )?];
        statements.extend(self.membership_statements(&db, scope, user)?);
        db.batch(statements).await.map_err(failed)?;
        Ok(())
    }

    async fn link(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<(), Unavailable> {
        let db = self.db()?;
        self.identity_statement(&db, scope, connection, subject, user_id)?.run().await.map_err(failed)?;
        Ok(())
    }

    async fn role_mappings(&self, scope: &TenantScope) -> Result<Vec<RoleMapping>, Unavailable> {
        let db = self.db()?;
        let rows = self
            .statement(&db, "SELECT group_name, role FROM role_mappings WHERE tenant_id = ?", &[text(scope.id())])?
            .all()
            .await
            .map_err(failed)?
            .results::<MappingRow>()
            .map_err(failed)?;
        Ok(rows.into_iter().map(|row| RoleMapping { group: row.group_name, role: row.role }).collect())
    }
}
