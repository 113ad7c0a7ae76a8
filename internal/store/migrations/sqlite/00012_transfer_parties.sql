-- +goose Up
-- The owners of each transfer, indexed in bulk (SQLite only).
--
-- Indexes keyed by customer (transfers_from_owner, transfers_to_owner)
-- put every transfer at the end of its customers' ranges, so a commit of a
-- batch of transfers writes one page of each index for almost every
-- transfer in it, whole, to the WAL (and later into the database). Here
-- the posting path writes only the transfer row, appended in insertion
-- order (seq); transfer_parties, one row per customer a transfer leaves
-- from or reaches, is filled up to index_marks.upto by a background
-- indexer (store.Indexer) a few times a second, sorted, so that a page of
-- it is written once for many transfers. Readers take transfer_parties up
-- to the mark and the transfers past it (few: what was inserted since the
-- indexer last ran) in one statement.
--
-- seq must be an INTEGER PRIMARY KEY: VACUUM renumbers implicit rowids.
-- SQLite cannot add one in place: the table is rebuilt.
CREATE TABLE transfers_new (
    seq                INTEGER PRIMARY KEY, -- insertion order: what transfer_parties is filled up to
    id                 TEXT    NOT NULL UNIQUE, -- trf_<ULID>
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
    asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at, executed_at,
    required_approvals, approvals, risk_score, risk_reasons, expires_at, reverses_id, reversal_id, reason, decided_at)
    SELECT id, kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id, to_owner_id,
    asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at, executed_at,
    required_approvals, approvals, risk_score, risk_reasons, expires_at, reverses_id, reversal_id, reason, decided_at
    FROM transfers ORDER BY rowid;
DROP TABLE transfers;
ALTER TABLE transfers_new RENAME TO transfers;
CREATE INDEX transfers_waiting ON transfers (status, id) WHERE status IN ('pending_approval', 'under_review');
CREATE INDEX transfers_expiring ON transfers (expires_at) WHERE status IN ('pending_approval', 'under_review');
CREATE UNIQUE INDEX transfers_one_reversal ON transfers (reverses_id)
    WHERE reverses_id IS NOT NULL AND status IN ('pending_approval', 'under_review', 'executed');

-- owner_id sent (1) or received (0) transfer_id; a transfer between a
-- customer's own accounts has one row, sent. Keyed so that what a
-- customer sent (the fraud rules' history) and what they received are
-- each one range, newest last; seq finds the transfer's row directly.
CREATE TABLE transfer_parties (
    owner_id    TEXT    NOT NULL,
    sent        INTEGER NOT NULL CHECK (sent IN (0, 1)),
    transfer_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL, -- transfers.seq
    PRIMARY KEY (owner_id, sent, transfer_id)
) WITHOUT ROWID;

-- What each bulk index holds: the rows of its table with seq <= upto.
CREATE TABLE index_marks (
    name TEXT    PRIMARY KEY,
    upto INTEGER NOT NULL CHECK (upto >= 0)
);
INSERT INTO transfer_parties (owner_id, sent, transfer_id, seq)
    SELECT from_owner_id, 1, id, seq FROM transfers WHERE from_owner_id IS NOT NULL;
INSERT INTO transfer_parties (owner_id, sent, transfer_id, seq)
    SELECT to_owner_id, 0, id, seq FROM transfers
    WHERE to_owner_id IS NOT NULL AND (from_owner_id IS NULL OR from_owner_id <> to_owner_id);
INSERT INTO index_marks (name, upto) VALUES ('transfer_parties', (SELECT COALESCE(max(seq), 0) FROM transfers));

-- +goose Down
DROP TABLE index_marks;
DROP TABLE transfer_parties;
CREATE TABLE transfers_old (
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
INSERT INTO transfers_old (id, kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id, to_owner_id,
    asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at, executed_at,
    required_approvals, approvals, risk_score, risk_reasons, expires_at, reverses_id, reversal_id, reason, decided_at)
    SELECT id, kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id, to_owner_id,
    asset, amount, memo, entry_id, hold_id, balance_after, available_after, created_at, updated_at, executed_at,
    required_approvals, approvals, risk_score, risk_reasons, expires_at, reverses_id, reversal_id, reason, decided_at
    FROM transfers ORDER BY seq;
DROP TABLE transfers;
ALTER TABLE transfers_old RENAME TO transfers;
CREATE INDEX transfers_from_owner ON transfers (from_owner_id, id, kind, status, asset, amount, to_account_id, to_owner_id, created_at);
CREATE INDEX transfers_to_owner ON transfers (to_owner_id, id);
CREATE INDEX transfers_waiting ON transfers (status, id) WHERE status IN ('pending_approval', 'under_review');
CREATE INDEX transfers_expiring ON transfers (expires_at) WHERE status IN ('pending_approval', 'under_review');
CREATE UNIQUE INDEX transfers_one_reversal ON transfers (reverses_id)
    WHERE reverses_id IS NOT NULL AND status IN ('pending_approval', 'under_review', 'executed');
