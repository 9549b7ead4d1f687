//! The directory over D1 (`PORTCULLIS_DB`): every statement names its tenant, every value is a
//! bound parameter, and each write (a user with its identity and memberships) is one batch, which
//! D1 runs as one transaction.

use super::d1::{changed_rows, database, failed, number, optional, statement, text};
use super::deadline::InTime;
use crate::directory::scim::filter::Filter;
use crate::directory::scim::sql::{where_clause, USER_COLUMNS as SCIM_USER_COLUMNS};
use crate::directory::scim::sql::{Clause, SqlValue};
use crate::directory::scim::users::{Page, ScimUsers, Written};
use crate::directory::store::{Directory, Memberships};
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
    user_name: Option<String>,
    external_id: Option<String>,
    scim_profile: String,
    email: Option<String>,
    name: Option<String>,
    status: String,
    attributes: String,
    created_at_ms: f64,
    updated_at_ms: f64,
}

impl UserRow {
    fn into_user(self, groups: Vec<String>) -> Result<User, Unavailable> {
        let status: UserStatus = serde_json::from_value(serde_json::Value::String(self.status)).map_err(failed)?;
        Ok(User {
            id: self.id,
            user_name: self.user_name,
            external_id: self.external_id,
            profile: serde_json::from_str(&self.scim_profile).map_err(failed)?,
            email: self.email,
            name: self.name,
            status,
            groups,
            attributes: serde_json::from_str(&self.attributes).map_err(failed)?,
            created_at_ms: self.created_at_ms as u64,
            updated_at_ms: self.updated_at_ms as u64,
        })
    }
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

const USER_COLUMNS: &str = "u.id, u.user_name, u.external_id, u.scim_profile, u.email, u.name, u.status, \
                            u.attributes, u.created_at_ms, u.updated_at_ms";

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
        statement(&db, &sql, &values)?.all().in_time().await.map_err(failed)?.results::<ListedUser>().map_err(failed)
    }

    async fn user_from(&self, db: &D1Database, scope: &TenantScope, row: UserRow) -> Result<User, Unavailable> {
        let groups = statement(
            db,
            "SELECT group_name FROM memberships WHERE tenant_id = ? AND user_id = ? ORDER BY group_name",
            &[text(scope.id()), text(&row.id)],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?
        .results::<GroupRow>()
        .map_err(failed)?;
        row.into_user(groups.into_iter().map(|g| g.group_name).collect())
    }

    async fn first_user(
        &self,
        scope: &TenantScope,
        sql: &str,
        values: &[JsValue],
    ) -> Result<Option<User>, Unavailable> {
        let db = database(self.0)?;
        let row = statement(&db, sql, values)?.first::<UserRow>(None).in_time().await.map_err(failed)?;
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
        memberships: Memberships,
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
        if memberships == Memberships::Replace {
            statements.extend(self.membership_statements(db, scope, user)?);
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
        db.batch(statements).in_time().await.map_err(failed)?;
        Ok(())
    }

    async fn save_user(&self, scope: &TenantScope, user: &User, memberships: Memberships) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let results =
            db.batch(self.update_statements(&db, scope, user, memberships)?).in_time().await.map_err(failed)?;
        // The update names only an active user: no change means it was blocked meanwhile.
        changed_any(results.first())
    }

    async fn link(
        &self,
        scope: &TenantScope,
        connection: &str,
        subject: &str,
        user: &User,
        memberships: Memberships,
    ) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        // The update first: the link is made only if it found the user active.
        let mut statements = self.update_statements(&db, scope, user, memberships)?;
        statements.push(statement(
            &db,
            "INSERT INTO identities (tenant_id, connection_id, subject, user_id) SELECT ?1, ?2, ?3, ?4 \
             WHERE EXISTS (SELECT 1 FROM users WHERE tenant_id = ?1 AND id = ?4 AND status = 'active')",
            &[text(scope.id()), text(connection), text(subject), text(&user.id)],
        )?);
        let results = db.batch(statements).in_time().await.map_err(failed)?;
        changed_any(results.first())
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
        .in_time()
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn user(&self, scope: &TenantScope, user_id: &str) -> Result<Option<User>, Unavailable> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = ? AND u.id = ?");
        self.first_user(scope, &sql, &[text(scope.id()), text(user_id)]).await
    }

    async fn identities(&self, scope: &TenantScope, user_id: &str) -> Result<Vec<(String, String)>, Unavailable> {
        let db = database(self.0)?;
        identity_rows(
            &db,
            "SELECT connection_id, subject FROM identities WHERE tenant_id = ? AND user_id = ?",
            &[text(scope.id()), text(user_id)],
        )
        .await
    }

    async fn identities_of_connection(
        &self,
        scope: &TenantScope,
        connection: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable> {
        let db = database(self.0)?;
        identity_rows(
            &db,
            "SELECT connection_id, subject FROM identities WHERE tenant_id = ? AND connection_id = ? LIMIT ?",
            &[text(scope.id()), text(connection), number(u64::from(limit))],
        )
        .await
    }

    async fn identities_of_users(
        &self,
        scope: &TenantScope,
        user_ids: &[String],
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable> {
        let db = database(self.0)?;
        let ids = serde_json::to_string(user_ids).map_err(failed)?;
        identity_rows(
            &db,
            "SELECT connection_id, subject FROM identities \
             WHERE tenant_id = ? AND user_id IN (SELECT value FROM json_each(?)) LIMIT ?",
            &[text(scope.id()), text(&ids), number(u64::from(limit))],
        )
        .await
    }

    async fn identities_in_groups(
        &self,
        scope: &TenantScope,
        groups: &[String],
        limit: u32,
    ) -> Result<Vec<(String, String)>, Unavailable> {
        let db = database(self.0)?;
        let groups = serde_json::to_string(groups).map_err(failed)?;
        identity_rows(
            &db,
            "SELECT DISTINCT i.connection_id, i.subject FROM identities i JOIN memberships m \
             ON m.tenant_id = i.tenant_id AND m.user_id = i.user_id \
             WHERE i.tenant_id = ? AND m.group_name IN (SELECT value FROM json_each(?)) LIMIT ?",
            &[text(scope.id()), text(&groups), number(u64::from(limit))],
        )
        .await
    }

    async fn role_mappings(&self, scope: &TenantScope) -> Result<Vec<RoleMapping>, Unavailable> {
        let db = database(self.0)?;
        let rows =
            statement(&db, "SELECT group_name, role FROM role_mappings WHERE tenant_id = ?", &[text(scope.id())])?
                .all()
                .in_time()
                .await
                .map_err(failed)?
                .results::<MappingRow>()
                .map_err(failed)?;
        Ok(rows.into_iter().map(|row| RoleMapping { group: row.group_name, role: row.role }).collect())
    }
}

/// Which unique value a D1 constraint failure is about, if it is one.
fn unique_violation(error: &worker::Error) -> Option<&'static str> {
    let message = error.to_string();
    if !message.contains("UNIQUE constraint failed") {
        return None;
    }
    Some(if message.contains("user_name") { "userName" } else { "email" })
}

