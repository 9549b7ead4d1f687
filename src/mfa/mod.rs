//! Multi-factor authentication (issue: MFA, in progress). So far the factors' pure parts: TOTP
//! ([`totp`], RFC 6238), recovery codes ([`recovery`]) and the QR code of a TOTP enrolment
//! ([`qr`]). Passkeys, enrolment and challenge pages, step-up per route and the session's `amr`,
//! `acr` and `auth_time` build on them.

pub mod qr;
pub mod recovery;
pub mod totp;
