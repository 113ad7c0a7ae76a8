package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/store"
)

// MaxExpirePerSweep bounds the holds one ExpireDue call expires; a backlog
// larger than this is worked off by the following sweeps.
const MaxExpirePerSweep = 1000

// ExpireDue expires pending holds whose deadline is at or before now (from
// the caller's clock), oldest deadline first, at most MaxExpirePerSweep,
// and reports how many it expired. A hold that was posted or voided between
// the sweep's read and its expiry is skipped, not an error. Run it on a
// timer; several replicas may sweep at once (the hold rows are locked while
// a batch changes them, so each hold is expired once).
func (e *Engine) ExpireDue(ctx context.Context, now time.Time) (int, error) {
	var ids []string
	err := e.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM holds WHERE status = 'pending' AND deadline > 0 AND deadline <= ?
			ORDER BY deadline, id LIMIT ?`, store.Micros(now), MaxExpirePerSweep)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("find due holds: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	ops := make([]Op, len(ids))
	for i, id := range ids {
		ops[i] = ExpireHold{HoldID: id, Now: now}
	}
	_, errs := e.submitAll(ctx, ops)
	n := 0
	var failed []error
	for i, err := range errs {
		switch {
		case err == nil:
			n++
		case fault.Is(err, ledger.CodeHoldNotPending):
			// resolved meanwhile
		default:
			failed = append(failed, fmt.Errorf("expire hold %s: %w", ids[i], err))
		}
	}
	return n, errors.Join(failed...)
}

// MaxSweepCounters bounds the counter rows one SweepCounters call deletes;
// a backlog larger than this is worked off by the following sweeps.
const MaxSweepCounters = 10_000

// SweepCounters deletes the counters whose expiry (the latest ExpiresAt an
// accepted operation gave them) is at or before now, from the caller's
// clock, at most MaxSweepCounters, and reports how many it deleted. Run it
// on a timer; it may run on several replicas at once and next to the
// writers. On PostgreSQL it locks the rows it deletes in key order, the
// order in which batches lock counters (after their balances: see the
// package comment), so it never deadlocks with them; a counter a batch
// extends meanwhile is re-checked and kept.
func (e *Engine) SweepCounters(ctx context.Context, now time.Time) (int, error) {
	q := `DELETE FROM ledger_counters WHERE key IN (SELECT key FROM ledger_counters WHERE expires_at <= ? ORDER BY key LIMIT ?) AND expires_at <= ?`
	if e.db.Dialect() == store.Postgres {
		q = `DELETE FROM ledger_counters WHERE key IN (SELECT key FROM ledger_counters WHERE expires_at <= ? ORDER BY key COLLATE "C" LIMIT ? FOR UPDATE) AND expires_at <= ?`
	}
	var n int64
	err := e.db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, q, store.Micros(now), MaxSweepCounters, store.Micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sweep counters: %w", err)
	}
	return int(n), nil
}
