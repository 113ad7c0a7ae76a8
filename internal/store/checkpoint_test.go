package store_test

import (
	"context"
	"testing"

	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// ExecCached and QueryCached behave as Exec and Query on both engines, over
// many transactions (the statements are prepared after the first), in
// rolled-back ones too.
func TestCachedStatements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const ins = `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`
		const sel = `SELECT value FROM settings WHERE key IN (?, ?) ORDER BY key`
		for i := range 5 {
			err := db.Write(ctx, func(tx *store.Tx) error {
				res, err := tx.ExecCached(ctx, ins, "k"+string(rune('a'+i)), "v", i)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil || n != 1 {
					t.Errorf("rows affected %d, %v", n, err)
				}
				rows, err := tx.QueryCached(ctx, sel, "ka", "k"+string(rune('a'+i)))
				if err != nil {
					return err
				}
				defer rows.Close()
				got := 0
				for rows.Next() {
					got++
				}
				if want := min(i+1, 2); got != want {
					t.Errorf("transaction %d read %d rows, want %d", i, got, want)
				}
				if err := rows.Err(); err != nil {
					return err
				}
				if i == 2 {
					return errRollback
				}
				return nil
			})
			if err != nil && (i != 2 || err != errRollback) {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM settings WHERE key LIKE 'k_'`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Fatalf("%d rows, want 4 (the third transaction rolled back)", n)
		}
	})
}

var errRollback = rollbackError("roll back")

type rollbackError string

func (e rollbackError) Error() string { return string(e) }
