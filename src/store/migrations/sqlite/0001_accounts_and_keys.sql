CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    slot         TEXT NOT NULL CHECK (slot IN ('primary', 'secondary')),
    hash         BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- Two keys per account: at most one active key in each slot.
CREATE UNIQUE INDEX api_keys_one_active_per_slot
    ON api_keys (account_id, slot) WHERE revoked_at IS NULL;

CREATE TABLE signing_secrets (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    secret     BLOB NOT NULL,
    created_at TEXT NOT NULL
);
