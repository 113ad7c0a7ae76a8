-- +goose Up
-- The double-entry ledger (internal/journal writes it, internal/accounts
-- reads it). Amounts are signed integers of minor units (shares for a
-- security) from the account holder's point of view: positive is a credit.
-- Times are Unix microseconds, UTC; 0 means "never" or "not yet".

-- Customer accounts (owned by a user, one currency) and system accounts (the
-- platform's own books, no owner, found by system_code such as "external:USD").
CREATE TABLE accounts (
    id            TEXT    PRIMARY KEY, -- acct_<ULID>
    owner_user_id TEXT    REFERENCES users (id), -- NULL for system accounts
    kind          TEXT    NOT NULL CHECK (kind IN ('checking', 'savings', 'credit', 'investment',
                                                   'external', 'fees', 'settlement', 'market')),
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    currency      TEXT    NOT NULL CHECK (length(currency) = 3),
    credit_limit  BIGINT  NOT NULL DEFAULT 0 CHECK (credit_limit >= 0 AND (credit_limit = 0 OR kind = 'credit')),
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'closed')),
    system_code   TEXT    UNIQUE, -- NULL for customer accounts
    created_at    BIGINT  NOT NULL,
    CHECK ((owner_user_id IS NULL) = (system_code IS NOT NULL)),
    CHECK ((system_code IS NULL) = (kind IN ('checking', 'savings', 'credit', 'investment')))
);
CREATE INDEX accounts_owner ON accounts (owner_user_id, id);

-- Cached balances, one per (account, asset): posted is the sum of the
-- account's postings in the asset, held the part reserved by pending holds.
-- Updated in the same transaction as the postings that change them.
CREATE TABLE balances (
    account_id TEXT   NOT NULL REFERENCES accounts (id),
    asset      TEXT   NOT NULL CHECK (length(asset) BETWEEN 1 AND 12),
    posted     BIGINT NOT NULL DEFAULT 0,
    held       BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    PRIMARY KEY (account_id, asset)
);

-- Journal entries: immutable once inserted. seq is the insertion order.
-- reversal_of is UNIQUE, so an entry is reversed at most once.
--
-- Entries and postings carry no foreign keys: they are written only by the
-- posting engine (internal/journal), always together, after it checked that
-- every account exists; the verifier (internal/accounts) checks the links.
-- A foreign key here would cost a parent lookup per row on the hottest
-- insert path (on PostgreSQL an RI trigger that also row-locks the account;
-- on SQLite a statement journal for every multi-row insert).
CREATE TABLE entries (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE, -- ent_<ULID>
    kind        TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    memo        TEXT    NOT NULL DEFAULT '',
    metadata    TEXT    NOT NULL DEFAULT '{}', -- JSON object of strings
    reversal_of TEXT, -- the entry this one reverses (unique: see entries_reversal_of)
    created_at  BIGINT  NOT NULL,
    CHECK (reversal_of IS NULL OR reversal_of <> id)
);
-- An entry is reversed at most once. Partial, so that ordinary entries cost
-- no index insert.
CREATE UNIQUE INDEX entries_reversal_of ON entries (reversal_of) WHERE reversal_of IS NOT NULL;

-- Postings: the legs of an entry. balance_after is the account's posted
-- balance in the asset right after this posting, for running balances.
-- seq is the insertion order; for one (account, asset) it is also the order
-- in which the postings changed the balance.
CREATE TABLE postings (
    seq           INTEGER PRIMARY KEY,
    entry_id      TEXT    NOT NULL, -- entries.id
    idx           INTEGER NOT NULL CHECK (idx >= 0),
    account_id    TEXT    NOT NULL, -- accounts.id
    asset         TEXT    NOT NULL,
    amount        BIGINT  NOT NULL CHECK (amount <> 0),
    balance_after BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    UNIQUE (entry_id, idx)
);
CREATE INDEX postings_account ON postings (account_id, asset, seq);

-- Holds: amount reserved on account_id for a later posting to
-- destination_id. pending -> posted | voided | expired, all final.
CREATE TABLE holds (
    id             TEXT   PRIMARY KEY, -- hold_<ULID>
    account_id     TEXT   NOT NULL REFERENCES accounts (id),
    destination_id TEXT   NOT NULL REFERENCES accounts (id),
    asset          TEXT   NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    status         TEXT   NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
    deadline       BIGINT NOT NULL DEFAULT 0, -- 0: never expires
    posted         BIGINT NOT NULL DEFAULT 0 CHECK (posted >= 0 AND posted <= amount),
    entry_id       TEXT   REFERENCES entries (id), -- the entry that posted it
    created_at     BIGINT NOT NULL,
    resolved_at    BIGINT NOT NULL DEFAULT 0,
    CHECK (account_id <> destination_id),
    CHECK ((status = 'posted') = (entry_id IS NOT NULL)),
    CHECK ((status = 'posted') = (posted > 0)),
    CHECK ((status = 'pending') = (resolved_at = 0))
);
CREATE INDEX holds_due ON holds (deadline) WHERE status = 'pending' AND deadline > 0;
CREATE INDEX holds_account ON holds (account_id, asset) WHERE status = 'pending';

-- +goose Down
DROP TABLE holds;
DROP TABLE postings;
DROP TABLE entries;
DROP TABLE balances;
DROP TABLE accounts;
