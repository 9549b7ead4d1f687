// The assertions the integration tests share.
import assert from "node:assert/strict";
import http from "node:http";

/** Runs `action` and returns its result with the origin requests it caused. */
export async function originRequestsDuring(origin, action) {
  const before = origin.requests.length;
  const result = await action();
  return { result, seen: origin.requests.slice(before) };
}

/**
 * A refusal: `status`, the stable error `code`, nothing reached the origin, and, for
 * `invalid_token`, the RFC 6750 challenge. `result` is `{ status, headers?, body, seen }`; `body`
 * is the parsed JSON or its text.
 */
export function assertRefused(result, status = 401, code = "invalid_token") {
  const text = typeof result.body === "string" ? result.body : JSON.stringify(result.body);
  const body = typeof result.body === "string" ? JSON.parse(result.body) : result.body;
  assert.equal(result.status, status, text);
  assert.equal(body.error, code, text);
  assert.equal(result.seen.length, 0, "the origin saw nothing");
  if (code === "invalid_token" && result.headers) {
    assert.equal(result.headers.get("www-authenticate"), 'Bearer realm="portcullis", error="invalid_token"');
  }
}

/** A JSON error response's body, checked for its shape: code, description, and this request's id. */
export async function jsonError(response) {
  assert.match(response.headers.get("content-type"), /^application\/json/);
  const body = await response.json();
  assert.equal(typeof body.error, "string");
  assert.equal(typeof body.error_description, "string");
  assert.equal(body.request_id, response.headers.get("x-request-id"));
  return body;
}

/**
 * POSTs `size` bytes to `url` on a connection of its own (the gateway answers an oversized body
 * before reading it all and closes the connection, which would break the next request on a pooled
 * one); resolves to { status, body } as text.
 */
export function postOversized(url, size, headers = {}) {
  return new Promise((resolve, reject) => {
    const sent = { "content-length": size, "content-type": "application/json", ...headers };
    const request = http.request(url, { method: "POST", agent: false, headers: sent }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode, body, headers: res.headers }));
    });
    // Closing before taking the whole body is the point, not a failure.
    request.on("error", (error) => (["EPIPE", "ECONNRESET"].includes(error.code) ? undefined : reject(error)));
    request.end("x".repeat(size));
  });
}
