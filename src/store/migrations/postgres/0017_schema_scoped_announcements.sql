-- Announcements name the schema whose tables changed. LISTEN/NOTIFY channels belong to the
-- database, not to a schema: deployments that share a database in schemas of their own
-- (staging beside production, one per tenant) each heard every other's changes and emptied their
-- key caches for them. Each instance now acts only on its own schema's announcements.
CREATE OR REPLACE FUNCTION keymint_announce_key_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('keymint_keys', TG_TABLE_SCHEMA);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
