//! The deployment environment: the one fact about where Portcullis runs that every layer may ask.

use serde::Deserialize;

/// Where the gateway runs. Switches that weaken security (`insecure_*`) and plain-HTTP origins are
/// refused in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine or a test run.
    Development,
    /// Everything else; the default when a configuration is given.
    Production,
}
