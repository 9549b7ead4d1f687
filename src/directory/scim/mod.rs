//! SCIM 2.0 (RFC 7643, RFC 7644): what the directory's service provider needs to read requests
//! safely. Filters are parsed ([`filter`]) and become SQL with bound parameters ([`sql`]).

pub mod filter;
pub mod sql;
