package risk

import (
	"context"
	"time"
)

// HistoryOf is the History the Scorer assesses q with (through its cache,
// if any).
func (s *Scorer) HistoryOf(ctx context.Context, q Query) (History, error) { return s.history(ctx, q) }

// SetClock replaces the cache's clock.
func (c *Cache) SetClock(now func() time.Time) { c.clock = now }

// Upsert is upsert, for tests.
var Upsert = upsert

// Upserted is upserted, for tests.
var Upserted = upserted
