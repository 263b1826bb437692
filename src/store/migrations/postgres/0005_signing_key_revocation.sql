-- An operator can revoke a signing key (`signing-keys revoke`): it then neither signs nor
-- verifies and leaves the JWKS. New and revoked signing keys are announced on `keymint_keys`,
-- so every instance reloads its keyring at once rather than at its next periodic reload.
ALTER TABLE signing_keys ADD COLUMN revoked_at TIMESTAMPTZ;

CREATE TRIGGER signing_keys_changed
    AFTER INSERT OR UPDATE OF revoked_at ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keymint_announce_key_change();
