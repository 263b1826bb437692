-- The audit trail, a batch of events per row (src/core/audit.rs): each flush is one row write
-- instead of one per token. `events` is a JSON array of
-- [at_micros, dialect, outcome, reason, account, key_id, scopes, jti, client_ip].
CREATE TABLE audit_batches (
    id             BIGSERIAL PRIMARY KEY,
    -- The newest event's time (Unix microseconds): reading newest first stops early.
    last_at_micros BIGINT NOT NULL,
    events         TEXT NOT NULL
);
CREATE INDEX audit_batches_by_time ON audit_batches (last_at_micros);

INSERT INTO audit_batches (last_at_micros, events)
SELECT (extract(epoch FROM at) * 1000000)::bigint,
       json_build_array(json_build_array((extract(epoch FROM at) * 1000000)::bigint,
                        dialect, outcome, reason, account, key_id, scopes, jti, client_ip))::text
FROM audit_events
ORDER BY id;

DROP TABLE audit_events;
