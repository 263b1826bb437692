-- A counter bumped by every change that can alter a key's validity, so instances can notice
-- a rotation or revocation made elsewhere (by the CLI, another process) with one cheap read.
-- Last-used bookkeeping does not bump it.
CREATE TABLE key_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO key_generation (id, n) VALUES (1, 0);

CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, hash, scopes, account_id, slot ON api_keys
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_changed AFTER UPDATE ON accounts
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_deleted AFTER DELETE ON accounts
BEGIN UPDATE key_generation SET n = n + 1 WHERE id = 1; END;
