//! Browser login at the edge (OpenID Connect relying party). This is the pure core: PKCE,
//! discovery, the sealed login ticket, the callback and ID token checks, and `return_to`. The
//! edge routes that use it (`/auth/login`, `/auth/callback`, `/auth/logout`, `/auth/session`) and
//! sessions in KV are not built yet.

pub mod oidc;
