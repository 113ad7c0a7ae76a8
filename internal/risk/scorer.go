package risk

import (
	"context"

	"github.com/fiscus/fiscus/internal/store"
)

// Scorer assesses transfers against one configuration, loading each one's
// History from the database: the I/O-bound half the transfer service calls
// (through an adapter in the wiring, since risk does not know its types).
type Scorer struct {
	db    *store.DB
	cfg   Config
	cache *Cache // nil: every assessment reads the database
}

// NewScorer returns a Scorer. cfg should have passed Validate. A nil cache
// reads every History from the database.
func NewScorer(db *store.DB, cfg Config, cache *Cache) *Scorer {
	return &Scorer{db: db, cfg: cfg, cache: cache}
}

// Config returns the configuration the Scorer assesses with.
func (s *Scorer) Config() Config { return s.cfg }

// Assess loads the History of in (a transfer not yet stored, asked for in
// the session sessionID) and assesses it. in.History is ignored.
func (s *Scorer) Assess(ctx context.Context, in Input, sessionID string) (Assessment, error) {
	return s.AssessTo(ctx, in, sessionID, "")
}

// AssessTo is Assess when the caller knows who owns the destination
// account (recipientOwner), which spares a query.
func (s *Scorer) AssessTo(ctx context.Context, in Input, sessionID, recipientOwner string) (Assessment, error) {
	if !s.cfg.anyEnabled() {
		return s.cfg.Assess(in), nil // no rule to feed: no history to load
	}
	q := s.cfg.Query(in, sessionID)
	q.RecipientOwner = recipientOwner
	h, err := s.history(ctx, q)
	if err != nil {
		return Assessment{}, err
	}
	in.History = h
	return s.cfg.Assess(in), nil
}

// history is LoadHistory through the cache, when there is one.
func (s *Scorer) history(ctx context.Context, q Query) (History, error) {
	if s.cache == nil {
		return LoadHistory(ctx, s.db, q)
	}
	if err := q.check(); err != nil {
		return History{}, err
	}
	snap, stamp := s.cache.lookup(q)
	if snap == nil {
		var err error
		if snap, err = loadSnapshot(ctx, s.db, q.UserID, q.Now); err != nil {
			return History{}, err
		}
		snap = s.cache.store(q.UserID, snap, stamp)
	}
	return snap.history(ctx, s.db, q)
}

// anyEnabled reports whether some rule is enabled.
func (c Config) anyEnabled() bool {
	for _, r := range c.Rules {
		if r.Enabled {
			return true
		}
	}
	return false
}
