-- Passkeys (src/mfa/webauthn): a user's WebAuthn credentials. The credential id is unique per
-- tenant, since a passwordless sign-in finds the user by it. The public key is stored as the JWK
-- that the signature backends import (a public key: nothing here is secret).

CREATE TABLE passkeys (
  tenant_id TEXT NOT NULL,
  credential_id TEXT NOT NULL,       -- base64url
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  alg TEXT NOT NULL CHECK (alg IN ('ES256', 'EdDSA', 'RS256')),
  public_jwk TEXT NOT NULL,
  sign_count INTEGER NOT NULL DEFAULT 0,  -- the highest signature counter seen
  backup_eligible INTEGER NOT NULL,       -- 1: a synced passkey (amr swk); 0: bound to its device (hwk)
  backed_up INTEGER NOT NULL,
  transports TEXT NOT NULL DEFAULT '[]',  -- JSON array
  aaguid TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  last_used_at_ms INTEGER,
  PRIMARY KEY (tenant_id, credential_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX passkeys_by_user ON passkeys (tenant_id, user_id);
