//! Host tools over the same core the worker runs (`npm run policy`, `npm run check-config`,
//! `npm run preflight`): the policy linter, the simulator, which decides routes for imagined
//! principals, and the preflight, which lists what a deployment needs. Never part of
//! the worker build (feature `cli`).

pub mod lint;
pub mod preflight;
pub mod simulate;

#[cfg(test)]
mod policy_tests;
