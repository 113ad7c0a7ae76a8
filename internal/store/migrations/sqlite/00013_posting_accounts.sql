-- +goose Up
-- The postings of each account and asset indexed in bulk (SQLite only; see
-- 00012_transfer_parties.sql and internal/store/bulkindex.go): a statement
-- reads posting_accounts up to its mark and the postings past it, instead
-- of the index postings_account, whose last leaf per account every commit
-- of a batch rewrote.
CREATE TABLE posting_accounts (
    account_id TEXT    NOT NULL,
    asset      TEXT    NOT NULL,
    seq        INTEGER NOT NULL, -- postings.seq
    PRIMARY KEY (account_id, asset, seq)
) WITHOUT ROWID;
INSERT INTO posting_accounts (account_id, asset, seq) SELECT account_id, asset, seq FROM postings ORDER BY 1, 2, 3;
INSERT INTO index_marks (name, upto) VALUES ('posting_accounts', (SELECT COALESCE(max(seq), 0) FROM postings));
DROP INDEX postings_account;

-- +goose Down
CREATE INDEX postings_account ON postings (account_id, asset, seq);
DELETE FROM index_marks WHERE name = 'posting_accounts';
DROP TABLE posting_accounts;
