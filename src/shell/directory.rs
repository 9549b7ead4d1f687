//! The directory over D1 (`PORTCULLIS_DB`): every statement names its tenant, every value is a
//! bound parameter, and each write (a user with its identity and memberships) is one batch, which
//! D1 runs as one transaction.

use super::d1::{database, failed, number, optional, statement, text};
use crate::directory::scim::sql::{Clause, SqlValue};
use crate::directory::store::Directory;
use crate::directory::{RoleMapping, TenantScope, User, UserStatus};
use crate::ports::Unavailable;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

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

const USER_COLUMNS: &str = "u.id, u.email, u.name, u.status, u.attributes, u.created_at_ms, u.updated_at_ms";

/// One user as the administration API lists it.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct ListedUser {
    id: String,
    user_name: Option<String>,
    external_id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    status: String,
}

impl D1Directory<'_> {
    /// A tenant's users that `clause` (a SCIM filter's SQL, see
    /// [`crate::directory::scim::sql`]) selects, at most `count`, in id order.
    pub async fn list_users(
        &self,
        scope: &TenantScope,
        clause: Option<&Clause>,
        count: u32,
    ) -> Result<Vec<ListedUser>, Unavailable> {
        let db = database(self.0)?;
        let mut values = vec![text(scope.id())];
        let condition = match clause {
            Some(clause) => {
                values.extend(clause.params.iter().map(|SqlValue::Text(value)| text(value)));
                format!(" AND ({})", clause.sql)
            }
            None => String::new(),
        };
        values.push(JsValue::from_f64(f64::from(count)));
        let sql = format!(
            "SELECT id, user_name, external_id, email, name, status FROM users WHERE tenant_id = ?{condition} \
             ORDER BY id LIMIT ?"
        );
        statement(&db, &sql, &values)?.all().await.map_err(failed)?.results::<ListedUser>().map_err(failed)
    }

    async fn user_from(&self, db: &D1Database, scope: &TenantScope, row: UserRow) -> Result<User, Unavailable> {
        let groups = statement(
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
        let db = database(self.0)?;
        let row = statement(&db, sql, values)?.first::<UserRow>(None).await.map_err(failed)?;
        match row {
            Some(row) => Ok(Some(self.user_from(&db, scope, row).await?)),
            None => Ok(None),
        }
    }

    /// The user's memberships replaced by its groups: two statements whatever their number.
    fn membership_statements(
        &self,
        db: &D1Database,
        scope: &TenantScope,
        user: &User,
    ) -> Result<Vec<D1PreparedStatement>, Unavailable> {
        let groups = serde_json::to_string(&user.groups).map_err(failed)?;
        Ok(vec![
            statement(
                db,
                "DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?",
                &[text(scope.id()), text(&user.id)],
            )?,
            statement(
                db,
                "INSERT OR IGNORE INTO memberships (tenant_id, user_id, group_name) SELECT ?, ?, value FROM json_each(?)",
                &[text(scope.id()), text(&user.id), text(&groups)],
            )?,
        ])
    }

    /// An active user's attributes and memberships; a user blocked meanwhile is left as it is.
    fn update_statements(
        &self,
        db: &D1Database,
        scope: &TenantScope,
        user: &User,
    ) -> Result<Vec<D1PreparedStatement>, Unavailable> {
        let attributes = serde_json::to_string(&user.attributes).map_err(failed)?;
        let mut statements = vec![statement(
            db,
            "UPDATE users SET email = ?, name = ?, attributes = ?, updated_at_ms = ? \
             WHERE tenant_id = ? AND id = ? AND status = 'active'",
            &[
                optional(&user.email),
                optional(&user.name),
                text(&attributes),
                number(user.updated_at_ms),
                text(scope.id()),
                text(&user.id),
            ],
        )?];
        statements.extend(self.membership_statements(db, scope, user)?);
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
        statement(
            db,
            "INSERT INTO identities (tenant_id, connection_id, subject, user_id) VALUES (?, ?, ?, ?)",
            &[text(scope.id()), text(connection), text(subject), text(user_id)],
        )
    }

    fn status_text(status: UserStatus) -> Result<String, Unavailable> {
        match serde_json::to_value(status).map_err(failed)? {
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
        let db = database(self.0)?;
        let attributes = serde_json::to_string(&user.attributes).map_err(failed)?;
        let mut statements = vec![
            // A tenant named by a configured provider exists once a user is provisioned into it.
            statement(
                &db,
                "INSERT OR IGNORE INTO tenants (id, name, created_at_ms) VALUES (?, ?, ?)",
                &[text(scope.id()), text(scope.id()), number(user.created_at_ms)],
            )?,
            statement(
                &db,
                // A provisioned user's userName is its email when it first signs in.
                "INSERT INTO users (id, tenant_id, user_name, email, name, status, attributes, created_at_ms, \
                 updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    text(&user.id),
                    text(scope.id()),
                    optional(&user.email),
                    optional(&user.email),
                    optional(&user.name),
                    text(&Self::status_text(user.status)?),
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
        let db = database(self.0)?;
        db.batch(self.update_statements(&db, scope, user)?).await.map_err(failed)?;
        Ok(())
    }

    async fn link(&self, scope: &TenantScope, connection: &str, subject: &str, user: &User) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        let mut statements = vec![self.identity_statement(&db, scope, connection, subject, &user.id)?];
        statements.extend(self.update_statements(&db, scope, user)?);
        db.batch(statements).await.map_err(failed)?;
        Ok(())
    }

    async fn set_status(
        &self,
        scope: &TenantScope,
        user_id: &str,
        status: UserStatus,
        now_ms: u64,
    ) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        let status = Self::status_text(status)?;
        statement(
            &db,
            "UPDATE users SET status = ?, updated_at_ms = ? WHERE tenant_id = ? AND id = ?",
            &[text(&status), number(now_ms), text(scope.id()), text(user_id)],
        )?
        .run()
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn user(&self, scope: &TenantScope, user_id: &str) -> Result<Option<User>, Unavailable> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = ? AND u.id = ?");
        self.first_user(scope, &sql, &[text(scope.id()), text(user_id)]).await
    }

    async fn identities(&self, scope: &TenantScope, user_id: &str) -> Result<Vec<(String, String)>, Unavailable> {
        #[derive(Deserialize)]
        struct IdentityRow {
            connection_id: String,
            subject: String,
        }
        let db = database(self.0)?;
        let rows = statement(
            &db,
            "SELECT connection_id, subject FROM identities WHERE tenant_id = ? AND user_id = ?",
            &[text(scope.id()), text(user_id)],
        )?
        .all()
        .await
        .map_err(failed)?
        .results::<IdentityRow>()
        .map_err(failed)?;
        Ok(rows.into_iter().map(|row| (row.connection_id, row.subject)).collect())
    }

    async fn role_mappings(&self, scope: &TenantScope) -> Result<Vec<RoleMapping>, Unavailable> {
        let db = database(self.0)?;
        let rows =
            statement(&db, "SELECT group_name, role FROM role_mappings WHERE tenant_id = ?", &[text(scope.id())])?
                .all()
                .await
                .map_err(failed)?
                .results::<MappingRow>()
                .map_err(failed)?;
        Ok(rows.into_iter().map(|row| RoleMapping { group: row.group_name, role: row.role }).collect())
    }
}
