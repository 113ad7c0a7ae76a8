-- +goose Up
-- Transfers: a customer's request to move money (cash now; shares later)
-- and the administrators' adjustments, with the status of the approval
-- workflow. An executed transfer names the journal entry that moved the
-- money; the entry is the truth about balances, this row is the request and
-- its life. amount is positive minor units (shares for a share transfer) of
-- asset, moved from from_account_id to to_account_id.
--
-- No foreign keys: rows are written only by the transfer service through the
-- posting engine, after it checked that both accounts exist and who owns
-- them (the owners are copied here so that "my transfers" is one index
-- range per side). A foreign key would cost parent lookups on the hottest
-- insert path.
CREATE TABLE transfers (
    id              TEXT    PRIMARY KEY, -- trf_<ULID>
    kind            TEXT    NOT NULL CHECK (kind IN ('cash', 'shares', 'adjustment')),
    status          TEXT    NOT NULL CHECK (status IN ('pending_approval', 'under_review', 'executed',
                                                       'rejected', 'expired', 'failed', 'reversed')),
    maker_user_id   TEXT    NOT NULL, -- who asked for it
    from_account_id TEXT    NOT NULL,
    to_account_id   TEXT    NOT NULL,
    from_owner_id   TEXT,             -- NULL for a system account
    to_owner_id     TEXT,
    asset           TEXT    NOT NULL,
    amount          BIGINT  NOT NULL CHECK (amount > 0),
    memo            TEXT    NOT NULL DEFAULT '',
    entry_id        TEXT,             -- the entry that executed it
    hold_id         TEXT,             -- the hold reserving its funds while it waits
    -- The balance, right after execution, of the account the maker acted on
    -- (the source of a transfer, the adjusted account of an adjustment).
    balance_after   BIGINT,
    available_after BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    executed_at     BIGINT  NOT NULL DEFAULT 0,
    CHECK (from_account_id <> to_account_id),
    CHECK (status <> 'executed' OR entry_id IS NOT NULL)
);
CREATE INDEX transfers_from_owner ON transfers (from_owner_id, id);
CREATE INDEX transfers_to_owner ON transfers (to_owner_id, id);
-- The review queue: only transfers that wait on someone are indexed by
-- status, so executed transfers cost no insert here.
CREATE INDEX transfers_waiting ON transfers (status, id) WHERE status IN ('pending_approval', 'under_review');

-- +goose Down
DROP TABLE transfers;
