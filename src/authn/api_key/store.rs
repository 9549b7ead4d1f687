//! The key store port: where API key records live (Workers KV in the worker, a map in
//! [`MemoryKeyStore`] for the host tests).

use super::KeyRecord;
use crate::ports::Unavailable;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Reads and writes key records by id.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait KeyStore {
    /// The record with `id`, if there is one.
    async fn read(&self, id: &str) -> Result<Option<KeyRecord>, Unavailable>;
    /// Writes `record` under its id.
    async fn write(&self, record: &KeyRecord) -> Result<(), Unavailable>;
}

/// Key records in memory.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    records: RefCell<BTreeMap<String, KeyRecord>>,
    writes_fail: std::cell::Cell<bool>,
}

impl MemoryKeyStore {
    /// Whether writes fail (a store outage).
    pub fn set_writes_fail(&self, fail: bool) {
        self.writes_fail.set(fail);
    }

    /// The record with `id`.
    pub fn get(&self, id: &str) -> Option<KeyRecord> {
        self.records.borrow().get(id).cloned()
    }
}

impl KeyStore for MemoryKeyStore {
    async fn read(&self, id: &str) -> Result<Option<KeyRecord>, Unavailable> {
        Ok(self.get(id))
    }

    async fn write(&self, record: &KeyRecord) -> Result<(), Unavailable> {
        if self.writes_fail.get() {
            return Err(Unavailable("key store writes switched off".into()));
        }
        self.records.borrow_mut().insert(record.id.clone(), record.clone());
        Ok(())
    }
}
