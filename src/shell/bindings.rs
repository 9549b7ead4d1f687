//! The names of the worker's bindings that several shell modules share.

/// The KV namespace: API key records, sessions.
pub const KV_BINDING: &str = crate::deploy::names::KV;
