-- A key's name and expiry, and a rotation's grace period (src/core/rotation.rs). A key replaced
-- with a grace period is revoked at once (revoked_at: it leaves its slot's unique index,
-- api_keys_one_active_per_slot) and works until retires_at; a plain revocation clears
-- retires_at, so it never depends on clocks agreeing. name and expires_at are never updated.
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN retires_at TIMESTAMPTZ;

-- Cutting a grace period short alters a key's validity: announce it as api_keys_changed does.
CREATE TRIGGER api_keys_retirement_changed
    AFTER UPDATE OF retires_at ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keymint_announce_key_change();
