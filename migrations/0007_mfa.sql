-- Second factors (src/mfa): a user's authenticator app (TOTP) and recovery codes. Passkeys will
-- join mfa_factors as kind 'webauthn'.

CREATE TABLE mfa_factors (
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('totp')),
  name TEXT NOT NULL,
  sealed_secret TEXT NOT NULL,       -- AES-256-GCM under the directory key, bound to this row (src/mfa/factors.rs)
  last_step INTEGER,                 -- the last TOTP step accepted: no earlier or equal step is accepted again
  created_at_ms INTEGER NOT NULL,
  last_used_at_ms INTEGER,
  PRIMARY KEY (tenant_id, user_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
-- One authenticator app per user.
CREATE UNIQUE INDEX mfa_one_totp_per_user ON mfa_factors (tenant_id, user_id) WHERE kind = 'totp';

-- Recovery codes by their SHA-256 (the codes are shown once and never stored); a set is replaced
-- whole when regenerated.
CREATE TABLE recovery_codes (
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  used_at_ms INTEGER,
  PRIMARY KEY (tenant_id, user_id, digest),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
