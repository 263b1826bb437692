-- Bearer tokens revoked before their expiry (RFC 7009), kept until they would have expired.
-- `expires_at` is the token's `exp` in Unix seconds: compared and indexed as a number, where
-- text timestamps would order correctly only while every one is written alike.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at TEXT NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

-- A new revocation bumps the key generation, so every instance reloads its revocation list
-- within a poll. Pruning expired entries is not announced: instances forget them on their own.
CREATE TRIGGER revoked_tokens_inserted AFTER INSERT ON revoked_tokens
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
