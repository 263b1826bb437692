-- Admin keys (src/core/adminkey.rs): who may call the admin API. Only each key's SHA-256 is
-- kept. They are read here on every admin request, never cached, so a revocation needs no
-- announcement on `keymint_keys`.
CREATE TABLE admin_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    read_only  BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
