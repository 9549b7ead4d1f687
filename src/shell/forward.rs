//! Forwarding to the origin: streamed bodies both ways, a timeout on the response headers, and
//! the header policy of [`crate::http::headers`].

use super::http::{fetch_with_timeout, FetchFailure};
use super::js_headers;
use super::respond;
use super::websocket;
use crate::config::Config;
use crate::gateway::upstream::ForwardError;
use crate::http::headers::{self, ForwardedFor, HeaderList, REQUEST_ID};
use crate::http::RequestHead;
use crate::pipeline::ProxyRequest;
use crate::policy::access::{Forwarding, OfferedCredentials};
use worker::{Headers, Method, Request, RequestInit, RequestRedirect, Response};

/// What the gateway adds to a forwarded exchange.
pub struct Additions<'a> {
    /// Who the origin is told is calling: a protected route only with a principal and its
    /// signed assertion.
    pub forwarding: &'a Forwarding<'a>,
    /// Headers for the response (rate-limit state).
    pub response_headers: &'a HeaderList,
    /// This request's id.
    pub request_id: &'a str,
    /// For a WebSocket with credentials: how to check them again while it is open.
    pub watch: Option<websocket::Watch>,
}

/// Sends the request to the route's origin and returns the origin's response, re-headed.
pub async fn forward(
    inbound: &web_sys::Request,
    head: &RequestHead,
    config: &Config,
    proxy: &ProxyRequest<'_>,
    additions: Additions<'_>,
) -> Result<Response, ForwardError> {
    let Additions { forwarding, response_headers: extra_response_headers, request_id, watch } = additions;
    let route = proxy.route;
    let target = &proxy.target;
    let url = route.upstream.target(target.path.raw(), target.query.as_deref());
    let authority = target.authority();
    let forwarded = ForwardedFor {
        client_ip: head.header("cf-connecting-ip"),
        proto: &target.scheme,
        host: &authority,
        request_id,
    };
    let identity = forwarding.identity_headers();
    // The origin gets the verified identity, never an API key nor a token nobody verified.
    let mut stripped = config.strip_headers.clone();
    let offered = OfferedCredentials {
        api_key_header: config.api_keys.as_ref().and_then(|k| k.header.as_deref()),
        api_key_prefix: config.api_keys.as_ref().map(|k| k.prefix.as_str()),
        authorization: head.header("authorization"),
    };
    stripped.extend(forwarding.credential_headers_to_strip(&offered, route.forward_authorization));
    // The origin never sees Portcullis's own cookies (the session id and key, login tickets).
    let own_cookies = head.header("cookie").is_some_and(|c| c.contains(crate::session::COOKIE_NAME));
    let inbound_headers = if own_cookies {
        let mut list = head.headers.clone();
        list.retain_mut(|(name, value)| {
            if !name.eq_ignore_ascii_case("cookie") {
                return true;
            }
            match crate::session::strip_own_cookies(value) {
                Some(kept) => {
                    *value = kept;
                    true
                }
                None => false,
            }
        });
        std::borrow::Cow::Owned(list)
    } else {
        std::borrow::Cow::Borrowed(&head.headers)
    };
    let mut outbound_headers = headers::forward_request_headers(&inbound_headers, &stripped, &forwarded, &identity);
    if proxy.websocket {
        crate::gateway::websocket::upgrade_headers(&mut outbound_headers);
    }

    let headers = Headers(js_headers::to_js_headers(&outbound_headers).map_err(|_| ForwardError::Unreachable)?);
    let mut init = RequestInit::new();
    init.with_method(Method::from(head.method.clone()))
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(inbound.body().map(Into::into));
    let outbound = Request::new_with_init(&url, &init).map_err(|_| ForwardError::Unreachable)?;

    let response = match fetch_with_timeout(outbound, u64::from(route.timeout_ms)).await {
        Ok(response) => response,
        Err(FetchFailure::Unreachable) => return Err(ForwardError::Unreachable),
        Err(FetchFailure::Timeout) => return Err(ForwardError::Timeout),
    };

    let status = response.status_code();
    if proxy.websocket && status == 101 {
        return websocket::relay(response.into(), request_id, watch).map_err(|()| ForwardError::Unreachable);
    }
    let origin_headers: HeaderList = js_headers::list_of(&response.headers().0);
    let mut reply_headers = headers::origin_response_headers(&origin_headers, route.cors.is_some());
    // The origin may not set Portcullis's own cookies (a session, a handoff, a ticket).
    reply_headers.retain(|(name, value)| !(name == "set-cookie" && crate::session::sets_own_cookie(value)));
    config.security_headers.apply_to_proxied(&mut reply_headers);
    if let Some(cors) = &route.cors {
        cors.apply_to_response(&mut reply_headers, head.header("origin"));
    }
    for (name, value) in extra_response_headers {
        headers::set(&mut reply_headers, name, value.clone());
    }
    headers::set(&mut reply_headers, REQUEST_ID, request_id);
    let origin_response: web_sys::Response = response.into();
    respond::build(status, &reply_headers, origin_response.body().as_ref()).map_err(|_| ForwardError::Unreachable)
}
