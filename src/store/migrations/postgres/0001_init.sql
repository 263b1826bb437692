-- keymint's schema on PostgreSQL. sqlx takes an advisory lock while migrating, so several
-- instances starting at once apply this exactly once.

CREATE TABLE accounts (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    slot         TEXT NOT NULL CHECK (slot IN ('primary', 'secondary')),
    hash         BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    -- The scopes the key may grant, space-separated; NULL means every scope.
    scopes       TEXT
);

-- Two keys per account: at most one active key in each slot.
CREATE UNIQUE INDEX api_keys_one_active_per_slot
    ON api_keys (account_id, slot) WHERE revoked_at IS NULL;

CREATE TABLE signing_secrets (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    secret     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_key  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    activates_at TIMESTAMPTZ NOT NULL
);
