//! Setup links over D1. Opening one is a single conditional `UPDATE`, so of two openings that
//! race, one wins and the other finds the link used.

use super::d1::{changed_rows, database, failed, number, optional, statement, text};
use super::deadline::InTime;
use crate::directory::onboarding::{Opening, SetupLink, SetupLinkStore, TestResult};
use crate::directory::TenantScope;
use crate::ports::Unavailable;
use serde::Deserialize;
use worker::Env;

/// Setup links in D1.
pub struct D1SetupLinks<'a>(pub &'a Env);

const LINK_COLUMNS: &str = "id, tenant_id, created_by, created_at_ms, expires_at_ms, connection_id, opened_at_ms, \
                            session_expires_at_ms, test_result";

#[derive(Deserialize)]
struct LinkRow {
    id: String,
    tenant_id: String,
    created_by: String,
    created_at_ms: f64,
    expires_at_ms: f64,
    connection_id: String,
    opened_at_ms: Option<f64>,
    session_expires_at_ms: Option<f64>,
    test_result: Option<String>,
}

impl From<LinkRow> for SetupLink {
    fn from(row: LinkRow) -> Self {
        SetupLink {
            id: row.id,
            tenant: row.tenant_id,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms as u64,
            expires_at_ms: row.expires_at_ms as u64,
            connection_id: row.connection_id,
            opened_at_ms: row.opened_at_ms.map(|ms| ms as u64),
            session_expires_at_ms: row.session_expires_at_ms.map(|ms| ms as u64),
            // A result that no longer parses is shown as none rather than failing the page.
            test_result: row.test_result.and_then(|text| serde_json::from_str(&text).ok()),
        }
    }
}

impl D1SetupLinks<'_> {
    async fn one(&self, sql: &str, values: &[wasm_bindgen::JsValue]) -> Result<Option<SetupLink>, Unavailable> {
        let db = database(self.0)?;
        let row = statement(&db, sql, values)?.first::<LinkRow>(None).in_time().await.map_err(failed)?;
        Ok(row.map(SetupLink::from))
    }
}

impl SetupLinkStore for D1SetupLinks<'_> {
    async fn add_link(&self, link: &SetupLink, token_hash: &str) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        statement(
            &db,
            "INSERT INTO setup_links (id, tenant_id, token_hash, created_by, created_at_ms, expires_at_ms, connection_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[
                text(&link.id),
                text(&link.tenant),
                text(token_hash),
                text(&link.created_by),
                number(link.created_at_ms),
                number(link.expires_at_ms),
                text(&link.connection_id),
            ],
        )?
        .run()
        .in_time().await
        .map_err(failed)?;
        Ok(())
    }

    async fn links(&self, scope: &TenantScope) -> Result<Vec<SetupLink>, Unavailable> {
        let db = database(self.0)?;
        let rows = statement(
            &db,
            &format!("SELECT {LINK_COLUMNS} FROM setup_links WHERE tenant_id = ? ORDER BY created_at_ms DESC, id DESC"),
            &[text(scope.id())],
        )?
        .all()
        .in_time()
        .await
        .map_err(failed)?
        .results::<LinkRow>()
        .map_err(failed)?;
        Ok(rows.into_iter().map(SetupLink::from).collect())
    }

    async fn remove_link(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        let db = database(self.0)?;
        let result =
            statement(&db, "DELETE FROM setup_links WHERE tenant_id = ? AND id = ?", &[text(scope.id()), text(id)])?
                .run()
                .in_time()
                .await
                .map_err(failed)?;
        Ok(changed_rows(&result)? > 0)
    }

    async fn open_link(
        &self,
        token_hash: &str,
        now_ms: u64,
        session_hash: &str,
        session_expires_at_ms: u64,
    ) -> Result<Opening, Unavailable> {
        let opened = self
            .one(
                &format!(
                    "UPDATE setup_links SET opened_at_ms = ?2, session_hash = ?3, session_expires_at_ms = ?4 \
                     WHERE token_hash = ?1 AND opened_at_ms IS NULL AND expires_at_ms > ?2 RETURNING {LINK_COLUMNS}"
                ),
                &[text(token_hash), number(now_ms), text(session_hash), number(session_expires_at_ms)],
            )
            .await?;
        if let Some(link) = opened {
            return Ok(Opening::Opened(Box::new(link)));
        }
        let found = self.link_of_token(token_hash).await?;
        Ok(match found {
            None => Opening::Unknown,
            Some(link) if link.opened_at_ms.is_some() => Opening::AlreadyUsed,
            Some(_) => Opening::Expired,
        })
    }

    async fn link_of_token(&self, token_hash: &str) -> Result<Option<SetupLink>, Unavailable> {
        self.one(&format!("SELECT {LINK_COLUMNS} FROM setup_links WHERE token_hash = ?"), &[text(token_hash)]).await
    }

    async fn link_of_session(&self, session_hash: &str, now_ms: u64) -> Result<Option<SetupLink>, Unavailable> {
        self.one(
            &format!("SELECT {LINK_COLUMNS} FROM setup_links WHERE session_hash = ? AND session_expires_at_ms > ?"),
            &[text(session_hash), number(now_ms)],
        )
        .await
    }

    async fn link(&self, id: &str) -> Result<Option<SetupLink>, Unavailable> {
        self.one(&format!("SELECT {LINK_COLUMNS} FROM setup_links WHERE id = ?"), &[text(id)]).await
    }

    async fn record_test(&self, id: &str, result: Option<&TestResult>) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        let result = result.map(serde_json::to_string).transpose().map_err(failed)?;
        statement(&db, "UPDATE setup_links SET test_result = ? WHERE id = ?", &[optional(&result), text(id)])?
            .run()
            .in_time()
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn end_session(&self, id: &str) -> Result<(), Unavailable> {
        let db = database(self.0)?;
        statement(
            &db,
            "UPDATE setup_links SET session_hash = NULL, session_expires_at_ms = NULL WHERE id = ?",
            &[text(id)],
        )?
        .run()
        .in_time()
        .await
        .map_err(failed)?;
        Ok(())
    }
}
