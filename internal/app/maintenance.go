package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/journal"
)

// Intervals of the maintenance worker.
const (
	holdSweepInterval        = time.Second
	idempotencySweepInterval = time.Minute
)

// maintenance returns the worker that expires holds whose deadline passed
// and deletes expired Idempotency-Key records. Both are safe to run on any
// number of replicas at once: expiring a hold is an engine operation judged
// in its transaction (a hold expires once), and sweeping deletes rows by key.
func maintenance(eng *journal.Engine, keys *idempotency.Keeper, now func() time.Time, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		holds := time.NewTicker(holdSweepInterval)
		defer holds.Stop()
		sweep := time.NewTicker(idempotencySweepInterval)
		defer sweep.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-holds.C:
				if n, err := eng.ExpireDue(ctx, now()); err != nil && ctx.Err() == nil {
					log.Warn("expiring holds failed", "err", err)
				} else if n > 0 {
					log.Info("holds expired", "count", n)
				}
			case <-sweep.C:
				if n, err := keys.Sweep(ctx, now()); err != nil && ctx.Err() == nil {
					log.Warn("sweeping idempotency keys failed", "err", err)
				} else if n > 0 {
					log.Debug("idempotency keys swept", "count", n)
				}
			}
		}
	}
}
