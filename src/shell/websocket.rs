//! Proxying an admitted WebSocket upgrade (`gateway::websocket` decides which are admitted).
//!
//! The origin's socket is not handed to the client as it is: the worker holds both ends and
//! relays the messages (in JavaScript, so a message never crosses into Wasm), so that it can end
//! the connection when the credentials that opened it end. Every `recheck_s` seconds a watcher
//! authenticates the upgrade request again, as a new request would be (the session cache entry
//! is dropped first, so a logout or revocation is seen at once), and authorises it again; when
//! that fails the socket is closed with 1008 (policy violation), or 1011 when authentication
//! cannot be asked (fail closed). A socket of a public route is never rechecked.

use super::api_keys;
use super::authenticate;
use super::config_cache;
use super::sessions;
use crate::authz;
use crate::cache::BoundedCache;
use crate::http::RequestHead;
use crate::policy::access::Access;
use crate::ports::{Entropy, SystemEntropy};
use futures_util::future::{select, Either};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{console_log, Context, Delay, Env, Response};

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
const sendable = (code) => (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999) ? code : 1000;
export function relayWebSocket(upstream, protocol, requestId) {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  upstream.accept();
  let open = true;
  let markClosed;
  const closed = new Promise((resolve) => { markClosed = resolve; });
  const closeBoth = (code, reason) => {
    if (!open) return;
    open = false;
    markClosed();
    for (const socket of [server, upstream]) {
      try { socket.close(sendable(code), reason); } catch {}
    }
  };
  const pipe = (from, to) => {
    from.binaryType = 'arraybuffer';
    // A binary message that still comes as a Blob is read first; once one has, every later
    // message and the close wait their turn behind it, so the order stays the sender's.
    let queue = null;
    const inTurn = (step) => {
      if (queue === null) return step();
      queue = queue.then(step);
    };
    from.addEventListener('message', (event) => {
      const data = event.data;
      if (queue === null && typeof Blob !== 'undefined' && data instanceof Blob) queue = Promise.resolve();
      inTurn(async () => {
        try { to.send(queue !== null && data instanceof Blob ? await data.arrayBuffer() : data); }
        catch { closeBoth(1011, 'peer unavailable'); }
      });
    });
    from.addEventListener('close', (event) => inTurn(() => closeBoth(event.code, event.reason)));
    from.addEventListener('error', () => inTurn(() => closeBoth(1011, 'peer failed')));
  };
  pipe(server, upstream);
  pipe(upstream, server);
  const headers = new Headers({ 'x-request-id': requestId });
  if (protocol) headers.set('sec-websocket-protocol', protocol);
  return {
    response: new Response(null, { status: 101, webSocket: client, headers }),
    isOpen: () => open,
    closed,
    close: (code, reason) => closeBoth(code, reason),
  };
}
export function detachedContext() {
  return { waitUntil() {}, passThroughOnException() {} };
}")]
extern "C" {
    /// The two relayed sockets.
    type Relay;
    #[wasm_bindgen::prelude::wasm_bindgen(catch, js_name = relayWebSocket)]
    fn relay_web_socket(upstream: &JsValue, protocol: Option<String>, request_id: &str) -> Result<Relay, JsValue>;
    #[wasm_bindgen::prelude::wasm_bindgen(method, getter)]
    fn response(this: &Relay) -> web_sys::Response;
    #[wasm_bindgen::prelude::wasm_bindgen(method, js_name = isOpen)]
    fn is_open(this: &Relay) -> bool;
    /// Resolves when either socket has closed.
    #[wasm_bindgen::prelude::wasm_bindgen(method, getter)]
    fn closed(this: &Relay) -> js_sys::Promise;
    #[wasm_bindgen::prelude::wasm_bindgen(method)]
    fn close(this: &Relay, code: u16, reason: &str);
    #[wasm_bindgen::prelude::wasm_bindgen(js_name = detachedContext)]
    fn detached_context() -> JsValue;
}

/// What the watcher needs to authenticate the upgrade request again.
pub struct Watch {
    /// The worker's bindings.
    pub env: Env,
    /// The route's id (the route is looked up again in the configuration of the time).
    pub route_id: String,
    /// The upgrade request's method, URL and headers.
    pub head: RequestHead,
    /// The subject the socket was opened for.
    pub subject: String,
    /// The API key it was opened with, if any.
    pub key_id: Option<String>,
    /// The host and path parameters, for authorisation.
    pub host: String,
    /// Named path parameters.
    pub params: Vec<(String, String)>,
    /// Seconds between checks.
    pub recheck_s: u32,
}

/// Relays an origin's `101` answer to the client, watched by `watch` when it has credentials.
pub fn relay(origin: web_sys::Response, request_id: &str, watch: Option<Watch>) -> Result<Response, ()> {
    let upstream = js_sys::Reflect::get(&origin, &JsValue::from_str("webSocket")).map_err(|_| ())?;
    if upstream.is_null() || upstream.is_undefined() {
        return Err(());
    }
    let protocol = origin.headers().get("sec-websocket-protocol").ok().flatten();
    let relay = relay_web_socket(&upstream, protocol, request_id).map_err(|_| ())?;
    let response = Response::from(relay.response());
    if let Some(watch) = watch {
        wasm_bindgen_futures::spawn_local(watch_socket(relay, watch, request_id.to_owned()));
    }
    Ok(response)
}

