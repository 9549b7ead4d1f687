//! Published test keys (RFC 7515 Appendix A.3, RFC 8037 Appendix A.1), shared by the suites that
//! sign tokens on the host.

/// RFC 7515 Appendix A.3's P-256 key: the private scalar.
pub const EC_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
/// Its public point's x.
pub const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
/// Its public point's y.
pub const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
/// RFC 8037 Appendix A.1's Ed25519 key: the seed.
pub const ED_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
/// Its public key.
pub const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
