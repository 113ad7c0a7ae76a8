package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Bulk indexes (SQLite).
//
// A B-tree index keyed by customer or account puts each new row at the end
// of that key's range, so a commit of a batch of rows for different keys
// writes one page of the index for almost every row, whole, to the WAL and
// later into the database file. A bulk index is instead a table of its own
// (WITHOUT ROWID, keyed like the index would be) filled behind its source
// table: the posting path writes only the source rows, appended in the
// order of their INTEGER PRIMARY KEY seq, and Indexer copies the rows past
// the index's mark into it every BulkIndexInterval, sorted, in one
// transaction that also moves the mark (index_marks.upto). A page of the
// index is then written once for many rows.
//
// The index therefore holds exactly the source rows with seq <= upto. A
// reader takes the index up to the mark and the source rows past it (few:
// those inserted since the indexer last ran) in one statement, so in one
// snapshot; BulkMark is the subquery that reads the mark. Seq must be an
// INTEGER PRIMARY KEY (VACUUM renumbers implicit rowids) and rows of the
// source are never deleted below the mark while the index refers to them.
//
// On PostgreSQL the same keys are ordinary indexes (concurrent writers
// commit out of seq order, so a mark could pass a row not yet committed)
// and Indexer does nothing.

// BulkIndexInterval is the least time between two rounds of Indexer.
const BulkIndexInterval = 100 * time.Millisecond

// bulkIndexMaxRows bounds the source rows one round copies, so that a
// round after a long pause (or on a database migrated from large indexes)
// holds the writer briefly; the next round goes on at once. A variable for
// tests.
var bulkIndexMaxRows int64 = 20_000

// BulkIndex is one index table filled behind its source table.
type BulkIndex struct {
	// Name is the index's row in index_marks.
	Name string
	// Source is the table it follows, and Key its INTEGER PRIMARY KEY
	// column ("seq" when empty), which orders its rows.
	Source, Key string
	// Fill are the statements that copy the source rows with
	// from < Key <= to into the index: each takes the arguments from, to.
	Fill []string
}

// BulkMark returns the subquery that reads the mark of the index name: the
// highest seq of its source that the index holds.
func BulkMark(name string) string {
	return `(SELECT upto FROM index_marks WHERE name = '` + name + `')`
}

// Indexer fills bulk indexes (SQLite; a no-op on PostgreSQL).
type Indexer struct {
	db      *DB
	log     *slog.Logger
	indexes []BulkIndex
}

// NewIndexer returns an indexer of indexes on db that logs failed rounds
// to log.
func NewIndexer(db *DB, log *slog.Logger, indexes ...BulkIndex) *Indexer {
	return &Indexer{db: db, log: log, indexes: indexes}
}

// Run fills the indexes every BulkIndexInterval until ctx is done, then
// once more, so that an orderly stop leaves them complete.
func (ix *Indexer) Run(ctx context.Context) error {
	if ix.db.dialect != SQLite {
		return nil
	}
	t := time.NewTicker(BulkIndexInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ix.CatchUp(context.WithoutCancel(ctx))
		case <-t.C:
			if err := ix.CatchUp(ctx); err != nil {
				if ctx.Err() != nil {
					return ix.CatchUp(context.WithoutCancel(ctx))
				}
				// Not fatal: readers still see every row (through the
				// source past the mark); the next round tries again.
				ix.log.Warn("bulk index round failed", "err", err)
				continue
			}
		}
	}
}

// CatchUp fills every index up to the last committed row of its source.
func (ix *Indexer) CatchUp(ctx context.Context) error {
	if ix.db.dialect != SQLite {
		return nil
	}
	for {
		more, err := ix.round(ctx)
		if err != nil || !more {
			return err
		}
	}
}

// round copies, for every index, at most bulkIndexMaxRows rows of its
// source past its mark and moves the marks, all in one transaction (one
// commit and one WAL sync for the lot); more reports that rows are left.
// Whether any index is behind is read first, so that an idle round does
// not take the writer.
func (ix *Indexer) round(ctx context.Context) (more bool, err error) {
	behind := false
	err = ix.db.Read(ctx, func(tx *Tx) error {
		spans, err := ix.spans(ctx, tx)
		for _, sp := range spans {
			behind = behind || sp.last > sp.from
		}
		return err
	})
	if err != nil || !behind {
		return false, err
	}
	err = ix.db.Write(ctx, func(tx *Tx) error {
		more = false
		spans, err := ix.spans(ctx, tx)
		if err != nil {
			return err
		}
		for i, b := range ix.indexes {
			sp := spans[i]
			if sp.last <= sp.from {
				continue
			}
			to := min(sp.last, sp.from+bulkIndexMaxRows)
			for _, q := range b.Fill {
				if _, err := tx.Exec(ctx, q, sp.from, to); err != nil {
					return fmt.Errorf("bulk index %s: fill: %w", b.Name, err)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE index_marks SET upto = ? WHERE name = ?`, to, b.Name); err != nil {
				return fmt.Errorf("bulk index %s: move mark: %w", b.Name, err)
			}
			more = more || to < sp.last
		}
		return nil
	})
	return more, err
}

// span is what an index holds (up to from) and the last row of its source.
type span struct{ from, last int64 }

// spans reads the span of every index in tx.
func (ix *Indexer) spans(ctx context.Context, tx *Tx) ([]span, error) {
	out := make([]span, len(ix.indexes))
	for i, b := range ix.indexes {
		key := b.Key
		if key == "" {
			key = "seq"
		}
		if err := tx.QueryRow(ctx, `SELECT upto, (SELECT COALESCE(max(`+key+`), 0) FROM `+b.Source+`)
			FROM index_marks WHERE name = ?`, b.Name).Scan(&out[i].from, &out[i].last); err != nil {
			return nil, fmt.Errorf("bulk index %s: read mark: %w", b.Name, err)
		}
	}
	return out, nil
}
