-- +goose Up
-- The fraud and velocity rules read a customer's most recent outgoing
-- transfers before every transfer (internal/risk). The index they scan
-- carries the columns they read, so the scan never visits the table.
DROP INDEX transfers_from_owner;
CREATE INDEX transfers_from_owner ON transfers (from_owner_id, id, kind, status, asset, amount, to_account_id, to_owner_id, created_at);

-- +goose Down
DROP INDEX transfers_from_owner;
CREATE INDEX transfers_from_owner ON transfers (from_owner_id, id);
