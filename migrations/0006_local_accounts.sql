-- Local accounts (src/accounts): a user of the directory may have a password, and emailed links
-- verify a sign-up's address or reset a password. A user with a password also has the identity
-- ('password', its own id), so that ending a user's sessions ends its password sessions too.

CREATE TABLE password_credentials (
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  hash TEXT NOT NULL,                -- argon2id, PHC string format (src/authn/password/hash.rs)
  changed_at_ms INTEGER NOT NULL,    -- a reset link made before this is void
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Emailed links, by the SHA-256 of their token (the token itself is never stored). Each is spent
-- once through the ledger Durable Object, then deleted; an expired one is refused and swept.
CREATE TABLE account_links (
  digest TEXT PRIMARY KEY,
  purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
  tenant_id TEXT NOT NULL,
  email TEXT NOT NULL CHECK (email = lower(email)),
  user_id TEXT,                      -- a reset link's user
  pending_hash TEXT,                 -- a verify link's password hash, until the address is proven
  credential_changed_at_ms INTEGER,  -- a reset link's: the password it replaces
  expires_at_ms INTEGER NOT NULL
);
CREATE INDEX account_links_by_expiry ON account_links (expires_at_ms);
