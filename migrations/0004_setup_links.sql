-- Setup links (src/directory/onboarding.rs): a deployment administrator gives a tenant's IT
-- administrator a single-use, expiring link to the onboarding page. Opening it exchanges the
-- link for a setup session of a few hours, limited to the tenant's one connection and its
-- domains. Only SHA-256 hashes of the link's token and of the session's cookie are stored.

CREATE TABLE setup_links (
  id TEXT PRIMARY KEY,                  -- stl_ and 16 of a-z, 2-7
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,      -- hex SHA-256 of the link's token
  created_by TEXT NOT NULL,             -- the administrator who made it
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,       -- the link opens before this, once
  connection_id TEXT NOT NULL,          -- the connection the setup creates (reserved at creation)
  opened_at_ms INTEGER,                 -- NULL until the link is used
  session_hash TEXT UNIQUE,             -- hex SHA-256 of the setup session's cookie; NULL once ended
  session_expires_at_ms INTEGER,
  test_result TEXT                      -- JSON: what the last test sign-in showed
);
CREATE INDEX setup_links_by_tenant ON setup_links (tenant_id);
