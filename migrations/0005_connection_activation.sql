-- A connection saved from a setup link (src/directory/onboarding.rs) signs nobody in until the
-- setup finishes after a test sign-in that worked: until then, only that link's test flow may use
-- it. Connections made through the administration API are active from the start, as every
-- connection stored before this migration was, except those a setup link saved: they wait for
-- their setup to finish, or for an administrator (POST .../connections/:id/activate).

ALTER TABLE connections ADD COLUMN activated_at_ms INTEGER;
UPDATE connections SET activated_at_ms = created_at_ms
  WHERE id NOT IN (SELECT connection_id FROM setup_links);
