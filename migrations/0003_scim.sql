-- SCIM 2.0 (src/directory/scim/): the document an IdP last wrote for a user, kept as the schema
-- table canonicalised it (the columns of 0001 stay the source of what they hold), the tenants'
-- groups, and the tenants' SCIM bearer tokens, stored as SHA-256 hashes only.

ALTER TABLE users ADD COLUMN scim_profile TEXT NOT NULL DEFAULT '{}';

CREATE TABLE scim_groups (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  display_name TEXT NOT NULL,        -- the group's name, as memberships and role mappings use it
  external_id TEXT,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX scim_groups_by_name ON scim_groups (tenant_id, display_name COLLATE NOCASE);

CREATE TABLE scim_tokens (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the token; the token itself is never stored
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX scim_tokens_by_tenant ON scim_tokens (tenant_id);
