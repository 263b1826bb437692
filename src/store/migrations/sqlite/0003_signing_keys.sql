-- Asymmetric signing keys (ES256, EdDSA). A key signs from `activates_at` until the next key of
-- its algorithm activates; its public half stays published until every token it signed expired.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    activates_at TEXT NOT NULL
);
