//! Host tools over the same core the worker runs (`npm run policy`, `npm run check-config`): the
//! policy linter and the simulator, which decides routes for imagined principals. Never part of
//! the worker build (feature `cli`).

pub mod lint;
pub mod simulate;

#[cfg(test)]
mod policy_tests;
