//! The session store port: where sealed session records live (Workers KV in the worker, a map in
//! [`MemorySessionStore`] for the host tests).

use super::{SessionCookie, SessionRecord};
use crate::ports::{Entropy, Unavailable};
use std::cell::RefCell;
use std::collections::HashMap;

/// Stores sessions. A login only ever creates: the id is always fresh (no session fixation).
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait SessionStore {
    /// Stores `record` under a fresh id and returns the cookie that opens it.
    async fn create(&self, record: &SessionRecord) -> Result<SessionCookie, Unavailable>;
}

/// Sessions in memory, sealed exactly as in KV.
#[derive(Debug)]
pub struct MemorySessionStore<E: Entropy> {
    entropy: E,
    sealed: RefCell<HashMap<String, Vec<u8>>>,
}

impl<E: Entropy> MemorySessionStore<E> {
    /// An empty store drawing ids from `entropy`.
    pub fn new(entropy: E) -> Self {
        Self { entropy, sealed: RefCell::default() }
    }

    /// The record `cookie` opens, if the store holds it.
    pub fn open(&self, cookie: &SessionCookie) -> Option<SessionRecord> {
        self.sealed.borrow().get(&cookie.kv_key()).and_then(|sealed| cookie.open(sealed).ok())
    }

    /// How many sessions are stored.
    pub fn len(&self) -> usize {
        self.sealed.borrow().len()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<E: Entropy> SessionStore for MemorySessionStore<E> {
    async fn create(&self, record: &SessionRecord) -> Result<SessionCookie, Unavailable> {
        let cookie = SessionCookie::from_random(&self.entropy.bytes::<48>()?);
        let sealed = cookie.seal(record, &self.entropy.bytes::<12>()?);
        self.sealed.borrow_mut().insert(cookie.kv_key(), sealed);
        Ok(cookie)
    }
}
