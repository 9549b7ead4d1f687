//! Multi-factor authentication (issue: MFA, in progress). So far the pure parts: TOTP
//! ([`totp`], RFC 6238), recovery codes ([`recovery`]), the QR code of a TOTP enrolment ([`qr`]),
//! and the step-up decision per route with RFC 9470's challenge ([`step_up`], which
//! `routes[].mfa` applies through `authz`). Passkeys, the enrolment and challenge pages and the
//! browser's step-up page build on them.

pub mod qr;
pub mod recovery;
pub mod step_up;
pub mod totp;
