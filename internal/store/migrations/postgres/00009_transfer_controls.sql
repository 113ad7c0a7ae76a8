-- +goose Up
-- Controls on transfers: approvals (maker-checker), risk review, expiry of
-- waiting transfers, and reversals as transfers of their own (kind
-- 'reversal', naming the transfer they undo), so that a reversal goes
-- through the same approvals.
ALTER TABLE transfers DROP CONSTRAINT transfers_kind_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_kind_check CHECK (kind IN ('cash', 'shares', 'adjustment', 'reversal'));
ALTER TABLE transfers ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 0 CHECK (required_approvals BETWEEN 0 AND 2);
ALTER TABLE transfers ADD COLUMN approvals INTEGER NOT NULL DEFAULT 0 CHECK (approvals >= 0);
ALTER TABLE transfers ADD COLUMN risk_score INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN risk_reasons TEXT NOT NULL DEFAULT '[]'; -- JSON array of {rule, points, message}
ALTER TABLE transfers ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;    -- a waiting transfer expires then (0: never)
ALTER TABLE transfers ADD COLUMN reverses_id TEXT;                        -- kind 'reversal': the transfer it undoes
ALTER TABLE transfers ADD COLUMN reversal_id TEXT;                        -- status 'reversed': the reversal that undid it
ALTER TABLE transfers ADD COLUMN reason TEXT NOT NULL DEFAULT '';         -- why it was rejected or reversed
ALTER TABLE transfers ADD COLUMN decided_at BIGINT NOT NULL DEFAULT 0;    -- when it was approved for good, rejected or expired
ALTER TABLE transfers ADD CONSTRAINT transfers_reversal_names_original CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL));
CREATE INDEX transfers_expiring ON transfers (expires_at) WHERE status IN ('pending_approval', 'under_review');
-- A transfer is reversed by at most one reversal that is waiting or done.
CREATE UNIQUE INDEX transfers_one_reversal ON transfers (reverses_id)
    WHERE reverses_id IS NOT NULL AND status IN ('pending_approval', 'under_review', 'executed');

-- Who decided what about a transfer: one row per approver, so nobody
-- approves twice; the maker never appears (the service refuses it).
CREATE TABLE transfer_decisions (
    transfer_id TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    decision    TEXT   NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason      TEXT   NOT NULL DEFAULT '',
    at          BIGINT NOT NULL,
    PRIMARY KEY (transfer_id, user_id)
);

-- +goose Down
DROP TABLE transfer_decisions;
DROP INDEX transfers_one_reversal;
DROP INDEX transfers_expiring;
DELETE FROM transfers WHERE kind = 'reversal';
ALTER TABLE transfers DROP CONSTRAINT transfers_reversal_names_original;
ALTER TABLE transfers DROP COLUMN decided_at;
ALTER TABLE transfers DROP COLUMN reason;
ALTER TABLE transfers DROP COLUMN reversal_id;
ALTER TABLE transfers DROP COLUMN reverses_id;
ALTER TABLE transfers DROP COLUMN expires_at;
ALTER TABLE transfers DROP COLUMN risk_reasons;
ALTER TABLE transfers DROP COLUMN risk_score;
ALTER TABLE transfers DROP COLUMN approvals;
ALTER TABLE transfers DROP COLUMN required_approvals;
ALTER TABLE transfers DROP CONSTRAINT transfers_kind_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_kind_check CHECK (kind IN ('cash', 'shares', 'adjustment'));
