//! Multi-factor authentication (issue: MFA, in progress): TOTP ([`totp`], RFC 6238), recovery
//! codes ([`recovery`]), the QR code of a TOTP enrolment ([`qr`]), a user's factors and what a
//! sign-in does after its first factor ([`factors`]), the ticket of a sign-in awaiting its second
//! factor ([`ticket`]), and the step-up decision per route with RFC 9470's challenge
//! ([`step_up`], which `routes[].mfa` applies through `authz`). The pages are the shell's
//! (`shell::account_mfa`). Passkeys ([`webauthn`]) build on the same pieces.

pub mod factors;
pub mod qr;
pub mod recovery;
pub mod step_up;
pub mod ticket;
pub mod totp;
pub mod webauthn;
