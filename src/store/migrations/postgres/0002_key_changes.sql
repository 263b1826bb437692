-- Every change that can alter a key's validity is announced on channel `keymint_keys`, so each
-- instance drops its cached keys at once. Last-used bookkeeping is not announced.
CREATE FUNCTION keymint_announce_key_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('keymint_keys', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF revoked_at, hash, scopes, account_id, slot ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keymint_announce_key_change();

CREATE TRIGGER accounts_changed
    AFTER UPDATE OR DELETE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION keymint_announce_key_change();
