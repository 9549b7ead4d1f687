//! SCIM errors (RFC 7644 §3.12): a status, a `scimType` where the RFC names one, and a detail
//! that is safe to show (never SQL, a binding's name or a stack).

use serde_json::{json, Value};

/// The schema URN of an error response.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A refused SCIM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    /// The HTTP status.
    pub status: u16,
    /// RFC 7644's `scimType`, for 400 and 409.
    pub scim_type: Option<&'static str>,
    /// What went wrong, for the IdP's logs.
    pub detail: String,
}

impl ScimError {
    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self { status, scim_type, detail: detail.into() }
    }

    /// 400 `invalidValue`: a required value is missing, or a value is not allowed.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }

    /// 400 `invalidSyntax`: the body is not the JSON a SCIM request is.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), detail)
    }

    /// 400 `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidFilter"), detail)
    }

    /// 400 `invalidPath`: a PATCH path that names nothing this server has.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidPath"), detail)
    }

    /// 400 `noTarget`: a PATCH path whose filter matches no value.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some("noTarget"), detail)
    }

    /// 400 `mutability`: an attempt to change a read-only attribute.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some("mutability"), detail)
    }

    /// 409 `uniqueness`: another resource of the tenant has this value.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }

    /// 404: no such resource in this tenant.
    pub fn not_found() -> Self {
        Self::new(404, None, "no such resource")
    }

    /// 401: no token, or not this tenant's.
    pub fn unauthorized() -> Self {
        Self::new(401, None, "a valid SCIM bearer token of this tenant is required")
    }

    /// 405, 413, 501 and the like.
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        Self::new(status, None, detail)
    }

    /// 503: the directory did not answer.
    pub fn unavailable() -> Self {
        Self::new(503, None, "the directory is unavailable; retry later")
    }

    /// The response body.
    pub fn body(&self) -> Value {
        let mut body = json!({ "schemas": [ERROR_SCHEMA], "status": self.status.to_string(), "detail": self.detail });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        body
    }
}
