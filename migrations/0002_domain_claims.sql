-- Domain claims: any number of tenants may claim a domain, and only one can verify it. Under
-- 0001 the first claim held the domain, verified or not, so a squatter could keep its owner out.
-- Verifying a claim drops every other tenant's claim of the domain (src/shell/tenants.rs).

CREATE TABLE domain_claims (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  domain TEXT NOT NULL CHECK (domain = lower(domain)),
  verification_token TEXT NOT NULL,
  verified_at_ms INTEGER,            -- NULL: claimed, not verified; routes nobody
  PRIMARY KEY (tenant_id, domain)
);
CREATE UNIQUE INDEX domains_verified_once ON domain_claims (domain) WHERE verified_at_ms IS NOT NULL;

INSERT INTO domain_claims (tenant_id, domain, verification_token, verified_at_ms)
  SELECT tenant_id, domain, verification_token, verified_at_ms FROM domains;
DROP TABLE domains;
