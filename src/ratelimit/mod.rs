//! Rate limiting: the pure algorithm here, the Durable Object shell in `crate::shell`.

/// GCRA with an injected clock, and the `RateLimit`/`Retry-After` header values it produces.
pub mod gcra;