impl ScimUsers for D1Directory<'_> {
    async fn insert_user(&self, scope: &TenantScope, user: &User) -> Result<Written, Unavailable> {
        let db = database(self.0)?;
        let profile = serde_json::to_string(&user.profile).map_err(failed)?;
        let attributes = serde_json::to_string(&user.attributes).map_err(failed)?;
        let insert = statement(
            &db,
            "INSERT INTO users (id, tenant_id, user_name, external_id, email, name, status, attributes, scim_profile, \
             created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                text(&user.id),
                text(scope.id()),
                optional(&user.user_name),
                optional(&user.external_id),
                optional(&user.email),
                optional(&user.name),
                text(&Self::status_text(user.status)?),
                text(&attributes),
                text(&profile),
                number(user.created_at_ms),
                number(user.updated_at_ms),
            ],
        )?;
        match insert.run().in_time().await {
            Ok(_) => Ok(Written::Done),
            Err(error) => unique_violation(&error).map(Written::Taken).ok_or_else(|| failed(error)),
        }
    }

    async fn replace_user(&self, scope: &TenantScope, user: &User) -> Result<Written, Unavailable> {
        let db = database(self.0)?;
        let profile = serde_json::to_string(&user.profile).map_err(failed)?;
        let update = statement(
            &db,
            // A block an administrator made meanwhile stays: the IdP's write never lifts it.
            "UPDATE users SET user_name = ?, external_id = ?, email = ?, name = ?, \
             status = CASE WHEN status = 'blocked' THEN 'blocked' ELSE ? END, scim_profile = ?, \
             updated_at_ms = ? WHERE tenant_id = ? AND id = ?",
            &[
                optional(&user.user_name),
                optional(&user.external_id),
                optional(&user.email),
                optional(&user.name),
                text(&Self::status_text(user.status)?),
                text(&profile),
                number(user.updated_at_ms),
                text(scope.id()),
                text(&user.id),
            ],
        )?;
        match update.run().in_time().await {
            Ok(result) => {
                let changes = changed_rows(&result)?;
                Ok(if changes == 0 { Written::Missing } else { Written::Done })
            }
            Err(error) => unique_violation(&error).map(Written::Taken).ok_or_else(|| failed(error)),
        }
    }

    async fn delete_user(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let values = [text(scope.id()), text(id)];
        let results = db
            .batch(vec![
                statement(&db, "DELETE FROM identities WHERE tenant_id = ? AND user_id = ?", &values)?,
                statement(&db, "DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?", &values)?,
                statement(&db, "DELETE FROM users WHERE tenant_id = ? AND id = ?", &values)?,
            ])
            .in_time()
            .await
            .map_err(failed)?;
        changed_any(results.get(2))
    }

    /// A page's users come without their groups: the Users listing does not show them, and one
    /// query per user would make a long list slow.
    async fn page(
        &self,
        scope: &TenantScope,
        filter: Option<&Filter>,
        start_index: u32,
        count: u32,
    ) -> Result<Page, Unavailable> {
        #[derive(Deserialize)]
        struct Total {
            total: f64,
        }
        let db = database(self.0)?;
        let clause = match filter {
            Some(filter) => Some(where_clause(filter, SCIM_USER_COLUMNS).map_err(|e| failed(e.0))?),
            None => None,
        };
        let mut values = vec![text(scope.id())];
        let condition = match &clause {
            Some(clause) => {
                values.extend(clause.params.iter().map(|SqlValue::Text(value)| text(value)));
                format!(" AND ({})", clause.sql)
            }
            None => String::new(),
        };
        let total = statement(
            &db,
            &format!("SELECT COUNT(*) AS total FROM users u WHERE u.tenant_id = ?{condition}"),
            &values,
        )?;
        let mut paged = values.clone();
        paged.push(number(u64::from(count)));
        paged.push(number(u64::from(start_index.saturating_sub(1))));
        let rows = statement(
            &db,
            &format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = ?{condition} ORDER BY u.id LIMIT ? OFFSET ?"
            ),
            &paged,
        )?;
        let results = db.batch(vec![total, rows]).in_time().await.map_err(failed)?;
        let total = match results.first() {
            Some(result) => result.results::<Total>().map_err(failed)?.first().map_or(0, |t| t.total as u32),
            None => 0,
        };
        let rows = match results.get(1) {
            Some(result) => result.results::<UserRow>().map_err(failed)?,
            None => Vec::new(),
        };
        let users = rows.into_iter().map(|row| row.into_user(Vec::new())).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { total, users })
    }
}

/// Whether a statement's result (if the batch had it) changed any row.
fn changed_any(result: Option<&worker::D1Result>) -> Result<bool, Unavailable> {
    Ok(match result {
        Some(result) => changed_rows(result)? > 0,
        None => false,
    })
}

#[derive(Deserialize)]
struct IdentityRow {
    connection_id: String,
    subject: String,
}

/// The (connection, subject) pairs a query of `identities` selects.
async fn identity_rows(db: &D1Database, sql: &str, values: &[JsValue]) -> Result<Vec<(String, String)>, Unavailable> {
    let rows =
        statement(db, sql, values)?.all().in_time().await.map_err(failed)?.results::<IdentityRow>().map_err(failed)?;
    Ok(rows.into_iter().map(|row| (row.connection_id, row.subject)).collect())
}
