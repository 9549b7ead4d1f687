//! Browser login at the edge: the OpenID Connect and OAuth 2.0 relying party (PKCE, discovery,
//! the sealed login ticket, callback and ID token checks, `return_to`), provider configuration,
//! profiles, CSRF and the pages. The routes that drive them are in the worker shell.

pub mod authentication;
pub mod config;
pub mod connection;
pub mod csrf;
pub mod error;
pub mod flow;
pub mod handoff;
pub mod id_token;
pub mod idp_metadata;
pub mod oidc;
pub mod pages;
pub mod profile;
pub mod provider;
pub mod provider_api;
pub mod session_upkeep;