/// Why a watched socket was closed.
enum Ended {
    /// The credentials no longer authenticate, or no longer authorise, the request.
    Credentials,
    /// Authentication could not be asked.
    Unavailable,
}

/// How long one recheck may take before the socket is closed as if authentication were down.
const RECHECK_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    /// Recent recheck outcomes by credential (a hash of the route and the credential headers),
    /// each for half a recheck interval, so that many sockets opened with one credential cost
    /// one check of the stores per interval, not one each.
    static RECENT: RefCell<BoundedCache<String, bool>> = RefCell::new(BoundedCache::new(10_000));
}

async fn watch_socket(relay: Relay, watch: Watch, request_id: String) {
    let period_ms = u64::from(watch.recheck_s) * 1000;
    // The first wait is between half and the whole interval, so that sockets opened together
    // (a page load, a reconnect storm) are not rechecked together.
    let jitter = SystemEntropy.bytes::<1>().map_or(255, |b| u64::from(b[0]));
    let mut wait_ms = period_ms / 2 + period_ms / 2 * jitter / 255;
    let closed = JsFuture::from(relay.closed());
    futures_util::pin_mut!(closed);
    loop {
        let tick = Delay::from(Duration::from_millis(wait_ms));
        // A socket that closes ends its watcher at once (and drops the pending timer).
        if let Either::Left(_) = select(&mut closed, tick).await {
            return;
        }
        wait_ms = period_ms;
        if !relay.is_open() {
            return;
        }
        let ended = match recheck(&watch).await {
            Ok(()) => continue,
            Err(ended) => ended,
        };
        let (code, reason) = match ended {
            Ended::Credentials => (1008, "credentials_ended"),
            Ended::Unavailable => (1011, "authentication_unavailable"),
        };
        relay.close(code, reason);
        let line = serde_json::json!({
            "event": "websocket_closed", "request_id": request_id, "route": watch.route_id,
            "principal": watch.subject, "reason": reason,
        });
        console_log!("{line}");
        return;
    }
}

/// The recheck of a watched socket: a recent outcome for the same credential, or a new check
/// within [`RECHECK_TIMEOUT`].
async fn recheck(watch: &Watch) -> Result<(), Ended> {
    let now = js_sys::Date::now() as u64;
    let key = credential_key(watch);
    if let Some(allowed) = RECENT.with(|recent| recent.borrow_mut().get(&key, now).copied()) {
        return if allowed { Ok(()) } else { Err(Ended::Credentials) };
    }
    let check = still_allowed(watch);
    futures_util::pin_mut!(check);
    let outcome = match select(check, Delay::from(RECHECK_TIMEOUT)).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => Err(Ended::Unavailable),
    };
    if !matches!(outcome, Err(Ended::Unavailable)) {
        let until = now + u64::from(watch.recheck_s) * 500;
        RECENT.with(|recent| recent.borrow_mut().insert(key, outcome.is_ok(), until, now));
    }
    outcome
}

/// A hash of the route, the principal, the API key that authenticated it (whatever header it came
/// in), and the session cookie and `Authorization` of the upgrade request.
fn credential_key(watch: &Watch) -> String {
    let mut hash = Sha256::new();
    let parts = [
        watch.route_id.as_str(),
        watch.subject.as_str(),
        watch.key_id.as_deref().unwrap_or_default(),
        watch.head.header("cookie").unwrap_or_default(),
        watch.head.header("authorization").unwrap_or_default(),
    ];
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Authenticates and authorises the upgrade request again, as a new request would be, past
/// this isolate's session and key caches. The session's use is not recorded, so an open socket
/// does not keep a session from idling out.
async fn still_allowed(watch: &Watch) -> Result<(), Ended> {
    let loaded = config_cache::get(&watch.env);
    let config = loaded.as_ref().as_ref().map_err(|_| Ended::Unavailable)?;
    let route = config.routes.routes().iter().find(|route| route.id == watch.route_id).ok_or(Ended::Credentials)?;
    if let Some(value) = watch.head.header("cookie").and_then(sessions::cookie_in) {
        sessions::forget_cached(&value);
    }
    if let Some(id) = &watch.key_id {
        api_keys::forget(id);
    }
    // An open socket keeps its request alive, so the work a context would wait for runs anyway.
    let ctx = Context::new(detached_context().unchecked_into());
    let upkeep = sessions::Upkeep::None;
    let principal = match authenticate::authenticate(&watch.env, &ctx, config, route, &watch.head, upkeep).await {
        Ok(Access::Authenticated(principal)) => principal,
        Ok(Access::Public(_)) => return Ok(()),
        Err(crate::authn::AuthnError::Unavailable(_)) => return Err(Ended::Unavailable),
        Err(_) => return Err(Ended::Credentials),
    };
    if principal.subject() != watch.subject {
        return Err(Ended::Credentials);
    }
    let facts =
        authz::RequestFacts { host: &watch.host, params: &watch.params, now_s: (js_sys::Date::now() / 1000.0) as i64 };
    authz::authorize(&route.requirements, &config.roles, &principal, facts).map(|_| ()).map_err(|_| Ended::Credentials)
}
