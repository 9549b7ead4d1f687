//! SCIM 2.0 (RFC 7643, RFC 7644): what the directory's service provider needs to read requests
//! safely. Filters are parsed ([`filter`]) and become SQL with bound parameters ([`sql`]); one
//! table is the User schema ([`schema`]), which validates documents, PATCH applies the dialects
//! IdPs send ([`patch`]), and errors follow §3.12 ([`error`]).

pub mod discovery;
pub mod error;
pub mod evaluate;
pub mod filter;
pub mod group;
pub mod groups;
pub mod patch;
pub mod schema;
pub mod sql;
pub mod token;
pub mod users;
