-- The scopes a key may grant, space-separated; NULL means every scope.
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
