//! The gateway's stages below the pipeline: edge guard (limits, path, refusals), routes, CORS,
//! security headers, the upstream, and the access that forwarding takes. The pipeline that runs
//! them in order is [`crate::pipeline`].

pub mod access;
pub mod cors;
pub mod limits;
pub mod path;
pub mod refusals;
pub mod routes;
pub mod security_headers;
pub mod upstream;
