//! The gateway's stages below the pipeline: edge guard (limits, path, refusals), CORS, security
//! headers and the upstream. Routes and the access they grant are [`crate::policy`]'s; the
//! pipeline that runs the stages in order is [`crate::pipeline`].

pub mod cors;
pub mod limits;
pub mod path;
pub mod refusals;
pub mod security_headers;
pub mod upstream;
pub mod websocket;
