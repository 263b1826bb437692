-- An operator can revoke a signing key (`signing-keys revoke`): it then neither signs nor
-- verifies and leaves the JWKS. New and revoked signing keys bump the key generation, so every
-- instance reloads its keyring at once rather than at its next periodic reload.
ALTER TABLE signing_keys ADD COLUMN revoked_at TEXT;

CREATE TRIGGER signing_keys_inserted AFTER INSERT ON signing_keys
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_revoked AFTER UPDATE OF revoked_at ON signing_keys
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
