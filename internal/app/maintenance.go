package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/outbox"
	"github.com/fiscus/fiscus/internal/transfer"
)

// Intervals of the maintenance worker.
const (
	expireInterval = time.Second
	sweepInterval  = time.Minute
)

// maintained are what the maintenance worker looks after.
type maintained struct {
	eng            *journal.Engine
	keys           *idempotency.Keeper
	transfers      *transfer.Service
	events         *outbox.Dispatcher
	eventRetention time.Duration
}

// maintenance returns the worker that, every second, expires holds and
// waiting transfers whose time ran out, and every minute deletes expired
// Idempotency-Key records and limit counters and delivered outbox events
// older than their retention. All of it is safe on any number of replicas
// at once: expiries are conditional transitions judged in their
// transaction, sweeps delete by key.
func maintenance(m maintained, now func() time.Time, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		expire := time.NewTicker(expireInterval)
		defer expire.Stop()
		sweep := time.NewTicker(sweepInterval)
		defer sweep.Stop()
		report := func(what string, n int, err error) {
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn(what+" failed", "err", err)
			case n > 0:
				log.Info(what, "count", n)
			}
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-expire.C:
				n, err := m.eng.ExpireDue(ctx, now())
				report("holds expired", n, err)
				n, err = m.transfers.ExpireDue(ctx, now())
				report("transfers expired", n, err)
			case <-sweep.C:
				n, err := m.keys.Sweep(ctx, now())
				report("idempotency keys swept", n, err)
				n, err = m.eng.SweepCounters(ctx, now())
				report("limit counters swept", n, err)
				n, err = m.events.Prune(ctx, now().Add(-m.eventRetention))
				report("outbox events pruned", n, err)
			}
		}
	}
}
