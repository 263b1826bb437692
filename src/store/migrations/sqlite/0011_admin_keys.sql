-- Admin keys (src/core/adminkey.rs): who may call the admin API. Only each key's SHA-256 is
-- kept. They are read here on every admin request, never cached, so a revocation needs no
-- announcement: no trigger bumps the key generation.
CREATE TABLE admin_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL,
    read_only  INTEGER NOT NULL CHECK (read_only IN (0, 1)),
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
