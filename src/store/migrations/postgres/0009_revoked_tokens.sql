-- Bearer tokens revoked before their expiry (RFC 7009), kept until they would have expired.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

-- A new revocation is announced on `keymint_keys`, so every instance reloads its revocation
-- list at once. Per row: revoking a token already revoked inserts nothing and announces nothing.
-- Pruning expired entries is not announced: instances forget them on their own.
CREATE TRIGGER revoked_tokens_inserted
    AFTER INSERT ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION keymint_announce_key_change();
