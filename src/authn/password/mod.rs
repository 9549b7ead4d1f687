//! Local-account passwords (issue: local accounts). So far: hashing and verification, argon2id in
//! PHC string format with an optional pepper ([`hash`]). Policy, sign-up and sign-in build on it.

pub mod hash;
