-- +goose Up
-- Running totals with ceilings, kept by the posting engine (internal/journal,
-- journal.Counter): a customer's outgoing amount today or this month, say,
-- judged with the balances in the same batch transaction, so that two
-- concurrent transfers never both slip under a limit. value is the total
-- (minor units, or whatever the key counts), never negative. expires_at
-- (Unix microseconds, UTC) is when the row may be deleted by
-- Engine.SweepCounters: for a daily counter, the end of the day plus a
-- margin. A counter without a row counts as 0.
--
-- A batch locks the rows it uses after its balances, in key order (byte
-- order: COLLATE "C"), creating missing ones at 0 so that they can be
-- locked, and deletes again those it then did not use.
CREATE TABLE ledger_counters (
    key        TEXT   PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 128),
    value      BIGINT NOT NULL CHECK (value >= 0),
    expires_at BIGINT NOT NULL
) WITH (fillfactor = 70); -- room for HOT updates: a new total touches no index
CREATE INDEX ledger_counters_expiry ON ledger_counters (expires_at);

-- +goose Down
DROP TABLE ledger_counters;
