-- Tamper evidence (src/core/audit_chain.rs): each batch's link, a SHA-256 of the batch and of
-- the link before it (NULL for batches written before); the newest link (head) and the link
-- the oldest kept batch follows (anchor, moved by pruning), in one row that writers lock, so
-- batches from every instance form one chain in the order of their ids.
ALTER TABLE audit_batches ADD COLUMN link BYTEA;
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    head_id     BIGINT,
    head_link   BYTEA,
    anchor_id   BIGINT,
    anchor_link BYTEA
);
INSERT INTO audit_chain (id) VALUES (1);
