-- Envelope encryption (src/core/envelope.rs): the id of the master key that sealed each
-- signing secret, beside its ciphertext; NULL for a secret kept in the clear (a database from
-- before sealing, or a deployment without a master key), sealed on the first start with a key.
ALTER TABLE signing_secrets ADD COLUMN sealed_with TEXT;
ALTER TABLE signing_keys ADD COLUMN sealed_with TEXT;
