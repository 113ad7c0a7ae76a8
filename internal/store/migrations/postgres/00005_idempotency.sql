-- +goose Up
-- Idempotency keys of money-moving requests, scoped to the caller. The key
-- row is claimed in the same transaction as the movement it guards, so a key
-- exists exactly when its movement committed. The stored response is what a
-- retry with the same key and body gets back.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,   -- the caller (user ID)
    key          TEXT NOT NULL,   -- the client's Idempotency-Key
    request_hash TEXT NOT NULL,   -- SHA-256 of method, route and canonical body
    resource_id  TEXT NOT NULL,   -- what the request created
    created_at   BIGINT NOT NULL, -- Unix microseconds, UTC
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE idempotency_responses (
    scope  TEXT NOT NULL,
    key    TEXT NOT NULL,
    status INTEGER NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- +goose Down
DROP TABLE idempotency_responses;
DROP TABLE idempotency_keys;
