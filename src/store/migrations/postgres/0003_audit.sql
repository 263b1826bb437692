CREATE TABLE audit_events (
    id        BIGSERIAL PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    dialect   TEXT NOT NULL,
    outcome   TEXT NOT NULL CHECK (outcome IN ('issued', 'refused')),
    reason    TEXT,
    account   TEXT,
    key_id    TEXT,
    scopes    TEXT,
    jti       TEXT,
    client_ip TEXT
);
CREATE INDEX audit_events_by_time ON audit_events (at);
CREATE INDEX audit_events_by_account ON audit_events (account, at);
