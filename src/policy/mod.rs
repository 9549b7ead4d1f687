//! Route policy: a route is a match (host, path, methods) plus requirements (who may pass: public,
//! authenticated, the authenticators it accepts, scopes, roles, tenant) plus rate limits, compiled
//! into one table; and the access a matched route grants, which forwarding requires.

pub mod access;
pub mod routes;
