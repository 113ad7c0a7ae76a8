package journal

import (
	"context"
	"errors"
	"testing"

	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// A batch whose context ends stops before its next statement, on both
// engines, even though SQLite's statements run on a context that never
// ends.
func TestTxExecStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var first, second bool
		steps := []step{
			{sql: "SELECT 1", rows: func(r rowsIter) error {
				for r.Next() {
				}
				first = true
				cancel()
				return r.Err()
			}},
			{sql: "SELECT 2", rows: func(r rowsIter) error {
				for r.Next() {
				}
				second = true
				return r.Err()
			}},
		}
		var runErr error
		err := db.Write(ctx, func(tx *store.Tx) error {
			runErr = txExec{tx: tx}.run(ctx, steps)
			return runErr
		})
		if !first {
			t.Fatal("the first statement did not run")
		}
		if second {
			t.Fatal("a statement ran after the context ended")
		}
		if !errors.Is(runErr, context.Canceled) {
			t.Fatalf("run: %v, want context.Canceled", runErr)
		}
		if err == nil {
			t.Fatal("the transaction committed after its context ended")
		}
	})
}
