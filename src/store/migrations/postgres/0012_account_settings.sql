-- Per-account settings (src/core/settings.rs), NULL meaning the deployment's default, and
-- deletion. They are read with every key (the key cache carries them); changing them is an
-- UPDATE of accounts, which `accounts_changed` already announces on `keymint_keys`.
ALTER TABLE accounts
    ADD COLUMN scopes TEXT,
    ADD COLUMN rate_limit_requests BIGINT,
    ADD COLUMN rate_limit_window_secs BIGINT,
    ADD COLUMN max_token_lifetime_secs BIGINT,
    ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false,
    -- A deleted account keeps its row, so that its name (its tokens' `sub`) is never given to
    -- another account.
    ADD COLUMN deleted_at TIMESTAMPTZ;
