-- +goose Up
-- Controls on transfers: approvals (maker-checker), risk review, expiry of
-- waiting transfers, and reversals as transfers of their own (kind
-- 'reversal', naming the transfer they undo), so that a reversal goes
-- through the same approvals.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE transfers_new (
    id                 TEXT    PRIMARY KEY, -- trf_<ULID>
    kind               TEXT    NOT NULL CHECK (kind IN ('cash', 'shares', 'adjustment', 'reversal')),
    status             TEXT    NOT NULL CHECK (status IN ('pending_approval', 'under_review', 'executed',
                                                          'rejected', 'expired', 'failed', 'reversed')),
    maker_user_id      TEXT    NOT NULL,
    from_account_id    TEXT    NOT NULL,
    to_account_id      TEXT    NOT NULL,
    from_owner_id      TEXT,
    to_owner_id        TEXT,
    asset              TEXT    NOT NULL,
    amount             BIGINT  NOT NULL CHECK (amount > 0),
    memo               TEXT    NOT NULL DEFAULT '',
    entry_id           TEXT,
    hold_id            TEXT,
    balance_after      BIGINT,
    available_after    BIGINT,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    executed_at        BIGINT  NOT NULL DEFAULT 0,
    required_approvals INTEGER NOT NULL DEFAULT 0 CHECK (required_approvals BETWEEN 0 AND 2),
    approvals          INTEGER NOT NULL DEFAULT 0 CHECK (approvals >= 0),
    risk_score         INTEGER NOT NULL DEFAULT 0,
    risk_reasons       TEXT    NOT NULL DEFAULT '[]', -- JSON array of {rule, points, message}
    expires_at         BIGINT  NOT NULL DEFAULT 0,    -- a waiting transfer expires then (0: never)
    reverses_id        TEXT,                          -- kind 'reversal': the transfer it undoes
    reversal_id        TEXT,                          -- status 'reversed': the reversal that undid it
    reason             TEXT    NOT NULL DEFAULT '',   -- why it was rejected or reversed
    decided_at         BIGINT  NOT NULL DEFAULT 0,    -- when it was approved for good, rejected or expired
    CHECK (from_account_id <> to_account_id),
    CHECK (status <> 'executed' OR entry_id IS NOT NULL),
    CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL))
);
INSERT INTO transfers_new (id, kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id, to_owner_id,
        asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at, executed_at)
    SELECT id, kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id, to_owner_id,
        asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at, executed_at
    FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_new RENAME TO transfers;
CREATE INDEX transfers_from_owner ON transfers (from_owner_id, id);
CREATE INDEX transfers_to_owner ON transfers (to_owner_id, id);
CREATE INDEX transfers_waiting ON transfers (status, id) WHERE status IN ('pending_approval', 'under_review');
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
CREATE TABLE transfers_old (
    id              TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('cash', 'shares', 'adjustment')),
    status          TEXT    NOT NULL CHECK (status IN ('pending_approval', 'under_review', 'executed',
                                                       'rejected', 'expired', 'failed', 'reversed')),
    maker_user_id   TEXT    NOT NULL,
    from_account_id TEXT    NOT NULL,
    to_account_id   TEXT    NOT NULL,
    from_owner_id   TEXT,
    to_owner_id     TEXT,
    asset           TEXT    NOT NULL,
    amount          BIGINT  NOT NULL CHECK (amount > 0),
    memo            TEXT    NOT NULL DEFAULT '',
    entry_id        TEXT,
    hold_id         TEXT,
    balance_after   BIGINT,
    available_after BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    executed_at     BIGINT  NOT NULL DEFAULT 0,
    CHECK (from_account_id <> to_account_id),
    CHECK (status <> 'executed' OR entry_id IS NOT NULL)
);
INSERT INTO transfers_old SELECT id, kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id, to_owner_id,
    asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at, executed_at FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_old RENAME TO transfers;
CREATE INDEX transfers_from_owner ON transfers (from_owner_id, id);
CREATE INDEX transfers_to_owner ON transfers (to_owner_id, id);
CREATE INDEX transfers_waiting ON transfers (status, id) WHERE status IN ('pending_approval', 'under_review');
