-- Per-account settings (src/core/settings.rs), NULL meaning the deployment's default, and
-- deletion. They are read with every key (the key cache carries them); changing them is an
-- UPDATE of accounts, which `accounts_changed` already announces.
ALTER TABLE accounts ADD COLUMN scopes TEXT;
ALTER TABLE accounts ADD COLUMN rate_limit_requests INTEGER;
ALTER TABLE accounts ADD COLUMN rate_limit_window_secs INTEGER;
ALTER TABLE accounts ADD COLUMN max_token_lifetime_secs INTEGER;
ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
-- A deleted account keeps its row, so that its name (its tokens' `sub`) is never given to
-- another account.
ALTER TABLE accounts ADD COLUMN deleted_at TEXT;
