-- `Acme` and `acme` are one account name: they would be told apart by nobody reading the audit
-- trail or a token's `sub`.
CREATE UNIQUE INDEX accounts_name_folded ON accounts (lower(name));
