package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
)

// bulkTestIndex indexes bulk_src (seq, k) as bulk_idx (k, seq), and
// bulkTestIndex2 as bulk_idx2 (seq of the rows with k = 'k1').
var (
	bulkTestIndex = BulkIndex{
		Name:   "bulk_test",
		Source: "bulk_src",
		Fill: []string{`INSERT INTO bulk_idx (k, seq) SELECT k, seq FROM bulk_src
			WHERE seq > ? AND seq <= ? ORDER BY k, seq`},
	}
	bulkTestIndex2 = BulkIndex{
		Name:   "bulk_test2",
		Source: "bulk_src",
		Key:    "seq",
		Fill:   []string{`INSERT INTO bulk_idx2 (seq) SELECT seq FROM bulk_src WHERE seq > ? AND seq <= ? AND k = 'k1'`},
	}
)

func openBulkTest(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:///"+filepath.ToSlash(filepath.Join(t.TempDir(), "bulk.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Write(ctx, func(tx *Tx) error {
		for _, q := range []string{
			`CREATE TABLE index_marks (name TEXT PRIMARY KEY, upto INTEGER NOT NULL)`,
			`CREATE TABLE bulk_src (seq INTEGER PRIMARY KEY, k TEXT NOT NULL)`,
			`CREATE TABLE bulk_idx (k TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (k, seq)) WITHOUT ROWID`,
			`CREATE TABLE bulk_idx2 (seq INTEGER PRIMARY KEY)`,
			`INSERT INTO index_marks VALUES ('bulk_test', 0), ('bulk_test2', 0)`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func addBulkRows(t *testing.T, db *DB, n int) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *Tx) error {
		for i := range n {
			if _, err := tx.Exec(context.Background(), `INSERT INTO bulk_src (k) VALUES (?)`, fmt.Sprint("k", i%3)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// bulkState returns the mark, the rows indexed, and whether the index
// holds exactly the source rows up to the mark.
func bulkState(t *testing.T, db *DB) (mark, rows int64, exact bool) {
	t.Helper()
	ctx := context.Background()
	var missing, extra int64
	err := db.Read(ctx, func(tx *Tx) error {
		return tx.QueryRow(ctx, `SELECT `+BulkMark("bulk_test")+`, (SELECT count(*) FROM bulk_idx),
			(SELECT count(*) FROM bulk_src s WHERE s.seq <= `+BulkMark("bulk_test")+`
				AND NOT EXISTS (SELECT 1 FROM bulk_idx i WHERE i.k = s.k AND i.seq = s.seq)),
			(SELECT count(*) FROM bulk_idx i WHERE NOT EXISTS
				(SELECT 1 FROM bulk_src s WHERE s.seq = i.seq AND s.k = i.k AND s.seq <= `+BulkMark("bulk_test")+`))`).
			Scan(&mark, &rows, &missing, &extra)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mark, rows, missing == 0 && extra == 0
}

// TestIndexerFillsUpToTheMark: a round copies, for each index, the rows
// past its mark, at most bulkIndexMaxRows, and moves the marks in the same
// transaction; CatchUp runs rounds until the last row; a failing round
// changes nothing.
func TestIndexerFillsUpToTheMark(t *testing.T) {
	ctx := context.Background()
	db := openBulkTest(t)
	ix := NewIndexer(db, slog.New(slog.DiscardHandler), bulkTestIndex, bulkTestIndex2)
	second := func() (mark, rows int64) {
		t.Helper()
		err := db.Read(ctx, func(tx *Tx) error {
			return tx.QueryRow(ctx, `SELECT `+BulkMark("bulk_test2")+`, (SELECT count(*) FROM bulk_idx2)`).Scan(&mark, &rows)
		})
		if err != nil {
			t.Fatal(err)
		}
		return mark, rows
	}
	defer func(n int64) { bulkIndexMaxRows = n }(bulkIndexMaxRows)
	bulkIndexMaxRows = 7

	if err := ix.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if mark, rows, exact := bulkState(t, db); mark != 0 || rows != 0 || !exact {
		t.Fatalf("empty source: mark %d, %d rows (exact %v)", mark, rows, exact)
	}
	addBulkRows(t, db, 30)
	more, err := ix.round(ctx)
	if err != nil || !more {
		t.Fatalf("first round: more %v, %v", more, err)
	}
	if mark, rows, exact := bulkState(t, db); mark != 7 || rows != 7 || !exact {
		t.Fatalf("after one round: mark %d, %d rows (exact %v), want 7 and 7", mark, rows, exact)
	}
	// Rows 1-7 have k = k0, k1, k2, k0, k1, k2, k0: seq 2 and 5 are k1.
	if mark, rows := second(); mark != 7 || rows != 2 {
		t.Fatalf("second index after one round: mark %d, %d rows, want 7 and 2", mark, rows)
	}
	if err := ix.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if mark, rows, exact := bulkState(t, db); mark != 30 || rows != 30 || !exact {
		t.Fatalf("caught up: mark %d, %d rows (exact %v), want 30 and 30", mark, rows, exact)
	}
	if mark, rows := second(); mark != 30 || rows != 10 {
		t.Fatalf("second index caught up: mark %d, %d rows, want 30 and 10", mark, rows)
	}
	if more, err := ix.round(ctx); err != nil || more {
		t.Fatalf("idle round: more %v, %v", more, err)
	}

	// A row already in the first index makes the next round fail: neither
	// index's rows nor marks move.
	addBulkRows(t, db, 5)
	if err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO bulk_idx (k, seq) VALUES ('k1', 32)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := ix.CatchUp(ctx); err == nil {
		t.Fatal("a round over a conflicting row succeeded")
	}
	if mark, rows, _ := bulkState(t, db); mark != 30 || rows != 31 {
		t.Fatalf("after a failed round: mark %d, %d rows, want 30 and 31", mark, rows)
	}
	if mark, rows := second(); mark != 30 || rows != 10 {
		t.Fatalf("second index after a failed round: mark %d, %d rows, want 30 and 10", mark, rows)
	}
}

// TestIndexerRunCatchesUpWhenStopped: Run's last round, after its context
// is cancelled, indexes every row committed before.
func TestIndexerRunCatchesUpWhenStopped(t *testing.T) {
	db := openBulkTest(t)
	ix := NewIndexer(db, slog.New(slog.DiscardHandler), bulkTestIndex)
	addBulkRows(t, db, 12)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ix.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if mark, rows, exact := bulkState(t, db); mark != 12 || rows != 12 || !exact {
		t.Fatalf("after Run: mark %d, %d rows (exact %v), want 12 and 12", mark, rows, exact)
	}
}
