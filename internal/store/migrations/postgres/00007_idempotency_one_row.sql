-- +goose Up
-- An Idempotency-Key's claim and the response to replay become one row:
-- the posting engine computes the response from the committed outcome and
-- writes it with the claim, so a money movement inserts one row here
-- instead of two (and touches one B-tree keyed by a client-chosen key
-- instead of two).
ALTER TABLE idempotency_keys ADD COLUMN status INTEGER NOT NULL DEFAULT 0; -- HTTP status of the response
ALTER TABLE idempotency_keys ADD COLUMN body TEXT NOT NULL DEFAULT '';     -- the response body
UPDATE idempotency_keys SET
    status = COALESCE((SELECT r.status FROM idempotency_responses r WHERE r.scope = idempotency_keys.scope AND r.key = idempotency_keys.key), 0),
    body = COALESCE((SELECT r.body FROM idempotency_responses r WHERE r.scope = idempotency_keys.scope AND r.key = idempotency_keys.key), '');
DROP TABLE idempotency_responses;

-- +goose Down
CREATE TABLE idempotency_responses (
    scope  TEXT NOT NULL,
    key    TEXT NOT NULL,
    status INTEGER NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
INSERT INTO idempotency_responses (scope, key, status, body)
    SELECT scope, key, status, body FROM idempotency_keys WHERE status <> 0;
ALTER TABLE idempotency_keys DROP COLUMN body;
ALTER TABLE idempotency_keys DROP COLUMN status;
