//! What a browser-facing edge route (login, onboarding) is given.

use crate::config::Config;
use crate::http::RequestHead;
use worker::{Context, Env};

/// Everything a login route needs.
pub struct LoginContext<'a> {
    /// The runtime environment.
    pub env: &'a Env,
    /// The request context.
    pub ctx: &'a Context,
    /// The configuration.
    pub config: &'a Config,
    /// The request.
    pub head: &'a RequestHead,
    /// This request's id.
    pub request_id: &'a str,
}
