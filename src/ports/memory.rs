//! In-memory implementations of the shared ports, for the host tests (and any host tool): a clock
//! that moves only when told, a ledger in a map that can be switched off, and an HTTP peer that
//! answers from a table and records what it was sent.

use super::{Clock, HttpClient, InboundResponse, Ledger, OutboundRequest, Unavailable};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// A clock that stands still until [`ManualClock::advance`].
#[derive(Debug, Default)]
pub struct ManualClock(Cell<u64>);

impl ManualClock {
    /// A clock at `now_ms`.
    pub fn at_ms(now_ms: u64) -> Self {
        Self(Cell::new(now_ms))
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, by_ms: u64) {
        self.0.set(self.0.get() + by_ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// A ledger in a map; [`MemoryLedger::set_available`] simulates an outage.
#[derive(Debug)]
pub struct MemoryLedger {
    used: RefCell<HashMap<String, u64>>,
    revoked: RefCell<HashMap<String, (u64, Option<u64>)>>,
    available: Cell<bool>,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self { used: RefCell::default(), revoked: RefCell::default(), available: Cell::new(true) }
    }
}

impl MemoryLedger {
    /// Whether the ledger answers.
    pub fn set_available(&self, available: bool) {
        self.available.set(available);
    }

    /// When `id` stops working, if it was revoked.
    pub fn revoked_at_ms(&self, id: &str) -> Option<u64> {
        self.revoked.borrow().get(id).map(|(at, _)| *at)
    }

    /// How many ids were revoked.
    pub fn revocations(&self) -> usize {
        self.revoked.borrow().len()
    }

    /// Whether `id` was claimed.
    pub fn is_used(&self, id: &str) -> bool {
        self.used.borrow().contains_key(id)
    }

    fn answer(&self) -> Result<(), Unavailable> {
        if self.available.get() {
            Ok(())
        } else {
            Err(Unavailable("ledger switched off".into()))
        }
    }
}

impl Ledger for MemoryLedger {
    async fn claim_once(&self, id: &str, ttl_ms: u64) -> Result<bool, Unavailable> {
        self.answer()?;
        let mut used = self.used.borrow_mut();
        if used.contains_key(id) {
            return Ok(false);
        }
        used.insert(id.to_owned(), ttl_ms);
        Ok(true)
    }

    async fn revoke(&self, id: &str, at_ms: u64, keep_until_ms: Option<u64>) -> Result<(), Unavailable> {
        self.answer()?;
        let mut revoked = self.revoked.borrow_mut();
        let at = crate::ledger::combined_revocation(id, revoked.get(id).map(|(at, _)| *at), at_ms);
        revoked.insert(id.to_owned(), (at, keep_until_ms));
        Ok(())
    }
}

/// An HTTP peer that answers each URL (without its query) from a table, and records every
/// request. A URL it does not know is unreachable.
#[derive(Debug, Default)]
pub struct TablePeer {
    answers: RefCell<HashMap<String, InboundResponse>>,
    sent: RefCell<Vec<OutboundRequest>>,
}

impl TablePeer {
    /// Answers `url` with `status` and a JSON body from now on.
    pub fn answer(&self, url: &str, status: u16, body: &serde_json::Value) {
        let response = InboundResponse { status, body: body.to_string().into_bytes() };
        self.answers.borrow_mut().insert(url.to_owned(), response);
    }

    /// Answers `url` with `status` and `body` as they are.
    pub fn answer_raw(&self, url: &str, status: u16, body: &[u8]) {
        let response = InboundResponse { status, body: body.to_vec() };
        self.answers.borrow_mut().insert(url.to_owned(), response);
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<OutboundRequest> {
        self.sent.borrow().clone()
    }
}

impl HttpClient for TablePeer {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, Unavailable> {
        let key = request.url.split('?').next().unwrap_or_default().to_owned();
        self.sent.borrow_mut().push(request);
        self.answers.borrow().get(&key).cloned().ok_or_else(|| Unavailable(format!("no peer at {key}")))
    }
}

/// Runs a future whose I/O is all in memory to completion. The in-memory ports never wait, so a
/// future that stays pending would be a bug in the code under test: it panics.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("an in-memory future never completed")
}
