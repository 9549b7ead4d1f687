// Creating API keys through the management API, as an administrator would.

import { TEST_ADMIN_KEY } from "./config.mjs";

/** Creates a key and returns the full management API answer (with `key`, shown once). */
export async function createApiKey(gatewayUrl, fields, adminKey = TEST_ADMIN_KEY) {
  const response = await fetch(`${gatewayUrl}/auth/api-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify(fields),
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`creating an API key: ${response.status} ${JSON.stringify(body)}`);
  return body;
}
