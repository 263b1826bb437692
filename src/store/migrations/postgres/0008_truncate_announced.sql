-- TRUNCATE fires no row trigger: announce it too, so that no instance keeps answering from
-- memory for keys that are gone. (What no trigger sees, such as writes made with
-- session_replication_role = replica, is bounded by the key cache's time to live.)
CREATE TRIGGER api_keys_truncated
    AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keymint_announce_key_change();
CREATE TRIGGER accounts_truncated
    AFTER TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION keymint_announce_key_change();
