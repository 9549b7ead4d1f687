//! Structured audit events: one JSON line per auth decision, never holding a secret.
//!
//! Lines go to the Workers log (`console.log`), where Logpush or `wrangler tail` collects them.
//! Each carries the request id that the client and the origin also see, so a support request that
//! quotes it leads straight to the reason behind a refusal.

use serde::Serialize;

/// Whether the request went on to the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Forwarded (or, for a preflight, answered positively).
    Allow,
    /// Refused at the edge.
    Deny,
}

/// One audit line.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent<'a> {
    /// Always `auth_decision`.
    pub event: &'static str,
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// The request id.
    pub request_id: &'a str,
    /// The id of the route that decided, when one matched.
    pub route: Option<&'a str>,
    /// The request method.
    pub method: &'a str,
    /// The host asked for.
    pub host: &'a str,
    /// The request path, without the query (queries can carry secrets), cut to 512 bytes.
    pub path: &'a str,
    /// Allow or deny.
    pub decision: Decision,
    /// A stable reason code: the policy that allowed, or the internal refusal reason.
    pub reason: String,
    /// The authenticated subject, if any.
    pub principal: Option<&'a str>,
    /// How the principal authenticated, if it did.
    pub auth_method: Option<&'a str>,
    /// The client IP as the edge saw it.
    pub client_ip: Option<&'a str>,
    /// The status sent to the client (for an allowed request, the origin's).
    pub status: u16,
    /// How the route's rate limits allowed the request: `lease` (from units this isolate held)
    /// or `limiter` (the Durable Object was asked); absent when none counted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<&'static str>,
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub fn truncate(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

impl AuditEvent<'_> {
    /// The event as one JSON line.
    pub fn to_json_line(&self) -> String {
        // Serializing plain strings, numbers and options cannot fail.
        serde_json::to_string(self)
            .unwrap_or_else(|_| String::from("{\"event\":\"auth_decision\",\"error\":\"unserializable\"}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_json_line_with_every_field() {
        let event = AuditEvent {
            event: "auth_decision",
            ts_ms: 1_700_000_000_000,
            request_id: "r1",
            route: Some("api"),
            method: "GET",
            host: "app.example.com",
            path: truncate("/api/\"quoted\"\nline", 512),
            decision: Decision::Deny,
            reason: "unauthenticated".into(),
            principal: None,
            auth_method: None,
            client_ip: Some("203.0.113.9"),
            status: 401,
            rate_limit: None,
        };
        let line = event.to_json_line();
        assert!(!line.contains('\n'));
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["decision"], "deny");
        assert_eq!(parsed["route"], "api");
        assert_eq!(parsed["path"], "/api/\"quoted\"\nline");
        assert_eq!(parsed["principal"], serde_json::Value::Null);
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
