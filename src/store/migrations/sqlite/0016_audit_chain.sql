-- Tamper evidence (src/core/audit_chain.rs): each batch's link, a SHA-256 of the batch and of
-- the link before it (NULL for batches written before); the newest link (head) and the link
-- the oldest kept batch follows (anchor, moved by pruning), in one row.
ALTER TABLE audit_batches ADD COLUMN link BLOB;
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    head_id     INTEGER,
    head_link   BLOB,
    anchor_id   INTEGER,
    anchor_link BLOB
);
INSERT INTO audit_chain (id) VALUES (1);
