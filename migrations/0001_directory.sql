-- The directory (issue 13, in progress: the D1 adapter that applies this schema comes next; the
-- column names are those of src/directory/scim/sql.rs's USER_COLUMNS). Tenants, their verified domains and connections, users, the identities
-- linked to them, groups and the group → role mappings. Every row below tenants carries its tenant,
-- and every query of the data-access layer is scoped by it.

CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);

CREATE TABLE domains (
  domain TEXT PRIMARY KEY,           -- one tenant per domain, ever
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  verification_token TEXT NOT NULL,
  verified_at_ms INTEGER             -- NULL: claimed, not verified; routes nobody
);

CREATE TABLE connections (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('oidc', 'oauth2', 'saml')),
  settings TEXT NOT NULL,            -- JSON, without secrets
  sealed_secret BLOB,                -- AES-256-GCM under PORTCULLIS_DIRECTORY_KEY, the id as AAD
  link_by_email INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX connections_by_tenant ON connections (tenant_id);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_name TEXT,                    -- SCIM userName (unique per tenant, case-insensitive)
  external_id TEXT,                  -- SCIM externalId, the IdP's id for the user
  email TEXT CHECK (email = lower(email)),
  name TEXT,                         -- SCIM displayName
  status TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'deprovisioned')),
  attributes TEXT NOT NULL DEFAULT '{}',
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX users_by_email ON users (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_by_user_name ON users (tenant_id, user_name COLLATE NOCASE) WHERE user_name IS NOT NULL;
CREATE INDEX users_by_external_id ON users (tenant_id, external_id);

CREATE TABLE identities (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  connection_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, connection_id, subject),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX identities_by_user ON identities (tenant_id, user_id);

CREATE TABLE memberships (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  group_name TEXT NOT NULL,
  PRIMARY KEY (tenant_id, user_id, group_name),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE role_mappings (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  group_name TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (tenant_id, group_name, role)
);
