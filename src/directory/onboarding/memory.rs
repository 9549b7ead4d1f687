//! Setup links in memory, for the host tests (the worker keeps them in D1).

use super::{Opening, SetupLink, SetupLinkStore, TestResult};
use crate::directory::TenantScope;
use crate::ports::Unavailable;
use std::cell::RefCell;

/// A stored link: the link, its token's hash and its session cookie's hash.
type Row = (SetupLink, String, Option<String>);

/// Setup links in memory.
#[derive(Debug, Default)]
pub struct MemorySetupLinks {
    rows: RefCell<Vec<Row>>,
}

impl SetupLinkStore for MemorySetupLinks {
    async fn add_link(&self, link: &SetupLink, token_hash: &str) -> Result<(), Unavailable> {
        self.rows.borrow_mut().push((link.clone(), token_hash.to_owned(), None));
        Ok(())
    }

    async fn links(&self, scope: &TenantScope) -> Result<Vec<SetupLink>, Unavailable> {
        let mut links: Vec<SetupLink> =
            self.rows.borrow().iter().filter(|(link, ..)| link.tenant == scope.id()).map(|(l, ..)| l.clone()).collect();
        links.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
        Ok(links)
    }

    async fn remove_link(&self, scope: &TenantScope, id: &str) -> Result<bool, Unavailable> {
        let mut rows = self.rows.borrow_mut();
        let before = rows.len();
        rows.retain(|(link, ..)| !(link.tenant == scope.id() && link.id == id));
        Ok(rows.len() != before)
    }

    async fn open_link(
        &self,
        token_hash: &str,
        now_ms: u64,
        session_hash: &str,
        session_expires_at_ms: u64,
    ) -> Result<Opening, Unavailable> {
        let mut rows = self.rows.borrow_mut();
        let Some((link, _, session)) = rows.iter_mut().find(|(_, hash, _)| hash == token_hash) else {
            return Ok(Opening::Unknown);
        };
        if link.opened_at_ms.is_some() {
            return Ok(Opening::AlreadyUsed);
        }
        if now_ms >= link.expires_at_ms {
            return Ok(Opening::Expired);
        }
        link.opened_at_ms = Some(now_ms);
        link.session_expires_at_ms = Some(session_expires_at_ms);
        *session = Some(session_hash.to_owned());
        Ok(Opening::Opened(Box::new(link.clone())))
    }

    async fn link_of_token(&self, token_hash: &str) -> Result<Option<SetupLink>, Unavailable> {
        Ok(self.rows.borrow().iter().find(|(_, hash, _)| hash == token_hash).map(|(link, ..)| link.clone()))
    }

    async fn link_of_session(&self, session_hash: &str, now_ms: u64) -> Result<Option<SetupLink>, Unavailable> {
        let rows = self.rows.borrow();
        let found = rows.iter().find(|(_, _, session)| session.as_deref() == Some(session_hash));
        Ok(found.map(|(link, ..)| link.clone()).filter(|link| link.session_live(now_ms)))
    }

    async fn link(&self, id: &str) -> Result<Option<SetupLink>, Unavailable> {
        Ok(self.rows.borrow().iter().find(|(link, ..)| link.id == id).map(|(link, ..)| link.clone()))
    }

    async fn record_test(&self, id: &str, result: Option<&TestResult>) -> Result<(), Unavailable> {
        if let Some((link, ..)) = self.rows.borrow_mut().iter_mut().find(|(link, ..)| link.id == id) {
            link.test_result = result.cloned();
        }
        Ok(())
    }

    async fn end_session(&self, id: &str) -> Result<(), Unavailable> {
        if let Some((link, _, session)) = self.rows.borrow_mut().iter_mut().find(|(link, ..)| link.id == id) {
            link.session_expires_at_ms = None;
            *session = None;
        }
        Ok(())
    }
}
