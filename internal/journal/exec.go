package journal

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fiscus/fiscus/internal/store"
)

// step is one statement of a batch transaction, written once with "?"
// placeholders for both engines. A query consumes its rows with rows; a
// statement reports its affected row count to affected (both optional).
type step struct {
	sql      string
	args     []any
	rows     func(rowsIter) error
	affected func(n int64) error
	commit   bool // the COMMIT of a pipelined transaction
}

// rowsIter is what both *sql.Rows and pgx.Rows offer.
type rowsIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// executor runs steps in order inside the batch's transaction.
type executor interface {
	run(ctx context.Context, steps []step) error
}

// txExec runs steps one by one on a store transaction (SQLite, and careful
// mode on both engines). Step texts are fixed or come in a few chunk sizes
// (see maxChunkRows), so they go through the store's statement cache.
type txExec struct{ tx *store.Tx }

func (x txExec) run(ctx context.Context, steps []step) error {
	// The SQLite driver starts a goroutine per statement to interrupt it
	// should ctx end mid-statement. A batch's statements are short, so on
	// SQLite they run on a context that never ends and ctx is checked
	// between them instead: the batch still stops at its deadline, and the
	// transaction (bound to ctx when it began) still rolls back.
	sctx := ctx
	if x.tx.Dialect() == store.SQLite {
		sctx = context.WithoutCancel(ctx)
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.rows != nil {
			rows, err := x.tx.QueryCached(sctx, s.sql, s.args...)
			if err != nil {
				return err
			}
			err = s.rows(rows)
			rows.Close()
			if err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			continue
		}
		res, err := x.tx.ExecCached(sctx, s.sql, s.args...)
		if err != nil {
			return err
		}
		if s.affected != nil {
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if err := s.affected(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// pgxExec sends all steps of a call in one pipeline: one network round trip
// (plus one to prepare statements the connection has not seen yet). The
// server stops at the first failing statement and skips the rest, COMMIT
// included.
type pgxExec struct {
	conn *pgx.Conn
	db   *store.DB
	// unknown is set when a pipeline that carries COMMIT fails other than
	// by the server refusing a statement (a network error): the server may
	// have run everything, COMMIT included.
	unknown *bool
}

func (x pgxExec) run(ctx context.Context, steps []step) error {
	if len(steps) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, s := range steps {
		batch.Queue(x.db.Rebind(s.sql), s.args...)
	}
	br := x.conn.SendBatch(ctx, batch)
	err := readResults(br, steps)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && steps[len(steps)-1].commit {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			*x.unknown = true
		}
	}
	return err
}

func readResults(br pgx.BatchResults, steps []step) error {
	for i, s := range steps {
		if s.rows != nil {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			err = s.rows(rows)
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
			if err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			continue
		}
		ct, err := br.Exec()
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		if s.affected != nil {
			if err := s.affected(ct.RowsAffected()); err != nil {
				return err
			}
		}
	}
	return nil
}
