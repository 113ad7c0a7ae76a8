package journal

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/fiscus/fiscus/internal/store"
)

// PostgreSQL fast path: the batch transaction runs on a raw pgx connection
// taken from the store's pool, in pipelines, so that a batch of transfers
// costs two network round trips — BEGIN with the locking reads, then every
// write with COMMIT — instead of one per statement. Batches with hold
// operations or reversals take one more (their holds and entries are read
// before their balances).
const (
	pgMaxAttempts   = 8               // runs of a batch that hits deadlocks or serialization failures
	rollbackTimeout = 5 * time.Second // bound on the ROLLBACK after a failed pipeline
)

// runPipelined runs b in fast mode on PostgreSQL, retrying retryable
// conflicts (which, with the ordered locking, only the rare creation of a
// new balance row by two replicas at once, or Updates of the caller's rows
// taken in opposite orders, can cause).
func (e *Engine) runPipelined(ctx context.Context, b *batch) error {
	for attempt := 1; ; attempt++ {
		err := e.pipelineOnce(ctx, b)
		if err == nil || b.fnDone || !store.IsRetryable(err) {
			return err
		}
		if attempt == pgMaxAttempts {
			return fmt.Errorf("ledger batch failed after %d attempts: %w", attempt, err)
		}
		e.stats.retried.Add(1)
		d := time.Duration(attempt*attempt)*time.Millisecond + rand.N(2*time.Millisecond)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %v)", ctx.Err(), err)
		case <-time.After(d):
		}
	}
}

func (e *Engine) pipelineOnce(ctx context.Context, b *batch) error {
	b.fnDone = false
	conn, err := e.db.SQL().Conn(ctx)
	if err != nil {
		return fmt.Errorf("ledger connection: %w", err)
	}
	defer conn.Close()
	var runErr error
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("journal: PostgreSQL driver connection is %T, not pgx", dc)
		}
		pc := sc.Conn()
		ex := pgxExec{conn: pc, db: e.db, unknown: &b.fnDone}
		runErr = b.runPipeline(ctx, ex)
		if pc.PgConn().TxStatus() != 'I' {
			// A statement failed: the transaction is aborted (COMMIT was
			// skipped). Roll it back before the connection goes back to
			// the pool, or drop the connection.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			if _, err := pc.Exec(rctx, "ROLLBACK"); err != nil || pc.PgConn().TxStatus() != 'I' {
				return driver.ErrBadConn
			}
		}
		return nil
	})
	if runErr != nil {
		return runErr
	}
	return err
}

// runPipeline is runFast with BEGIN sent along with the first reads and
// COMMIT along with the writes.
func (b *batch) runPipeline(ctx context.Context, ex executor) error {
	if err := b.load(ctx, ex, []step{{sql: "BEGIN"}}); err != nil {
		return err
	}
	return b.runFast(ctx, ex, []step{{sql: "COMMIT", commit: true}})
}
