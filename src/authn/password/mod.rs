//! Local-account passwords (issue: local accounts). So far: the policy a new password must meet
//! ([`policy`], NIST SP 800-63B-4) with the shipped list of common passwords ([`blocklist`]), and
//! hashing and verification, argon2id in PHC string format with an optional pepper ([`hash`]),
//! and the breached-password check by k-anonymity ([`breach`]). Sign-up and sign-in build on them.

pub mod blocklist;
pub mod breach;
pub mod hash;
pub mod policy;
