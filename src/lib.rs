//! Portcullis: an authentication gateway for the edge.
//!
//! The crate is a pure core (configuration, request guard, routing, CORS, header policy, audit)
//! that builds and is unit-tested on the host, and a thin shell (`shell`, wasm32 only) that binds
//! it to the Workers runtime: the fetch handler, KV, Durable Objects and `fetch` to the origin.

// Table-driven tests spell out their row types.
#![cfg_attr(test, allow(clippy::type_complexity))]

pub mod accounts;
pub mod assertion;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod cache;
pub mod calendar;
pub mod config;
pub mod deploy;
pub mod directory;
pub mod edge;
pub mod error;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod ledger;
pub mod login;
pub mod mfa;
pub mod pipeline;
pub mod policy;
pub mod ports;
pub mod random;
pub mod ratelimit;
pub mod saml;
pub mod secret;
pub mod session;
/// Strategies the generative tests share.
#[cfg(test)]
mod testing;
#[cfg(any(test, feature = "cli"))]
pub mod tools;

#[cfg(target_arch = "wasm32")]
mod shell;
